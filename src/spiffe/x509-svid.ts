// X.509-SVID verification (X509-SVID.md §5, as go-spiffe's x509svid.Verify): exactly one URI SAN holding a
// SPIFFE ID with a non-root path; a leaf that is not a CA and cannot sign certificates or CRLs; a path
// through the supplied intermediates to a root in the bundle of THAT ID's trust domain; every certificate
// of the path within validity. Synchronous: it runs on the request hot path.
import { certificatePublicKeyProblem } from "./public-key.js";
import type { X509BundleSource } from "./bundle-source.js";
import { buildPath } from "./chain.js";
import {
  DEFAULT_MAX_CERTIFICATE_BYTES,
  KeyUsage,
  toCertificate,
  type Certificate,
  type CertificateInput,
} from "./certificate.js";
import { ANY_TIME, SpiffeIdError, SvidError, type TimeWindow } from "./errors.js";
import { parseSpiffeId, type SpiffeId } from "./id.js";
import { sharedPublicKeyCache, type PublicKeyCache } from "./key-cache.js";

export interface X509VerifyOptions {
  /** Largest DER certificate accepted (default 16 KiB). */
  maxCertificateBytes?: number;
  /** Most certificates in the presented chain, leaf included (default 8). */
  maxChainLength?: number;
  /** Most signature checks one verification may spend on path building (default 16). */
  maxSignatureChecks?: number;
  /** Most candidate issuers one verification may consider on path building (default 32). */
  maxIssuerTries?: number;
  /** Cache of verified CAs' imported keys (default: one shared by the process); false for none. */
  keyCache?: PublicKeyCache | false;
}

export const DEFAULT_MAX_CHAIN_LENGTH = 8;
/**
 * Signature checks one verification may spend, over every candidate path. A SPIRE chain costs one check per
 * link: SPIRE puts each CA's serial number into its subject, so path building never has a same-named wrong
 * candidate to try, and it nests intermediates a few levels at most (an UpstreamAuthority, nested SPIRE), so
 * real chains have 1–4 links. The longest chain we accept at all (leaf + 7 intermediates: 8 links) fits with
 * 8 checks to spare for CAs outside SPIRE that reuse a subject across a rotation (old, current and next root
 * in one bundle: each wrong one costs one check, or two below a same-named intermediate). Links are verified
 * from the root down (chain.ts), so every check uses a key the trust domain's root already vouched for: the
 * cap bounds what a client can make us spend with keys of the trust domain, ~16 P-384 checks at worst.
 */
export const DEFAULT_MAX_SIGNATURE_CHECKS = 16;
/**
 * Candidate issuers (name matches) one verification may consider. Each signature check follows one; the rest
 * are refused by name, CA flags, key or a link already found forged, and cost microseconds. Twice the
 * signature budget: it only bounds the search itself against chains of many same-named certificates.
 */
export const DEFAULT_MAX_ISSUER_TRIES = 32;

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
  if (uris.length > 1)
    throw new SvidError("no_spiffe_id", `certificate has ${uris.length} URI SANs; an SVID has exactly one`);
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
  if (leaf.hasKeyUsage(KeyUsage.keyCertSign))
    throw new SvidError("not_a_leaf", "leaf certificate has keyCertSign key usage");
  if (leaf.hasKeyUsage(KeyUsage.cRLSign)) throw new SvidError("not_a_leaf", "leaf certificate has cRLSign key usage");
  if (!leaf.hasKeyUsage(KeyUsage.digitalSignature)) {
    throw new SvidError("not_a_leaf", "leaf certificate lacks digitalSignature key usage");
  }
}

/**
 * Verifies an X.509-SVID chain (leaf first, then intermediates; DER or parsed) against `source` at `now`.
 * Returns the ID and the verified path, or throws SvidError with the exact reason; never anything else.
 * The SvidError's `stableFor` says for which verification times the same answer holds (see errors.ts).
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

interface Prepared {
  id: SpiffeId;
  certs: Certificate[];
  roots: readonly Certificate[];
  /** The chain-length limit in force; the path search is bounded by it too (plus the root). */
  maxChain: number;
}

/**
 * Everything before the path search: sizes, parsing, the leaf's shape and ID, the keys presented, the bundle.
 * None of it looks at the clock, so its failures hold at any time (ANY_TIME) for these bytes and bundles.
 */
