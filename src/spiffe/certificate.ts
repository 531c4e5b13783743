// One parsed X.509 certificate, read by our own strict DER parser (der.ts). Why not node:crypto's
// X509Certificate or @peculiar/x509: on Node 20 (OpenSSL 3.0) constructing an X509Certificate costs as much
// as a signature check, @peculiar/x509 twice that, and neither exposes key usage bits or raw names
// without re-parsing. A Certificate is immutable and owns a copy of its DER, so callers may cache it
// (bundle roots are parsed once per bundle; an engine may cache intermediates by their bytes).
import { createHash, type KeyObject } from "node:crypto";
import {
  parsePublicKeyInfo,
  parseSignatureAlgorithm,
  importPublicKey,
  type PublicKeyInfo,
  type SignatureAlgorithm,
} from "./algorithms.js";
import {
  DerError,
  TAG_BIT_STRING,
  TAG_BOOLEAN,
  TAG_INTEGER,
  TAG_OCTET_STRING,
  TAG_SEQUENCE,
  children,
  content,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOid,
  readSmallUint,
  readTime,
  readTlv,
  type Tlv,
} from "./der.js";
import { SvidError } from "./errors.js";
import { formatName, validateName } from "./names.js";

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

/** URI and DNS name constraints (RFC 5280 §4.2.1.10), the only kinds we evaluate. */
export interface NameConstraints {
  readonly permittedUris: readonly string[];
  readonly excludedUris: readonly string[];
  readonly permittedDns: readonly string[];
  readonly excludedDns: readonly string[];
  /** Set when the extension holds a constraint we cannot evaluate; such a CA never validates a path. */
  readonly unsupported: string | undefined;
}

const OID_SUBJECT_KEY_ID = "2.5.29.14";
const OID_KEY_USAGE = "2.5.29.15";
const OID_SAN = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_NAME_CONSTRAINTS = "2.5.29.30";
const OID_CERT_POLICIES = "2.5.29.32";
const OID_AUTHORITY_KEY_ID = "2.5.29.35";
const OID_EXT_KEY_USAGE = "2.5.29.37";
/** Extensions we understand well enough that their being critical is no reason to refuse a certificate. */
const HANDLED = new Set([
  OID_SUBJECT_KEY_ID,
  OID_KEY_USAGE,
  OID_SAN,
  OID_BASIC_CONSTRAINTS,
  OID_NAME_CONSTRAINTS,
  OID_CERT_POLICIES,
  OID_AUTHORITY_KEY_ID,
  OID_EXT_KEY_USAGE,
]);

const GN_DNS = 0x82;
const GN_URI = 0x86;
const GN_NAMES: Record<number, string> = {
  0xa0: "otherName",
  0x81: "rfc822Name",
  0x82: "dNSName",
  0xa3: "x400Address",
  0xa4: "directoryName",
  0xa5: "ediPartyName",
  0x86: "uniformResourceIdentifier",
  0x87: "iPAddress",
  0x88: "registeredID",
};

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** IA5String content as a JS string; bytes >= 0x80 are not IA5 and make the certificate malformed. */
function ia5(buf: Uint8Array, tlv: Tlv, what: string): string {
  const c = content(buf, tlv);
  for (const b of c) if (b >= 0x80) throw new DerError(`${what} is not an IA5String`);
  return latin1(c);
}

interface Extensions {
  isCA: boolean;
  hasBasicConstraints: boolean;
  pathLen: number | undefined;
  keyUsage: number | undefined;
  uris: string[];
  dnsNames: string[];
  sanCount: number;
  nameConstraints: NameConstraints | undefined;
  unhandledCritical: string[];
}

function parseKeyUsage(buf: Uint8Array, v: Tlv): number {
  const { bytes } = readBitString(buf, v);
  let bits = 0;
  for (let i = 0; i < Math.min(bytes.length, 2); i++) {
    const b = bytes[i] as number;
    for (let j = 0; j < 8; j++) if (b & (0x80 >> j)) bits |= 1 << (i * 8 + j);
  }
  return bits;
}

function parseGeneralNames(buf: Uint8Array, v: Tlv, ext: Extensions): void {
  if (v.tag !== TAG_SEQUENCE) throw new DerError("subjectAltName: expected SEQUENCE");
  const names = children(buf, v);
  if (names.length === 0) throw new DerError("subjectAltName is empty");
  for (const gn of names) {
    if (!(gn.tag in GN_NAMES)) throw new DerError("subjectAltName: unknown GeneralName type");
    if (gn.tag === GN_URI) ext.uris.push(ia5(buf, gn, "URI SAN"));
    else if (gn.tag === GN_DNS) ext.dnsNames.push(ia5(buf, gn, "DNS SAN"));
  }
  ext.sanCount += names.length;
}

