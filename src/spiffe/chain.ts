// Certification path building and validation: from the leaf, through SUPPLIED intermediates only, to a
// root of ONE bundle (the caller passes the roots of the leaf's own trust domain, never a union).
//
// Every candidate issuer whose subject matches is tried, not just the first: during a CA rotation old and
// new roots (and intermediates) may share a subject name. The search is a bounded depth-first search by
// name, and the links of a candidate path are verified only once it reaches a root, FROM THE ROOT DOWN: every
// signature is then checked with a key that is already proven (the root's, or one the root vouched for), so a
// forged chain costs one check with a key the trust domain chose, never a series of checks with keys the
// client chose. Path length, candidate issuers tried and signature checks are capped (see x509-svid.ts for
// the numbers), so crafted chains cannot make us do unbounded work.
//
// A root whose key we do not accept (certificatePublicKeyProblem) is refused at use, like any other unusable
// issuer: the path through it is "untrusted" with a detail naming the root and its key, and the other roots
// of the bundle keep working. Refusing the whole bundle when it arrives would turn one odd root into an
// outage of the trust domain; roots come from SPIRE or our own files, never from the client.
import { algorithmKeyMismatch, verifySignature } from "./algorithms.js";
import { certificatePublicKeyProblem } from "./public-key.js";
import { KeyUsage, type Certificate } from "./certificate.js";
import type { PublicKeyCache } from "./key-cache.js";
import { nameConstraintProblem } from "./name-constraints.js";

export interface PathLimits {
  /** Most certificates in a path, leaf and root included. */
  maxPathLength: number;
  /** Most signature verifications one search may spend, over all candidate paths. */
  maxSignatureChecks: number;
  /** Most candidate issuers one search may consider, over all candidate paths (bounds the search itself). */
  maxIssuerTries: number;
  /** Keys and CA signatures from earlier verified paths; filled with this path's on success. */
  keyCache: PublicKeyCache | undefined;
}

export type PathResult =
  { ok: true; path: Certificate[] } | { ok: false; reason: "expired" | "untrusted"; detail: string };

function label(cert: Certificate, role: string): string {
  return `${role} (subject "${cert.subject}")`;
}

/** Why `cert` may not issue certificates with `below` intermediates under it, or undefined. */
function issuerProblem(cert: Certificate, below: number): string | undefined {
  if (!cert.isCA) return "is not a CA (basicConstraints cA is not true)";
  if (!cert.hasKeyUsage(KeyUsage.keyCertSign)) return "lacks keyCertSign key usage";
  if (cert.pathLenConstraint !== undefined && below > cert.pathLenConstraint) {
    return `pathLenConstraint ${cert.pathLenConstraint} exceeded`;
  }
  const unhandled = cert.unhandledCriticalExtensions[0];
  if (unhandled) return `has unhandled critical extension ${unhandled}`;
  const keyProblem = certificatePublicKeyProblem(cert.publicKeyInfo);
  if (keyProblem) return `has a key we do not accept: ${keyProblem}`;
  return undefined;
}

/** The role of `path[i]` in a complete path (leaf … root). */
function roleAt(path: readonly Certificate[], i: number): string {
  return i === 0 ? "leaf" : i === path.length - 1 ? "root" : "intermediate";
}

function validityProblem(path: readonly Certificate[], nowMs: number): string | undefined {
  for (let i = 0; i < path.length; i++) {
    const c = path[i] as Certificate;
    const role = roleAt(path, i);
    if (nowMs < c.notBeforeMs) return `${label(c, role)} is not yet valid (notBefore ${c.notBefore.toISOString()})`;
    if (nowMs > c.notAfterMs) return `${label(c, role)} expired at ${c.notAfter.toISOString()}`;
  }
  return undefined;
}

