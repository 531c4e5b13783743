// Where verification gets trust from: one-method interfaces (as go-spiffe's x509bundle.Source and
// jwtbundle.Source), so verification never knows whether bundles come from SPIRE, files or a test.
import type { JwtBundle } from "./jwt-bundle.js";
import type { TrustDomain } from "./trust-domain.js";
import type { X509Bundle } from "./x509-bundle.js";

export interface X509BundleSource {
  /** The X.509 bundle of exactly this trust domain, or undefined if there is none. */
  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined;
}

export interface JwtBundleSource {
  /** The JWT bundle of exactly this trust domain, or undefined if there is none. */
  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle | undefined;
}
