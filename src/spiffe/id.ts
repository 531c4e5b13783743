// SPIFFE IDs (SPIFFE-ID.md §2): `spiffe://<trust domain><path>`, parsed exactly as the standard says and
// as go-spiffe's spiffeid.FromString does. No normalisation: a string that is not already canonical is
// rejected rather than "fixed", so the string we compare is the string that was signed.
import { SpiffeIdError } from "./errors.js";
import {
  MAX_TRUST_DOMAIN_BYTES,
  SPIFFE_SCHEME_PREFIX,
  TrustDomain,
  isTrustDomainChar,
  trustDomainCharProblem,
} from "./trust-domain.js";

/** SPIFFE-ID.md §2.3: implementations must support 2048 bytes; we accept no more. */
export const MAX_SPIFFE_ID_BYTES = 2048;

function isPathChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2e ||
    c === 0x2d ||
    c === 0x5f
  );
}

function pathCharProblem(c: number): string {
  if (c === 0x25) return "path must not contain percent-encoded characters";
  if (c === 0x3f) return "SPIFFE ID must not contain a query";
  if (c === 0x23) return "SPIFFE ID must not contain a fragment";
  return "path segment characters are limited to letters, numbers, dots, dashes, and underscores";
}

/**
 * Throws SpiffeIdError unless `path` is a valid SPIFFE ID path: empty, or `/seg(/seg)*` with segments of
 * [A-Za-z0-9._-], none empty, `.` or `..`, and no trailing slash (SPIFFE-ID.md §2.2).
 */
export function validatePath(path: string): void {
  if (path === "") return;
  if (path.charCodeAt(0) !== 0x2f) throw new SpiffeIdError("path must have a leading slash");
  let segStart = 1;
  for (let i = 1; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 0x2f;
    if (c !== 0x2f) {
      if (!isPathChar(c)) throw new SpiffeIdError(pathCharProblem(c));
      continue;
    }
    const len = i - segStart;
    if (len === 0) {
      throw new SpiffeIdError(
        i === path.length ? "path must not have a trailing slash" : "path must not contain empty segments",
      );
    }
    if ((len === 1 && path.charCodeAt(segStart) === 0x2e) || (len === 2 && path.startsWith("..", segStart))) {
      throw new SpiffeIdError("path must not contain dot segments");
    }
    segStart = i + 1;
  }
}

export class SpiffeId {
  private constructor(
    readonly trustDomain: TrustDomain,
    /** Empty for the trust domain's own ID, else `/seg(/seg)*`. Case-sensitive. */
    readonly path: string,
  ) {}

  /** Builds an ID from a trust domain and a path, validating the path. */
  static fromPath(td: TrustDomain, path: string): SpiffeId {
    validatePath(path);
    const id = new SpiffeId(td, path);
    if (id.toString().length > MAX_SPIFFE_ID_BYTES) {
      throw new SpiffeIdError(`SPIFFE ID is longer than ${MAX_SPIFFE_ID_BYTES} bytes`);
    }
    return id;
  }

  /** @internal the parser's constructor, for parts already validated. */
  static fromValidated(td: TrustDomain, path: string): SpiffeId {
    return new SpiffeId(td, path);
  }

  toString(): string {
    return SPIFFE_SCHEME_PREFIX + this.trustDomain.name + this.path;
  }

  toJSON(): string {
    return this.toString();
  }

  equals(other: SpiffeId): boolean {
    return this.trustDomain.name === other.trustDomain.name && this.path === other.path;
  }

  memberOf(td: TrustDomain): boolean {
    return this.trustDomain.name === td.name;
  }

  /** True for the trust domain's own ID (`spiffe://td`), which never identifies a workload. */
  isTrustDomainId(): boolean {
    return this.path === "";
  }

  /**
   * Segment-aware containment: `spiffe://td/a` is under `spiffe://td/a` and `spiffe://td/a/b` is under
   * it too, but `spiffe://td/ab` is not. Every ID of td is under `spiffe://td`.
   */
  isUnder(prefix: SpiffeId): boolean {
    if (this.trustDomain.name !== prefix.trustDomain.name) return false;
    const p = prefix.path;
    if (p === "" || this.path === p) return true;
    return this.path.length > p.length && this.path.startsWith(p) && this.path.charCodeAt(p.length) === 0x2f;
  }
}

/** Parses a SPIFFE ID string. Throws SpiffeIdError for anything the standard rejects. */
export function parseSpiffeId(value: string): SpiffeId {
  if (typeof value !== "string") throw new SpiffeIdError("SPIFFE ID must be a string");
  if (value === "") throw new SpiffeIdError("SPIFFE ID is empty");
  // Every valid character is ASCII, so UTF-16 length equals byte length for anything we would accept.
  if (value.length > MAX_SPIFFE_ID_BYTES) {
    throw new SpiffeIdError(`SPIFFE ID is longer than ${MAX_SPIFFE_ID_BYTES} bytes`);
  }
  if (!value.startsWith(SPIFFE_SCHEME_PREFIX)) throw new SpiffeIdError("scheme is missing or invalid");
  const tdStart = SPIFFE_SCHEME_PREFIX.length;
  let i = tdStart;
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2f) break;
    if (!isTrustDomainChar(c)) throw new SpiffeIdError(trustDomainCharProblem(c));
  }
  if (i === tdStart) throw new SpiffeIdError("trust domain is missing");
  if (i - tdStart > MAX_TRUST_DOMAIN_BYTES) {
    throw new SpiffeIdError(`trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`);
  }
  const path = value.slice(i);
  validatePath(path);
  return SpiffeId.fromValidated(TrustDomain.fromValidatedName(value.slice(tdStart, i)), path);
}

/** parseSpiffeId, but undefined instead of an error (for callers that only branch on validity). */
export function tryParseSpiffeId(value: string): SpiffeId | undefined {
  try {
    return parseSpiffeId(value);
  } catch {
    return undefined;
  }
}
