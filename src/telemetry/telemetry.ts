// The one telemetry object of a process: what the engine, the trust store and the Zentinel door call.
// `createTelemetry({ enabled: false })` gives the same interface doing nothing (noop.ts), so callers never
// branch and the on/off cost can be benchmarked.
import type { AuthzRequest, Decision, Reason, Transport } from "../engine/contract.js";
import type { BundleUpdateSource } from "./metric-names.js";
import type { MetricsSnapshot } from "./families.js";

/** What recordDecision needs of a Decision; a whole Decision fits. A dry-run one is counted apart. */
export type DecisionOutcome = Pick<Decision, "allow" | "reason" | "dryRun">;

export interface DecisionCount {
  decision: "allow" | "deny";
  reason: Reason;
  transport: Transport;
  value: number;
}

/** One trust domain's last bundle change, as the trust store reports it. */
export interface BundleUpdateTime {
  trustDomain: string;
  updatedAt: Date;
}

/** Cumulative verified-chain cache counts (ChainCache.stats() fits). */
export interface CacheCounts {
  hits: number;
  misses: number;
}

/** When a trust domain's bundle stops verifying anything: its last X.509 root's notAfter. */
export interface BundleExpiry {
  trustDomain: string;
  expiresAt: Date;
}

export type Unsubscribe = () => void;

export interface Telemetry {
  readonly enabled: boolean;

  /** Hot path: a tally increment and one histogram record; nothing allocated on our side. */
  recordDecision(transport: Transport, decision: DecisionOutcome, seconds: number): void;
  /** The same as an Engine listener: `engine.onDecision(telemetry.onDecision)` (bound, safe to pass). */
  readonly onDecision: (
    req: Pick<AuthzRequest, "transport">,
    decision: DecisionOutcome,
    durationSeconds: number,
  ) => void;

  /** Workload API stream state, pushed on change ... */
  setWorkloadApiConnected(connected: boolean): void;
  /** ... or read at collection time (replaces a pushed value while registered). */
  observeWorkloadApi(cb: () => boolean): Unsubscribe;
  /** Counts one bundle update (a Workload API message or a static file (re)load). */
  bundleUpdated(source: BundleUpdateSource): void;
  /** Feeds spiffe_authz_trust_bundle_age_seconds and spiffe_authz_trust_domains; one source at a time. */
  observeBundles(cb: () => Iterable<BundleUpdateTime>): Unsubscribe;
  /** Feeds spiffe_authz_chain_cache_{hits,misses}_total; one source at a time. */
  observeCache(cb: () => CacheCounts): Unsubscribe;
  /** Feeds spiffe_authz_zentinel_streams (open Zentinel streams); one source at a time. */
  observeZentinelStreams(cb: () => number): Unsubscribe;
  /** Feeds spiffe_authz_dry_run_in_force (whether the policy in force has dry-run anywhere); one source at a time. */
  observeDryRun(cb: () => boolean): Unsubscribe;

  /** Counts one config file reload (SIGHUP, file change, RequestReload); a success also moves the last-reload time. */
  configReloaded(ok: boolean): void;
  /** Feeds spiffe_authz_svid_expiry_timestamp_seconds (our own SVID, when we serve one); one source at a time. */
  observeSvidExpiry(cb: () => Date | undefined): Unsubscribe;
  /** Feeds spiffe_authz_bundle_expiry_timestamp_seconds; one source at a time. */
  observeBundleExpiries(cb: () => Iterable<BundleExpiry>): Unsubscribe;

  /** This process's metrics (OTel instruments + process metrics) as JSON-able data, for /metrics or a primary. */
  snapshot(): Promise<MetricsSnapshot>;
  /** snapshot() in Prometheus text exposition format. */
  metricsText(): Promise<string>;
  /** Current decision counter values, read from the same instruments (Zentinel MetricsReport). */
  decisionCounts(): Promise<DecisionCount[]>;

  /** Pushes pending OTLP data now (no-op without OTLP). */
  flush(): Promise<void>;
  /** Final OTLP push and release; later records are dropped. Idempotent. */
  shutdown(): Promise<void>;
}
