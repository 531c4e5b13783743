// Shared machinery of the property/fuzz suites: named properties with a short run (npm test) and a long
// run (npm run fuzz, scripts/fuzz.ts), fixed seeds, "typed errors only" checks and mutation operators.
// Not a test file itself (no .test.ts): the suites in test/fuzz/suites define properties, the *.test.ts
// files next to this one run them with their short case counts.
import fc from "fast-check";

export interface RunParams {
  seed: number;
  numRuns: number;
  /** Long run only: stop this property after so many milliseconds (counted, reported). */
  timeLimitMs?: number;
}

export interface CheckOutcome {
  failed: boolean;
  /** Cases actually run (fewer than asked when interrupted by the time limit). */
  numRuns: number;
  interrupted: boolean;
  /** fast-check's report: seed, path and the (shrunk) counterexample. */
  report: string | undefined;
}

export interface FuzzProperty {
  /** Unique, `suite/what`; also the seed's source. */
  readonly name: string;
  /** Cases in `npm test` (a few seconds at most per suite). */
  readonly runs: number;
  /** Cases in `npm run fuzz`. */
  readonly longRuns: number;
  /** fc.assert with these parameters: throws fast-check's report on failure. */
  assert(params: RunParams): Promise<void>;
  /** fc.check: never throws for a failing property, reports instead. */
  check(params: RunParams): Promise<CheckOutcome>;
}

export interface FuzzSuite {
  readonly name: string;
  /** Builds fixtures (certificates, engines) once, then the properties over them. */
  properties(): Promise<FuzzProperty[]>;
}

export function defineProperty<T>(
  name: string,
  runs: number,
  longRuns: number,
  property: fc.IRawProperty<T>,
): FuzzProperty {
  return {
    name,
    runs,
    longRuns,
    async assert({ seed, numRuns }) {
      await fc.assert(property, { seed, numRuns, includeErrorInReport: true });
    },
    async check({ seed, numRuns, timeLimitMs }) {
      const details = await fc.check(property, {
        seed,
        numRuns,
        includeErrorInReport: true,
        ...(timeLimitMs !== undefined ? { interruptAfterTimeLimit: timeLimitMs } : {}),
      });
      return {
        failed: details.failed,
        numRuns: details.numRuns,
        interrupted: details.interrupted,
        report: details.failed ? fc.defaultReportMessage(details) : undefined,
      };
    },
  };
}

/** FNV-1a of the property name: a fixed seed per property, independent of the order suites run in. */
export function seedFor(name: string, base = 0x5eed_0010): number {
  let h = 0x811c9dc5 ^ base;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/**
 * Cases in the short run: `p.runs`, capped by SPIFFE_AUTHZ_MUTATE_FUZZ_RUNS when that is set. Only the
 * mutation-testing set-up sets it (stryker.config.mjs): each mutant re-runs every covering test file, and
 * at full length the property files dominate a folder's run time. `npm test` and `npm run fuzz` never set it.
 */
export function shortRuns(p: FuzzProperty): number {
  const raw = process.env.SPIFFE_AUTHZ_MUTATE_FUZZ_RUNS;
  if (raw === undefined || raw === "") return p.runs;
  const cap = Number(raw);
  if (!Number.isInteger(cap) || cap < 1)
    throw new Error(`SPIFFE_AUTHZ_MUTATE_FUZZ_RUNS=${raw}: not a positive integer`);
  return Math.min(p.runs, cap);
}

/** The short run, as the *.test.ts files use it. */
export async function assertShort(p: FuzzProperty): Promise<void> {
  await p.assert({ seed: seedFor(p.name), numRuns: shortRuns(p) });
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Runs fn: "ok" if it returned, "typed" if it threw one of `types`; anything else (TypeError, RangeError,
 * a foreign error class) is rethrown so the property fails with it.
 */
export function outcome<T>(
  types: readonly ErrorClass[],
  fn: () => T,
): { ok: true; value: T } | { ok: false; error: Error } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (types.some((t) => err instanceof t)) return { ok: false, error: err as Error };
    throw err;
  }
}

export async function outcomeAsync<T>(
  types: readonly ErrorClass[],
  fn: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (types.some((t) => err instanceof t)) return { ok: false, error: err as Error };
    throw err;
  }
}

// ------------------------------------------------------------------------------------------------------
// Mutations. Positions are drawn as naturals and reduced modulo the input length when applied, so one
// arbitrary serves inputs of any size; small positions are favoured (headers and lengths live there).

const position = fc.oneof(fc.nat({ max: 40 }), fc.nat({ max: 100_000 }));

export type ByteEdit =
  | { op: "flip"; at: number; bit: number }
  | { op: "xor"; at: number; mask: number }
  | { op: "insert"; at: number; bytes: number[] }
  | { op: "delete"; at: number; len: number }
  | { op: "duplicate"; at: number; len: number }
  | { op: "truncate"; at: number };

export const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: position, bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant("xor" as const), at: position, mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    op: fc.constant("insert" as const),
    at: position,
    bytes: fc.array(
      fc.oneof(
        fc.constantFrom(0x00, 0x01, 0x02, 0x30, 0x31, 0x7f, 0x80, 0x81, 0x82, 0xa0, 0xa3, 0xff),
        fc.nat({ max: 255 }),
      ),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
  }),
  fc.record({ op: fc.constant("delete" as const), at: position, len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant("duplicate" as const), at: position, len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: position }),
);

