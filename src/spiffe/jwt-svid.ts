// JWT-SVID verification (JWT-SVID.md, as go-spiffe's jwtsvid.ParseAndValidate). The unverified `sub`
// only chooses WHICH trust domain's bundle to look in; the signature is then checked with the one key
// that bundle has for the token's `kid`, and every claim we return comes from the verified payload.
// jose does the cryptography; the header and claim rules are ours so that they are the spec's, exactly.
import { compactVerify } from "jose";
import type { JwtBundleSource } from "./bundle-source.js";
import { SpiffeIdError, SvidError } from "./errors.js";
import { parseSpiffeId, type SpiffeId } from "./id.js";
import { algorithmMismatch, isJwtSvidAlgorithm, type JwtSvidAlgorithm } from "./jwt-bundle.js";

export interface JwtVerifyOptions {
  /** Audiences this verifier answers to; the token's `aud` must contain at least one. Empty: nothing passes. */
  audiences: readonly string[];
  now: Date;
  /** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (default 30). */
  leewaySeconds?: number;
  /** Largest token accepted (default 16 KiB). */
  maxTokenBytes?: number;
}

export interface JwtSvid {
  id: SpiffeId;
  /** The verified claims, as signed. */
  claims: Readonly<Record<string, unknown>>;
  expiresAt: Date;
  audience: string[];
  keyId: string;
  algorithm: JwtSvidAlgorithm;
}

