// The two judges the X.509 differential test (suites/x509.ts) holds our verifier against, and the rule that
// reconciles them. `openssl verify` (the CLI, a separate process) gets exactly the trust anchors our verifier
// used: the bundle of the SVID's own trust domain, nothing from the system store. node:crypto's
// X509Certificate re-checks every link of a path we accepted. Our verdict may differ from OpenSSL's only
// where SPIFFE asks for more than RFC 5280 path validation does (STRICTER_RULES, each tied to our rejection
// reason) or where OpenSSL reads RFC 5280 more strictly than go-spiffe and we do (OPENSSL_STRICTER, each tied
// to OpenSSL's error code); docs/x509.md explains them. Any other disagreement fails the property.
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BundleError,
  BundleSet,
  SvidError,
  parseX509BundleDer,
  tryParseSpiffeId,
  verifyX509Svid,
  type SvidFailureReason,
  type X509Bundle,
  type X509Svid,
} from "../../src/spiffe/index.js";
import type { BuiltCase } from "./x509-chains.js";
import { HOME_TD } from "./x509-chains.js";

// ------------------------------------------------------------------------------------------------------
// Our side: the verifier the server runs (engine/decide.ts: verifyX509Svid over the trust snapshot's
// BundleSet), with bundles parsed the way the Workload API watcher parses them.

export type OurVerdict =
  | { ok: true; svid: X509Svid; anchors: Uint8Array[] }
  | { ok: false; reason: SvidFailureReason | "bundle_refused"; detail: string; anchors: Uint8Array[] };

export function ourVerdict(c: BuiltCase): OurVerdict {
  const bundles: X509Bundle[] = [];
  for (const [td, ders] of c.bundles) {
    try {
      bundles.push(parseX509BundleDer(td, Uint8Array.from(Buffer.concat(ders))));
    } catch (err) {
      // A root our parser refuses makes the whole bundle unusable; judged like a malformed certificate.
      if (!(err instanceof BundleError)) throw err;
      const ownTd = tdOf(c);
      if (td === ownTd) return { ok: false, reason: "bundle_refused", detail: err.message, anchors: ders };
    }
  }
  const set = new BundleSet(bundles);
  const anchors = c.bundles.get(tdOf(c)) ?? [];
  try {
    return { ok: true, svid: verifyX509Svid(c.presented, set, c.now), anchors };
  } catch (err) {
    if (!(err instanceof SvidError)) throw err;
    return { ok: false, reason: err.reason, detail: err.detail, anchors };
  }
}

/** The trust domain whose bundle decides: the leaf's SPIFFE ID's when it has exactly one valid one. */
function tdOf(c: BuiltCase): string {
  const leaf = new X509Certificate(c.presented[0] as Uint8Array);
  const uris = (leaf.subjectAltName ?? "")
    .split(", ")
    .filter((n) => n.startsWith("URI:"))
    .map((n) => n.slice(4));
  const id = uris.length === 1 ? tryParseSpiffeId(uris[0] as string) : undefined;
  return id?.trustDomain.name ?? HOME_TD;
}

// ------------------------------------------------------------------------------------------------------
// OpenSSL: `openssl verify -x509_strict -purpose any -partial_chain`, at the same second, trusting only the
// anchors given (-no-CApath -no-CAstore: not the system's). -partial_chain because a bundle may hold a CA
// that is not self-signed, and our verifier treats every bundle certificate as a trust anchor too.

export type OpensslVerdict = { ok: true } | { ok: false; code: number; message: string; depth: number };

