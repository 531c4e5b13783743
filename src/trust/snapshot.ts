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
