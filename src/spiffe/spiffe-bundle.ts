// SPIFFE bundles (SPIFFE_Trust_Domain_and_Bundle.md §4): a JWK Set whose entries are X.509 roots
// (`use: "x509-svid"`, one certificate in `x5c`) or JWT-SVID keys (`use: "jwt-svid"`, `kid` required),
// plus `spiffe_sequence` and `spiffe_refresh_hint`. Entries with an unknown or missing `use`, or an unknown
// key type, are ignored as the spec requires; malformed entries of a known kind are errors.
import type { PublicKeyInfo } from "./public-key.js";
import { DEFAULT_MAX_BUNDLE_JSON_BYTES, type JsonObject } from "./bundle-input.js";
import { parseCertificate, type Certificate } from "./certificate.js";
import { BundleError, SvidError } from "./errors.js";
import { JwtBundle, openJwksDocument, parseJwtAuthority, type JwtAuthority } from "./jwt-bundle.js";
import type { TrustDomain, TrustDomainLike } from "./trust-domain.js";
import { DEFAULT_BUNDLE_LIMITS, X509Bundle } from "./x509-bundle.js";

export interface SpiffeBundle {
  readonly trustDomain: TrustDomain;
  readonly x509: X509Bundle;
  readonly jwt: JwtBundle;
  /** `spiffe_sequence`, when set. */
  readonly sequenceNumber: number | undefined;
  /** `spiffe_refresh_hint` in seconds, when set. */
  readonly refreshHintSeconds: number | undefined;
}

export interface SpiffeBundleLimits {
  maxBytes: number;
  maxKeys: number;
  maxCertificateBytes: number;
}

export const DEFAULT_SPIFFE_BUNDLE_LIMITS: SpiffeBundleLimits = {
  maxBytes: DEFAULT_MAX_BUNDLE_JSON_BYTES,
  maxKeys: 100,
  maxCertificateBytes: DEFAULT_BUNDLE_LIMITS.maxCertificateBytes,
};

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

function optionalUint(doc: JsonObject, name: string): number | undefined {
  const v = doc[name];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
    throw new BundleError(`${name} must be a non-negative integer`);
  return v;
}

function sameB64u(given: unknown, actual: Uint8Array): boolean {
  return typeof given === "string" && given === Buffer.from(actual).toString("base64url");
}

/** RFC 7517 §4.7: the JWK's own key members must describe the key of the x5c certificate. */
function keyMatchesCertificate(entry: JsonObject, key: PublicKeyInfo): boolean {
  switch (entry["kty"]) {
    case "EC":
      return (
        key.kind === "ec" && entry["crv"] === key.curve && sameB64u(entry["x"], key.x) && sameB64u(entry["y"], key.y)
      );
    case "RSA":
      return key.kind === "rsa" && sameB64u(entry["n"], key.n) && sameB64u(entry["e"], key.e);
    case "OKP":
      return key.kind === "ed25519" && entry["crv"] === "Ed25519" && sameB64u(entry["x"], key.key);
    default:
      return false;
  }
}

/** An `x509-svid` entry: undefined when the spec says to ignore it, else the root it carries. */
function parseX509Entry(entry: JsonObject, where: string, maxCertificateBytes: number): Certificate | undefined {
  const kty = entry["kty"];
  if (typeof kty !== "string" || kty === "") throw new BundleError(`${where}: kty missing`);
  for (const m of PRIVATE_MEMBERS) {
    if (m in entry) throw new BundleError(`${where}: contains private key material (${m})`);
  }
  if (kty !== "EC" && kty !== "RSA" && kty !== "OKP") return undefined;
  const x5c = entry["x5c"];
  // X509-SVID.md §6.2: no x5c, or an empty one, means the entry is ignored; values after the first too.
  if (x5c === undefined) return undefined;
  if (!Array.isArray(x5c)) throw new BundleError(`${where}: x5c must be an array`);
  if (x5c.length === 0) return undefined;
  const first: unknown = x5c[0];
  if (typeof first !== "string" || first.length === 0 || first.length % 4 !== 0 || !B64.test(first)) {
    throw new BundleError(`${where}: x5c[0] is not base64`);
  }
  if (first.length > Math.ceil(maxCertificateBytes / 3) * 4) {
    throw new BundleError(`${where}: certificate larger than ${maxCertificateBytes} bytes`);
  }
  let cert: Certificate;
  try {
    cert = parseCertificate(Buffer.from(first, "base64"), { maxCertificateBytes });
  } catch (err) {
    throw new BundleError(`${where}: ${err instanceof SvidError ? err.detail : "unreadable certificate"}`);
  }
  if (!keyMatchesCertificate(entry, cert.publicKeyInfo)) {
    throw new BundleError(`${where}: JWK key members do not match the x5c certificate`);
  }
  return cert;
}

