// What the Zentinel agent is given (ZentinelDeps, ZentinelSettings) and the small types its parts share.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AgentToProxySchema } from "../../gen/zentinel/agent/v2/agent_v2_pb.js";
import type { Decider } from "../../engine/contract.js";

export type { Decider };
import type { Logger } from "../../log.js";
import type { ApplyResult, PushedSource } from "../../policy/config-manager.js";
import type { CounterSample, HealthReport, ReportedMetrics } from "./reports.js";

export type AgentToProxyInit = MessageInitShape<typeof AgentToProxySchema>;

/** The `zentinel` section of the config file. */
export interface ZentinelSettings {
  /** Whether Configure events and handshake config_json are applied at all (then deps.applyConfig decides). */
  acceptConfigure: boolean;
  /** A ProcessStream without a handshake by then is ended (DEADLINE_EXCEEDED). */
  handshakeTimeoutMs: number;
  /** Open ProcessStreams and ControlStreams together; beyond it a new one is refused (RESOURCE_EXHAUSTED). */
  maxStreams: number;
}

/** The schema's defaults: what a door whose deps say nothing runs with (config pushed over the network refused). */
export const DEFAULT_SETTINGS: Readonly<ZentinelSettings> = Object.freeze({
  acceptConfigure: false,
  handshakeTimeoutMs: 10_000,
  maxStreams: 1024,
});

export interface ZentinelDeps {
  engine: Decider;
  /**
   * Validates and applies a config (same schema as the file); on error the previous config stays in force.
   * Called only while settings().acceptConfigure is true.
   */
  applyConfig(json: string, source: PushedSource, version?: string): ApplyResult;
  /** Read when a stream opens and at every pushed config, so a config file reload applies. Default: DEFAULT_SETTINGS. */
  settings?: () => ZentinelSettings;
  /** ControlStream RequestReload: re-reads the config file as SIGHUP does. Absent when there is no file. */
  reloadConfig?: () => ApplyResult;
  /** degraded: Workload API lost but still deciding (cache); unhealthy: cannot decide (no bundles). */
  health(): HealthReport;
  /**
   * Current values read from the same OTel instruments as /metrics (no second set of counters here).
   * A bare counter array is accepted too (what server.ts passes today).
   */
  metrics(): ReportedMetrics | CounterSample[] | Promise<ReportedMetrics | CounterSample[]>;
  log: Logger;
  version: string;
  /** Default `spiffe-authz-<pid>`. */
  agentId?: string;
  /** HealthStatus period on every ProcessStream (default 10 s). */
  healthIntervalMs?: number;
  /** MetricsReport period on every ProcessStream (default 10 s). */
  metricsIntervalMs?: number;
  /** In-flight events per stream before we stop reading from it (default 1000; the proxy uses ≤ 100). */
  maxConcurrency?: number;
  /** How long drain() waits for in-flight events before ending streams anyway (default 5 s). */
  drainTimeoutMs?: number;
}

/**
 * Whether a connection has been told (in our log) that its pushed config is ignored. A ProcessStream has one;
 * ProcessEvent calls share one per peer address.
 */
export interface ConfigNotice {
  refusalLogged: boolean;
}

/** An open ProcessStream or ControlStream. */
export interface Session {
  readonly inFlight: number;
  /** Sends a HealthStatus now (no-op on streams that carry none). */
  reportHealth(): void;
  /** Ends the stream with OK status; answers still pending are dropped. */
  end(): void;
}

/** `{}` (what the proxy always sends: client.rs hard-codes it), "" and null carry no config: keep the one in force. */
export function isEmptyConfig(json: string): boolean {
  return /^\s*(\{\s*\}|null)?\s*$/.test(json);
}
