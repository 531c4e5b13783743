// Which credential did the request present? In order: Envoy's source certificate (the peer Envoy itself
// verified the TLS handshake with), else the configured client-cert header in the configured format (XFCC,
// RFC 9440 Client-Cert with Client-Cert-Chain, URL-encoded PEM), else — only when JWT is enabled and no X.509
// credential is present at all — a bearer JWT-SVID. A credential that is present but unreadable is
// malformed; we never fall through to a weaker source when a stronger one is garbage.
import type { ClientCertFormat, Config } from "../config/schema.js";
import { CredentialError } from "../formats/errors.js";
import { MAX_URL_PEM_BYTES, urlPemCertificates } from "../formats/client-pem.js";
import { isBlankHeaderValue, rfc9440Certificates } from "../formats/rfc9440.js";
import type { AuthzRequest, CredentialSource } from "./contract.js";
import { xfccCertificates } from "../formats/xfcc.js";

/** Largest `attributes.source.certificate` accepted (URL-encoded PEM; a chain of 8 fits easily). */
export const MAX_SOURCE_CERTIFICATE_BYTES = MAX_URL_PEM_BYTES;
/** Largest bearer token accepted. SPIRE's JWT-SVIDs are about 1 KiB. */
export const MAX_JWT_BYTES = 16 * 1024;

export type PresentedCredential =
  | { kind: "none" }
  | { kind: "x509"; from: "source-certificate" | "header"; der: Uint8Array[] }
  | { kind: "jwt"; token: string };

/** An X.509 credential as the request carries it, not yet parsed. */
export type PresentedX509 =
  | { from: "source-certificate"; raw: string }
  | {
      from: "header";
      format: ClientCertFormat;
      raw: string;
      /** The chain header's value (rfc9440 only), when sent. */
      chain?: string;
    };

const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;
const BEARER_SCHEME = /^bearer(\s|$)/i;
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const present = (v: string | undefined): v is string => v !== undefined && !isBlankHeaderValue(v);

/** The unparsed X.509 credential a request presents, if any, by the same precedence as extractCredentials. */
export function presentedX509(req: AuthzRequest, config: Pick<Config, "tls">): PresentedX509 | undefined {
  const source = req.sourceCertificate;
  if (present(source)) return { from: "source-certificate", raw: source };
  const tls = config.tls;
  const format = tls["client-cert-format"];
  const raw = req.headers.get(tls["client-cert-header"].toLowerCase());
  const chainHeader = tls["client-cert-chain-header"];
  const chain = chainHeader === undefined ? undefined : req.headers.get(chainHeader.toLowerCase());
  if (present(raw)) return { from: "header", format, raw, ...(present(chain) ? { chain } : {}) };
  // A chain with no leaf is no credential, and not nothing either: refused as malformed below, never read as
  // "no certificate" (which require-mtls: false would let through).
  if (present(chain)) return { from: "header", format, raw: "", chain };
  return undefined;
}

/**
 * What, besides the credential's own text, decides which certificates the bytes are read as: the verified-chain
 * cache keys a credential by both (ChainCache.keyForRaw). For a header that is the format, the XFCC element and
 * (rfc9440) the chain header's value, so a reload that reads the same bytes another way never meets an identity
 * read the old way. The two kinds start differently, enum values hold no newline and the chain is
 * length-prefixed, so `${context}\n${raw}` never reads as another pair.
 */
export function cacheKeyContext(x509: PresentedX509, config: Pick<Config, "tls">): string {
  if (x509.from === "source-certificate") return "source-certificate";
  const chain = x509.chain ?? "";
  return `header\n${x509.format}\n${config.tls["xfcc-element"]}\n${chain.length}:${chain}`;
}

/** Characters of a presented credential (header values together), to refuse hashing a huge one. */
export function presentedSize(x509: PresentedX509): number {
  return x509.raw.length + (x509.from === "header" ? (x509.chain?.length ?? 0) : 0);
}

/** DER of a client-cert header's certificates, leaf first, read in the configured format. */
function headerCertificates(x509: Extract<PresentedX509, { from: "header" }>, config: Pick<Config, "tls">) {
  switch (x509.format) {
    case "xfcc":
      return xfccCertificates(x509.raw, config.tls["xfcc-element"]).der;
    case "rfc9440":
      if (x509.raw === "") throw new CredentialError("client-cert-chain without client-cert");
      return rfc9440Certificates(x509.raw, x509.chain);
    case "pem-url":
      // URL-encoded PEM has no commas (nginx and Apache escape them, PEM has none): one here is two headers joined
      // (a front hop that appended instead of replacing), and the client's own would come first.
      if (x509.raw.includes(",")) {
        throw new CredentialError(
          `${config.tls["client-cert-header"].toLowerCase()}: repeated header (values joined by ",")`,
        );
      }
      return urlPemCertificates(x509.raw, config.tls["client-cert-header"].toLowerCase(), true);
  }
}

/**
 * Where the credential extractCredentials would judge comes from, by the same precedence, without parsing it:
 * a present but unreadable credential still names its source. A client-cert header is named by its format
 * (`xfcc`, `rfc9440`, `pem_url`). `x509` is presentedX509's answer when the caller already has it.
 */
export function credentialSource(
  req: AuthzRequest,
  config: Pick<Config, "tls" | "jwt">,
  x509: PresentedX509 | undefined = presentedX509(req, config),
): CredentialSource {
  if (x509) return x509.from === "source-certificate" ? "peer_certificate" : HEADER_SOURCE[x509.format];
  if (!config.jwt.enabled) return "none";
  const auth = req.headers.get(config.jwt.header.toLowerCase());
  return present(auth) && BEARER_SCHEME.test(auth) ? "jwt" : "none";
}

const HEADER_SOURCE: Record<ClientCertFormat, CredentialSource> = {
  xfcc: "xfcc",
  rfc9440: "rfc9440",
  "pem-url": "pem_url",
};

/** Throws CredentialError (reason malformed_certificate) for a present but unusable credential. */
export function extractCredentials(req: AuthzRequest, config: Pick<Config, "tls" | "jwt">): PresentedCredential {
  const x509 = presentedX509(req, config);
  if (x509?.from === "source-certificate") {
    return { kind: "x509", from: "source-certificate", der: urlPemCertificates(x509.raw, "source certificate") };
  }
  if (x509?.from === "header") return { kind: "x509", from: "header", der: headerCertificates(x509, config) };

  if (config.jwt.enabled) {
    const auth = req.headers.get(config.jwt.header.toLowerCase());
    if (present(auth)) {
      // Another scheme (Basic, Negotiate, ...) is the upstream's business, not a SPIFFE credential, whatever its size.
      if (!BEARER_SCHEME.test(auth)) return { kind: "none" };
      if (auth.length > MAX_JWT_BYTES + 16)
        throw new CredentialError(`bearer token larger than ${MAX_JWT_BYTES} bytes`);
      const m = BEARER.exec(auth);
      if (!m) throw new CredentialError("bearer token missing or malformed");
      const token = m[1] as string;
      if (token.length > MAX_JWT_BYTES) throw new CredentialError(`bearer token larger than ${MAX_JWT_BYTES} bytes`);
      if (!JWS_COMPACT.test(token)) throw new CredentialError("bearer token is not a compact JWS");
      return { kind: "jwt", token };
    }
  }
  return { kind: "none" };
}
