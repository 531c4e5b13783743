// PEM → DER for certificates presented by clients, through the SPIFFE core's bounded splitter so that
// limits apply before any ASN.1 work and the chain cache can key on exact DER bytes. Its SvidError
// becomes our CredentialError: both mean "malformed_certificate".
import { parsePemCertificates, SvidError } from "../spiffe/index.js";
import { CredentialError } from "./errors.js";

/** Most certificates a presented chain may hold (leaf + intermediates). */
export const MAX_CHAIN_CERTS = 8;
/** Largest DER encoding accepted for one certificate. SVIDs are ~1 KiB; 16 KiB leaves room for big SAN lists. */
export const MAX_CERT_DER_BYTES = 16 * 1024;

/** DER of every CERTIFICATE block in `text`, leaf first. Throws CredentialError; none found is an error. */
export function splitPemCertificates(text: string, what = "certificate"): Uint8Array[] {
  try {
    return parsePemCertificates(text, { maxCertificates: MAX_CHAIN_CERTS, maxCertificateBytes: MAX_CERT_DER_BYTES });
  } catch (err) {
    if (err instanceof SvidError) throw new CredentialError(`${what}: ${err.detail}`);
    throw new CredentialError(`${what}: unreadable PEM`);
  }
}

/** `decodeURIComponent` that reports bad escapes as CredentialError. `+` stays `+` (base64 uses it). */
export function urlDecode(value: string, what: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new CredentialError(`${what}: invalid URL encoding`);
  }
}

// A CERTIFICATE block whose body is base64 and line breaks only (a character class, not a lazy match: linear).
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\r\n\t ]*-----END CERTIFICATE-----/g;
const ONLY_WHITESPACE = /^[ \t\r\n]*$/;

/** Largest URL-encoded PEM accepted (a source certificate, a pem-url header): a chain of 8 fits easily. */
export const MAX_URL_PEM_BYTES = 64 * 1024;

/**
 * DER of the certificates in URL-encoded PEM, leaf first: Envoy's `source.certificate`, AWS ALB's
 * X-Amzn-Mtls-Clientcert (which leaves `+`, `=` and `/` unescaped), nginx's `$ssl_client_escaped_cert` (which
 * escapes them). Percent-decoding alone reads every one of them: `+` is never a space here.
 */
export function urlPemCertificates(value: string, what: string, onlyCertificates = false): Uint8Array[] {
  if (value.length > MAX_URL_PEM_BYTES || Buffer.byteLength(value, "utf8") > MAX_URL_PEM_BYTES) {
    throw new CredentialError(`${what} larger than ${MAX_URL_PEM_BYTES} bytes`);
  }
  const text = urlDecode(value, what);
  // `onlyCertificates` (a client-cert header): text around or between the blocks, which the PEM splitter skips as
  // RFC 7468 allows (openssl's `subject=` lines in what Envoy hands over), is refused: no proxy writes any there.
  if (onlyCertificates && !ONLY_WHITESPACE.test(text.replace(CERTIFICATE_BLOCK, ""))) {
    throw new CredentialError(`${what}: text outside the PEM certificate blocks`);
  }
  return splitPemCertificates(text, what);
}
