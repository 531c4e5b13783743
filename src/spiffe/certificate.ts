// One parsed X.509 certificate, read by our own strict DER parser (certificate-fields.ts on der.ts). Why not
// node:crypto's X509Certificate or @peculiar/x509: on Node 20 (OpenSSL 3.0) constructing an X509Certificate
// costs as much as a signature check, @peculiar/x509 twice that, and neither exposes key usage bits or raw
// names without re-parsing. A Certificate is immutable and owns a copy of its DER, so callers may cache it
// (bundle roots are parsed once per bundle; an engine may cache intermediates by their bytes).
import { createHash, type KeyObject } from "node:crypto";
import type { SignatureAlgorithm } from "./algorithms.js";
import { readCertificateFields, type CertificateFields } from "./certificate-fields.js";
import { importPublicKey, type PublicKeyInfo } from "./public-key.js";
import { DerError, type Tlv } from "./der.js";
import { SvidError } from "./errors.js";
import { formatName } from "./names.js";
import { latin1, type Extensions, type NameConstraints } from "./extensions.js";

export type { NameConstraints };

/** Key usage bits (RFC 5280 §4.2.1.3), bit n of the BIT STRING as 1 << n. */
export const KeyUsage = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
  encipherOnly: 1 << 7,
  decipherOnly: 1 << 8,
} as const;

/** Size limits applied before any parsing work. */
export interface CertificateLimits {
  /** Largest DER encoding accepted for one certificate. */
  maxCertificateBytes: number;
}

/** SVIDs are ~1 KiB; 16 KiB leaves room for long SAN lists and big RSA keys. */
export const DEFAULT_MAX_CERTIFICATE_BYTES = 16 * 1024;

export class Certificate {
  /** Serial number, lowercase hex of its two's-complement bytes. */
  readonly serialNumberHex: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly publicKeyInfo: PublicKeyInfo;
  /** Raw issuer / subject / SPKI DER as strings: cheap exact equality for path building. */
  readonly issuerKey: string;
  readonly subjectKey: string;
  readonly spkiKey: string;
  private readonly ext: Extensions;

  /** @internal use parseCertificate */
  constructor(
    /** The exact DER bytes (our own copy). */
    readonly der: Uint8Array,
    private readonly fields: CertificateFields,
  ) {
    ({
      serialNumberHex: this.serialNumberHex,
      notBeforeMs: this.notBeforeMs,
      notAfterMs: this.notAfterMs,
      signatureAlgorithm: this.signatureAlgorithm,
      publicKeyInfo: this.publicKeyInfo,
      extensions: this.ext,
    } = fields);
    const raw = (t: Tlv) => latin1(der.subarray(t.start, t.end));
    this.issuerKey = raw(fields.issuer);
    this.subjectKey = raw(fields.subject);
    this.spkiKey = raw(fields.spki);
  }

  private subjectText: string | undefined;
  private issuerText: string | undefined;
  private fingerprint: string | undefined;
  private keyObject: KeyObject | undefined;

  get notBefore(): Date {
    return new Date(this.notBeforeMs);
  }
  get notAfter(): Date {
    return new Date(this.notAfterMs);
  }
  /** basicConstraints cA. */
  get isCA(): boolean {
    return this.ext.isCA;
  }
  get pathLenConstraint(): number | undefined {
    return this.ext.pathLen;
  }
  /** KeyUsage bit set, or undefined when the extension is absent. */
  get keyUsage(): number | undefined {
    return this.ext.keyUsage;
  }
  hasKeyUsage(bit: number): boolean {
    return ((this.ext.keyUsage ?? 0) & bit) !== 0;
  }
  /** URI SANs, in certificate order. */
  get uris(): readonly string[] {
    return this.ext.uris;
  }
  get dnsNames(): readonly string[] {
    return this.ext.dnsNames;
  }
  get nameConstraints(): NameConstraints | undefined {
    return this.ext.nameConstraints;
  }
  /** OIDs of critical extensions we do not process (RFC 5280 says: then reject the certificate). */
  get unhandledCriticalExtensions(): readonly string[] {
    return this.ext.unhandledCritical;
  }
  /** @internal the signed bytes and the signature over them */
  get tbsBytes(): Uint8Array {
    return this.der.subarray(this.fields.tbs.start, this.fields.tbs.end);
  }
  get signature(): Uint8Array {
    return this.fields.signature;
  }
  get spkiDer(): Uint8Array {
    return this.der.subarray(this.fields.spki.start, this.fields.spki.end);
  }
  /** RFC 4514 subject, for logs. */
  get subject(): string {
    return (this.subjectText ??= formatName(this.der, this.fields.subject));
  }
  get issuer(): string {
    return (this.issuerText ??= formatName(this.der, this.fields.issuer));
  }
  /** Subject and issuer are the same name (self-issued, usually self-signed). */
  get isSelfIssued(): boolean {
    return this.issuerKey === this.subjectKey;
  }
  /** SHA-256 over the DER, lowercase hex. */
  sha256Hex(): string {
    return (this.fingerprint ??= createHash("sha256").update(this.der).digest("hex"));
  }
  /** The subject public key as a node:crypto KeyObject, imported once. Throws if OpenSSL refuses it. */
  publicKey(): KeyObject {
    return (this.keyObject ??= importPublicKey(this.publicKeyInfo));
  }
  equals(other: Certificate): boolean {
    return this === other || Buffer.compare(this.der, other.der) === 0;
  }
  toPem(): string {
    const b64 = Buffer.from(this.der).toString("base64");
    return `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`;
  }
}

/**
 * Parses one DER certificate. Throws SvidError("malformed_certificate") for anything that is not a
 * well-formed X.509 v3 certificate within the size limit; never anything else.
 */
export function parseCertificate(der: Uint8Array, limits: Partial<CertificateLimits> = {}): Certificate {
  const max = limits.maxCertificateBytes ?? DEFAULT_MAX_CERTIFICATE_BYTES;
  if (!(der instanceof Uint8Array)) throw new SvidError("malformed_certificate", "certificate must be DER bytes");
  if (der.length === 0) throw new SvidError("malformed_certificate", "empty certificate");
  if (der.length > max) throw new SvidError("malformed_certificate", `certificate larger than ${max} bytes`);
  try {
    // Our own copy: the caller's buffer may be reused after we return, and Certificates get cached.
    const copy = new Uint8Array(der);
    return new Certificate(copy, readCertificateFields(copy));
  } catch (err) {
    if (err instanceof DerError)
      throw new SvidError("malformed_certificate", `cannot parse certificate: ${err.message}`);
    throw new SvidError("malformed_certificate", "cannot parse certificate");
  }
}

/** Accepts DER bytes or an already parsed Certificate (callers may cache parsing). */
export type CertificateInput = Uint8Array | Certificate;

export function toCertificate(input: CertificateInput, limits?: Partial<CertificateLimits>): Certificate {
  return input instanceof Certificate ? input : parseCertificate(input, limits);
}
