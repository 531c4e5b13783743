// An immutable set of bundles keyed by trust domain: what the trust store hands to verification. It is
// both an X509BundleSource and a JwtBundleSource. Changing trust means building a new set (with/without),
// so a verification in flight keeps the set it started with.
import { bundleTrustDomain } from "./bundle-input.js";
import type { JwtBundleSource, X509BundleSource } from "./bundle-source.js";
import { BundleError } from "./errors.js";
import { JwtBundle } from "./jwt-bundle.js";
import type { SpiffeBundle } from "./spiffe-bundle.js";
import { TrustDomain, type TrustDomainLike } from "./trust-domain.js";
import { X509Bundle } from "./x509-bundle.js";

export type AnyBundle = X509Bundle | JwtBundle | SpiffeBundle;

function isSpiffeBundle(b: AnyBundle): b is SpiffeBundle {
  return (
    typeof b === "object" &&
    b !== null &&
    "x509" in b &&
    "jwt" in b &&
    b.x509 instanceof X509Bundle &&
    b.jwt instanceof JwtBundle
  );
}

export class BundleSet implements X509BundleSource, JwtBundleSource {
  private readonly x509 = new Map<string, X509Bundle>();
  private readonly jwt = new Map<string, JwtBundle>();

  /**
   * Builds a set. A SPIFFE bundle contributes both its X.509 and JWT parts. Two bundles of the same kind
   * for one trust domain are an error: silently picking one would make trust depend on input order.
   */
  constructor(bundles: Iterable<AnyBundle> = []) {
    for (const b of bundles) this.add(b, false);
  }

  static readonly empty: BundleSet = new BundleSet();

  private add(b: AnyBundle, replace: boolean): void {
    if (b instanceof X509Bundle) this.put(this.x509, b.trustDomain, b, replace, "X.509");
    else if (b instanceof JwtBundle) this.put(this.jwt, b.trustDomain, b, replace, "JWT");
    else if (isSpiffeBundle(b)) {
      // Each part is filed under its own trust domain: a lookup can never return another domain's bundle.
      this.put(this.x509, b.x509.trustDomain, b.x509, replace, "X.509");
      this.put(this.jwt, b.jwt.trustDomain, b.jwt, replace, "JWT");
    } else throw new BundleError("not a bundle");
  }

  private put<B>(map: Map<string, B>, td: TrustDomain, b: B, replace: boolean, kind: string): void {
    if (!replace && map.has(td.name)) throw new BundleError(`two ${kind} bundles for trust domain ${td.name}`);
    map.set(td.name, b);
  }

  /** A new set where these bundles replace any of the same kind and trust domain. */
  with(...bundles: AnyBundle[]): BundleSet {
    const next = this.copy();
    for (const b of bundles) next.add(b, true);
    return next;
  }

  /** A new set without any bundle of these trust domains. */
  without(...tds: TrustDomainLike[]): BundleSet {
    const next = this.copy();
    for (const td of tds) {
      const name = bundleTrustDomain(td).name;
      next.x509.delete(name);
      next.jwt.delete(name);
    }
    return next;
  }

  private copy(): BundleSet {
    const next = new BundleSet();
    for (const [k, v] of this.x509) next.x509.set(k, v);
    for (const [k, v] of this.jwt) next.jwt.set(k, v);
    return next;
  }

  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined {
    return this.x509.get(td.name);
  }

  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle | undefined {
    return this.jwt.get(td.name);
  }

  /** Lookup by `example.org` or `spiffe://example.org`; undefined for a name that is not a trust domain. */
  x509Bundle(td: TrustDomainLike): X509Bundle | undefined {
    const t = lookupKey(td);
    return t === undefined ? undefined : this.x509.get(t);
  }

  jwtBundle(td: TrustDomainLike): JwtBundle | undefined {
    const t = lookupKey(td);
    return t === undefined ? undefined : this.jwt.get(t);
  }

  has(td: TrustDomainLike): boolean {
    const t = lookupKey(td);
    return t !== undefined && (this.x509.has(t) || this.jwt.has(t));
  }

  /** Every trust domain with an X.509 or a JWT bundle, sorted by name. */
  trustDomains(): TrustDomain[] {
    const names = new Set([...this.x509.keys(), ...this.jwt.keys()]);
    return [...names].sort().map((n) => TrustDomain.fromValidatedName(n));
  }

  get size(): number {
    return new Set([...this.x509.keys(), ...this.jwt.keys()]).size;
  }
}

function lookupKey(td: TrustDomainLike): string | undefined {
  if (td instanceof TrustDomain) return td.name;
  try {
    return bundleTrustDomain(td).name;
  } catch {
    return undefined;
  }
}
