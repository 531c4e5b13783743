// The policy test file of `spiffe-authz test`: a config to test and the cases it must decide, validated as
// strictly as the config itself (unknown keys are errors, each error names the file and the key path).
// New ways to present a credential (another client-cert header format, say) are new optional case keys.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { describeZodError, printable } from "../../config/errors.js";
import { tryParseSpiffeId } from "../../spiffe/index.js";
import { REASONS } from "../contract.js";

/** A test file that cannot be run: unreadable, not YAML, or not the schema below. Exit code 2. */
export class PolicyTestFileError extends Error {
  override readonly name = "PolicyTestFileError";
  constructor(file: string, keyPath: string, problem: string) {
    super(printable(keyPath ? `${file}: ${keyPath}: ${problem}` : `${file}: ${problem}`));
  }
}

const nonEmpty = z.string().min(1, "must not be empty");
const spiffeId = z.string().refine((s) => tryParseSpiffeId(s) !== undefined, "expected a SPIFFE ID (spiffe://td/path)");
const STATUSES = [200, 401, 403, 503] as const;
const status = z.literal(STATUSES);

const expectMap = z.strictObject({
  allow: z.boolean().optional(),
  status: status.optional(),
  reason: z.enum(REASONS).optional(),
  /** A part of the decision's detail. */
  detail: z.string().optional(),
  /** The route whose allowlist decided (several joined with "+"). */
  route: z.string().optional(),
});

const expectSchema = z.union(
  [
    expectMap,
    z.enum(["allow", "deny", ...REASONS]),
    status,
    z.enum(STATUSES.map(String) as [string, ...string[]]).transform(Number),
  ],
  {
    error: `expected allow, deny, a status (${STATUSES.join("|")}), a reason (${REASONS.join("|")}) or a map {allow, status, reason, detail, route}`,
  },
);

/** What a case expects, as a map: only the fields given are compared. */
export type Expectation = z.output<typeof expectMap>;

function toExpectation(e: z.output<typeof expectSchema>): Expectation {
  if (typeof e === "object") return e;
  if (e === "allow") return { allow: true };
  if (e === "deny") return { allow: false };
  if (typeof e === "number") return { status: e as Expectation["status"] };
  return { reason: e as Expectation["reason"] };
}

const CREDENTIALS = ["identity", "cert", "jwt", "none"] as const;

const caseSchema = z
  .strictObject({
    name: nonEmpty,
    /** A certificate minted for this ID by the run's throwaway CA for its trust domain. */
    identity: spiffeId.optional(),
    /** A leaf certificate (PEM file; may hold the intermediates after it), relative to the test file. */
    cert: nonEmpty.optional(),
    /** Intermediates (PEM file). */
    chain: nonEmpty.optional(),
    /** The bundle for the certificate's trust domain (PEM, DER or SPIFFE bundle JSON file). */
    bundle: nonEmpty.optional(),
    /** A JWT-SVID minted for this ID (as `sub`) by the run's JWT authority for its trust domain. */
    jwt: spiffeId.optional(),
    audience: z.union([nonEmpty, z.array(nonEmpty).min(1)]).optional(),
    /** No credential at all. */
    none: z.literal(true).optional(),
    route: nonEmpty.optional(),
    path: z.string().startsWith("/", "expected a path starting with /").optional(),
    method: z
      .string()
      .regex(/^[A-Za-z]+$/, "expected an HTTP method")
      .optional(),
    /** Further request headers, as the proxy would pass them on. */
    headers: z.record(z.string(), z.string()).optional(),
    expect: expectSchema.transform(toExpectation),
  })
  .superRefine((c, ctx) => {
    const given = CREDENTIALS.filter((k) => c[k] !== undefined);
    if (given.length !== 1) {
      const what = given.length === 0 ? "none is given" : `${given.join(" and ")} are given`;
      ctx.addIssue({ code: "custom", message: `give exactly one of ${CREDENTIALS.join(", ")} (${what})`, path: [] });
    }
    for (const k of ["chain", "bundle"] as const)
      if (c[k] !== undefined && c.cert === undefined)
        ctx.addIssue({ code: "custom", message: "only with cert", path: [k] });
    if (c.audience !== undefined && c.jwt === undefined)
      ctx.addIssue({ code: "custom", message: "only with jwt", path: ["audience"] });
    if (c.jwt !== undefined && c.audience === undefined)
      ctx.addIssue({ code: "custom", message: "required with jwt", path: ["audience"] });
  });

const fileSchema = z
  .strictObject({
    /** The config under test, relative to the test file. */
    config: nonEmpty,
    cases: z.array(caseSchema).min(1),
  })
  .superRefine((f, ctx) => {
    const seen = new Map<string, number>();
    f.cases.forEach((c, i) => {
      const prev = seen.get(c.name);
      if (prev !== undefined)
        ctx.addIssue({
          code: "custom",
          message: `duplicate case name (also cases[${prev}])`,
          path: ["cases", i, "name"],
        });
      seen.set(c.name, i);
    });
  });

export type PolicyTestCase = z.output<typeof caseSchema>;

export interface PolicyTestFile {
  /** The path as given on the command line, for messages. */
  readonly file: string;
  /** The directory the file's relative paths are relative to. */
  readonly dir: string;
  /** The config's path, resolved. */
  readonly config: string;
  readonly cases: readonly PolicyTestCase[];
}

export function loadPolicyTestFile(file: string): PolicyTestFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new PolicyTestFileError(file, "", `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parsePolicyTestText(text, file, dirname(resolve(file)));
}

/** A test file's text; `file` names it in messages, `dir` is what its relative paths are relative to. */
export function parsePolicyTestText(text: string, file: string, dir: string): PolicyTestFile {
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    const sentence = err instanceof YAMLParseError ? `: ${err.message.split("\n")[0]!.replace(/:$/, "")}` : "";
    throw new PolicyTestFileError(file, "", `not valid YAML${sentence}`);
  }
  const res = fileSchema.safeParse(value, { reportInput: true });
  if (!res.success) {
    // A misspelt key first: it is why the key it meant reads as missing.
    const unknown = res.error.issues.filter((i) => i.code === "unrecognized_keys");
    const { keyPath, problem } = describeZodError(unknown.length > 0 ? { issues: unknown } : res.error);
    throw new PolicyTestFileError(file, keyPath, problem);
  }
  return { file, dir, config: resolve(dir, res.data.config), cases: res.data.cases };
}