export const byteEdits = fc.array(byteEdit, { minLength: 1, maxLength: 3 });

/** Applies the edits in order. Every single edit changes its input (xor/flip change a byte, the rest the length). */
export function applyByteEdits(input: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  let b = Uint8Array.from(input);
  for (const e of edits) {
    const n = b.length;
    switch (e.op) {
      case "flip":
      case "xor":
        if (n === 0) break;
        b[e.at % n] = (b[e.at % n] as number) ^ (e.op === "flip" ? 1 << e.bit : e.mask);
        break;
      case "insert": {
        const at = e.at % (n + 1);
        b = Uint8Array.from([...b.subarray(0, at), ...e.bytes, ...b.subarray(at)]);
        break;
      }
      case "delete": {
        if (n === 0) break;
        const at = e.at % n;
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + e.len)]);
        break;
      }
      case "duplicate": {
        if (n === 0) break;
        const at = e.at % n;
        b = Uint8Array.from([...b.subarray(0, at + e.len), ...b.subarray(at, at + e.len), ...b.subarray(at + e.len)]);
        break;
      }
      case "truncate":
        if (n === 0) break;
        b = b.slice(0, e.at % n);
        break;
    }
  }
  return b;
}

export type StringEdit =
  | { op: "replace"; at: number; text: string }
  | { op: "insert"; at: number; text: string }
  | { op: "delete"; at: number; len: number }
  | { op: "duplicate"; at: number; len: number }
  | { op: "swap"; at: number }
  | { op: "truncate"; at: number };

/** Edits whose inserted text comes from `alphabet`, the characters that matter to the format under test. */
export function stringEdits(alphabet: fc.Arbitrary<string>, maxEdits = 3): fc.Arbitrary<StringEdit[]> {
  const text = fc.array(alphabet, { minLength: 1, maxLength: 4 }).map((a) => a.join(""));
  const edit: fc.Arbitrary<StringEdit> = fc.oneof(
    fc.record({ op: fc.constant("replace" as const), at: position, text }),
    fc.record({ op: fc.constant("insert" as const), at: position, text }),
    fc.record({ op: fc.constant("delete" as const), at: position, len: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ op: fc.constant("duplicate" as const), at: position, len: fc.integer({ min: 1, max: 24 }) }),
    fc.record({ op: fc.constant("swap" as const), at: position }),
    fc.record({ op: fc.constant("truncate" as const), at: position }),
  );
  return fc.array(edit, { minLength: 1, maxLength: maxEdits });
}

export function applyStringEdits(input: string, edits: readonly StringEdit[]): string {
  let s = input;
  for (const e of edits) {
    const n = s.length;
    switch (e.op) {
      case "replace": {
        if (n === 0) break;
        const at = e.at % n;
        s = s.slice(0, at) + e.text + s.slice(at + 1);
        break;
      }
      case "insert": {
        const at = e.at % (n + 1);
        s = s.slice(0, at) + e.text + s.slice(at);
        break;
      }
      case "delete": {
        if (n === 0) break;
        const at = e.at % n;
        s = s.slice(0, at) + s.slice(at + e.len);
        break;
      }
      case "duplicate": {
        if (n === 0) break;
        const at = e.at % n;
        s = s.slice(0, at + e.len) + s.slice(at, at + e.len) + s.slice(at + e.len);
        break;
      }
      case "swap": {
        if (n < 2) break;
        const at = e.at % (n - 1);
        s = s.slice(0, at) + s[at + 1] + s[at] + s.slice(at + 2);
        break;
      }
      case "truncate":
        if (n === 0) break;
        s = s.slice(0, e.at % n);
        break;
    }
  }
  return s;
}

/** PEM with the base64 wrapped at `width` characters (0: one line), CRLF if asked. */
export function toPem(der: Uint8Array, width = 64, crlf = false): string {
  const nl = crlf ? "\r\n" : "\n";
  const b64 = Buffer.from(der).toString("base64");
  const lines = width > 0 ? (b64.match(new RegExp(`.{1,${width}}`, "g")) ?? []) : [b64];
  return `-----BEGIN CERTIFICATE-----${nl}${lines.join(nl)}${nl}-----END CERTIFICATE-----${nl}`;
}

/**
 * URL-encodes `text` as decodeURIComponent reads it back: characters that must be escaped always are, every
 * other one is escaped when its bit in `mask` says so (any mix is a valid encoding), hex case as asked.
 */
export function urlEncode(text: string, mask: Uint8Array = new Uint8Array(0), upper = true): string {
  let out = "";
  let k = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    const must = code > 0x7e || code < 0x21 || '%;,"\\'.includes(ch);
    const bit = mask.length > 0 ? ((mask[(k >> 3) % mask.length] as number) >> (k & 7)) & 1 : 0;
    k++;
    if (!must && bit === 0) {
      out += ch;
      continue;
    }
    const hex = Buffer.from(ch, "utf8").toString("hex").replace(/../g, "%$&");
    out += upper ? hex.toUpperCase() : hex.toLowerCase();
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}