export const DEFAULT_JWT_LEEWAY_SECONDS = 30;
export const DEFAULT_MAX_TOKEN_BYTES = 16 * 1024;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** JWT-SVID.md §2: "Any header not described here ... MUST NOT be included". */
const ALLOWED_HEADERS = new Set(["alg", "kid", "typ"]);
const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  // base64url without padding: a length of 1 mod 4 cannot be produced by any input.
  if (segment.length % 4 === 1) throw new SvidError("malformed_certificate", `token ${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, "base64url")));
  } catch {
    throw new SvidError("malformed_certificate", `token ${what} is not base64url-encoded JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SvidError("malformed_certificate", `token ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function numericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const v = claims[name];
  if (v === undefined) return undefined;
  // Beyond ±8.64e12 s a Date cannot represent it; no honest issuer writes such a value.
  if (typeof v !== "number" || !Number.isFinite(v) || Math.abs(v) > 8.64e12) {
    throw new SvidError("malformed_certificate", `${name} is not a NumericDate`);
  }
  return v;
}

function audienceOf(claims: Record<string, unknown>): string[] {
  const aud = claims["aud"];
  if (typeof aud === "string") return [aud];
  if (Array.isArray(aud) && aud.every((a) => typeof a === "string")) return aud as string[];
  return [];
}

function subjectId(claims: Record<string, unknown>): SpiffeId {
  const sub = claims["sub"];
  if (typeof sub !== "string" || sub === "") throw new SvidError("no_spiffe_id", "token has no sub claim");
  let id: SpiffeId;
  try {
    id = parseSpiffeId(sub);
  } catch (err) {
    throw new SvidError(
      "no_spiffe_id",
      `sub is not a valid SPIFFE ID: ${err instanceof SpiffeIdError ? err.message : "invalid"}`,
    );
  }
  if (id.isTrustDomainId()) throw new SvidError("no_spiffe_id", `sub ${id} has no path`);
  return id;
}

/**
 * Verifies a compact JWT-SVID against the JWT bundle of its subject's trust domain. Resolves with the
 * identity or rejects with SvidError (never anything else).
 */
export async function verifyJwtSvid(
  token: string,
  source: JwtBundleSource,
  options: JwtVerifyOptions,
): Promise<JwtSvid> {
  try {
    return await verify(token, source, options);
  } catch (err) {
    if (err instanceof SvidError) throw err;
    throw new SvidError("untrusted", "internal error during JWT-SVID verification");
  }
}

async function verify(token: string, source: JwtBundleSource, options: JwtVerifyOptions): Promise<JwtSvid> {
  const maxBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const leewayMs = (options.leewaySeconds ?? DEFAULT_JWT_LEEWAY_SECONDS) * 1000;
  const nowMs = options.now instanceof Date ? options.now.getTime() : NaN;
  if (!Number.isFinite(nowMs) || !Number.isFinite(leewayMs) || leewayMs < 0) {
    throw new SvidError("untrusted", "invalid verification time or leeway");
  }
  if (typeof token !== "string" || token.length === 0) throw new SvidError("malformed_certificate", "empty token");
  if (token.length > maxBytes) throw new SvidError("malformed_certificate", `token larger than ${maxBytes} bytes`);
  // Compact serialisation only (JWT-SVID.md §5.1): exactly three base64url parts, no JWE, no JSON form.
  if (!COMPACT_JWS.test(token)) throw new SvidError("malformed_certificate", "token is not a compact JWS");
  const [headerPart, payloadPart] = token.split(".") as [string, string, string];

  const header = decodeSegment(headerPart, "header");
  const alg = header["alg"];
  if (!isJwtSvidAlgorithm(alg))
    throw new SvidError("untrusted", `alg ${JSON.stringify(alg)} is not allowed for a JWT-SVID`);
  for (const name of Object.keys(header)) {
    if (!ALLOWED_HEADERS.has(name))
      throw new SvidError("untrusted", `header parameter ${JSON.stringify(name)} is not allowed in a JWT-SVID`);
  }
  const typ = header["typ"];
  if (typ !== undefined && typ !== "JWT" && typ !== "JOSE") throw new SvidError("untrusted", "typ must be JWT or JOSE");
  const kid = header["kid"];
  // The kid is optional in the spec, but without one we would have to try every key of the bundle;
  // go-spiffe requires it too.
  if (typeof kid !== "string" || kid === "") throw new SvidError("untrusted", "token header has no kid");

  const unverified = decodeSegment(payloadPart, "payload");
  const id = subjectId(unverified);
  if (numericDate(unverified, "exp") === undefined)
    throw new SvidError("malformed_certificate", "token has no exp claim");

  let bundle;
  try {
    bundle = source.getJwtBundleForTrustDomain(id.trustDomain);
  } catch {
    bundle = undefined;
  }
  if (!bundle) throw new SvidError("unknown_trust_domain", `no JWT bundle for trust domain ${id.trustDomain.name}`);
  if (!bundle.trustDomain.equals(id.trustDomain)) {
    throw new SvidError(
      "untrusted",
      `bundle source returned the bundle of ${bundle.trustDomain.name} for ${id.trustDomain.name}`,
    );
  }
  const authority = bundle.findAuthority(kid);
  if (!authority)
    throw new SvidError("untrusted", `no key ${JSON.stringify(kid)} in the JWT bundle of ${id.trustDomain.name}`);
  const mismatch = algorithmMismatch(authority, alg);
  if (mismatch) throw new SvidError("untrusted", mismatch);

  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, authority.key, { algorithms: [alg] }));
  } catch {
    throw new SvidError("untrusted", "token signature does not verify");
  }
  // From here on only verified bytes count.
  let claims: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(utf8.decode(payloadBytes));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    claims = parsed as Record<string, unknown>;
  } catch {
    throw new SvidError("malformed_certificate", "token payload is not a JSON object");
  }
  const verifiedId = subjectId(claims);
  if (!verifiedId.equals(id)) throw new SvidError("untrusted", "verified subject differs from the unverified one");

  const audience = audienceOf(claims);
  if (audience.length === 0) throw new SvidError("untrusted", "token has no aud claim");
  if (!audience.some((a) => options.audiences.includes(a))) {
    throw new SvidError("untrusted", `token audience ${JSON.stringify(audience)} is not one of ours`);
  }

  const exp = numericDate(claims, "exp");
  if (exp === undefined) throw new SvidError("malformed_certificate", "token has no exp claim");
  const expMs = exp * 1000;
  if (nowMs > expMs + leewayMs) throw new SvidError("expired", `token expired at ${new Date(expMs).toISOString()}`);
  const nbf = numericDate(claims, "nbf");
  if (nbf !== undefined && nowMs + leewayMs < nbf * 1000) {
    throw new SvidError("expired", `token is not yet valid (nbf ${new Date(nbf * 1000).toISOString()})`);
  }
  const iat = numericDate(claims, "iat");
  if (iat !== undefined && nowMs + leewayMs < iat * 1000) {
    throw new SvidError("expired", `token issued in the future (iat ${new Date(iat * 1000).toISOString()})`);
  }

  return { id, claims: Object.freeze(claims), expiresAt: new Date(expMs), audience, keyId: kid, algorithm: alg };
}
