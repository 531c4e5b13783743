// Certification path building and validation: from the leaf, through SUPPLIED intermediates only, to a
// root of ONE bundle (the caller passes the roots of the leaf's own trust domain, never a union).
//
// Every candidate issuer whose subject matches is tried by signature, not just the first: during a SPIRE
// CA rotation the old and new roots (and intermediates) share a subject name. The search is a bounded
// depth-first search: path length, signature checks and loops are capped so that crafted chains cannot
// make us do unbounded work.
import { algorithmKeyMismatch, publicKeyProblem, verifySignature } from "./algorithms.js";
import { KeyUsage, type Certificate } from "./certificate.js";
import type { PublicKeyCache } from "./key-cache.js";
import { nameConstraintProblem } from "./name-constraints.js";

export interface PathLimits {
  /** Most certificates in a path, leaf and root included. */
  maxPathLength: number;
  /** Most signature verifications one search may spend. */
  maxSignatureChecks: number;
  /** Keys of CAs from earlier verified paths; filled with this path's CAs on success. */
  keyCache: PublicKeyCache | undefined;
}

export type PathResult =
  | { ok: true; path: Certificate[] }
  | { ok: false; reason: "expired" | "untrusted"; detail: string };

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
  const keyProblem = publicKeyProblem(cert.publicKeyInfo);
  if (keyProblem) return `has an ${keyProblem}`;
  return undefined;
}

function validityProblem(path: readonly Certificate[], nowMs: number): string | undefined {
  for (let i = 0; i < path.length; i++) {
    const c = path[i] as Certificate;
    const role = i === 0 ? "leaf" : i === path.length - 1 ? "root" : "intermediate";
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
  let exhausted = false;
  let untrusted: string | undefined;
  let expired: string | undefined;

  const signedBy = (child: Certificate, parent: Certificate): boolean => {
    let row = memo.get(child);
    const known = row?.get(parent);
    if (known !== undefined) return known;
    if (checks >= limits.maxSignatureChecks) {
      exhausted = true;
      return false;
    }
    checks++;
    let ok = false;
    if (algorithmKeyMismatch(child.signatureAlgorithm, parent.publicKeyInfo) === undefined) {
      try {
        const key = limits.keyCache?.get(parent.spkiKey) ?? parent.publicKey();
        ok = verifySignature(child.signatureAlgorithm, child.tbsBytes, child.signature, key);
      } catch {
        ok = false; // OpenSSL refused the issuer's key: it can vouch for nothing
      }
    }
    if (!row) memo.set(child, (row = new Map()));
    row.set(parent, ok);
    return ok;
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
      if (path.some((p) => p === parent || (p.subjectKey === parent.subjectKey && p.spkiKey === parent.spkiKey))) continue;
      found = true;
      const role = isRoot ? "root" : "intermediate";
      const problem = issuerProblem(parent, path.length - 1);
      if (problem) {
        untrusted ??= `${label(parent, role)} ${problem}`;
        continue;
      }
      if (algorithmKeyMismatch(child.signatureAlgorithm, parent.publicKeyInfo) !== undefined) {
        untrusted ??= `${label(child, childRole)}: ${algorithmKeyMismatch(child.signatureAlgorithm, parent.publicKeyInfo)}`;
        continue;
      }
      if (!signedBy(child, parent)) {
        untrusted ??= `signature of ${label(child, childRole)} does not verify with the key of ${label(parent, role)}`;
        continue;
      }
      const next = [...path, parent];
      if (isRoot) {
        const nc = next.slice(1).map((ca) => nameConstraintProblem(ca, trustDomain, leaf)).find((p) => p !== undefined);
        if (nc) {
          untrusted ??= nc;
          continue;
        }
        const time = validityProblem(next, nowMs);
        if (time) {
          expired ??= time;
          continue;
        }
        return next;
      }
      if (next.length >= limits.maxPathLength) {
        untrusted ??= `path longer than ${limits.maxPathLength} certificates`;
        continue;
      }
      const done = extend(next);
      if (done) return done;
    }
    if (!found) untrusted ??= `no issuer of ${label(child, childRole)} found (issuer "${child.issuer}")`;
    return undefined;
  };

  const path = extend([leaf]);
  if (path) {
    // Every CA on the path had its key imported (or taken from the cache) to get here.
    const cache = limits.keyCache;
    if (cache) for (const ca of path.slice(1)) if (!cache.has(ca.spkiKey)) cache.set(ca.spkiKey, ca.publicKey());
    return { ok: true, path };
  }
  // Time is reported only when a path was otherwise sound: an expired certificate from an unknown CA is
  // simply untrusted.
  if (expired) return { ok: false, reason: "expired", detail: expired };
  if (exhausted) return { ok: false, reason: "untrusted", detail: `path search gave up after ${limits.maxSignatureChecks} signature checks` };
  return { ok: false, reason: "untrusted", detail: untrusted ?? "no path to a trusted root" };
}
