// Which credential did the request present? In order: Envoy's source certificate (the peer Envoy itself
// verified the TLS handshake with), else the configured XFCC header, else — only when JWT is enabled and no
// X.509 credential is present at all — a bearer JWT-SVID. A credential that is present but unreadable is
// malformed; we never fall through to a weaker source when a stronger one is garbage.
import type { Config } from "../config/schema.js";
import { CredentialError } from "../formats/errors.js";
import { splitPemCertificates, urlDecode } from "../formats/client-pem.js";
import type { AuthzRequest, CredentialSource } from "./contract.js";
import { xfccCertificates } from "../formats/xfcc.js";

/** Largest `attributes.source.certificate` accepted (URL-encoded PEM; a chain of 8 fits easily). */
export const MAX_SOURCE_CERTIFICATE_BYTES = 64 * 1024;
/** Largest bearer token accepted. SPIRE's JWT-SVIDs are about 1 KiB. */
export const MAX_JWT_BYTES = 16 * 1024;

export type PresentedCredential =
  | { kind: "none" }
  | { kind: "x509"; from: "source-certificate" | "xfcc"; der: Uint8Array[] }
  | { kind: "jwt"; token: string };

const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;
const BEARER_SCHEME = /^bearer(\s|$)/i;
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The unparsed X.509 credential a request presents, if any, by the same precedence as extractCredentials. */
export function presentedX509(
  req: AuthzRequest,
  config: Pick<Config, "tls">,
): { from: "source-certificate" | "xfcc"; raw: string } | undefined {
  const source = req.sourceCertificate;
  if (source !== undefined && source.trim() !== "") return { from: "source-certificate", raw: source };
  const xfcc = req.headers.get(config.tls["client-cert-header"].toLowerCase());
  if (xfcc !== undefined && xfcc.trim() !== "") return { from: "xfcc", raw: xfcc };
  return undefined;
}

/**
 * Where the credential extractCredentials would judge comes from, by the same precedence, without parsing it:
 * a present but unreadable credential still names its source. `x509` is presentedX509's answer when the
 * caller already has it.
 */
export function credentialSource(
  req: AuthzRequest,
  config: Pick<Config, "tls" | "jwt">,
  x509: ReturnType<typeof presentedX509> = presentedX509(req, config),
): CredentialSource {
  if (x509) return x509.from === "source-certificate" ? "peer_certificate" : "xfcc";
  if (!config.jwt.enabled) return "none";
  const auth = req.headers.get(config.jwt.header.toLowerCase());
  return auth !== undefined && auth.trim() !== "" && BEARER_SCHEME.test(auth) ? "jwt" : "none";
}

/** Throws CredentialError (reason malformed_certificate) for a present but unusable credential. */
export function extractCredentials(req: AuthzRequest, config: Pick<Config, "tls" | "jwt">): PresentedCredential {
  const x509 = presentedX509(req, config);
  if (x509?.from === "source-certificate") {
    if (x509.raw.length > MAX_SOURCE_CERTIFICATE_BYTES) {
      throw new CredentialError(`source certificate larger than ${MAX_SOURCE_CERTIFICATE_BYTES} bytes`);
    }
    const der = splitPemCertificates(urlDecode(x509.raw, "source certificate"), "source certificate");
    return { kind: "x509", from: "source-certificate", der };
  }
  if (x509?.from === "xfcc") {
    return { kind: "x509", from: "xfcc", der: xfccCertificates(x509.raw, config.tls["xfcc-element"]).der };
  }

  if (config.jwt.enabled) {
    const auth = req.headers.get(config.jwt.header.toLowerCase());
    if (auth !== undefined && auth.trim() !== "") {
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
