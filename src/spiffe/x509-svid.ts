// X.509-SVID verification (X509-SVID.md §5, as go-spiffe's x509svid.Verify): exactly one URI SAN holding a
// SPIFFE ID with a non-root path; a leaf that is not a CA and cannot sign certificates or CRLs; a path
// through the supplied intermediates to a root in the bundle of THAT ID's trust domain; every certificate
// of the path within validity. Synchronous: it runs on the request hot path.
import type { X509BundleSource } from "./bundle-source.js";
import { buildPath } from "./chain.js";
import {
  DEFAULT_MAX_CERTIFICATE_BYTES,
  KeyUsage,
  toCertificate,
  type Certificate,
  type CertificateInput,
} from "./certificate.js";
import { SpiffeIdError, SvidError } from "./errors.js";
import { parseSpiffeId, type SpiffeId } from "./id.js";
import { sharedPublicKeyCache, type PublicKeyCache } from "./key-cache.js";

export interface X509VerifyOptions {
  /** Largest DER certificate accepted (default 16 KiB). */
  maxCertificateBytes?: number;
  /** Most certificates in the presented chain, leaf included (default 8). */
  maxChainLength?: number;
  /** Most signature checks one verification may spend on path building (default 32). */
  maxSignatureChecks?: number;
  /** Cache of verified CAs' imported keys (default: one shared by the process); false for none. */
  keyCache?: PublicKeyCache | false;
}

export const DEFAULT_MAX_CHAIN_LENGTH = 8;
export const DEFAULT_MAX_SIGNATURE_CHECKS = 32;

export interface X509Svid {
  id: SpiffeId;
  leaf: Certificate;
  /** Leaf first, root (from the bundle) last. */
  verifiedChain: Certificate[];
}

/**
 * The SPIFFE ID of a leaf: exactly one URI SAN, a valid SPIFFE ID, not the trust domain's own ID.
 * Throws SvidError("no_spiffe_id").
 */
export function idFromCertificate(cert: Certificate): SpiffeId {
  const uris = cert.uris;
  if (uris.length === 0) throw new SvidError("no_spiffe_id", "certificate has no URI SAN");
  if (uris.length > 1) throw new SvidError("no_spiffe_id", `certificate has ${uris.length} URI SANs; an SVID has exactly one`);
  let id: SpiffeId;
  try {
    id = parseSpiffeId(uris[0] as string);
  } catch (err) {
    const why = err instanceof SpiffeIdError ? err.message : "invalid";
    throw new SvidError("no_spiffe_id", `URI SAN is not a valid SPIFFE ID: ${why}`);
  }
  if (id.isTrustDomainId()) throw new SvidError("no_spiffe_id", `leaf SPIFFE ID ${id} has no path`);
  return id;
}

/** X509-SVID.md §4.1, §4.3, §5.2: what makes a certificate usable as a leaf. Throws "not_a_leaf". */
function checkLeaf(leaf: Certificate): void {
  if (leaf.isCA) throw new SvidError("not_a_leaf", "leaf certificate has basicConstraints cA=true");
  if (leaf.hasKeyUsage(KeyUsage.keyCertSign)) throw new SvidError("not_a_leaf", "leaf certificate has keyCertSign key usage");
  if (leaf.hasKeyUsage(KeyUsage.cRLSign)) throw new SvidError("not_a_leaf", "leaf certificate has cRLSign key usage");
  if (!leaf.hasKeyUsage(KeyUsage.digitalSignature)) {
    throw new SvidError("not_a_leaf", "leaf certificate lacks digitalSignature key usage");
  }
}

/**
 * Verifies an X.509-SVID chain (leaf first, then intermediates; DER or parsed) against `source` at `now`.
 * Returns the ID and the verified path, or throws SvidError with the exact reason; never anything else.
 */
export function verifyX509Svid(
  chain: readonly CertificateInput[],
  source: X509BundleSource,
  now: Date,
  options: X509VerifyOptions = {},
): X509Svid {
  try {
    return verify(chain, source, now, options);
  } catch (err) {
    if (err instanceof SvidError) throw err;
    // Unreachable by design; if a bug gets here, fail closed with our error type rather than crash.
    throw new SvidError("untrusted", "internal error during verification");
  }
}

function verify(chain: readonly CertificateInput[], source: X509BundleSource, now: Date, options: X509VerifyOptions): X509Svid {
  const maxChain = options.maxChainLength ?? DEFAULT_MAX_CHAIN_LENGTH;
  const maxBytes = options.maxCertificateBytes ?? DEFAULT_MAX_CERTIFICATE_BYTES;
  if (!Array.isArray(chain) || chain.length === 0) throw new SvidError("malformed_certificate", "empty certificate chain");
  if (chain.length > maxChain) {
    throw new SvidError("malformed_certificate", `chain of ${chain.length} certificates exceeds the limit of ${maxChain}`);
  }
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new SvidError("untrusted", "verification time is not a valid date");
  const certs = chain.map((c) => toCertificate(c, { maxCertificateBytes: maxBytes }));
  const leaf = certs[0] as Certificate;

  const id = idFromCertificate(leaf);
  checkLeaf(leaf);
  const unhandled = leaf.unhandledCriticalExtensions[0];
  if (unhandled) throw new SvidError("untrusted", `leaf certificate has unhandled critical extension ${unhandled}`);

  let bundle;
  try {
    bundle = source.getX509BundleForTrustDomain(id.trustDomain);
  } catch {
    // A source that throws is treated as having no bundle; it must not turn into an untyped error.
    bundle = undefined;
  }
  if (!bundle) throw new SvidError("unknown_trust_domain", `no X.509 bundle for trust domain ${id.trustDomain.name}`);
  // Defence in depth against a source that answers with another domain's bundle.
  if (!bundle.trustDomain.equals(id.trustDomain)) {
    throw new SvidError("untrusted", `bundle source returned the bundle of ${bundle.trustDomain.name} for ${id.trustDomain.name}`);
  }
  if (bundle.authorities.length === 0) {
    throw new SvidError("untrusted", `X.509 bundle of ${id.trustDomain.name} is empty`);
  }

  const result = buildPath(leaf, certs.slice(1), bundle.authorities, id.trustDomain.name, nowMs, {
    maxPathLength: maxChain + 1,
    maxSignatureChecks: options.maxSignatureChecks ?? DEFAULT_MAX_SIGNATURE_CHECKS,
    keyCache: options.keyCache === false ? undefined : (options.keyCache ?? sharedPublicKeyCache),
  });
  if (!result.ok) throw new SvidError(result.reason, result.detail);
  return { id, leaf, verifiedChain: result.path };
}