function parseSubtrees(buf: Uint8Array, tlv: Tlv, uris: string[], dns: string[]): string | undefined {
  let unsupported: string | undefined;
  const subtrees = children(buf, tlv);
  if (subtrees.length === 0) throw new DerError("nameConstraints: empty subtrees");
  for (const st of subtrees) {
    if (st.tag !== TAG_SEQUENCE) throw new DerError("nameConstraints: expected GeneralSubtree");
    const [base, ...rest] = children(buf, st);
    if (!base) throw new DerError("nameConstraints: empty GeneralSubtree");
    // minimum/maximum "MUST NOT be used" (RFC 5280); whoever sets them means something we do not evaluate.
    if (rest.length > 0) unsupported ??= "name constraint with minimum/maximum";
    if (base.tag === GN_URI) uris.push(ia5(buf, base, "URI constraint").toLowerCase());
    else if (base.tag === GN_DNS) dns.push(ia5(buf, base, "DNS constraint").toLowerCase());
    else unsupported ??= `${GN_NAMES[base.tag] ?? "unknown"} name constraint`;
  }
  return unsupported;
}

function parseNameConstraints(buf: Uint8Array, v: Tlv): NameConstraints {
  if (v.tag !== TAG_SEQUENCE) throw new DerError("nameConstraints: expected SEQUENCE");
  const permittedUris: string[] = [];
  const excludedUris: string[] = [];
  const permittedDns: string[] = [];
  const excludedDns: string[] = [];
  let unsupported: string | undefined;
  let last = -1;
  for (const part of children(buf, v)) {
    if (part.tag === 0xa0 && last < 0xa0) unsupported ??= parseSubtrees(buf, part, permittedUris, permittedDns);
    else if (part.tag === 0xa1 && last < 0xa1) unsupported ??= parseSubtrees(buf, part, excludedUris, excludedDns);
    else throw new DerError("nameConstraints: unexpected field");
    last = part.tag;
  }
  return { permittedUris, excludedUris, permittedDns, excludedDns, unsupported };
}

/** What a certificate without (or before) its extensions has. */
function noExtensions(): Extensions {
  return {
    isCA: false,
    hasBasicConstraints: false,
    pathLen: undefined,
    keyUsage: undefined,
    uris: [],
    dnsNames: [],
    sanCount: 0,
    nameConstraints: undefined,
    unhandledCritical: [],
  };
}

function parseExtensions(buf: Uint8Array, wrapper: Tlv): Extensions {
  const ext: Extensions = noExtensions();
  const seq = readTlv(buf, wrapper.contentStart, wrapper.end);
  if (seq.tag !== TAG_SEQUENCE || seq.end !== wrapper.end) throw new DerError("extensions: expected SEQUENCE");
  const list = children(buf, seq);
  if (list.length === 0) throw new DerError("extensions: empty");
  const seen = new Set<string>();
  for (const e of list) {
    if (e.tag !== TAG_SEQUENCE) throw new DerError("extension: expected SEQUENCE");
    const parts = children(buf, e);
    const oidTlv = parts[0];
    if (!oidTlv || parts.length < 2 || parts.length > 3) throw new DerError("extension: bad field count");
    const oid = readOid(buf, oidTlv);
    // RFC 5280 §4.2: at most one instance of each extension. Two SAN extensions could otherwise smuggle a
    // second identity past a parser that reads only the first.
    if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`);
    seen.add(oid);
    let critical = false;
    let valueTlv = parts[1] as Tlv;
    if (parts.length === 3) {
      if (valueTlv.tag !== TAG_BOOLEAN) throw new DerError("extension: expected critical BOOLEAN");
      critical = readBoolean(buf, valueTlv);
      valueTlv = parts[2] as Tlv;
    }
    if (valueTlv.tag !== TAG_OCTET_STRING) throw new DerError("extension: expected OCTET STRING");
    const v = readTlv(buf, valueTlv.contentStart, valueTlv.end);
    if (v.end !== valueTlv.end) throw new DerError(`extension ${oid}: trailing bytes`);
    switch (oid) {
      case OID_BASIC_CONSTRAINTS: {
        if (v.tag !== TAG_SEQUENCE) throw new DerError("basicConstraints: expected SEQUENCE");
        ext.hasBasicConstraints = true;
        const fields = children(buf, v);
        let k = 0;
        if (fields[k]?.tag === TAG_BOOLEAN) ext.isCA = readBoolean(buf, fields[k++] as Tlv);
        if (fields[k]?.tag === TAG_INTEGER) ext.pathLen = readSmallUint(buf, fields[k++] as Tlv);
        if (k !== fields.length) throw new DerError("basicConstraints: unexpected field");
        break;
      }
      case OID_KEY_USAGE:
        if (v.tag !== TAG_BIT_STRING) throw new DerError("keyUsage: expected BIT STRING");
        ext.keyUsage = parseKeyUsage(buf, v);
        break;
      case OID_SAN:
        parseGeneralNames(buf, v, ext);
        break;
      case OID_NAME_CONSTRAINTS:
        ext.nameConstraints = parseNameConstraints(buf, v);
        break;
      case OID_EXT_KEY_USAGE:
        if (v.tag !== TAG_SEQUENCE) throw new DerError("extKeyUsage: expected SEQUENCE");
        for (const k of children(buf, v)) readOid(buf, k);
        break;
      default:
        if (critical && !HANDLED.has(oid)) ext.unhandledCritical.push(oid);
    }
  }
  return ext;
}

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