/** Parses a SPIFFE bundle document for `td`. Throws BundleError for anything malformed. */
export function parseSpiffeBundle(
  td: TrustDomainLike,
  json: string | Uint8Array,
  limits: Partial<SpiffeBundleLimits> = {},
): SpiffeBundle {
  const { trustDomain, l, doc, keys } = openJwksDocument(
    td,
    json,
    DEFAULT_SPIFFE_BUNDLE_LIMITS,
    limits,
    "SPIFFE bundle",
  );
  const sequenceNumber = optionalUint(doc, "spiffe_sequence");
  const refreshHintSeconds = optionalUint(doc, "spiffe_refresh_hint");
  const roots: Certificate[] = [];
  const jwtKeys: JwtAuthority[] = [];
  keys().forEach((entry, i) => {
    const where = `SPIFFE bundle key ${i}`;
    const use = entry["use"];
    if (use === "x509-svid") {
      const cert = parseX509Entry(entry, where, l.maxCertificateBytes);
      if (cert) roots.push(cert);
    } else if (use === "jwt-svid") {
      const key = parseJwtAuthority(entry, where);
      if (key) jwtKeys.push(key);
    }
  });
  return Object.freeze({
    trustDomain,
    x509: X509Bundle.fromCertificates(trustDomain, roots),
    jwt: JwtBundle.fromAuthorities(trustDomain, jwtKeys),
    sequenceNumber,
    refreshHintSeconds,
  });
}

function certificateJwk(cert: Certificate): Record<string, unknown> | undefined {
  const b = (u: Uint8Array) => Buffer.from(u).toString("base64url");
  const k = cert.publicKeyInfo;
  switch (k.kind) {
    case "ec":
      return { kty: "EC", crv: k.curve, x: b(k.x), y: b(k.y) };
    case "rsa":
      return { kty: "RSA", n: b(k.n), e: b(k.e) };
    case "ed25519":
      return { kty: "OKP", crv: "Ed25519", x: b(k.key) };
    default:
      return undefined;
  }
}

/** Serialises a SPIFFE bundle document (for a bundle endpoint, the dev CA, or a file). */
export function formatSpiffeBundle(parts: {
  x509?: X509Bundle;
  jwt?: JwtBundle;
  sequenceNumber?: number;
  refreshHintSeconds?: number;
}): string {
  const keys: Record<string, unknown>[] = [];
  for (const cert of parts.x509?.authorities ?? []) {
    const jwk = certificateJwk(cert);
    if (jwk) keys.push({ use: "x509-svid", ...jwk, x5c: [Buffer.from(cert.der).toString("base64")] });
  }
  for (const a of parts.jwt?.authorities ?? []) {
    keys.push({ use: "jwt-svid", ...a.jwk, kid: a.keyId, ...(a.alg ? { alg: a.alg } : {}) });
  }
  const doc: Record<string, unknown> = { keys };
  if (parts.sequenceNumber !== undefined) doc["spiffe_sequence"] = parts.sequenceNumber;
  if (parts.refreshHintSeconds !== undefined) doc["spiffe_refresh_hint"] = parts.refreshHintSeconds;
  return JSON.stringify(doc, null, 2);
}
