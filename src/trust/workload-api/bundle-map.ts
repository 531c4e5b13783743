// Decoding of the Workload API's bundle maps (X509BundlesResponse.bundles, JWTBundlesResponse.bundles).
// Pure: the watcher feeds it the message and the last good bundles, it returns what to apply and what to log.
import {
  BundleError,
  SpiffeIdError,
  parseJwtBundle,
  parseTrustDomain,
  parseX509BundleDer,
  type JwtBundle,
  type X509Bundle,
} from "../../spiffe/index.js";

export type BundleKind = "x509" | "jwt";
export type BundleOf<K extends BundleKind> = K extends "x509" ? X509Bundle : JwtBundle;

export interface BundleMapProblem {
  /** The map key as sent (truncated), for the log. */
  key: string;
  trustDomain: string | undefined;
  error: string;
  /** A previous bundle for that trust domain was kept in place of the bad one. */
  keptPrevious: boolean;
}

export interface DecodedBundleMap<K extends BundleKind> {
  /** The complete new state: domains absent from the message are gone (an empty map means no bundles). */
  bundles: Map<string, BundleOf<K>>;
  problems: BundleMapProblem[];
}

/**
 * Trust domain of a map key. SPIRE sends the trust domain's SPIFFE ID (`spiffe://td`); other
 * implementations send the bare name (`td`); a trailing slash is tolerated as a harmless variant.
 */
export function bundleKeyTrustDomain(key: string): string {
  const trimmed = key.startsWith("spiffe://") && key.endsWith("/") ? key.slice(0, -1) : key;
  return parseTrustDomain(trimmed).name;
}

/**
 * X.509 values are concatenated ASN.1 DER roots; JWT values are JWKS JSON bytes. A bad entry keeps the
 * previous bundle of its domain (if any) rather than dropping trust on a transient encoding problem; an
 * entry whose key is not a trust domain is skipped. Two keys naming one domain (`spiffe://td` and `td`):
 * the later one wins and the clash is reported.
 */
export function decodeBundleMap<K extends BundleKind>(
  kind: K,
  map: Readonly<Record<string, Uint8Array>>,
  previous: ReadonlyMap<string, BundleOf<K>>,
): DecodedBundleMap<K> {
  const bundles = new Map<string, BundleOf<K>>();
  const problems: BundleMapProblem[] = [];
  for (const [key, bytes] of Object.entries(map)) {
    const shownKey = key.length > 300 ? `${key.slice(0, 300)}…` : key;
    let td: string;
    try {
      td = bundleKeyTrustDomain(key);
    } catch (err) {
      problems.push({
        key: shownKey,
        trustDomain: undefined,
        error: `key is not a trust domain: ${err instanceof SpiffeIdError ? err.message : String(err)}`,
        keptPrevious: false,
      });
      continue;
    }
    if (bundles.has(td))
      problems.push({
        key: shownKey,
        trustDomain: td,
        error: "trust domain sent twice under different keys; the later entry is used",
        keptPrevious: false,
      });
    try {
      const b = kind === "x509" ? parseX509BundleDer(td, bytes) : parseJwtBundle(td, bytes);
      bundles.set(td, b as BundleOf<K>);
    } catch (err) {
      const prev = previous.get(td);
      problems.push({
        key: shownKey,
        trustDomain: td,
        error: err instanceof BundleError ? err.message : String(err),
        keptPrevious: prev !== undefined,
      });
      if (prev !== undefined) bundles.set(td, prev);
      else bundles.delete(td);
    }
  }
  return { bundles, problems };
}
