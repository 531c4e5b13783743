// In-memory dev CA: X.509 and JWT authorities for tests and the embedded dev Workload API.
import { formatSpiffeBundle } from "../spiffe/spiffe-bundle.js";
import type { TrustDomainLike } from "../spiffe/trust-domain.js";
import { x509BundleOf, type DevCertificateAuthority } from "./ca.js";
import { jwtBundleOf, type DevJwtAuthority } from "./jwt.js";

export { DevCertificateAuthority, x509BundleOf, type CaOptions, type DevX509Svid } from "./ca.js";
export {
  rawExtension,
  type CertificateOptions,
  type DevExtension,
  type IssuedCertificate,
  type KeyUsageName,
} from "./certificate-builder.js";
export { DevJwtAuthority, jwtBundleOf, type JwtAuthorityOptions, type JwtIssueOptions } from "./jwt.js";
export { KEY_TYPES, generateKeyPair, privateKeyPem, type KeyType } from "./keys.js";

/** A SPIFFE bundle document for `td` with these CAs' roots and JWT keys. */
export function spiffeBundleJson(
  td: TrustDomainLike,
  contents: {
    x509?: readonly DevCertificateAuthority[];
    jwt?: readonly DevJwtAuthority[];
    sequenceNumber?: number;
    refreshHintSeconds?: number;
  },
): string {
  return formatSpiffeBundle({
    x509: x509BundleOf(td, contents.x509 ?? []),
    jwt: jwtBundleOf(td, contents.jwt ?? []),
    ...(contents.sequenceNumber !== undefined ? { sequenceNumber: contents.sequenceNumber } : {}),
    ...(contents.refreshHintSeconds !== undefined ? { refreshHintSeconds: contents.refreshHintSeconds } : {}),
  });
}
