// JWT bundles: the JWT-SVID signing keys of one trust domain, by key ID (go-spiffe's jwtbundle). Keys are
// validated and imported when the bundle is parsed, so a bad key is a BundleError at load time, not a
// surprise during a request.
import { createPublicKey, type KeyObject } from "node:crypto";
import { MAX_RSA_BITS, MIN_RSA_BITS } from "./public-key.js";
import { BundleError } from "./errors.js";
import {
  DEFAULT_MAX_BUNDLE_JSON_BYTES,
  bundleTrustDomain,
  isJsonObject,
  parseJsonObject,
  type JsonObject,
} from "./bundle-input.js";
import type { TrustDomain, TrustDomainLike } from "./trust-domain.js";

/** JWT-SVID.md §2.1: the only `alg` values a JWT-SVID may use. */
export const JWT_SVID_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "ES256",
  "ES384",
  "ES512",
  "PS256",
  "PS384",
  "PS512",
] as const;
export type JwtSvidAlgorithm = (typeof JWT_SVID_ALGORITHMS)[number];

export function isJwtSvidAlgorithm(alg: unknown): alg is JwtSvidAlgorithm {
  return typeof alg === "string" && (JWT_SVID_ALGORITHMS as readonly string[]).includes(alg);
}

const EC_CURVES = { "P-256": 32, "P-384": 48, "P-521": 66 } as const;
type EcCurveName = keyof typeof EC_CURVES;
const CURVE_FOR_ALG: Record<string, EcCurveName> = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };

/** The public members of a JWT signing key, exactly as published. */
export type PublicJwk =
  | { readonly kty: "EC"; readonly crv: EcCurveName; readonly x: string; readonly y: string }
  | { readonly kty: "RSA"; readonly n: string; readonly e: string };

export interface JwtAuthority {
  readonly keyId: string;
  readonly jwk: PublicJwk;
  /** The JWK's own `alg`, when it pins one. */
  readonly alg: JwtSvidAlgorithm | undefined;
  readonly key: KeyObject;
}

/** Why a token signed with `alg` must not be checked with `authority`, or undefined if it fits. */
export function algorithmMismatch(authority: JwtAuthority, alg: JwtSvidAlgorithm): string | undefined {
  if (authority.alg !== undefined && authority.alg !== alg)
    return `key ${authority.keyId} is pinned to ${authority.alg}`;
  const want = alg.startsWith("ES") ? "EC" : "RSA";
  if (authority.jwk.kty !== want) return `${alg} needs an ${want} key, key ${authority.keyId} is ${authority.jwk.kty}`;
  if (authority.jwk.kty === "EC" && CURVE_FOR_ALG[alg] !== authority.jwk.crv) {
    return `${alg} needs curve ${CURVE_FOR_ALG[alg]}, key ${authority.keyId} is ${authority.jwk.crv}`;
  }
  return undefined;
}

export class JwtBundle {
  private constructor(
    readonly trustDomain: TrustDomain,
    private readonly byKid: ReadonlyMap<string, JwtAuthority>,
  ) {}

  /** Duplicate key IDs are an error: which key would a token's `kid` mean? */
  static fromAuthorities(td: TrustDomainLike, authorities: readonly JwtAuthority[]): JwtBundle {
    const trustDomain = bundleTrustDomain(td);
    const map = new Map<string, JwtAuthority>();
    for (const a of authorities) {
      if (map.has(a.keyId)) throw new BundleError(`duplicate key ID ${JSON.stringify(a.keyId)}`);
      map.set(a.keyId, Object.freeze({ ...a }));
    }
    return new JwtBundle(trustDomain, map);
  }

  findAuthority(keyId: string): JwtAuthority | undefined {
    return this.byKid.get(keyId);
  }

  get authorities(): readonly JwtAuthority[] {
    return [...this.byKid.values()];
  }

  get size(): number {
    return this.byKid.size;
  }

