import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { request } from "node:http";
import type { DecisionListener } from "../../src/engine/engine.js";
import { REASONS } from "../../src/engine/contract.js";
import {
  createTelemetry,
  DURATION_BUCKETS_SECONDS,
  METRIC,
  PROMETHEUS_CONTENT_TYPE,
  startMetricsServer,
  type MetricsServer,
  type Telemetry,
} from "../../src/telemetry/index.js";
import { parsePrometheusText, sampleValue } from "../helpers/prom-text.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(url: string, method = "GET"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("telemetry: /metrics over HTTP", () => {
  let telemetry: Telemetry;
  let server: MetricsServer;
  let ready = false;
  const now = Date.parse("2026-01-01T00:10:00Z");

  before(async () => {
    telemetry = createTelemetry({ enabled: true, otlp: false, now: () => now });
    // allow/deny for both transports, through both entry points
    telemetry.recordDecision("envoy", { allow: true, reason: "ok" }, 0.00004);
    telemetry.recordDecision("envoy", { allow: true, reason: "ok" }, 0.0002);
    telemetry.recordDecision("envoy", { allow: false, reason: "not_allowed" }, 0.0003);
    telemetry.recordDecision("envoy", { allow: false, reason: "expired" }, 0.002);
    telemetry.onDecision({ transport: "zentinel" }, { allow: true, reason: "ok" }, 0.00007);
    telemetry.onDecision({ transport: "zentinel" }, { allow: false, reason: "no_certificate" }, 0.00001);
    telemetry.onDecision({ transport: "zentinel" }, { allow: false, reason: "no_certificate" }, 0.00001);
    telemetry.setWorkloadApiConnected(true);
    telemetry.bundleUpdated("spire");
    telemetry.bundleUpdated("spire");
    telemetry.bundleUpdated("file");
    telemetry.observeBundles(() => [
      { trustDomain: "example.org", updatedAt: new Date(now - 30_000) },
      { trustDomain: "partner.org", updatedAt: new Date(now - 3_600_000) },
    ]);
    telemetry.observeCache(() => ({ hits: 41, misses: 7 }));
    server = await startMetricsServer({ host: "127.0.0.1", port: 0, source: telemetry, ready: () => ready });
  });

  after(async () => {
    await server.close();
    await telemetry.shutdown();
  });

  it("binds a real port for port 0", () => {
    assert.ok(server.port > 0);
    assert.equal(server.url, `http://127.0.0.1:${server.port}`);
  });

  it("serves valid Prometheus text with the decision counters, labels and values", async () => {
    const res = await http(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], PROMETHEUS_CONTENT_TYPE);
    const fams = parsePrometheusText(res.body);

    assert.equal(fams.get(METRIC.decisions)?.type, "counter");
    const d = (decision: string, reason: string, transport: string) =>
      sampleValue(fams, METRIC.decisions, { decision, reason, transport });
    assert.equal(d("allow", "ok", "envoy"), 2);
    assert.equal(d("deny", "not_allowed", "envoy"), 1);
    assert.equal(d("deny", "expired", "envoy"), 1);
    assert.equal(d("allow", "ok", "zentinel"), 1);
    assert.equal(d("deny", "no_certificate", "zentinel"), 2);
    // zero-initialised so ratios exist before the first such decision
    assert.equal(d("deny", "spire_unavailable", "zentinel"), 0);
    // every sample has exactly the three labels, from the closed sets
    for (const s of fams.get(METRIC.decisions)?.samples ?? []) {
      assert.deepEqual(Object.keys(s.labels).sort(), ["decision", "reason", "transport"]);
      assert.ok(["allow", "deny"].includes(s.labels["decision"] ?? ""));
      assert.ok((REASONS as readonly string[]).includes(s.labels["reason"] ?? ""));
      assert.ok(["envoy", "zentinel"].includes(s.labels["transport"] ?? ""));
    }
  });

  it("exposes the latency histogram per transport with sub-millisecond buckets", async () => {
    const fams = parsePrometheusText((await http(`${server.url}/metrics`)).body);
    const h = fams.get(METRIC.decisionDuration);
    assert.equal(h?.type, "histogram");
    const bucket = (transport: string, le: string) =>
      sampleValue(fams, `${METRIC.decisionDuration}_bucket`, { transport, le });
    assert.equal(bucket("envoy", "0.00005"), 1);
    assert.equal(bucket("envoy", "0.00025"), 2);
    assert.equal(bucket("envoy", "0.0005"), 3);
    assert.equal(bucket("envoy", "+Inf"), 4);
    assert.equal(bucket("zentinel", "0.00005"), 2);
    assert.equal(bucket("zentinel", "0.0001"), 3);
    assert.equal(sampleValue(fams, `${METRIC.decisionDuration}_count`, { transport: "envoy" }), 4);
    const sum = sampleValue(fams, `${METRIC.decisionDuration}_sum`, { transport: "envoy" }) ?? NaN;
    assert.ok(Math.abs(sum - 0.00254) < 1e-12, `sum ${sum}`);
    const les = (h?.samples ?? [])
      .filter((s) => s.name.endsWith("_bucket") && s.labels["transport"] === "envoy")
      .map((s) => s.labels["le"]);
    assert.deepEqual(les, [...DURATION_BUCKETS_SECONDS.map(String), "+Inf"]);
    assert.equal(DURATION_BUCKETS_SECONDS[0], 0.00005);
    assert.equal(DURATION_BUCKETS_SECONDS.at(-1), 1);
  });

  it("exposes trust, Workload API, bundle update and chain cache metrics", async () => {
    const fams = parsePrometheusText((await http(`${server.url}/metrics`)).body);
    assert.equal(fams.get(METRIC.bundleAge)?.type, "gauge");
    assert.equal(sampleValue(fams, METRIC.bundleAge, { trust_domain: "example.org" }), 30);
    assert.equal(sampleValue(fams, METRIC.bundleAge, { trust_domain: "partner.org" }), 3600);
    assert.equal(sampleValue(fams, METRIC.trustDomains), 2);
    assert.equal(sampleValue(fams, METRIC.workloadApiConnected), 1);
    assert.equal(fams.get(METRIC.bundleUpdates)?.type, "counter");
    assert.equal(sampleValue(fams, METRIC.bundleUpdates, { source: "spire" }), 2);
    assert.equal(sampleValue(fams, METRIC.bundleUpdates, { source: "file" }), 1);
    assert.equal(fams.get(METRIC.chainCacheHits)?.type, "counter");
    assert.equal(sampleValue(fams, METRIC.chainCacheHits), 41);
    assert.equal(sampleValue(fams, METRIC.chainCacheMisses), 7);
  });

  it("serves prom-client's process metrics from the same endpoint", async () => {
    const fams = parsePrometheusText((await http(`${server.url}/metrics`)).body);
    assert.equal(fams.get("process_cpu_user_seconds_total")?.type, "counter");
    assert.ok((sampleValue(fams, "process_cpu_user_seconds_total") ?? -1) >= 0);
    assert.ok((sampleValue(fams, "process_resident_memory_bytes") ?? 0) > 0);
    assert.ok(fams.has("nodejs_eventloop_lag_seconds"));
    assert.ok(fams.has("nodejs_heap_size_total_bytes"));
  });

  it("reports Workload API disconnection and a polled source", async () => {
    telemetry.setWorkloadApiConnected(false);
    let fams = parsePrometheusText(await telemetry.metricsText());
    assert.equal(sampleValue(fams, METRIC.workloadApiConnected), 0);
    let up = true;
    const off = telemetry.observeWorkloadApi(() => up);
    fams = parsePrometheusText(await telemetry.metricsText());
    assert.equal(sampleValue(fams, METRIC.workloadApiConnected), 1);
    up = false;
    fams = parsePrometheusText(await telemetry.metricsText());
    assert.equal(sampleValue(fams, METRIC.workloadApiConnected), 0);
    off();
    telemetry.setWorkloadApiConnected(true);
    fams = parsePrometheusText(await telemetry.metricsText());
    assert.equal(sampleValue(fams, METRIC.workloadApiConnected), 1);
  });

  it("decisionCounts() reads the same counters as /metrics", async () => {
    const counts = await telemetry.decisionCounts();
    const nonZero = counts
      .filter((c) => c.value > 0)
      .map((c) => `${c.transport}/${c.decision}/${c.reason}=${c.value}`)
      .sort();
    assert.deepEqual(nonZero, [
      "envoy/allow/ok=2",
      "envoy/deny/expired=1",
      "envoy/deny/not_allowed=1",
      "zentinel/allow/ok=1",
      "zentinel/deny/no_certificate=2",
    ]);
    telemetry.recordDecision("zentinel", { allow: true, reason: "ok" }, 0.0001);
    const again = await telemetry.decisionCounts();
    assert.equal(
      again.find((c) => c.transport === "zentinel" && c.decision === "allow" && c.reason === "ok")?.value,
      2,
    );
    const fams = parsePrometheusText((await http(`${server.url}/metrics`)).body);
    assert.equal(sampleValue(fams, METRIC.decisions, { decision: "allow", reason: "ok", transport: "zentinel" }), 2);
  });

  it("/healthz is 200; /readyz follows the ready() callback", async () => {
    assert.equal((await http(`${server.url}/healthz`)).status, 200);
    assert.equal((await http(`${server.url}/readyz`)).status, 503);
    ready = true;
    assert.equal((await http(`${server.url}/readyz`)).status, 200);
    ready = false;
    assert.equal((await http(`${server.url}/readyz`)).status, 503);
  });

  it("404 for unknown paths, 405 (with Allow) for non-GET, HEAD allowed, query strings ignored", async () => {
    assert.equal((await http(`${server.url}/`)).status, 404);
    assert.equal((await http(`${server.url}/metricsx`)).status, 404);
    const post = await http(`${server.url}/metrics`, "POST");
    assert.equal(post.status, 405);
    assert.equal(post.headers["allow"], "GET, HEAD");
    assert.equal((await http(`${server.url}/healthz`, "DELETE")).status, 405);
    const head = await http(`${server.url}/metrics`, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    assert.equal((await http(`${server.url}/metrics?x=1`)).status, 200);
  });
});

