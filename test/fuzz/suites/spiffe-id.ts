// SPIFFE ID parser (src/spiffe/id.ts) under mutation of valid IDs, against an oracle written from the spec;
// and the segment-aware allowlist prefix built on it.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  SpiffeId,
  SpiffeIdError,
  parseSpiffeId,
  parseTrustDomain,
  type TrustDomain,
} from "../../../src/spiffe/index.js";
import { compileAllowlist } from "../../../src/policy/allowlist.js";
import {
  applyStringEdits,
  defineProperty,
  outcome,
  stringEdits,
  type FuzzProperty,
  type FuzzSuite,
} from "../harness.js";

/** SPIFFE-ID.md §2, transcribed independently of the parser: one regular expression and three checks. */
function oracle(s: string): { td: string; path: string } | undefined {
  const m = /^spiffe:\/\/([a-z0-9._-]+)((?:\/[A-Za-z0-9._-]+)*)$/.exec(s);
  if (!m) return undefined;
  const td = m[1] as string;
  const path = m[2] as string;
  if (td.length > 255 || s.length > 2048) return undefined;
  if (path.split("/").some((seg) => seg === "." || seg === "..")) return undefined;
  return { td, path };
}

const tdArb = fc.oneof(
  fc.stringMatching(/^[a-z0-9._-]{1,20}$/),
  fc.constantFrom("example.org", "td", "a", "example.org.evil.com", "x".repeat(255), "y".repeat(256)),
);
const segArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._-]{1,10}$/),
  fc.constantFrom("ns", "sa", "default", "a", "..a", "a.."),
);
const pathArb = fc.oneof(
  { weight: 5, arbitrary: fc.array(segArb, { maxLength: 6 }).map((s) => s.map((x) => `/${x}`).join("")) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 2100 }).map((n) => `/${"p".repeat(n)}`) },
);
const validishId = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(tdArb, pathArb).map(([td, path]) => `spiffe://${td}${path}`) },
  // Right at the 2048-byte limit, where an off-by-one would hide.
  {
    weight: 1,
    arbitrary: fc
      .tuple(tdArb, fc.integer({ min: -2, max: 2 }), fc.array(segArb, { maxLength: 3 }))
      .map(([td, delta, segs]) => {
        const head = `spiffe://${td}${segs.map((x) => `/${x}`).join("")}/`;
        return head + "q".repeat(Math.max(1, 2048 + delta - head.length));
      }),
  },
);
const idAlphabet = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom("/", "//", ".", "..", ":", "@", "%", "%2F", "?", "#", "A", "Z", "a", "-", "_", " "),
  },
  { weight: 1, arbitrary: fc.constantFrom("spiffe://", "SPIFFE", "\u0000", "é", "\ud800", "\u0130", "\u212a") },
  { weight: 1, arbitrary: fc.string({ maxLength: 2 }) },
);

/** Segment-aware containment, written as string operations on the full IDs. */
function underOracle(id: string, prefix: string, strict: boolean): boolean {
  if (!strict && id === prefix) return true;
  const p = prefix.endsWith("/") ? prefix : `${prefix}/`;
  // A trust domain ID prefix covers every ID of that trust domain (and itself).
  if (/^spiffe:\/\/[^/]+$/.test(prefix)) return id === prefix || id.startsWith(p);
  return id.startsWith(p);
}

export const spiffeIdSuite: FuzzSuite = {
  name: "spiffe-id",
  async properties(): Promise<FuzzProperty[]> {
    return [
      defineProperty(
        "spiffe-id/mutated-ids-agree-with-spec",
        3000,
        150_000,
        fc.property(validishId, fc.option(stringEdits(idAlphabet), { freq: 3 }), (valid, edits) => {
          const s = edits ? applyStringEdits(valid, edits) : valid;
          const want = oracle(s);
          const got = outcome([SpiffeIdError], () => parseSpiffeId(s));
          assert.equal(
            got.ok,
            want !== undefined,
            `parser ${got.ok ? "accepted" : "rejected"} ${JSON.stringify(s.slice(0, 120))}`,
          );
          if (got.ok && want) {
            const id = got.value;
            assert.equal(id.toString(), s);
            assert.equal(id.trustDomain.name, want.td);
            assert.equal(id.path, want.path);
            assert.ok(id.equals(SpiffeId.fromPath(parseTrustDomain(want.td), want.path)));
            assert.ok(id.isUnder(id) && id.memberOf(id.trustDomain));
          }
          // Trust domain spellings: only SpiffeIdError, and accepted exactly when the name is valid.
          const td = outcome([SpiffeIdError], () => parseTrustDomain(s));
          const bare = /^[a-z0-9._-]{1,255}$/.test(s) || /^spiffe:\/\/[a-z0-9._-]{1,255}$/.test(s);
          assert.equal(td.ok, bare, `trust domain ${JSON.stringify(s.slice(0, 120))}`);
        }),
      ),

      defineProperty(
        "spiffe-id/from-path-validates",
        1500,
        60_000,
        fc.property(
          tdArb.filter((t) => t.length <= 255),
          fc.oneof(
            pathArb,
            pathArb.map((p) => `${p}/`),
            fc.string({ maxLength: 12 }),
          ),
          (tdName, path) => {
            const td: TrustDomain = parseTrustDomain(tdName);
            const got = outcome([SpiffeIdError], () => SpiffeId.fromPath(td, path));
            const want = oracle(`spiffe://${tdName}${path}`);
            assert.equal(got.ok, want !== undefined && want.td === tdName, `${tdName} ${JSON.stringify(path)}`);
          },
        ),
      ),

      defineProperty(
        "spiffe-id/allowlist-prefix-is-segment-aware",
        1500,
        60_000,
        fc.property(
          fc.constantFrom("example.org", "example.org.evil", "examplexorg"),
          fc.array(fc.constantFrom("a", "ab", "b", "services", "servicesx"), { maxLength: 3 }),
          fc.boolean(),
          fc.constantFrom("example.org", "example.org.evil", "examplexorg"),
          fc.array(fc.constantFrom("a", "ab", "b", "services", "servicesx"), { maxLength: 4 }),
          (ptd, psegs, strict, itd, isegs) => {
            const base = `spiffe://${ptd}${psegs.map((x) => `/${x}`).join("")}`;
            const prefix = strict ? `${base}/` : base;
            const id = `spiffe://${itd}${isegs.map((x) => `/${x}`).join("")}`;
            const allow = compileAllowlist(
              { exact: [], prefix: [prefix], "trust-domains": [], patterns: [] },
              "allowlist",
            );
            const parsed = parseSpiffeId(id);
            const matched =
              allow.match({ spiffeId: id, trustDomain: parsed.trustDomain.name, path: parsed.path }) === "prefix";
            const strictBelow = strict && psegs.length > 0;
            assert.equal(matched, underOracle(id, base, strictBelow), `${prefix} vs ${id}`);
          },
        ),
      ),
    ];
  },
};
