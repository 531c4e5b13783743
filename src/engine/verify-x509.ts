// X.509-SVID verification as the engine uses it: the verified identity and leaf details, frozen because the
// chain cache shares them between decisions, and the validity window that bounds how long the cache may
// reuse the result. decide.ts asks; chain-cache.ts keeps.
import { parseCertificate, verifyX509Svid, type Certificate, type SpiffeId } from "../spiffe/index.js";
import type { TrustSnapshot } from "../trust/snapshot.js";
import type { ChainCache, CachedVerification } from "./chain-cache.js";
import type { CertInfo, VerifiedIdentity } from "./contract.js";

export interface Verified {
  identity: VerifiedIdentity;
  certInfo?: CertInfo;
}

// Frozen: cached results are shared by every decision (and listener) that hits them.
export function identityOf(id: SpiffeId, method: VerifiedIdentity["method"]): VerifiedIdentity {
  return Object.freeze({ spiffeId: id.toString(), trustDomain: id.trustDomain.name, path: id.path, method });
}

function certInfoOf(cert: Certificate): CertInfo {
  return Object.freeze({
    serial: cert.serialNumberHex,
    issuer: cert.issuer,
    notAfter: cert.notAfter.toISOString(),
    sha256: cert.sha256Hex(),
  });
}

/** Leaf details for the audit log of a failed verification; undefined when the leaf does not even parse. */
export function leafCertInfo(der: Uint8Array | undefined): CertInfo | undefined {
  if (!der) return undefined;
  try {
    return certInfoOf(parseCertificate(der));
  } catch {
    return undefined;
  }
}

// Leaf details only when the policy audits them (audit.include-cert-info): formatting the issuer's name and
// hashing the leaf are about a tenth of a cold verification, and off by default.
function verifyX509(der: Uint8Array[], snapshot: TrustSnapshot, now: Date, withCertInfo: boolean): CachedVerification {
  const svid = verifyX509Svid(der, snapshot.bundles, now);
  // The whole verified path (root included) bounds how long this result may be reused.
  let notBeforeMs = -Infinity;
  let notAfterMs = Infinity;
  for (const c of svid.verifiedChain) {
    notBeforeMs = Math.max(notBeforeMs, c.notBeforeMs);
    notAfterMs = Math.min(notAfterMs, c.notAfterMs);
  }
  const v: CachedVerification = { identity: identityOf(svid.id, "spiffe"), notBeforeMs, notAfterMs };
  if (withCertInfo) v.certInfo = certInfoOf(svid.leaf);
  return v;
}

/**
 * `rawKey` (the unparsed input's key, set whenever there is a cache: decide() looked it up and missed) is where
 * the result is stored, so the next identical request skips parsing.
 */
export function verifyX509Cached(
  der: Uint8Array[],
  snapshot: TrustSnapshot,
  now: Date,
  cache: ChainCache | undefined,
  rawKey: string | undefined,
  withCertInfo: boolean,
): Verified {
  const v = verifyX509(der, snapshot, now, withCertInfo);
  if (cache && rawKey !== undefined) cache.set(rawKey, snapshot.generation, v, now);
  return v.certInfo ? { identity: v.identity, certInfo: v.certInfo } : { identity: v.identity };
}
