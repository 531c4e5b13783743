// Runs the cases of one policy test file through the server's own decision (offline.ts: compilePolicy +
// decide), with credentials minted for the run: one throwaway X.509 CA and JWT authority per trust domain the
// file names, trusted beside the config's own trust-bundles. A case may bring its own certificate and bundle.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadConfigFile } from "../../config/load.js";
import { ConfigError } from "../../config/errors.js";
import type { Config } from "../../config/schema.js";
import { DevCertificateAuthority, DevJwtAuthority } from "../../dev-ca/index.js";
import { compilePolicy, TOP_LEVEL, type Policy } from "../../policy/index.js";
import type { JwtBundle } from "../../spiffe/index.js";
import {
  BundleSet,
  X509Bundle,
  idFromCertificate,
  parseCertificate,
  parsePemCertificates,
  parseSpiffeId,
} from "../../spiffe/index.js";
import { mergeBundles, splitDocument } from "../../trust/merge.js";
import { parseBundleFile } from "../../trust/static-bundles.js";
import type { Decision } from "../contract.js";
import { explainDecision, type DecisionExplanation } from "../explain.js";
import { decideOffline, offlineRequest, type OfflineCredential } from "../offline.js";
import { PolicyTestFileError, type Expectation, type PolicyTestCase, type PolicyTestFile } from "./file.js";

export interface Mismatch {
  readonly field: keyof Expectation;
  readonly expected: string;
  readonly got: string;
}

export interface CaseResult {
  readonly name: string;
  readonly pass: boolean;
  /** The expected fields the decision did not meet; empty when the case passed. */
  readonly mismatches: readonly Mismatch[];
  readonly decision: Decision;
  readonly explanation?: DecisionExplanation;
}

export interface RunOptions {
  now?: Date;
  explain?: boolean;
}

