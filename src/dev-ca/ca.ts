// An in-memory certificate authority for tests and the embedded dev Workload API: roots, intermediates and
// X.509-SVIDs, with options to produce every kind of bad certificate a verifier must refuse. Not for
// production: keys live in memory and nothing is persisted or audited.
// @peculiar/x509 (through tsyringe) needs the Reflect metadata polyfill loaded before it.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { randomBytes, webcrypto } from "node:crypto";
import { parseCertificate, type Certificate } from "../spiffe/certificate.js";
import { parseSpiffeId, type SpiffeId } from "../spiffe/id.js";
import { toTrustDomain, type TrustDomain, type TrustDomainLike } from "../spiffe/trust-domain.js";
import { X509Bundle } from "../spiffe/x509-bundle.js";
import {
  generateKeyPair,
  keyTypeOf,
  privateKeyPem,
  signingAlgorithm,
  type CryptoKey,
  type CryptoKeyPair,
  type KeyType,
} from "./keys.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type KeyUsageName = keyof typeof x509.KeyUsageFlags;

/** A certificate extension, as CertificateOptions.extensions takes it. */
export type DevExtension = x509.Extension;

/** An extension from its OID and DER value: for name constraints, unknown critical extensions, etc. */
export function rawExtension(oid: string, critical: boolean, value: Uint8Array): DevExtension {
  return new x509.Extension(oid, critical, value);
}

/** Knobs for one certificate. Defaults make a correct SVID / CA; each option breaks one thing on purpose. */
export interface CertificateOptions {
  notBefore?: Date;
  notAfter?: Date;
  /** Lifetime from notBefore when notAfter is not given (default: 1 h for SVIDs, 1 day for CAs). */
  ttlSeconds?: number;
  /** Subject DN in RFC 4514 form, e.g. "O=Example,CN=web". */
  subject?: string;
  /** Replaces the URI SANs (default: exactly the SPIFFE ID). [] means no URI SAN. */
  uris?: string[];
  dnsNames?: string[];
  /** false omits the SAN extension entirely. */
  san?: boolean;
  /** basicConstraints cA; undefined keeps the default for the certificate kind. */
  isCA?: boolean;
  /** false omits basicConstraints. */
  basicConstraints?: boolean;
  pathLength?: number;
  /** Key usage bits; false omits the extension. */
  keyUsage?: KeyUsageName[] | false;
  /** Subject key type, when `keys` is not given (default ec-p256). */
  keyType?: KeyType;
  /** Sign RSA certificates with RSASSA-PSS. Applies to keys this call generates. */
  rsaPss?: boolean;
  /** Use these subject keys instead of generating new ones. */
  keys?: CryptoKeyPair;
  /** Hex serial; random by default. */
  serialNumber?: string;
  /** Self-sign (issuer = subject, signed with the certificate's own key). */
  selfSigned?: boolean;
  /** Sign with this key instead of the issuer's, while still naming the issuer: a forged signature. */
  signingKey?: CryptoKey;
  /** Name this issuer DN instead of the real issuer's subject. */
  issuerName?: string;
  /** Extra extensions, appended as given (e.g. raw name constraints, unknown critical extensions). */
  extensions?: DevExtension[];
}

export interface IssuedCertificate {
  der: Uint8Array;
  pem: string;
  /** Our parsed view, for assertions (parsed on first use; throws SvidError for a malformed certificate). */
  readonly certificate: Certificate;
  keys: CryptoKeyPair;
}

export interface DevX509Svid extends IssuedCertificate {
  /** The SPIFFE ID the SVID was requested for (its URI SAN unless overridden). */
  id: string;
  /** Leaf first, then the issuing CA's intermediates; never the root (as the Workload API sends it). */
  chain: Uint8Array[];
  chainPem: string;
  privateKeyPem(): Promise<string>;
}

const HOUR = 3600;
const DAY = 24 * HOUR;
/** Backdating covers clock skew between the CA and its verifiers, as SPIRE does. */
const BACKDATE_MS = 10_000;

