// A real spiffe-authz (startServer: watcher, trust store, engine, both doors, /metrics) in this process,
// beside a dev Workload API on a unix socket, with the probes the hardening tests read: Envoy Check
// decisions through an independent proto-loader client, gRPC health, /readyz and parsed /metrics.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { parseConfig } from "../../src/config/load.js";
import type { ConfigInput } from "../../src/config/schema.js";
import type { FailurePolicy } from "../../src/trust/store.js";
import { parseListenAddress, parseWorkloadApiAddress } from "../../src/grpc/address.js";
import type * as grpc from "@grpc/grpc-js";
import {
  checkRequest,
  envoyClient,
  healthClient,
  unary,
  zentinelClient,
  type CheckResponseObj,
  type Client,
} from "./clients.js";
import { capturedLogger, sleep } from "./log-capture.js";
import { parsePrometheusText, sampleValue } from "./prom-text.js";
import { status as grpcStatus } from "@grpc/grpc-js";

export const TD = "example.org";
export const WEB = "spiffe://example.org/web";

/** What a Check said, reduced to what the decision table talks about. */
export interface Outcome {
  /** google.rpc.Code of CheckResponse.status (0 OK, 7 PERMISSION_DENIED, 14 UNAVAILABLE, 16 UNAUTHENTICATED). */
  code: number;
  /** HTTP status Envoy would send: 200 on allow, else the denied_response status. */
  http: number;
  /** Decision reason: dynamic_metadata.reason (allows) or the deny body's reason. */
  reason: string;
  /** The identity header we set, if any. */
  spiffeId: string | undefined;
}

const HTTP_OF: Record<string, number> = {
  Unauthorized: 401,
  Forbidden: 403,
  ServiceUnavailable: 503,
  InternalServerError: 500,
};

export function outcomeOf(res: CheckResponseObj): Outcome {
  if (res.status.code === grpcStatus.OK) {
    const md = res.dynamic_metadata?.fields ?? {};
    const reason = md["reason"]?.stringValue ?? md["reason"]?.string_value ?? "";
    const id = res.ok_response?.headers.find((h) => h.header.key.toLowerCase() === "x-spiffe-id")?.header.value;
    return { code: 0, http: 200, reason, spiffeId: id };
  }
  const body = JSON.parse(res.denied_response?.body ?? "{}") as { reason?: string };
  const code = res.denied_response?.status.code ?? "";
  return { code: res.status.code, http: HTTP_OF[code] ?? Number(code), reason: body.reason ?? "", spiffeId: undefined };
}

export interface StackOptions {
  failure: FailurePolicy;
  /** failure.cache-ttl, seconds (default 3600). */
  cacheTtl?: number;
  /** spire.api-timeout-ms: how long start-up waits for the first bundle (default 300: faults at start go quickly). */
  apiTimeoutMs?: number;
  /** spire.bundle-refresh-interval, seconds (default 300). */
  refreshSeconds?: number;
  /** Extra config merged over the defaults (allowlist: WEB and partner.org by default). */
  config?: ConfigInput;
  /** Called once the dev Workload API exists, before the server starts (inject a fault at start here). */
  beforeServer?: (api: DevWorkloadApi) => Promise<void> | void;
}

const ZENTINEL_HEALTH = ["unspecified", "healthy", "degraded", "draining", "unhealthy"] as const;
export type ZentinelHealth = (typeof ZENTINEL_HEALTH)[number];

export interface Stack {
  api: DevWorkloadApi;
  server: RunningServer;
  envoy: Client;
  lines: () => Array<Record<string, unknown>>;
  check(req: { certPem?: string; headers?: Record<string, string> }): Promise<Outcome>;
  /** One sample of /metrics, the one with exactly these labels (undefined when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  metricsText(): Promise<string>;
  readyz(): Promise<number>;
  health(service?: string): Promise<string>;
  /** The last HealthStatus the Zentinel door sent on a proxy stream (reported every 50 ms). */
  zentinelHealth(): ZentinelHealth | undefined;
  close(): Promise<void>;
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), "hardening-"));
  const api = await DevWorkloadApi.start({ trustDomain: TD, address: `unix://${join(dir, "agent.sock")}` });
  await o.beforeServer?.(api);
  const { log, lines } = capturedLogger();
  const config = parseConfig({
    spire: { "api-timeout-ms": o.apiTimeoutMs ?? 300, "bundle-refresh-interval": o.refreshSeconds ?? 300 },
    allowlist: { exact: [WEB], "trust-domains": ["partner.org"] },
    failure: { "spire-unavailable": o.failure, "cache-ttl": o.cacheTtl ?? 3600 },
    audit: { "log-success": false, "log-failure": false },
    ...o.config,
  });
  const server = await startServer(
    {
      listen: [parseListenAddress("127.0.0.1:0", "test")],
      spireSocket: parseWorkloadApiAddress(api.target, "test"),
      metrics: { host: "127.0.0.1", port: 0 },
      configPath: undefined,
      config,
      verbose: false,
      drainTimeoutMs: 300,
      workers: 1,
    },
    log,
    { zentinelIntervalsMs: { health: 50, metrics: 60_000 } },
  );
  const target = server.grpcTargets[0]!;
  const envoy = envoyClient(target);
  const health = healthClient(target);
  const url = server.metricsUrl!;
  // A Zentinel proxy stream, only to hear the door's HealthStatus (healthy / degraded / unhealthy).
  const zentinel = zentinelClient(target);
  const zstream = (zentinel["ProcessStream"] as () => grpc.ClientDuplexStream<unknown, Record<string, unknown>>).call(
    zentinel,
  );
  let zhealth: ZentinelHealth | undefined;
  zstream.on("data", (m: Record<string, unknown>) => {
    if (m["message"] === "health") zhealth = ZENTINEL_HEALTH[(m["health"] as { state: number }).state];
  });
  zstream.on("error", () => {});
  zstream.write({ handshake: { supported_versions: [2], proxy_id: "hardening", config_json: "{}" } });
  const metricsText = async () => (await fetch(`${url}/metrics`)).text();
  return {
    api,
    server,
    envoy,
    lines,
    async check(req) {
      return outcomeOf(await unary<CheckResponseObj>(envoy, "Check", checkRequest(req)));
    },
    metricsText,
    async metric(name, labels = {}) {
      return sampleValue(parsePrometheusText(await metricsText()), name, labels);
    },
    async readyz() {
      return (await fetch(`${url}/readyz`)).status;
    },
    async health(service = "") {
      return (await unary<{ status: string }>(health, "Check", { service })).status;
    },
    zentinelHealth: () => zhealth,
    async close() {
      zstream.end();
      zentinel.close();
      envoy.close();
      health.close();
      await server.stop();
      await api.close();
    },
  };
}

/**
 * Polls `probe` until `ok(value)`; returns the last value and the time it took. Throws with the last value
 * seen (and `what`) after `timeoutMs`. No fixed sleeps: the interval only paces the polling.
 */
export async function poll<T>(
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs: number,
  what: string,
): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await probe();
      if (ok(last)) return { value: last, ms: Date.now() - t0 };
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}${lastErr ? `; error: ${String(lastErr)}` : ""}`,
      );
    }
    await sleep(10);
  }
}
