// Trust domain names (SPIFFE-ID.md §2.1): the authority of a SPIFFE ID, lowercase [a-z0-9._-] only.
import { SpiffeIdError } from "./errors.js";

export const SPIFFE_SCHEME_PREFIX = "spiffe://";
/** RFC 3986 caps a host at 255 characters, hence a trust domain name (SPIFFE-ID.md §2.3). */
export const MAX_TRUST_DOMAIN_BYTES = 255;

/** True for the characters a trust domain name may contain. Uppercase is invalid, not folded. */
export function isTrustDomainChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x5f;
}

/** Explains why `c` cannot appear in a trust domain name, for error messages that help the operator. */
export function trustDomainCharProblem(c: number): string {
  if (c >= 0x41 && c <= 0x5a) return "trust domain must be lowercase";
  if (c === 0x3a) return "trust domain must not contain a port";
  if (c === 0x40) return "trust domain must not contain userinfo";
  if (c === 0x25) return "trust domain must not contain percent-encoded characters";
  if (c === 0x3f) return "SPIFFE ID must not contain a query";
  if (c === 0x23) return "SPIFFE ID must not contain a fragment";
  return "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores";
}

/** Throws SpiffeIdError unless `name` is a valid bare trust domain name. */
export function validateTrustDomainName(name: string): void {
  if (name.length === 0) throw new SpiffeIdError("trust domain is missing");
  if (name.length > MAX_TRUST_DOMAIN_BYTES) {
    throw new SpiffeIdError(`trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`);
  }
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!isTrustDomainChar(c)) throw new SpiffeIdError(trustDomainCharProblem(c));
  }
}

export class TrustDomain {
  private constructor(readonly name: string) {}

  /** Only for names already validated (the ID parser); everyone else goes through parseTrustDomain. */
  static fromValidatedName(name: string): TrustDomain {
    return new TrustDomain(name);
  }

  /** The trust domain's own SPIFFE ID, e.g. `spiffe://example.org`. */
  idString(): string {
    return SPIFFE_SCHEME_PREFIX + this.name;
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }

  toJSON(): string {
    return this.name;
  }
}

/**
 * Parses `example.org` or `spiffe://example.org` (as go-spiffe's TrustDomainFromString). Unlike go-spiffe,
 * a SPIFFE ID with a path is rejected: a configuration that names a workload where a trust domain is
 * expected is a mistake worth reporting.
 */
export function parseTrustDomain(value: string): TrustDomain {
  if (typeof value !== "string") throw new SpiffeIdError("trust domain must be a string");
  if (value.includes(":/") || value.startsWith(SPIFFE_SCHEME_PREFIX.slice(0, 7))) {
    if (!value.startsWith(SPIFFE_SCHEME_PREFIX)) throw new SpiffeIdError("scheme is missing or invalid");
    const rest = value.slice(SPIFFE_SCHEME_PREFIX.length);
    const slash = rest.indexOf("/");
    if (slash >= 0) {
      throw new SpiffeIdError("a trust domain ID must not have a path (or a trailing slash)");
    }
    validateTrustDomainName(rest);
    return TrustDomain.fromValidatedName(rest);
  }
  validateTrustDomainName(value);
  return TrustDomain.fromValidatedName(value);
}

/** Accepts a TrustDomain or any string parseTrustDomain accepts. */
export type TrustDomainLike = TrustDomain | string;

export function toTrustDomain(td: TrustDomainLike): TrustDomain {
  return td instanceof TrustDomain ? td : parseTrustDomain(td);
}