  /** RFC 7517 JWK Set of the keys (public members, kid, alg when pinned). */
  toJwks(): { keys: Array<Record<string, string>> } {
    return {
      keys: this.authorities.map((a) => ({ ...a.jwk, kid: a.keyId, ...(a.alg ? { alg: a.alg } : {}) })),
    };
  }
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

function b64uBytes(v: unknown, what: string): Buffer {
  if (typeof v !== "string" || !B64URL.test(v) || v.length % 4 === 1) throw new BundleError(`${what} is not base64url`);
  return Buffer.from(v, "base64url");
}

/**
 * Reads one JWK meant for JWT-SVID verification. Returns undefined for a key we must ignore (a key type or
 * curve we do not know, per RFC 7517 and the SPIFFE bundle spec); throws BundleError for a malformed one.
 */
export function parseJwtAuthority(entry: JsonObject, where: string): JwtAuthority | undefined {
  const kty = entry["kty"];
  if (typeof kty !== "string" || kty === "") throw new BundleError(`${where}: kty missing`);
  for (const m of PRIVATE_MEMBERS) {
    if (m in entry) throw new BundleError(`${where}: contains private or secret key material (${m})`);
  }
  if (kty !== "EC" && kty !== "RSA") return undefined;
  const kid = entry["kid"];
  if (typeof kid !== "string" || kid === "") throw new BundleError(`${where}: kid is required for a JWT-SVID key`);
  let alg: JwtSvidAlgorithm | undefined;
  if (entry["alg"] !== undefined) {
    if (!isJwtSvidAlgorithm(entry["alg"]))
      throw new BundleError(`${where}: alg ${String(entry["alg"])} is not a JWT-SVID algorithm`);
    alg = entry["alg"];
  }
  let jwk: PublicJwk;
  if (kty === "EC") {
    const crv = entry["crv"];
    if (typeof crv !== "string" || !(crv in EC_CURVES)) return undefined;
    const size = EC_CURVES[crv as EcCurveName];
    const x = b64uBytes(entry["x"], `${where}: x`);
    const y = b64uBytes(entry["y"], `${where}: y`);
    // RFC 7518 §6.2.1.2: coordinates are full length, never trimmed.
    if (x.length !== size || y.length !== size) throw new BundleError(`${where}: EC coordinates have the wrong length`);
    jwk = { kty: "EC", crv: crv as EcCurveName, x: entry["x"] as string, y: entry["y"] as string };
  } else {
    const n = b64uBytes(entry["n"], `${where}: n`);
    const e = b64uBytes(entry["e"], `${where}: e`);
    const bits = n.length * 8 - (n[0] === undefined ? 8 : Math.clz32(n[0]) - 24);
    if (n[0] === 0 || bits < MIN_RSA_BITS || bits > MAX_RSA_BITS)
      throw new BundleError(`${where}: RSA modulus size not allowed`);
    if (
      e.length > 4 ||
      e[0] === 0 ||
      ((e[e.length - 1] as number) & 1) === 0 ||
      (e.length === 1 && (e[0] as number) < 3)
    )
      throw new BundleError(`${where}: RSA exponent not allowed`);
    jwk = { kty: "RSA", n: entry["n"] as string, e: entry["e"] as string };
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: { ...jwk }, format: "jwk" });
  } catch {
    throw new BundleError(`${where}: key rejected by the crypto library`);
  }
  const authority: JwtAuthority = { keyId: kid, jwk: Object.freeze(jwk), alg, key };
  if (alg !== undefined) {
    const mismatch = algorithmMismatch({ ...authority, alg: undefined }, alg);
    if (mismatch) throw new BundleError(`${where}: ${mismatch}`);
  }
  return authority;
}

export interface JwtBundleLimits {
  maxBytes: number;
  maxKeys: number;
}

export const DEFAULT_JWT_BUNDLE_LIMITS: JwtBundleLimits = { maxBytes: DEFAULT_MAX_BUNDLE_JSON_BYTES, maxKeys: 100 };

/** The `keys` array of a JWK Set, bounded. */
function jwksKeys(doc: JsonObject, maxKeys: number, what: string): JsonObject[] {
  const keys = doc["keys"];
  if (!Array.isArray(keys)) throw new BundleError(`${what}: "keys" must be present and an array`);
  if (keys.length > maxKeys) throw new BundleError(`${what}: more than ${maxKeys} keys`);
  return keys.map((k, i) => {
    if (!isJsonObject(k)) throw new BundleError(`${what}: key ${i} is not a JSON object`);
    return k;
  });
}

/**
 * How every JSON bundle document is opened: its trust domain, the limits in force, the document (size-bounded),
 * and its bounded `keys`, read only when asked (a caller may check other members first).
 */
export function openJwksDocument<L extends { maxBytes: number; maxKeys: number }>(
  td: TrustDomainLike,
  input: string | Uint8Array,
  defaults: L,
  limits: Partial<L>,
  what: string,
): { trustDomain: TrustDomain; l: L; doc: JsonObject; keys: () => JsonObject[] } {
  const trustDomain = bundleTrustDomain(td);
  const l = { ...defaults, ...limits };
  const doc = parseJsonObject(input, l.maxBytes, what);
  return { trustDomain, l, doc, keys: () => jwksKeys(doc, l.maxKeys, what) };
}

/**
 * A JWK Set (RFC 7517) of JWT-SVID keys, as the Workload API's FetchJWTBundles sends. Keys whose `use` is
 * set to something other than "jwt-svid" or "sig" are not for JWT-SVIDs and are skipped, so a SPIFFE
 * bundle document parses here too (its X.509 entries are skipped).
 */
export function parseJwtBundle(
  td: TrustDomainLike,
  jwks: string | Uint8Array,
  limits: Partial<JwtBundleLimits> = {},
): JwtBundle {
  const { trustDomain, keys } = openJwksDocument(td, jwks, DEFAULT_JWT_BUNDLE_LIMITS, limits, "JWKS");
  const authorities: JwtAuthority[] = [];
  keys().forEach((entry, i) => {
    const use = entry["use"];
    if (use !== undefined && use !== "jwt-svid" && use !== "sig") return;
    const a = parseJwtAuthority(entry, `JWKS key ${i}`);
    if (a) authorities.push(a);
  });
  return JwtBundle.fromAuthorities(trustDomain, authorities);
}
