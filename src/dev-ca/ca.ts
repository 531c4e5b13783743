// An in-memory certificate authority for tests and the embedded dev Workload API: roots, intermediates and
// X.509-SVIDs (certificate-builder.ts makes each certificate, with the options that break it on purpose). Not
// for production: keys live in memory and nothing is persisted or audited.
import type { Certificate } from "../spiffe/certificate.js";
import { parseSpiffeId, type SpiffeId } from "../spiffe/id.js";
import { toTrustDomain, type TrustDomain, type TrustDomainLike } from "../spiffe/trust-domain.js";
import { X509Bundle } from "../spiffe/x509-bundle.js";
import {
  build,
  intermediateTemplate,
  rootTemplate,
  svidTemplate,
  toPem,
  type Built,
  type CertificateOptions,
  type IssuedCertificate,
  type Issuer,
} from "./certificate-builder.js";
import { privateKeyPem, type CryptoKeyPair, type KeyType } from "./keys.js";

export interface DevX509Svid extends IssuedCertificate {
  /** The SPIFFE ID the SVID was requested for (its URI SAN unless overridden). */
  id: string;
  /** Leaf first, then the issuing CA's intermediates; never the root (as the Workload API sends it). */
  chain: Uint8Array[];
  chainPem: string;
  privateKeyPem(): Promise<string>;
}

/** Options of a CA certificate; `name` is the CN used in its subject. */
export interface CaOptions extends CertificateOptions {
  name?: string;
}

export class DevCertificateAuthority {
  readonly der: Uint8Array;
  readonly pem: string;
  readonly certificate: Certificate;
  readonly keys: CryptoKeyPair;
  readonly keyType: KeyType;
  /** Subject DN string as given to the generator (pass it as `issuerName` to imitate this CA). */
  readonly subjectDn: string;

  private constructor(
    readonly trustDomain: TrustDomain,
    private readonly built: Built,
    /** The CA that signed this one; undefined for a root. */
    readonly parent: DevCertificateAuthority | undefined,
  ) {
    ({ der: this.der, pem: this.pem, certificate: this.certificate, keys: this.keys, keyType: this.keyType } = built);
    this.subjectDn = built.subjectDn;
  }

  /** A self-signed root CA for `td` (an X.509-SVID signing certificate with URI SAN `spiffe://td`). */
  static async createRoot(td: TrustDomainLike, opts: CaOptions = {}): Promise<DevCertificateAuthority> {
    const trustDomain = toTrustDomain(td);
    const issued = await build({ defaults: rootTemplate(trustDomain, opts.name), issuer: undefined, opts });
    return new DevCertificateAuthority(trustDomain, issued, undefined);
  }

  /** An intermediate CA signed by this CA (SPIRE's "UpstreamAuthority" / downstream setups). */
  async createIntermediate(opts: CaOptions = {}): Promise<DevCertificateAuthority> {
    const defaults = intermediateTemplate(this.trustDomain, opts.name);
    const issued = await build({ defaults, issuer: this.signer(), opts });
    return new DevCertificateAuthority(this.trustDomain, issued, this);
  }

  /** An X.509-SVID for `id` (a full SPIFFE ID, or a path in this CA's trust domain). */
  async issueX509Svid(id: string | SpiffeId, opts: CertificateOptions = {}): Promise<DevX509Svid> {
    const idString = typeof id === "string" && id.startsWith("/") ? `${this.trustDomain.idString()}${id}` : String(id);
    const issued = await build({ defaults: svidTemplate(idString), issuer: this.signer(), opts });
    const chain = [issued.der, ...this.intermediates()];
    return {
      der: issued.der,
      pem: issued.pem,
      get certificate() {
        return issued.certificate;
      },
      keys: issued.keys,
      id: idString,
      chain,
      chainPem: chain.map(toPem).join(""),
      privateKeyPem: () => privateKeyPem(issued.keys.privateKey),
    };
  }

  /** Parses `id` in this CA's trust domain, for callers that want a SpiffeId. */
  spiffeId(path: string): SpiffeId {
    return parseSpiffeId(`${this.trustDomain.idString()}${path}`);
  }

  /** This CA's certificate and its ancestors' up to, not including, the root; nearest first. */
  intermediates(): Uint8Array[] {
    return this.parent ? [this.der, ...this.parent.intermediates()] : [];
  }

  root(): DevCertificateAuthority {
    return this.parent ? this.parent.root() : this;
  }

  /** The X.509 bundle of this CA's trust domain, holding this CA's root. */
  x509Bundle(): X509Bundle {
    return X509Bundle.fromCertificates(this.trustDomain, [this.root().certificate]);
  }

  private signer(): Issuer {
    return {
      name: this.built.subjectDn,
      keys: this.built.keys,
      keyType: this.built.keyType,
      rsaPss: this.built.rsaPss,
    };
  }
}

/** An X.509 bundle of several CAs' roots (e.g. old and new during a rotation). */
export function x509BundleOf(td: TrustDomainLike, cas: readonly DevCertificateAuthority[]): X509Bundle {
  return X509Bundle.fromCertificates(
    td,
    cas.map((ca) => ca.root().certificate),
  );
}