function why(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function readAt(t: PolicyTestFile, keyPath: string, path: string): Buffer {
  try {
    return readFileSync(resolve(t.dir, path));
  } catch (err) {
    throw new PolicyTestFileError(
      t.file,
      keyPath,
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? why(err)}`,
    );
  }
}

/** The throwaway authorities: one per trust domain that the file's identity (X.509) or jwt cases name. */
async function authorities(cases: readonly PolicyTestCase[]) {
  const x509 = new Map<string, DevCertificateAuthority>();
  const jwt = new Map<string, DevJwtAuthority>();
  for (const c of cases) {
    if (c.identity !== undefined) {
      const td = parseSpiffeId(c.identity).trustDomain.name;
      if (!x509.has(td)) x509.set(td, await DevCertificateAuthority.createRoot(td));
    }
    if (c.jwt !== undefined) {
      const td = parseSpiffeId(c.jwt).trustDomain.name;
      if (!jwt.has(td)) jwt.set(td, await DevJwtAuthority.create(td));
    }
  }
  return { x509, jwt };
}

/** The run's bundles: the throwaway authorities' and the config's trust-bundles (read as serve reads them), merged per trust domain. */
function runBundles(t: PolicyTestFile, config: Config, auth: Awaited<ReturnType<typeof authorities>>): BundleSet {
  const parts: Array<X509Bundle | JwtBundle> = [];
  for (const ca of auth.x509.values()) parts.push(ca.x509Bundle());
  for (const a of auth.jwt.values()) parts.push(a.jwtBundle());
  config["trust-bundles"].forEach((b, i) => {
    try {
      parts.push(...splitDocument(parseBundleFile(b["trust-domain"], readFileSync(b.path))));
    } catch (err) {
      const problem = `config ${t.config}: trust-bundles[${i}].path ${b.path}: ${why(err)}`;
      throw new PolicyTestFileError(t.file, "config", problem);
    }
  });
  const merged = new Map<string, X509Bundle | JwtBundle>();
  for (const b of parts) {
    const key = `${b instanceof X509Bundle ? "x509" : "jwt"} ${b.trustDomain.name}`;
    merged.set(key, mergeBundles(merged.get(key), b));
  }
  return new BundleSet(merged.values());
}

/** The trust domain of the leaf's SPIFFE ID, or undefined when it has none (decide() then says what is wrong). */
function leafTrustDomain(pem: string): string | undefined {
  try {
    return idFromCertificate(parseCertificate(parsePemCertificates(pem)[0]!)).trustDomain.name;
  } catch {
    return undefined;
  }
}

function compare(expect: Expectation, d: Decision): Mismatch[] {
  const out: Mismatch[] = [];
  const check = (field: keyof Expectation, expected: unknown, got: unknown, ok = expected === got) => {
    if (expected !== undefined && !ok) out.push({ field, expected: String(expected), got: String(got) });
  };
  // Under enforcement: dry-run every request passes; a policy test judges what enforcement would decide, as
  // `check`'s exit code does.
  const verdict = d.dryRun ?? d;
  check("allow", expect.allow, verdict.allow);
  check("status", expect.status, verdict.httpStatus);
  check("reason", expect.reason, d.reason);
  check("detail", expect.detail, d.detail, expect.detail !== undefined && d.detail.includes(expect.detail));
  // An unknown route name applied no allowlist at all: not the top level's.
  check("route", expect.route, d.route ?? (d.reason === "unknown_route" ? "(none)" : TOP_LEVEL));
  return out;
}

/** A case with its credential made and its files read: nothing left that can make the file bad. */
interface PreparedCase {
  readonly c: PolicyTestCase;
  readonly credential: OfflineCredential;
  readonly bundles: BundleSet;
}

/** A test file ready to run: its config compiled, every credential minted and every file it names read. */
export interface PreparedTestFile {
  readonly file: PolicyTestFile;
  readonly config: Config;
  readonly policy: Policy;
  readonly cases: readonly PreparedCase[];
}

/** Throws PolicyTestFileError for a bad config or an unreadable certificate or bundle; decides nothing yet. */
export async function preparePolicyTestFile(t: PolicyTestFile, now = new Date()): Promise<PreparedTestFile> {
  let config: Config;
  let policy: Policy;
  try {
    config = loadConfigFile(t.config);
    policy = compilePolicy(config);
  } catch (err) {
    if (err instanceof ConfigError) throw new PolicyTestFileError(t.file, "config", `${t.config}: ${err.message}`);
    throw err;
  }
  const auth = await authorities(t.cases);
  const bundles = runBundles(t, config, auth);
  const cases: PreparedCase[] = [];
  for (const [i, c] of t.cases.entries()) {
    let credential: OfflineCredential = { kind: "none" };
    let caseBundles = bundles;
    if (c.identity !== undefined) {
      const svid = await auth.x509.get(parseSpiffeId(c.identity).trustDomain.name)!.issueX509Svid(c.identity);
      credential = { kind: "x509", certPem: svid.pem };
    } else if (c.jwt !== undefined) {
      const issuer = auth.jwt.get(parseSpiffeId(c.jwt).trustDomain.name)!;
      credential = { kind: "jwt", token: await issuer.issue({ subject: c.jwt, audience: c.audience!, now }) };
    } else if (c.cert !== undefined) {
      const certPem = readAt(t, `cases[${i}].cert`, c.cert).toString("utf8");
      const chainPem = c.chain === undefined ? undefined : readAt(t, `cases[${i}].chain`, c.chain).toString("utf8");
      credential = { kind: "x509", certPem, ...(chainPem !== undefined ? { chainPem } : {}) };
      const bundle = c.bundle === undefined ? undefined : readAt(t, `cases[${i}].bundle`, c.bundle);
      // Filed under the leaf's trust domain; a leaf without a SPIFFE ID fails before any bundle is looked at.
      const td = leafTrustDomain(certPem);
      if (bundle !== undefined && td !== undefined) {
        try {
          caseBundles = bundles.with(...splitDocument(parseBundleFile(td, bundle)));
        } catch (err) {
          throw new PolicyTestFileError(t.file, `cases[${i}].bundle`, `${c.bundle}: ${why(err)}`);
        }
      }
    }
    cases.push({ c, credential, bundles: caseBundles });
  }
  return { file: t, config, policy, cases };
}

/** Decides every case as the server would and compares the decision with what the case expects. */
export async function runPolicyTests(p: PreparedTestFile, opts: RunOptions = {}): Promise<CaseResult[]> {
  const now = opts.now ?? new Date();
  const results: CaseResult[] = [];
  for (const { c, credential, bundles } of p.cases) {
    const req = offlineRequest(p.config, {
      credential,
      ...(c.route !== undefined ? { route: c.route } : {}),
      method: c.method ?? "GET",
      path: c.path ?? "/",
      ...(c.headers !== undefined ? { headers: c.headers } : {}),
    });
    const decision = await decideOffline(p.policy, bundles, req, now);
    const mismatches = compare(c.expect, decision);
    results.push({
      name: c.name,
      pass: mismatches.length === 0,
      mismatches,
      decision,
      ...(opts.explain ? { explanation: explainDecision(p.policy, req, decision) } : {}),
    });
  }
  return results;
}