function prepare(chain: readonly CertificateInput[], source: X509BundleSource, options: X509VerifyOptions): Prepared {
  const maxChain = options.maxChainLength ?? DEFAULT_MAX_CHAIN_LENGTH;
  const maxBytes = options.maxCertificateBytes ?? DEFAULT_MAX_CERTIFICATE_BYTES;
  if (!Array.isArray(chain) || chain.length === 0)
    throw new SvidError("malformed_certificate", "empty certificate chain");
  if (chain.length > maxChain) {
    throw new SvidError(
      "malformed_certificate",
      `chain of ${chain.length} certificates exceeds the limit of ${maxChain}`,
    );
  }
  const certs = chain.map((c) => toCertificate(c, { maxCertificateBytes: maxBytes }));
  const leaf = certs[0] as Certificate;

  const id = idFromCertificate(leaf);
  checkLeaf(leaf);
  const unhandled = leaf.unhandledCriticalExtensions[0];
  if (unhandled) throw new SvidError("untrusted", `leaf certificate has unhandled critical extension ${unhandled}`);
  // Every key the client presents must be of a kind we accept, used on the path or not (the leaf's is never
  // used by us, but it is the workload's identity key). Checked before any key is imported or any signature
  // checked, so a chain of 8192-bit keys costs a parse, not 8 expensive verifications.
  certs.forEach((c, i) => {
    const problem = certificatePublicKeyProblem(c.publicKeyInfo);
    if (problem) {
      const role = i === 0 ? "leaf" : `presented certificate ${i + 1} of ${certs.length}`;
      throw new SvidError("untrusted", `${role} (subject "${c.subject}") has a key we do not accept: ${problem}`);
    }
  });

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
    throw new SvidError(
      "untrusted",
      `bundle source returned the bundle of ${bundle.trustDomain.name} for ${id.trustDomain.name}`,
    );
  }
  if (bundle.authorities.length === 0) {
    throw new SvidError("untrusted", `X.509 bundle of ${id.trustDomain.name} is empty`);
  }
  return { id, certs, roots: bundle.authorities, maxChain };
}

/**
 * The times around `nowMs` at which every one of `certs` is as valid or invalid as at `nowMs`. The path search
 * depends on the clock only through those validities, so its outcome (reason and detail) holds over it.
 */
function validityWindow(certs: readonly Certificate[], nowMs: number): TimeWindow {
  let fromMs = -Infinity;
  let toMs = Infinity;
  for (const c of certs) {
    if (nowMs < c.notBeforeMs) {
      toMs = Math.min(toMs, c.notBeforeMs - 1);
    } else if (nowMs > c.notAfterMs) {
      fromMs = Math.max(fromMs, c.notAfterMs + 1);
    } else {
      fromMs = Math.max(fromMs, c.notBeforeMs);
      toMs = Math.min(toMs, c.notAfterMs);
    }
  }
  return { fromMs, toMs };
}

function verify(
  chain: readonly CertificateInput[],
  source: X509BundleSource,
  now: Date,
  options: X509VerifyOptions,
): X509Svid {
  const nowMs = now.getTime();
  // No stableFor: a broken clock is not an answer about these bytes.
  if (!Number.isFinite(nowMs)) throw new SvidError("untrusted", "verification time is not a valid date");
  let prepared: Prepared;
  try {
    prepared = prepare(chain, source, options);
  } catch (err) {
    if (err instanceof SvidError) throw new SvidError(err.reason, err.detail, ANY_TIME);
    throw err;
  }
  const { id, certs, roots, maxChain } = prepared;
  const result = buildPath(certs[0] as Certificate, certs.slice(1), roots, id.trustDomain.name, nowMs, {
    maxPathLength: maxChain + 1,
    maxSignatureChecks: options.maxSignatureChecks ?? DEFAULT_MAX_SIGNATURE_CHECKS,
    maxIssuerTries: options.maxIssuerTries ?? DEFAULT_MAX_ISSUER_TRIES,
    keyCache: options.keyCache === false ? undefined : (options.keyCache ?? sharedPublicKeyCache),
  });
  if (!result.ok) throw new SvidError(result.reason, result.detail, validityWindow([...certs, ...roots], nowMs));
  return { id, leaf: certs[0] as Certificate, verifiedChain: result.path };
}
