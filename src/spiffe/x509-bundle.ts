// X.509 bundles: the root certificates trusted for exactly one trust domain (go-spiffe's x509bundle).
// Parsed once when the bundle arrives, so verification never re-parses roots.
import { Certificate, parseCertificate } from "./certificate.js";
import { bundleTrustDomain } from "./bundle-input.js";
import { BundleError, SvidError } from "./errors.js";
import { CertificateListError, splitDer, splitPem, type CertificateListLimits } from "./pem.js";
import type { TrustDomain, TrustDomainLike } from "./trust-domain.js";

/** Bundles hold a few roots (two or three during a rotation); federation may add more, but not thousands. */
export const DEFAULT_BUNDLE_LIMITS: CertificateListLimits = {
  maxCertificateBytes: 16 * 1024,
  maxCertificates: 100,
};

export class X509Bundle {
  private constructor(
    readonly trustDomain: TrustDomain,
    /** Root certificates, deduplicated, in input order. */
    readonly authorities: readonly Certificate[],
  ) {}

  /** A bundle from parsed certificates; duplicates (same DER) are dropped. */
  static fromCertificates(td: TrustDomainLike, certs: readonly Certificate[]): X509Bundle {
    const unique: Certificate[] = [];
    for (const c of certs) {
      if (!(c instanceof Certificate)) throw new BundleError("X.509 bundle authorities must be parsed certificates");
      if (!unique.some((u) => u.equals(c))) unique.push(c);
    }
    return new X509Bundle(bundleTrustDomain(td), Object.freeze(unique));
  }

  /** Concatenated DER of all roots (the Workload API's wire form). */
  toDer(): Uint8Array {
    return Buffer.concat(this.authorities.map((c) => c.der));
  }

  toPem(): string {
    return this.authorities.map((c) => c.toPem()).join("");
  }
}

function parseAll(ders: Uint8Array[], maxBytes: number): Certificate[] {
  return ders.map((der, i) => {
    try {
      return parseCertificate(der, { maxCertificateBytes: maxBytes });
    } catch (err) {
      throw new BundleError(`certificate ${i}: ${err instanceof SvidError ? err.detail : "unreadable"}`);
    }
  });
}

function split(fn: () => Uint8Array[]): Uint8Array[] {
  try {
    return fn();
  } catch (err) {
    throw new BundleError(err instanceof CertificateListError ? err.message : "unreadable certificate list");
  }
}

/**
 * PEM CERTIFICATE blocks. Empty (or whitespace-only) input is an empty bundle, which trusts nothing;
 * text that holds no certificate block at all is an error, and so is any other block type.
 */
export function parseX509BundlePem(
  td: TrustDomainLike,
  pem: string,
  limits: Partial<CertificateListLimits> = {},
): X509Bundle {
  return bundleOf(td, limits, (l) => {
    if (typeof pem !== "string") throw new BundleError("PEM bundle must be a string");
    const ders = split(() => splitPem(pem, l));
    if (ders.length === 0 && pem.trim() !== "") throw new BundleError("no PEM certificate found");
    return ders;
  });
}

/** The bundle of the certificates `splitAll` finds, each parsed under the same limits. */
function bundleOf(
  td: TrustDomainLike,
  limits: Partial<CertificateListLimits>,
  splitAll: (l: CertificateListLimits) => Uint8Array[],
): X509Bundle {
  const trustDomain = bundleTrustDomain(td);
  const l = { ...DEFAULT_BUNDLE_LIMITS, ...limits };
  return X509Bundle.fromCertificates(trustDomain, parseAll(splitAll(l), l.maxCertificateBytes));
}

/** Concatenated DER certificates, as the Workload API sends bundles. Empty input is an empty bundle. */
export function parseX509BundleDer(
  td: TrustDomainLike,
  der: Uint8Array,
  limits: Partial<CertificateListLimits> = {},
): X509Bundle {
  return bundleOf(td, limits, (l) => split(() => splitDer(der, l)));
}
