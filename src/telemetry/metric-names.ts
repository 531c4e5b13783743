// The metric contract of docs/architecture.md in one place: instrument names are the exact Prometheus names, so
// /metrics, an OTLP → Prometheus pipeline (which keeps an existing `_total`/`_seconds` suffix) and the
// dashboards in deploy/ all speak the same names.

export const METER_NAME = "spiffe-authz";

export const METRIC = {
  decisions: "spiffe_authz_decisions_total",
  decisionDuration: "spiffe_authz_decision_duration_seconds",
  bundleAge: "spiffe_authz_trust_bundle_age_seconds",
  trustDomains: "spiffe_authz_trust_domains",
  workloadApiConnected: "spiffe_authz_workload_api_connected",
  bundleUpdates: "spiffe_authz_bundle_updates_total",
  chainCacheHits: "spiffe_authz_chain_cache_hits_total",
  chainCacheMisses: "spiffe_authz_chain_cache_misses_total",
  zentinelStreams: "spiffe_authz_zentinel_streams",
  configReloads: "spiffe_authz_config_reloads_total",
  configLastReload: "spiffe_authz_config_last_reload_timestamp_seconds",
  buildInfo: "spiffe_authz_build_info",
  svidExpiry: "spiffe_authz_svid_expiry_timestamp_seconds",
  bundleExpiry: "spiffe_authz_bundle_expiry_timestamp_seconds",
  dryRunDecisions: "spiffe_authz_dry_run_decisions_total",
  dryRunInForce: "spiffe_authz_dry_run_in_force",
} as const;

export const HELP: Record<(typeof METRIC)[keyof typeof METRIC], string> = {
  [METRIC.decisions]: "Authorization decisions by outcome, reason and front door.",
  [METRIC.decisionDuration]: "Time spent in the decision engine per request, in seconds.",
  [METRIC.bundleAge]:
    "Seconds since a bundle for the trust domain was last received (Workload API message or file load).",
  [METRIC.trustDomains]: "Number of trust domains with a bundle in the trust store.",
  [METRIC.workloadApiConnected]: "1 while the SPIRE Workload API stream is up, else 0.",
  [METRIC.bundleUpdates]: "Trust bundle updates received, by source.",
  [METRIC.chainCacheHits]: "Verified-chain cache hits.",
  [METRIC.chainCacheMisses]: "Verified-chain cache misses.",
  [METRIC.zentinelStreams]: "Open Zentinel ProcessStreams and ControlStreams (bounded by zentinel.max-streams).",
  [METRIC.configReloads]:
    "Config file reloads (SIGHUP, a change on disk, Zentinel RequestReload) by result; counted in every process.",
  [METRIC.configLastReload]:
    "Unix time the config file in force was loaded: start-up or the last successful reload (oldest across workers).",
  [METRIC.buildInfo]: "Always 1; the labels say which spiffe-authz and which Node.js run.",
  [METRIC.svidExpiry]: "Unix time this service's own X509-SVID expires (server.tls.mode spiffe only).",
  [METRIC.bundleExpiry]:
    "Unix time the last X.509 root of the trust domain's bundle expires; after it nothing of that domain verifies.",
  [METRIC.dryRunDecisions]:
    "Decisions under enforcement dry-run (every one allowed), by the outcome enforcement would have had, reason and front door.",
  [METRIC.dryRunInForce]:
    "1 while enforcement dry-run is in force anywhere in the config (requests are not denied), else 0.",
};

/**
 * Decisions take tens of microseconds with a warm chain cache and a few hundred cold, so the default OTel
 * buckets (0 … 10000, meant for milliseconds) would put every decision in the first bucket.
 */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/** The `result` attribute of spiffe_authz_config_reloads_total. */
export type ConfigReloadResult = "success" | "failure";

/** Where a bundle update came from (the `source` attribute of spiffe_authz_bundle_updates_total). */
export type BundleUpdateSource = "spire" | "file";