describe("telemetry: server edge cases", () => {
  it("answers 500 when collection fails and 503 when ready() throws, and reports both", async () => {
    const errors: unknown[] = [];
    const server = await startMetricsServer({
      host: "127.0.0.1",
      port: 0,
      source: { metricsText: () => Promise.reject(new Error("boom")) },
      ready: () => {
        throw new Error("not yet");
      },
      onError: (e) => errors.push(e),
    });
    try {
      assert.equal((await http(`${server.url}/metrics`)).status, 500);
      assert.equal((await http(`${server.url}/readyz`)).status, 503);
      assert.equal(errors.length, 2);
    } finally {
      await server.close();
    }
  });

  it("rejects when the address is taken, and close() is idempotent", async () => {
    const a = await startMetricsServer({ host: "127.0.0.1", port: 0, source: { metricsText: async () => "" } });
    await assert.rejects(
      startMetricsServer({ host: "127.0.0.1", port: a.port, source: { metricsText: async () => "" } }),
      /metrics: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
    );
    await Promise.all([a.close(), a.close()]);
  });

  it("close() does not wait for a scraper's keep-alive connection", async () => {
    const { Agent } = await import("node:http");
    const agent = new Agent({ keepAlive: true });
    const server = await startMetricsServer({ host: "127.0.0.1", port: 0, source: { metricsText: async () => "" } });
    await new Promise<void>((resolve, reject) => {
      request(`${server.url}/healthz`, { agent }, (res) => res.resume().on("end", resolve))
        .on("error", reject)
        .end();
    });
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 1000);
    agent.destroy();
  });

  it("a throwing observe callback does not break the scrape", async () => {
    const reported: unknown[][] = [];
    const t = createTelemetry({
      enabled: true,
      otlp: false,
      processMetrics: false,
      onCollectError: (e) => reported.push(e),
    });
    t.observeBundles(() => {
      throw new Error("store gone");
    });
    t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.001);
    const fams = parsePrometheusText(await t.metricsText());
    assert.equal(sampleValue(fams, METRIC.decisions, { decision: "allow", reason: "ok", transport: "envoy" }), 1);
    assert.equal(fams.has("process_cpu_user_seconds_total"), false);
    assert.equal(reported.length, 1);
    await t.shutdown();
  });
});

