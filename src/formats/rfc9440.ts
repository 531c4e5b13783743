// RFC 9440 Client-Cert and Client-Cert-Chain, as a TLS-terminating proxy sets them (Cloudflare's
// cf.tls_client_auth.cert_rfc9440 / cert_chain_rfc9440, for one):
//   Client-Cert       = sf-binary            the leaf's DER, e.g. `:MIIB...:`
//   Client-Cert-Chain = sf-list of sf-binary the certificates that came with it, leaf excluded, in order
// The field syntax is RFC 8941's, parsed by the structured-headers library; what RFC 9440 leaves out is refused
// here: parameters, inner lists, any bare item other than a byte sequence, an empty one. The limits are those of
// XFCC and the source certificate (client-pem.ts): sizes checked on the text before any base64 or ASN.1 work.
import { isInnerList, parseItem, parseList, type BareItem, type Item } from "structured-headers";
import { CredentialError } from "./errors.js";
import { MAX_CERT_DER_BYTES, MAX_CHAIN_CERTS } from "./client-pem.js";

/** Largest Client-Cert or Client-Cert-Chain value accepted, in bytes: the XFCC header's limit. */
export const RFC9440_MAX_HEADER_BYTES = 64 * 1024;
/** Most certificates in Client-Cert-Chain: with the leaf, a chain no longer than any other format's. */
export const RFC9440_MAX_CHAIN_ITEMS = MAX_CHAIN_CERTS - 1;
/** Longest `:base64:` text one certificate of MAX_CERT_DER_BYTES can need. */
const MAX_ITEM_CHARS = 4 * Math.ceil(MAX_CERT_DER_BYTES / 3) + 2;

// RFC 8941 byte sequences, alone or as a list with optional spaces/tabs around the commas; the parser still checks
// the rest (padding, leading/trailing space rules). Each repetition starts at a comma: no backtracking blow-up.
const LEAF_SHAPE = /^ *:[A-Za-z0-9+/=]*: *$/;
const CHAIN_SHAPE = /^ *:[A-Za-z0-9+/=]*:(?:[ \t]*,[ \t]*:[A-Za-z0-9+/=]*:)* *$/;

/**
 * A header value that counts as not sent: empty, or only spaces and tabs (HTTP's own whitespace). Not JS trim():
 * a value of U+00A0 or U+FEFF is something sent, for the parser to refuse, never "no credential".
 */
export function isBlankHeaderValue(v: string): boolean {
  return /^[ \t]*$/.test(v);
}

function checkSize(value: string, what: string): void {
  // String length is a lower bound of the UTF-8 length, so the cheap check runs first.
  if (value.length > RFC9440_MAX_HEADER_BYTES || Buffer.byteLength(value, "utf8") > RFC9440_MAX_HEADER_BYTES) {
    throw new CredentialError(`${what}: header larger than ${RFC9440_MAX_HEADER_BYTES} bytes`);
  }
}

/** The DER in one parsed member, which must be a byte sequence without parameters. */
function derOf(item: Item, what: string): Uint8Array {
  const [bare, params] = item;
  if (params.size > 0) throw new CredentialError(`${what}: parameters are not allowed`);
  if (!isByteSequence(bare)) throw new CredentialError(`${what}: expected a byte sequence (:base64:)`);
  const der = new Uint8Array(bare);
  if (der.length === 0) throw new CredentialError(`${what}: empty certificate`);
  if (der.length > MAX_CERT_DER_BYTES) {
    throw new CredentialError(`${what}: certificate larger than ${MAX_CERT_DER_BYTES} bytes`);
  }
  return der;
}

function isByteSequence(bare: BareItem): bare is ArrayBuffer {
  return bare instanceof ArrayBuffer;
}

/** Runs an RFC 8941 parse, reporting its errors as CredentialError with the parser's own sentence. */
function parsed<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^Parse error: /, "") : "unreadable";
    throw new CredentialError(`${what}: not an RFC 8941 structured field (${why})`);
  }
}

/**
 * DER of the leaf (Client-Cert) followed by the certificates of Client-Cert-Chain, as a chain to verify.
 * `chain` undefined or empty means no chain header (Cloudflare sends an empty one when there are no
 * intermediates). Throws CredentialError (malformed_certificate) on any deviation or limit.
 */
export function rfc9440Certificates(cert: string, chain: string | undefined): Uint8Array[] {
  checkSize(cert, "client-cert");
  if (cert.trim().length > MAX_ITEM_CHARS) {
    throw new CredentialError(`client-cert: certificate larger than ${MAX_CERT_DER_BYTES} bytes`);
  }
  // Only RFC 9440's shapes reach the field parser, which would otherwise parse (and allocate) every parameter or
  // inner member of a 64 KiB value before derOf refuses the first.
  if (!LEAF_SHAPE.test(cert)) throw new CredentialError("client-cert: expected one byte sequence (:base64:)");
  const leaf = derOf(
    parsed("client-cert", () => parseItem(cert)),
    "client-cert",
  );
  if (chain === undefined || isBlankHeaderValue(chain)) return [leaf];
  checkSize(chain, "client-cert-chain");
  // Count members before the parser decodes any of them: a separator per member bounds the work.
  if (chain.split(",").length > RFC9440_MAX_CHAIN_ITEMS) {
    throw new CredentialError(`client-cert-chain: more than ${RFC9440_MAX_CHAIN_ITEMS} certificates`);
  }
  if (!CHAIN_SHAPE.test(chain)) {
    throw new CredentialError("client-cert-chain: expected a list of byte sequences (:base64:, :base64:)");
  }
  const members = parsed("client-cert-chain", () => parseList(chain));
  const der = [leaf];
  members.forEach((m, i) => {
    const what = `client-cert-chain[${i}]`;
    if (isInnerList(m)) throw new CredentialError(`${what}: inner lists are not allowed`);
    der.push(derOf(m, what));
  });
  return der;
}