const work = mkdtempSync(join(tmpdir(), "x509-differential-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
let serial = 0;

function pem(ders: readonly Uint8Array[]): string {
  return ders
    .map(
      (d) =>
        `-----BEGIN CERTIFICATE-----\n${Buffer.from(d)
          .toString("base64")
          .replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`,
    )
    .join("");
}

export async function opensslVerdict(c: BuiltCase, anchors: readonly Uint8Array[]): Promise<OpensslVerdict> {
  const base = join(work, String(serial++));
  writeFileSync(`${base}-ca.pem`, pem(anchors));
  writeFileSync(`${base}-leaf.pem`, pem([c.presented[0] as Uint8Array]));
  const args = ["verify", "-x509_strict", "-purpose", "any", "-partial_chain", "-no-CApath", "-no-CAstore"];
  args.push("-attime", String(Math.floor(c.now.getTime() / 1000)), "-CAfile", `${base}-ca.pem`);
  if (c.presented.length > 1) {
    writeFileSync(`${base}-untrusted.pem`, pem(c.presented.slice(1)));
    args.push("-untrusted", `${base}-untrusted.pem`);
  }
  args.push(`${base}-leaf.pem`);
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (resolve, reject) => {
      // OPENSSL_CONF=/dev/null: the distribution's openssl.cnf may change defaults (security level, providers).
      execFile("openssl", args, { env: { ...process.env, OPENSSL_CONF: "/dev/null" } }, (err, stdout, stderr) => {
        if (err && typeof err.code !== "number")
          reject(new Error(`the X.509 differential needs the openssl CLI on PATH: ${err.message}`));
        else resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      });
    },
  );
  for (const f of ["ca", "leaf", "untrusted"]) rmSync(`${base}-${f}.pem`, { force: true });
  if (code === 0 && /: OK\s*$/.test(stdout)) return { ok: true };
  const m = /error (\d+) at (\d+) depth lookup: ([^\n]*)/.exec(stderr);
  if (!m) {
    // An empty anchor file or a certificate OpenSSL cannot even load: a rejection, named by its output.
    if (code !== 0) return { ok: false, code: -1, message: stderr.trim().split("\n")[0] ?? "", depth: -1 };
    throw new Error(`openssl verify: unexpected output (exit ${code}): ${stdout} ${stderr}`);
  }
  return { ok: false, code: Number(m[1]), depth: Number(m[2]), message: m[3] as string };
}

// ------------------------------------------------------------------------------------------------------
// node:crypto on a path we accepted: every link issued (names, key identifiers, the issuer's key usage) and
// signed by the next certificate's key, every certificate within validity (inclusive, as RFC 5280 says), the
// CAs marked CA, the leaf not, the leaf's URI SAN the ID we returned, and the top a bundle certificate.

export function nodeCryptoProblem(c: BuiltCase, v: Extract<OurVerdict, { ok: true }>): string | undefined {
  const path = v.svid.verifiedChain.map((cert) => new X509Certificate(cert.der));
  const now = c.now.getTime();
  for (let i = 0; i < path.length; i++) {
    const x = path[i] as X509Certificate;
    if (now < Date.parse(x.validFrom) || now > Date.parse(x.validTo))
      return `certificate ${i} outside ${x.validFrom} – ${x.validTo}`;
    if (i > 0 && !x.ca) return `certificate ${i} on the path is not a CA`;
    const parent = path[i + 1];
    if (!parent) continue;
    if (!x.checkIssued(parent)) return `certificate ${i} was not issued by certificate ${i + 1}`;
    if (!x.verify(parent.publicKey)) return `signature of certificate ${i} does not verify with certificate ${i + 1}`;
  }
  const leaf = path[0] as X509Certificate;
  if (leaf.ca) return "leaf is a CA";
  if (!(leaf.subjectAltName ?? "").split(", ").includes(`URI:${v.svid.id.toString()}`))
    return `leaf SAN ${leaf.subjectAltName} does not hold ${v.svid.id.toString()}`;
  const top = v.svid.verifiedChain[v.svid.verifiedChain.length - 1];
  if (!top || !v.anchors.some((a) => Buffer.compare(a, top.der) === 0))
    return "path does not end at a bundle certificate";
  return undefined;
}

// ------------------------------------------------------------------------------------------------------
// Where we may reject what OpenSSL accepts: SPIFFE's own rules (X509-SVID.md) and the name constraint kinds
// SPIRE never writes, which we refuse rather than half-evaluate. Each names our reason and the detail text
// that identifies the rule. Only rules seen in practice are listed (x509-differential.test.ts shows each one
// on a fixed chain); our other stricter checks (duplicate extensions, CAs without keyCertSign or cA, unknown
// critical extensions) OpenSSL -x509_strict shares. docs/x509.md lists the same ids.

export interface StricterRule {
  id: string;
  reason: SvidFailureReason | "bundle_refused";
  detail: RegExp;
  why: string;
}

export const STRICTER_RULES: readonly StricterRule[] = [
  {
    id: "svid-uri-san",
    reason: "no_spiffe_id",
    detail: /URI SAN|has no path/,
    why: "X509-SVID §2: exactly one URI SAN, a valid SPIFFE ID with a path",
  },
  {
    id: "svid-leaf-not-ca",
    reason: "not_a_leaf",
    detail: /basicConstraints cA=true/,
    why: "X509-SVID §4.1: a leaf SVID is not a CA",
  },
  {
    id: "svid-leaf-key-usage",
    reason: "not_a_leaf",
    detail: /has keyCertSign|has cRLSign|lacks digitalSignature/,
    why: "X509-SVID §4.3: a leaf has digitalSignature and neither keyCertSign nor cRLSign",
  },
  {
    id: "name-constraint-kinds",
    reason: "untrusted",
    detail:
      /unsupported (rfc822Name|iPAddress|directoryName|otherName|x400Address|ediPartyName|registeredID|unknown) name constraint/,
    why: "only URI and DNS constraints are evaluated (X509-SVID §4.2); a CA with any other kind never validates",
  },
];

/**
 * Where OpenSSL may reject what we accept: its own readings that are stricter than RFC 5280 and go-spiffe, on
 * certificates that change nothing about who may sign what. Each is matched by OpenSSL's error code and a
 * condition on the path we accepted, so nothing else slips through.
 */
export interface OpensslStricterRule {
  id: string;
  code: number;
  applies: (
    c: BuiltCase,
    ours: Extract<OurVerdict, { ok: true }>,
    openssl: Extract<OpensslVerdict, { ok: false }>,
  ) => boolean;
  why: string;
}

export const OPENSSL_STRICTER: readonly OpensslStricterRule[] = [
  {
    id: "openssl-notafter-exclusive",
    code: 10, // X509_V_ERR_CERT_HAS_EXPIRED
    applies: (c, ours) => ours.svid.verifiedChain.some((cert) => cert.notAfterMs === c.now.getTime()),
    why: "RFC 5280 §4.1.2.5: validity includes notAfter; OpenSSL 3.0 counts notAfter's own second as expired",
  },
  {
    id: "openssl-pathlen-on-leaf",
    code: 80, // X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA (-x509_strict)
    applies: (_c, ours, openssl) =>
      openssl.depth === 0 && !ours.svid.leaf.isCA && ours.svid.leaf.pathLenConstraint !== undefined,
    why: "RFC 5280 §4.2.1.9 tells CAs not to write pathLenConstraint without cA; a leaf with cA=false and a pathLen cannot sign either way",
  },
];

export type Comparison =
  | { agree: true; ours: "accept" | "reject" }
  | { agree: false; rule: string }
  | { agree: false; rule: undefined; problem: string };

/** One comparison with fixed anchors: we never accept what OpenSSL refuses, and refuse what it accepts only under a rule. */
export function compare(c: BuiltCase, ours: OurVerdict, openssl: OpensslVerdict): Comparison {
  if (ours.ok) {
    const node = nodeCryptoProblem(c, ours);
    if (node) return { agree: false, rule: undefined, problem: `we accepted; node:crypto: ${node}` };
    if (openssl.ok) return { agree: true, ours: "accept" };
    const rule = OPENSSL_STRICTER.find((r) => r.code === openssl.code && r.applies(c, ours, openssl));
    if (rule) return { agree: false, rule: rule.id };
    return {
      agree: false,
      rule: undefined,
      problem: `we accepted ${ours.svid.id.toString()}; openssl: error ${openssl.code} at depth ${openssl.depth}: ${openssl.message}`,
    };
  }
  if (!openssl.ok) return { agree: true, ours: "reject" };
  const rule = STRICTER_RULES.find((r) => r.reason === ours.reason && r.detail.test(ours.detail));
  if (rule) return { agree: false, rule: rule.id };
  return {
    agree: false,
    rule: undefined,
    problem: `openssl accepted; we rejected with ${ours.reason}: ${ours.detail} (not a listed SPIFFE rule)`,
  };
}

/** The case with the deciding trust domain's bundle replaced by `anchors`. */
function withAnchors(c: BuiltCase, anchors: Uint8Array[]): BuiltCase {
  const bundles = new Map(c.bundles);
  bundles.set(tdOf(c), anchors);
  return { ...c, bundles };
}

/**
 * The whole judgement of one case: openssl run, comparison, and for a refusal OpenSSL does not share under a
 * bundle of several roots, the same per root. Our verifier reports the first failure its path search met
 * (say, a bad signature under the next root of a rotation) while OpenSSL went on to another root; judged one
 * root at a time, each refusal must be a listed rule or shared by OpenSSL, and no single root may verify.
 */
export async function judge(c: BuiltCase): Promise<{ ours: OurVerdict; openssl: OpensslVerdict; result: Comparison }> {
  const ours = ourVerdict(c);
  const openssl = await opensslVerdict(c, ours.anchors);
  const result = compare(c, ours, openssl);
  if (result.agree || result.rule !== undefined || ours.ok || ours.anchors.length < 2) return { ours, openssl, result };
  const rules: string[] = [];
  for (const [i, anchor] of ours.anchors.entries()) {
    const one = withAnchors(c, [anchor]);
    const oursOne = ourVerdict(one);
    if (oursOne.ok) {
      const problem = `rejected with the whole bundle (${ours.detail}) but accepted with root ${i} alone`;
      return { ours, openssl, result: { agree: false, rule: undefined, problem } };
    }
    const r = compare(one, oursOne, await opensslVerdict(one, [anchor]));
    if (!r.agree && r.rule === undefined)
      return { ours, openssl, result: { ...r, problem: `root ${i} alone: ${r.problem}` } };
    if (!r.agree) rules.push(r.rule);
  }
  return { ours, openssl, result: { agree: false, rule: rules.join("+") } };
}
