// Public API of the decision engine.
export * from "./contract.js";
export { decide } from "./decide.js";
export { Engine, type DecisionContext, type DecisionListener, type EngineOptions } from "./engine.js";
export { createAuditListener, auditRecord, type AuditRecord } from "./audit.js";
export {
  ChainCache,
  DEFAULT_CHAIN_CACHE_ENTRIES,
  type CachedVerification,
  type ChainCacheOptions,
  type ChainCacheStats,
} from "./chain-cache.js";
export {
  extractCredentials,
  MAX_JWT_BYTES,
  MAX_SOURCE_CERTIFICATE_BYTES,
  type PresentedCredential,
} from "./credentials.js";
export { CredentialError } from "../formats/errors.js";
export { MAX_CERT_DER_BYTES, MAX_CHAIN_CERTS } from "../formats/client-pem.js";
export {
  parseXfcc,
  selectXfccElement,
  xfccCertificates,
  XfccError,
  XFCC_MAX_ELEMENTS,
  XFCC_MAX_HEADER_BYTES,
  XFCC_MAX_PAIRS_PER_ELEMENT,
  type XfccCertificates,
  type XfccElement,
  type XfccElementChoice,
} from "../formats/xfcc.js";
export { checkOffline, bundleSetFromFiles, CheckInputError, type CheckOfflineOptions } from "./offline.js";
