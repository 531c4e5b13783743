// A JWT-SVID signing authority for tests and the dev Workload API: one key, one kid, tokens on demand,
// with options to produce the bad tokens a verifier must refuse.
import { SignJWT, exportJWK, generateKeyPair, type JWK } from "jose";
import { randomBytes, webcrypto } from "node:crypto";
import { JwtBundle, parseJwtAuthority, type JwtAuthority, type JwtSvidAlgorithm } from "../spiffe/jwt-bundle.js";
import { toTrustDomain, type TrustDomain, type TrustDomainLike } from "../spiffe/trust-domain.js";
import type { CryptoKeyPair } from "./keys.js";

export interface JwtAuthorityOptions {
  /** Signing algorithm (default ES256). */
  alg?: JwtSvidAlgorithm;
  /** Key ID (default random). */
  keyId?: string;
}

export interface JwtIssueOptions {
  /** `sub`: a SPIFFE ID, or a path in the authority's trust domain; any string for bad-token tests. */
  subject: string;
  /** `aud`; a string or a list. */
  audience: string | string[];
  /** Issue time (default now). */
  now?: Date;
  /** Lifetime (default 300 s). */
  ttlSeconds?: number;
  /** Explicit `exp`; null omits the claim. */
  expiresAt?: Date | null;
  notBefore?: Date;
  /** Extra or overriding claims. */
  claims?: Record<string, unknown>;
  /** Header overrides (e.g. another kid, a typ); `alg` here changes only the header, not the signature. */
  header?: Record<string, unknown>;
}

export class DevJwtAuthority {
  private constructor(
    readonly trustDomain: TrustDomain,
    readonly keyId: string,
    readonly alg: JwtSvidAlgorithm,
    readonly keys: CryptoKeyPair,
    private readonly publicJwk: JWK,
  ) {}

  static async create(td: TrustDomainLike, opts: JwtAuthorityOptions = {}): Promise<DevJwtAuthority> {
    const alg = opts.alg ?? "ES256";
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
    const jwk = await exportJWK(publicKey);
    return new DevJwtAuthority(
      toTrustDomain(td),
      opts.keyId ?? randomBytes(16).toString("hex"),
      alg,
      { publicKey, privateKey } as CryptoKeyPair,
      jwk,
    );
  }

  /** A signed compact JWT-SVID. */
  async issue(opts: JwtIssueOptions): Promise<string> {
    const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
    const sub = opts.subject.startsWith("/") ? `${this.trustDomain.idString()}${opts.subject}` : opts.subject;
    const claims: Record<string, unknown> = { sub, aud: opts.audience, iat: now };
    if (opts.expiresAt !== null) {
      claims["exp"] = opts.expiresAt ? Math.floor(opts.expiresAt.getTime() / 1000) : now + (opts.ttlSeconds ?? 300);
    }
    if (opts.notBefore) claims["nbf"] = Math.floor(opts.notBefore.getTime() / 1000);
    Object.assign(claims, opts.claims);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: this.alg, kid: this.keyId, typ: "JWT", ...opts.header } as { alg: string })
      .sign(this.keys.privateKey);
  }

  /**
   * Signs exactly this header and payload, bypassing jose's own header checks: for tokens jose refuses
   * to produce (crit, b64) that a verifier must still refuse.
   */
  async signRaw(header: Record<string, unknown>, payload: Record<string, unknown> | string): Promise<string> {
    const enc = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
    const input = `${enc(header)}.${enc(payload)}`;
    const bits = this.alg.slice(2);
    const hash = `SHA-${bits}`;
    const params = this.alg.startsWith("ES")
      ? { name: "ECDSA", hash }
      : this.alg.startsWith("PS")
        ? { name: "RSA-PSS", saltLength: Number(bits) / 8 }
        : { name: "RSASSA-PKCS1-v1_5" };
    const sig = await webcrypto.subtle.sign(params, this.keys.privateKey, Buffer.from(input));
    return `${input}.${Buffer.from(sig).toString("base64url")}`;
  }

  /** The public JWK with kid, as a JWT bundle publishes it. */
  jwk(): Record<string, unknown> {
    return { ...this.publicJwk, kid: this.keyId, use: "jwt-svid" };
  }

  /** Parsed form, for building JwtBundles. */
  authority(): JwtAuthority {
    return parseJwtAuthority(this.jwk(), `dev JWT authority ${this.keyId}`) as JwtAuthority;
  }

  /** A JWK Set document (what FetchJWTBundles carries). */
  jwks(): string {
    return JSON.stringify({ keys: [this.jwk()] });
  }

  jwtBundle(): JwtBundle {
    return JwtBundle.fromAuthorities(this.trustDomain, [this.authority()]);
  }
}

/** A JWT bundle holding several authorities' keys (e.g. during a key rotation). */
export function jwtBundleOf(td: TrustDomainLike, authorities: readonly DevJwtAuthority[]): JwtBundle {
  return JwtBundle.fromAuthorities(
    td,
    authorities.map((a) => a.authority()),
  );
}
