// The fields of one X.509 certificate (RFC 5280 §4.1), read from its DER by our strict parser (der.ts).
// certificate.ts wraps them in a Certificate; this file only knows the structure.
import { parseSignatureAlgorithm, type SignatureAlgorithm } from "./algorithms.js";
import { parsePublicKeyInfo, type PublicKeyInfo } from "./public-key.js";
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
import { validateName } from "./names.js";
import { noExtensions, parseExtensions, type Extensions } from "./extensions.js";

export interface CertificateFields {
  /** The TBSCertificate: the signed bytes. */
  tbs: Tlv;
  issuer: Tlv;
  subject: Tlv;
  /** SubjectPublicKeyInfo. */
  spki: Tlv;
  /** Serial number, lowercase hex of its two's-complement bytes. */
  serialNumberHex: string;
  notBeforeMs: number;
  notAfterMs: number;
  signatureAlgorithm: SignatureAlgorithm;
  signature: Uint8Array;
  publicKeyInfo: PublicKeyInfo;
  extensions: Extensions;
}

/**
 * Reads the fields of one DER certificate, strictly: exactly one SEQUENCE, v3 only, a non-negative serial of at
 * most 20 octets, identical inner and outer signature algorithms, unique IDs and extensions at most once and in
 * order. Throws for anything else (a DerError, whose message parseCertificate passes on).
 */
export function readCertificateFields(der: Uint8Array): CertificateFields {
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
  return {
    tbs,
    issuer,
    subject,
    spki,
    serialNumberHex: Buffer.from(serial.buffer, serial.byteOffset, serial.byteLength).toString("hex"),
    notBeforeMs: notBefore,
    notAfterMs: notAfter,
    signatureAlgorithm,
    signature: sig.bytes,
    publicKeyInfo,
    extensions: ext,
  };
}
