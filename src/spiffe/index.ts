// Public API of the SPIFFE core. It knows nothing of gRPC, Envoy or Zentinel.
export { ANY_TIME, BundleError, SpiffeIdError, SvidError, type SvidFailureReason, type TimeWindow } from "./errors.js";
export {
  MAX_TRUST_DOMAIN_BYTES,
  TrustDomain,
  parseTrustDomain,
  toTrustDomain,
  type TrustDomainLike,
} from "./trust-domain.js";
export { MAX_SPIFFE_ID_BYTES, SpiffeId, parseSpiffeId, tryParseSpiffeId, validatePath } from "./id.js";
export {
  Certificate,
  DEFAULT_MAX_CERTIFICATE_BYTES,
  KeyUsage,
  parseCertificate,
  type CertificateInput,
  type CertificateLimits,
  type NameConstraints,
} from "./certificate.js";
export {
  CERTIFICATE_RSA_EXPONENT,
  MAX_CERTIFICATE_RSA_BITS,
  MIN_RSA_BITS,
  certificatePublicKeyProblem,
  type PublicKeyInfo,
} from "./public-key.js";
export type { SignatureAlgorithm } from "./algorithms.js";
export { PublicKeyCache, sharedPublicKeyCache } from "./key-cache.js";
export { DEFAULT_CHAIN_LIMITS, parseDerCertificates, parsePemCertificates, type CertificateListLimits } from "./pem.js";
export {
  DEFAULT_MAX_CHAIN_LENGTH,
  DEFAULT_MAX_ISSUER_TRIES,
  DEFAULT_MAX_SIGNATURE_CHECKS,
  idFromCertificate,
  verifyX509Svid,
  type X509Svid,
  type X509VerifyOptions,
} from "./x509-svid.js";
export {
  DEFAULT_JWT_LEEWAY_SECONDS,
  DEFAULT_MAX_TOKEN_BYTES,
  verifyJwtSvid,
  type JwtSvid,
  type JwtVerifyOptions,
} from "./jwt-svid.js";
export type { JwtBundleSource, X509BundleSource } from "./bundle-source.js";
export { DEFAULT_BUNDLE_LIMITS, X509Bundle, parseX509BundleDer, parseX509BundlePem } from "./x509-bundle.js";
export {
  DEFAULT_JWT_BUNDLE_LIMITS,
  JWT_SVID_ALGORITHMS,
  JwtBundle,
  isJwtSvidAlgorithm,
  parseJwtAuthority,
  parseJwtBundle,
  type JwtAuthority,
  type JwtBundleLimits,
  type JwtSvidAlgorithm,
  type PublicJwk,
} from "./jwt-bundle.js";
export {
  DEFAULT_SPIFFE_BUNDLE_LIMITS,
  formatSpiffeBundle,
  parseSpiffeBundle,
  type SpiffeBundle,
  type SpiffeBundleLimits,
} from "./spiffe-bundle.js";
export { BundleSet, type AnyBundle } from "./bundle-set.js";