export function buildPath(
  leaf: Certificate,
  intermediates: readonly Certificate[],
  roots: readonly Certificate[],
  trustDomain: string,
  nowMs: number,
  limits: PathLimits,
): PathResult {
  // A client may send the root along; it then counts as the root, never as an intermediate.
  const pool = intermediates.filter((c) => !roots.some((r) => r.equals(c)));
  const memo = new Map<Certificate, Map<Certificate, boolean>>();
  let checks = 0;
  let tries = 0;
  let exhausted: string | undefined;
  let untrusted: string | undefined;
  let expired: string | undefined;

  const known = (child: Certificate, parent: Certificate): boolean | undefined => memo.get(child)?.get(parent);

  /** Whether `parent`'s key verifies `child`'s signature; undefined once the signature budget is spent. */
  const signedBy = (child: Certificate, parent: Certificate): boolean | undefined => {
    const k = known(child, parent);
    if (k !== undefined) return k;
    if (checks >= limits.maxSignatureChecks) {
      exhausted ??= `path search gave up after ${limits.maxSignatureChecks} signature checks`;
      return undefined;
    }
    checks++;
    // A CA's signature already checked in an earlier verified path (never a leaf's: key-cache.ts). Counted like a
    // check, so that the search, its budget and its answer are the same warm or cold.
    if (child !== leaf && limits.keyCache?.signed(parent.spkiKey, child.sha256Hex()) === true) {
      remember(child, parent, true);
      return true;
    }
    let ok = false;
    try {
      const key = limits.keyCache?.get(parent.spkiKey) ?? parent.publicKey();
      ok = verifySignature(child.signatureAlgorithm, child.tbsBytes, child.signature, key);
    } catch {
      ok = false; // OpenSSL refused the issuer's key: it can vouch for nothing
    }
    remember(child, parent, ok);
    return ok;
  };

  function remember(child: Certificate, parent: Certificate, ok: boolean): void {
    let row = memo.get(child);
    if (!row) memo.set(child, (row = new Map()));
    row.set(parent, ok);
  }

  const badSignature = (child: Certificate, childRole: string, parent: Certificate, parentRole: string): string =>
    `signature of ${label(child, childRole)} does not verify with the key of ${label(parent, parentRole)}`;

  /** Verifies the links of a complete path (leaf … root) from the root down; false at the first bad one. */
  const linksVerify = (path: readonly Certificate[]): boolean => {
    for (let i = path.length - 2; i >= 0; i--) {
      const ok = signedBy(path[i] as Certificate, path[i + 1] as Certificate);
      if (ok === undefined) return false;
      if (!ok) {
        untrusted ??= badSignature(
          path[i] as Certificate,
          roleAt(path, i),
          path[i + 1] as Certificate,
          roleAt(path, i + 1),
        );
        return false;
      }
    }
    return true;
  };

  const extend = (path: Certificate[]): Certificate[] | undefined => {
    const child = path[path.length - 1] as Certificate;
    const childRole = path.length === 1 ? "leaf" : "intermediate";
    let found = false;
    const candidates: Array<[Certificate, boolean]> = [];
    for (const r of roots) if (r.subjectKey === child.issuerKey) candidates.push([r, true]);
    for (const c of pool) if (c.subjectKey === child.issuerKey) candidates.push([c, false]);
    for (const [parent, isRoot] of candidates) {
      if (exhausted) return undefined;
      // Same subject and key as a certificate already in the path: a loop, never progress.
      if (path.some((p) => p === parent || (p.subjectKey === parent.subjectKey && p.spkiKey === parent.spkiKey)))
        continue;
      if (tries >= limits.maxIssuerTries) {
        exhausted = `path search gave up after ${limits.maxIssuerTries} candidate issuers`;
        return undefined;
      }
      tries++;
      found = true;
      const role = isRoot ? "root" : "intermediate";
      const problem = issuerProblem(parent, path.length - 1);
      if (problem) {
        untrusted ??= `${label(parent, role)} ${problem}`;
        continue;
      }
      const mismatch = algorithmKeyMismatch(child.signatureAlgorithm, parent.publicKeyInfo);
      if (mismatch !== undefined) {
        untrusted ??= `${label(child, childRole)}: ${mismatch}`;
        continue;
      }
      const next = [...path, parent];
      // A link already found forged ends every path through it: no need to look further up.
      if (known(child, parent) === false) {
        untrusted ??= badSignature(child, childRole, parent, role);
        continue;
      }
      if (isRoot) {
        const nc = next
          .slice(1)
          .map((ca) => nameConstraintProblem(ca, trustDomain, leaf))
          .find((p) => p !== undefined);
        if (nc) {
          untrusted ??= nc;
          continue;
        }
        if (!linksVerify(next)) continue;
        const time = validityProblem(next, nowMs);
        if (time) {
          expired ??= time;
          continue;
        }
        return next;
      }
      // With the loop check every certificate of a path but the root is a distinct supplied one, so a caller
      // that bounds what it supplies (x509-svid.ts: maxChainLength, then maxPathLength one more) never gets
      // here; the bound holds the search for any other caller, and should the loop check ever loosen.
      if (next.length >= limits.maxPathLength) {
        untrusted ??= `path longer than ${limits.maxPathLength} certificates`;
        continue;
      }
      const done = extend(next);
      if (done) return done;
    }
    if (!found && !exhausted) untrusted ??= `no issuer of ${label(child, childRole)} found (issuer "${child.issuer}")`;
    return undefined;
  };

  const path = extend([leaf]);
  if (path) {
    // Remember the CAs' keys and the CA-to-CA signatures of this verified path. A key whose link was remembered may
    // not have been imported in this search; importing it cannot fail (it was imported when the link was checked),
    // but if it ever did, only the remembering is skipped.
    const cache = limits.keyCache;
    if (cache) {
      for (const ca of path.slice(1)) {
        if (cache.has(ca.spkiKey)) continue;
        try {
          cache.set(ca.spkiKey, ca.publicKey());
        } catch {
          // not remembered
        }
      }
      for (let i = 1; i < path.length - 1; i++)
        cache.addSigned((path[i + 1] as Certificate).spkiKey, (path[i] as Certificate).sha256Hex());
    }
    return { ok: true, path };
  }
  // Time is reported only when a path was otherwise sound: an expired certificate from an unknown CA is
  // simply untrusted. The search never looks at the clock before a path is sound, so which of these comes
  // out depends on the time only through the validity of the certificates (see x509-svid.ts).
  if (expired) return { ok: false, reason: "expired", detail: expired };
  if (exhausted) return { ok: false, reason: "untrusted", detail: exhausted };
  return { ok: false, reason: "untrusted", detail: untrusted ?? "no path to a trusted root" };
}