describe("telemetry: engine listener and no-op", () => {
  it("onDecision is an Engine DecisionListener, bound", async () => {
    const t = createTelemetry({ enabled: true, otlp: false, processMetrics: false });
    const listener: DecisionListener = t.onDecision; // compile-time check of the adapter's shape
    const { onDecision } = t;
    onDecision({ transport: "envoy" }, { allow: false, reason: "untrusted" }, 0.0001);
    assert.equal(typeof listener, "function");
    const counts = await t.decisionCounts();
    assert.equal(counts.find((c) => c.reason === "untrusted" && c.transport === "envoy")?.value, 1);
    await t.shutdown();
    await t.shutdown(); // idempotent
  });

  it("outcomes outside the closed sets (untyped callers) are still counted, under their own labels", async () => {
    const t = createTelemetry({ enabled: true, otlp: false, processMetrics: false });
    const untyped = t as unknown as {
      recordDecision(tr: string, d: { allow: boolean; reason: string }, s: number): void;
    };
    untyped.recordDecision("envoy", { allow: false, reason: "toString" }, 0.001);
    untyped.recordDecision("envoy", { allow: false, reason: "toString" }, 0.001);
    untyped.recordDecision("grpc-web", { allow: true, reason: "ok" }, 0.001);
    const fams = parsePrometheusText(await t.metricsText());
    assert.equal(sampleValue(fams, METRIC.decisions, { decision: "deny", reason: "toString", transport: "envoy" }), 2);
    assert.equal(sampleValue(fams, METRIC.decisions, { decision: "allow", reason: "ok", transport: "grpc-web" }), 1);
    assert.equal(sampleValue(fams, `${METRIC.decisionDuration}_count`, { transport: "grpc-web" }), 1);
    assert.equal(sampleValue(fams, METRIC.decisions, { decision: "allow", reason: "ok", transport: "envoy" }), 0);
    await t.shutdown();
  });

  it("createTelemetry({ enabled: false }) has the same interface and does nothing", async () => {
    const t = createTelemetry({ enabled: false });
    assert.equal(t.enabled, false);
    t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.001);
    t.onDecision({ transport: "zentinel" }, { allow: false, reason: "expired" }, 0.001);
    t.setWorkloadApiConnected(true);
    t.bundleUpdated("spire");
    t.observeBundles(() => [])();
    t.observeCache(() => ({ hits: 0, misses: 0 }))();
    t.observeWorkloadApi(() => true)();
    assert.deepEqual(await t.decisionCounts(), []);
    assert.equal(await t.metricsText(), "");
    assert.deepEqual((await t.snapshot()).families, []);
    await t.flush();
    await t.shutdown();
  });
});