function toPem(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(der)
    .toString("base64")
    .replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`;
}

function keyUsageFlags(names: KeyUsageName[]): number {
  return names.reduce((bits, n) => bits | x509.KeyUsageFlags[n], 0);
}

interface BuildParams {
  defaults: { isCA: boolean; keyUsage: KeyUsageName[]; ttlSeconds: number; subject: string; uris: string[] };
  issuer: { name: string; keys: CryptoKeyPair; keyType: KeyType; rsaPss: boolean } | undefined;
  opts: CertificateOptions;
}

interface Built extends IssuedCertificate {
  keyType: KeyType;
  rsaPss: boolean;
  /** The DN string given to the generator; issuers must be named by the same string to get the same DER. */
  subjectDn: string;
}

async function build({ defaults, issuer, opts }: BuildParams): Promise<Built> {
  const keyType = opts.keys ? keyTypeOf(opts.keys.privateKey) : (opts.keyType ?? "ec-p256");
  const rsaPss = opts.keys ? opts.keys.privateKey.algorithm.name === "RSA-PSS" : (opts.rsaPss ?? false);
  const keys = opts.keys ?? (await generateKeyPair(keyType, { rsaPss }));
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.ttlSeconds ?? defaults.ttlSeconds) * 1000);
  const subject = opts.subject ?? defaults.subject;
  const selfSigned = opts.selfSigned === true || issuer === undefined;
  const issuerName = opts.issuerName ?? (selfSigned ? subject : (issuer as NonNullable<typeof issuer>).name);
  const signer = selfSigned ? { keys, keyType, rsaPss } : (issuer as NonNullable<typeof issuer>);

  const extensions: x509.Extension[] = [];
  if (opts.basicConstraints !== false) {
    const isCA = opts.isCA ?? defaults.isCA;
    extensions.push(new x509.BasicConstraintsExtension(isCA, opts.pathLength, true));
  }
  if (opts.keyUsage !== false) {
    extensions.push(new x509.KeyUsagesExtension(keyUsageFlags(opts.keyUsage ?? defaults.keyUsage), true));
  }
  if (!(opts.isCA ?? defaults.isCA)) {
    extensions.push(
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    );
  }
  const names: x509.JsonGeneralName[] = [
    ...(opts.uris ?? defaults.uris).map((value) => ({ type: "url" as const, value })),
    ...(opts.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
  ];
  if (opts.san !== false && names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(signer.keys.publicKey));
  extensions.push(...(opts.extensions ?? []));

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serialNumber ?? `01${randomBytes(15).toString("hex")}`,
    subject,
    issuer: issuerName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: opts.signingKey ?? signer.keys.privateKey,
    signingAlgorithm: signingAlgorithm(opts.signingKey ? keyTypeOf(opts.signingKey) : signer.keyType, {
      rsaPss: opts.signingKey ? opts.signingKey.algorithm.name === "RSA-PSS" : signer.rsaPss,
    }),
    extensions,
  });
  const der = new Uint8Array(cert.rawData);
  let parsed: Certificate | undefined;
  return {
    der,
    pem: toPem(der),
    // Lazy: a deliberately malformed certificate must still be issuable; only reading it as parsed fails.
    get certificate() {
      return (parsed ??= parseCertificate(der));
    },
    keys,
    keyType,
    rsaPss,
    subjectDn: subject,
  };
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
    const issued = await build({
      defaults: {
        isCA: true,
        keyUsage: ["keyCertSign", "cRLSign", "digitalSignature"],
        ttlSeconds: 365 * DAY,
        subject: `C=US,O=SPIFFE dev CA,CN=${opts.name ?? `${trustDomain.name} root`}`,
        uris: [trustDomain.idString()],
      },
      issuer: undefined,
      opts,
    });
    return new DevCertificateAuthority(trustDomain, issued, undefined);
  }

  /** An intermediate CA signed by this CA (SPIRE's "UpstreamAuthority" / downstream setups). */
  async createIntermediate(opts: CaOptions = {}): Promise<DevCertificateAuthority> {
    const issued = await build({
      defaults: {
        isCA: true,
        keyUsage: ["keyCertSign", "cRLSign", "digitalSignature"],
        ttlSeconds: DAY,
        subject: `C=US,O=SPIFFE dev CA,CN=${opts.name ?? `${this.trustDomain.name} intermediate ${randomBytes(4).toString("hex")}`}`,
        uris: [this.trustDomain.idString()],
      },
      issuer: this.signer(),
      opts,
    });
    return new DevCertificateAuthority(this.trustDomain, issued, this);
  }

  /** An X.509-SVID for `id` (a full SPIFFE ID, or a path in this CA's trust domain). */
  async issueX509Svid(id: string | SpiffeId, opts: CertificateOptions = {}): Promise<DevX509Svid> {
    const idString = typeof id === "string" && id.startsWith("/") ? `${this.trustDomain.idString()}${id}` : String(id);
    const issued = await build({
      defaults: {
        isCA: false,
        keyUsage: ["digitalSignature", "keyEncipherment", "keyAgreement"],
        ttlSeconds: HOUR,
        subject: "C=US,O=SPIRE",
        uris: [idString],
      },
      issuer: this.signer(),
      opts,
    });
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

  private signer(): NonNullable<BuildParams["issuer"]> {
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
