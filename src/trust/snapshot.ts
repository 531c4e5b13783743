// What the engine sees of trust: one immutable snapshot at a time. Owned by src/trust/store.ts.
import type { BundleSet } from "../spiffe/index.js";

export interface TrustSnapshot {
  /** Increases on every change; verified-chain caches key on it so a rotation invalidates them. */
  readonly generation: number;
  /** Bundles usable right now: SPIRE's (unless dropped by the failure policy) merged with static files. */
  readonly bundles: BundleSet;
  /**
   * False when the Workload API is lost and its bundles no longer count (fail_closed at once; cache after
   * cache-ttl), or before its first bundle. Decides spire_unavailable vs unknown_trust_domain.
   */
  readonly spireAvailable: boolean;
}

export interface TrustSnapshotSource {
  current(): TrustSnapshot;
}

/**
 * For each trust domain with X.509 roots, when the last of them expires. The latest, not the earliest: during a
 * CA rotation the old root runs out while the new one already verifies, and that is no outage.
 */
export function bundleExpiries(bundles: BundleSet): Array<{ trustDomain: string; expiresAt: Date }> {
  const out: Array<{ trustDomain: string; expiresAt: Date }> = [];
  for (const td of bundles.trustDomains()) {
    const roots = bundles.x509Bundle(td.name)?.authorities ?? [];
    if (roots.length > 0)
      out.push({ trustDomain: td.name, expiresAt: new Date(Math.max(...roots.map((r) => r.notAfterMs))) });
  }
  return out;
}
