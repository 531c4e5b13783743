// What the agent says about itself: capabilities (handshake), HealthStatus and MetricsReport.
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  EventType,
  HealthState,
  type AgentCapabilitiesSchema,
  type HealthStatusSchema,
  type MetricsReportSchema,
} from "../../gen/zentinel/agent/v2/agent_v2_pb.js";

export const PROTOCOL_VERSION = 2;

export type HealthReport = { state: "healthy" | "degraded" | "unhealthy" | "draining"; message?: string };

export interface CounterSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  help?: string;
}
export interface GaugeSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  help?: string;
}
export interface HistogramSample {
  name: string;
  labels: Record<string, string>;
  sum: number;
  count: number;
  /** Cumulative counts per upper bound, as Prometheus and the proto's HistogramBucket have them. */
  buckets: Array<{ le: number; count: number }>;
  help?: string;
}
export interface ReportedMetrics {
  counters: CounterSample[];
  gauges?: GaugeSample[];
  histograms?: HistogramSample[];
}

/**
 * Honest capabilities. The proxy picks the events it sends from its own `events` config, not from these
 * (crates/proxy/src/agents/agent_v2.rs `handles_event`); it reads `features.config_push` to register us with
 * its config pusher. CONFIGURE and config_push are announced only while we act on Configure events
 * (zentinel.accept-configure). No body streaming, WebSocket, guardrails or flow-control signals: those events
 * are answered "allow, unchanged" so the proxy never stalls.
 */
export function capabilities(opts: {
  agentId: string;
  version: string;
  maxConcurrency: number;
  healthIntervalMs: number;
  configPush: boolean;
}): MessageInitShape<typeof AgentCapabilitiesSchema> {
  return {
    protocolVersion: PROTOCOL_VERSION,
    agentId: opts.agentId,
    name: "spiffe-authz",
    version: opts.version,
    supportedEvents: opts.configPush ? [EventType.REQUEST_HEADERS, EventType.CONFIGURE] : [EventType.REQUEST_HEADERS],
    features: {
      streamingBody: false,
      websocket: false,
      guardrails: false,
      configPush: opts.configPush,
      metricsExport: true,
      concurrentRequests: opts.maxConcurrency,
      cancellation: true,
      flowControl: false,
      healthReporting: true,
    },
    // Headers only: we never ask for a body. max_concurrency is enforced per stream (reads pause above it).
    limits: { maxBodySize: 0n, maxConcurrency: opts.maxConcurrency, preferredChunkSize: 0n },
    healthConfig: { reportIntervalMs: opts.healthIntervalMs, includeLoadMetrics: true, includeResourceMetrics: false },
  };
}

const STATE: Record<HealthReport["state"], HealthState> = {
  healthy: HealthState.HEALTHY,
  degraded: HealthState.DEGRADED,
  unhealthy: HealthState.UNHEALTHY,
  draining: HealthState.DRAINING,
};

export function healthStatus(
  agentId: string,
  h: HealthReport,
  inFlight: number,
  intervalMs: number,
): MessageInitShape<typeof HealthStatusSchema> {
  const now = Date.now();
  return {
    agentId,
    state: STATE[h.state],
    ...(h.message ? { message: h.message } : {}),
    // Stale after three missed reports, so a silent agent is not taken as healthy forever.
    validUntilMs: BigInt(now + 3 * intervalMs),
    timestampMs: BigInt(now),
    load: { inFlight },
    timeoutMultiplier: 1,
    ...(h.state === "unhealthy" ? { unhealthyReason: h.message ?? "unhealthy" } : {}),
    // Every state we report clears by itself (Workload API back, bundles arrive); draining ends in a restart.
    recoverable: h.state !== "draining",
  };
}

const u64 = (v: number): bigint => (Number.isFinite(v) && v > 0 ? BigInt(Math.round(v)) : 0n);

/** Counters are cumulative totals; the proxy's collector stores the latest value per series, not a sum. */
export function metricsReport(
  agentId: string,
  m: ReportedMetrics,
  intervalMs: number,
): MessageInitShape<typeof MetricsReportSchema> {
  return {
    agentId,
    timestampMs: BigInt(Date.now()),
    intervalMs: BigInt(intervalMs),
    counters: m.counters.map((c) => ({
      name: c.name,
      labels: c.labels,
      value: u64(c.value),
      ...(c.help ? { help: c.help } : {}),
    })),
    gauges: (m.gauges ?? []).map((g) => ({
      name: g.name,
      labels: g.labels,
      value: g.value,
      ...(g.help ? { help: g.help } : {}),
    })),
    histograms: (m.histograms ?? []).map((h) => ({
      name: h.name,
      labels: h.labels,
      sum: h.sum,
      count: u64(h.count),
      buckets: h.buckets.map((b) => ({ le: b.le, count: u64(b.count) })),
      ...(h.help ? { help: h.help } : {}),
    })),
  };
}
