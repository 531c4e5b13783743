// One parsed X.509 certificate, read by our own strict DER parser (der.ts). Why not node:crypto's
// X509Certificate or @peculiar/x509: on Node 20 (OpenSSL 3.0) constructing an X509Certificate costs as much
// as a signature check, @peculiar/x509 twice that, and neither exposes key usage bits or raw names
// without re-parsing. A Certificate is immutable and owns a copy of its DER, so callers may cache it
// (bundle roots are parsed once per bundle; an engine may cache intermediates by their bytes).
import { createHash, type KeyObject } from "node:crypto";
import { parseSignatureAlgorithm, type SignatureAlgorithm } from "./algorithms.js";
import { importPublicKey, parsePublicKeyInfo, type PublicKeyInfo } from "./public-key.js";
import {
  DerError,
  TAG_SEQUENCE,
  children,
  readBitString,
  readIntegerBytes,
  readSmallUint,
  readTime,
  readTlv,
  type Tlv,
} from "./der.js";
import { SvidError } from "./errors.js";
import { formatName, validateName } from "./names.js";
import { latin1, noExtensions, parseExtensions, type Extensions, type NameConstraints } from "./extensions.js";

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
  /** @internal use parseCertificate */
  constructor(
    /** The exact DER bytes (our own copy). */
    readonly der: Uint8Array,
    private readonly tbsTlv: Tlv,
    private readonly issuerTlv: Tlv,
    private readonly subjectTlv: Tlv,
    private readonly spkiTlv: Tlv,
    /** Serial number, lowercase hex of its two's-complement bytes. */
    readonly serialNumberHex: string,
    readonly notBeforeMs: number,
    readonly notAfterMs: number,
    readonly signatureAlgorithm: SignatureAlgorithm,
    private readonly signatureBytes: Uint8Array,
    readonly publicKeyInfo: PublicKeyInfo,
    private readonly ext: Extensions,
  ) {
    this.issuerKey = latin1(der.subarray(issuerTlv.start, issuerTlv.end));
    this.subjectKey = latin1(der.subarray(subjectTlv.start, subjectTlv.end));
    this.spkiKey = latin1(der.subarray(spkiTlv.start, spkiTlv.end));
  }

  /** Raw issuer / subject / SPKI DER as strings: cheap exact equality for path building. */
  readonly issuerKey: string;
  readonly subjectKey: string;
  readonly spkiKey: string;

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
    return this.der.subarray(this.tbsTlv.start, this.tbsTlv.end);
  }
  get signature(): Uint8Array {
    return this.signatureBytes;
  }
  get spkiDer(): Uint8Array {
    return this.der.subarray(this.spkiTlv.start, this.spkiTlv.end);
  }
  /** RFC 4514 subject, for logs. */
  get subject(): string {
    return (this.subjectText ??= formatName(this.der, this.subjectTlv));
  }
  get issuer(): string {
    return (this.issuerText ??= formatName(this.der, this.issuerTlv));
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

function parse(der: Uint8Array): Certificate {
  const cert = readTlv(der, 0, der.length);
  if (cert.tag !== TAG_SEQUENCE || cert.end !== der.length) throw new DerError("not a single DER SEQUENCE");
  const top = children(der, cert);
  if (top.length !== 3) throw new DerError("Certificate: expected 3 fields");
  const [tbs, outerAlg, sigTlv] = top as [Tlv, Tlv, Tlv];
  if (tbs.tag !== TAG_SEQUENCE) throw new DerError("TBSCertificate: expected SEQUENCE");
  const sig = readBitString(der, sigTlv);
  if (sig.unusedBits !== 0) throw new DerError("signature has unused bits");

  const f = children(der, tbs);
  let i = 0;
  const version = f[i];
  // v3 only: SVIDs need extensions, and v1 "CA" certificates cannot say they are CAs.
  if (!version || version.tag !== 0xa0) throw new DerError("only X.509 v3 certificates are supported");
  const vInt = readTlv(der, version.contentStart, version.end);
  if (vInt.end !== version.end || readSmallUint(der, vInt) !== 2)
    throw new DerError("only X.509 v3 certificates are supported");
  i++;
  const serialTlv = f[i++];
  if (!serialTlv) throw new DerError("missing serial number");
  const serial = readIntegerBytes(der, serialTlv);
  if (((serial[0] as number) & 0x80) !== 0) throw new DerError("negative serial number");
  if (serial.length > 21) throw new DerError("serial number longer than 20 octets");
  const innerAlg = f[i++];
  const issuer = f[i++];
  const validity = f[i++];
  const subject = f[i++];
  const spki = f[i++];
  if (!innerAlg || !issuer || !validity || !subject || !spki) throw new DerError("TBSCertificate: missing fields");
  // RFC 5280 §4.1.1.2: the signed and the unsigned algorithm identifiers must be identical.
  if (Buffer.compare(der.subarray(innerAlg.start, innerAlg.end), der.subarray(outerAlg.start, outerAlg.end)) !== 0) {
    throw new DerError("inner and outer signature algorithms differ");
  }
  const signatureAlgorithm = parseSignatureAlgorithm(der, outerAlg);
  validateName(der, issuer);
  validateName(der, subject);
  if (validity.tag !== TAG_SEQUENCE) throw new DerError("Validity: expected SEQUENCE");
  const times = children(der, validity);
  if (times.length !== 2) throw new DerError("Validity: expected two times");
  const notBefore = readTime(der, times[0] as Tlv);
  const notAfter = readTime(der, times[1] as Tlv);
  const publicKeyInfo = parsePublicKeyInfo(der, spki);

  let ext: Extensions | undefined;
  let lastTag = 0;
  for (; i < f.length; i++) {
    const t = f[i] as Tlv;
    // issuerUniqueID [1], subjectUniqueID [2], extensions [3], each at most once and in that order.
    if (t.tag <= lastTag) throw new DerError("TBSCertificate: unexpected field");
    if (t.tag === 0x81 || t.tag === 0x82) {
      lastTag = t.tag;
      continue;
    }
    if (t.tag !== 0xa3) throw new DerError("TBSCertificate: unexpected field");
    ext = parseExtensions(der, t);
    lastTag = t.tag;
  }
  ext ??= noExtensions();
  return new Certificate(
    der,
    tbs,
    issuer,
    subject,
    spki,
    Buffer.from(serial.buffer, serial.byteOffset, serial.byteLength).toString("hex"),
    notBefore,
    notAfter,
    signatureAlgorithm,
    sig.bytes,
    publicKeyInfo,
    ext,
  );
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
    return parse(new Uint8Array(der));
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
