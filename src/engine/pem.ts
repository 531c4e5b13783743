// Bounded PEM → DER splitting for certificates presented by clients. We do this ourselves (instead of
// handing arbitrary text to an X.509 parser) so that size and count limits apply before any ASN.1 work,
// and so the chain cache can key on exact DER bytes.
import { CredentialError } from "./errors.js";

/** Most certificates a presented chain may hold (leaf + intermediates). */
export const MAX_CHAIN_CERTS = 8;
/** Largest DER encoding accepted for one certificate. SVIDs are ~1 KiB; 16 KiB leaves room for big SAN lists. */
export const MAX_CERT_DER_BYTES = 16 * 1024;

const BEGIN = "-----BEGIN CERTIFICATE-----";
const END = "-----END CERTIFICATE-----";
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Returns the DER bytes of every CERTIFICATE block in `text`, in order. Text between blocks (openssl's
 * `subject=` lines, other block types) is ignored. Throws CredentialError when there is no block, a block
 * is unterminated or not base64, or a limit is exceeded.
 */
export function splitPemCertificates(text: string, what = "certificate"): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  for (;;) {
    const begin = text.indexOf(BEGIN, pos);
    if (begin < 0) break;
    const bodyStart = begin + BEGIN.length;
    const end = text.indexOf(END, bodyStart);
    if (end < 0) throw new CredentialError(`${what}: unterminated PEM block`);
    if (out.length >= MAX_CHAIN_CERTS) {
      throw new CredentialError(`${what}: more than ${MAX_CHAIN_CERTS} certificates`);
    }
    const body = text.slice(bodyStart, end).replace(/[\r\n\t ]+/g, "");
    // base64 inflates by 4/3; checking the text first avoids decoding something we would reject.
    if (body.length > Math.ceil(MAX_CERT_DER_BYTES / 3) * 4) {
      throw new CredentialError(`${what}: certificate larger than ${MAX_CERT_DER_BYTES} bytes`);
    }
    if (body.length === 0 || body.length % 4 !== 0 || !BASE64_BODY.test(body)) {
      throw new CredentialError(`${what}: PEM block is not valid base64`);
    }
    const der = new Uint8Array(Buffer.from(body, "base64"));
    if (der.length === 0 || der.length > MAX_CERT_DER_BYTES) {
      throw new CredentialError(`${what}: certificate larger than ${MAX_CERT_DER_BYTES} bytes`);
    }
    out.push(der);
    pos = end + END.length;
  }
  if (out.length === 0) throw new CredentialError(`${what}: no PEM certificate found`);
  return out;
}

/** `decodeURIComponent` that reports bad escapes as CredentialError. `+` stays `+` (base64 uses it). */
export function urlDecode(value: string, what: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new CredentialError(`${what}: invalid URL encoding`);
  }
}
