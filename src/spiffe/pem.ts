// Bounded splitting of certificate lists: PEM text (files, XFCC) and concatenated DER (the Workload API's
// bundle and chain fields). Limits apply before any certificate is parsed.
import { DerError, TAG_SEQUENCE, readTlv } from "./der.js";
import { DEFAULT_MAX_CERTIFICATE_BYTES } from "./certificate.js";
import { SvidError } from "./errors.js";

export interface CertificateListLimits {
  /** Largest DER encoding accepted for one certificate. */
  maxCertificateBytes: number;
  /** Most certificates accepted in one list. */
  maxCertificates: number;
}

/** Chain defaults: a leaf plus up to 7 intermediates. */
export const DEFAULT_CHAIN_LIMITS: CertificateListLimits = {
  maxCertificateBytes: DEFAULT_MAX_CERTIFICATE_BYTES,
  maxCertificates: 8,
};

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END ([A-Z0-9 ]+)-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Thrown by the splitters; wrappers turn it into SvidError or BundleError. */
export class CertificateListError extends Error {
  override readonly name = "CertificateListError";
}

/**
 * DER of every CERTIFICATE block in `pem`, in order. Text outside blocks is ignored (openssl writes
 * `subject=` lines there); a block of another type (a private key in a chain file!) is an error, as are
 * headers inside a block, bad base64, or a limit exceeded. An input without blocks yields [].
 */
export function splitPem(pem: string, limits: CertificateListLimits): Uint8Array[] {
  if (typeof pem !== "string") throw new CertificateListError("PEM input must be a string");
  const maxBody = Math.ceil(limits.maxCertificateBytes / 3) * 4;
  // Room for line breaks and openssl's text between blocks, but not for megabytes of filler.
  const maxInput = limits.maxCertificates * maxBody * 2 + 64 * 1024;
  if (pem.length > maxInput) throw new CertificateListError(`PEM input larger than ${maxInput} characters`);
  const out: Uint8Array[] = [];
  let consumed = 0;
  PEM_BLOCK.lastIndex = 0;
  for (let m = PEM_BLOCK.exec(pem); m !== null; m = PEM_BLOCK.exec(pem)) {
    const [, type, body, endType] = m as unknown as [string, string, string, string];
    if (pem.slice(consumed, m.index).includes("-----BEGIN")) throw new CertificateListError("malformed PEM block");
    consumed = m.index + m[0].length;
    if (type !== endType) throw new CertificateListError("PEM BEGIN and END types differ");
    if (type !== "CERTIFICATE") throw new CertificateListError(`unexpected PEM block type ${type}`);
    if (out.length >= limits.maxCertificates) {
      throw new CertificateListError(`more than ${limits.maxCertificates} certificates`);
    }
    const b64 = body.replace(/[\r\n\t ]+/g, "");
    // base64 inflates by 4/3: refuse oversized blocks before decoding them.
    if (b64.length > maxBody)
      throw new CertificateListError(`certificate larger than ${limits.maxCertificateBytes} bytes`);
    if (b64.length === 0 || b64.length % 4 !== 0 || !BASE64.test(b64)) {
      throw new CertificateListError("PEM block is not valid base64");
    }
    const der = new Uint8Array(Buffer.from(b64, "base64"));
    if (der.length > limits.maxCertificateBytes) {
      throw new CertificateListError(`certificate larger than ${limits.maxCertificateBytes} bytes`);
    }
    out.push(der);
  }
  if (pem.slice(consumed).includes("-----BEGIN")) throw new CertificateListError("unterminated or malformed PEM block");
  return out;
}

/**
 * Splits concatenated DER certificates (ASN.1 SEQUENCEs back to back, no padding) into one copy each.
 * Only the outer TLV framing is checked here; parseCertificate checks the rest.
 */
export function splitDer(bytes: Uint8Array, limits: CertificateListLimits): Uint8Array[] {
  if (!(bytes instanceof Uint8Array)) throw new CertificateListError("DER input must be bytes");
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (out.length >= limits.maxCertificates) {
      throw new CertificateListError(`more than ${limits.maxCertificates} certificates`);
    }
    let end: number;
    try {
      const tlv = readTlv(bytes, pos, bytes.length);
      if (tlv.tag !== TAG_SEQUENCE) throw new DerError("expected a certificate SEQUENCE");
      end = tlv.end;
    } catch (err) {
      throw new CertificateListError(`bad DER at offset ${pos}: ${err instanceof Error ? err.message : "unreadable"}`);
    }
    if (end - pos > limits.maxCertificateBytes) {
      throw new CertificateListError(`certificate larger than ${limits.maxCertificateBytes} bytes`);
    }
    out.push(bytes.slice(pos, end));
    pos = end;
  }
  return out;
}

function asSvidError(err: unknown): never {
  if (err instanceof CertificateListError) throw new SvidError("malformed_certificate", err.message);
  throw err;
}

/** A presented chain, split by `split`; SvidError("malformed_certificate") for bad input and for none at all. */
function presentedChain(split: () => Uint8Array[], none: string): Uint8Array[] {
  let out: Uint8Array[] = [];
  try {
    out = split();
  } catch (err) {
    asSvidError(err);
  }
  if (out.length === 0) throw new SvidError("malformed_certificate", none);
  return out;
}

/** A presented chain in PEM (leaf first). Throws SvidError("malformed_certificate"); empty is malformed. */
export function parsePemCertificates(pem: string, limits: Partial<CertificateListLimits> = {}): Uint8Array[] {
  return presentedChain(() => splitPem(pem, { ...DEFAULT_CHAIN_LIMITS, ...limits }), "no PEM certificate found");
}

/** A presented chain as concatenated DER (the Workload API's `x509_svid` field). */
export function parseDerCertificates(der: Uint8Array, limits: Partial<CertificateListLimits> = {}): Uint8Array[] {
  return presentedChain(() => splitDer(der, { ...DEFAULT_CHAIN_LIMITS, ...limits }), "no certificate found");
}
