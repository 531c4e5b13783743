// SPIFFE Workload API client side: the streaming bundle watcher and its building blocks.
export { WorkloadApiWatcher, type BundleSink, type WatcherEvent, type WatcherOptions } from "./watcher.js";
export { SECURITY_HEADER, securityMetadata, workloadApiClient, type WorkloadClient } from "./client.js";
export { Backoff, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS, type BackoffOptions } from "./backoff.js";
export {
  bundleKeyTrustDomain,
  decodeBundleMap,
  type BundleKind,
  type BundleMapProblem,
  type DecodedBundleMap,
} from "./bundle-map.js";
