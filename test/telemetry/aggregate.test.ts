import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  aggregate,
  createTelemetry,
  mergeSnapshots,
  METRIC,
  serialize,
  type MetricsSnapshot,
} from "../../src/telemetry/index.js";
import { parsePrometheusText, sampleValue } from "../helpers/prom-text.js";

describe("telemetry: exposition format", () => {
  it("escapes label values and HELP, formats special values, and parses back", () => {
    const text = serialize([
      {
        name: "x_total",
        help: "a \\ help\nline",
        type: "counter",
        aggregator: "sum",
        samples: [{ name: "x_total", labels: { id: 'spiffe://td/"q"\\n\nz' }, value: 3 }],
      },
      {
        name: "y",
        help: "",
        type: "gauge",
        aggregator: "max",
        samples: [
          { name: "y", labels: { k: "nan" }, value: NaN },
          { name: "y", labels: { k: "inf" }, value: Infinity },
          { name: "y", labels: { k: "-inf" }, value: -Infinity },
          { name: "y", labels: { k: "tiny" }, value: 5e-7 },
        ],
      },
    ]);
    assert.match(text, /^# HELP x_total a \\\\ help\\nline$/m);
    const fams = parsePrometheusText(text);
    assert.equal(sampleValue(fams, "x_total", { id: 'spiffe://td/"q"\\n\nz' }), 3);
    assert.ok(Number.isNaN(sampleValue(fams, "y", { k: "nan" })));
    assert.equal(sampleValue(fams, "y", { k: "inf" }), Infinity);
    assert.equal(sampleValue(fams, "y", { k: "-inf" }), -Infinity);
    assert.equal(sampleValue(fams, "y", { k: "tiny" }), 5e-7);
    assert.equal(serialize([]), "");
  });
});

describe("telemetry: merging worker snapshots", () => {
  const snap = (pid: number, v: number): MetricsSnapshot => ({
    pid,
    families: [
      {
        name: "c_total",
        help: "c",
        type: "counter",
        aggregator: "sum",
        samples: [{ name: "c_total", labels: { a: "1" }, value: v }],
      },
      {
        name: "g_max",
        help: "g",
        type: "gauge",
        aggregator: "max",
        samples: [{ name: "g_max", labels: {}, value: v }],
      },
      {
        name: "g_min",
        help: "g",
        type: "gauge",
        aggregator: "min",
        samples: [{ name: "g_min", labels: {}, value: v }],
      },
      {
        name: "g_avg",
        help: "g",
        type: "gauge",
        aggregator: "average",
        samples: [{ name: "g_avg", labels: {}, value: v }],
      },
      {
        name: "g_first",
        help: "g",
        type: "gauge",
        aggregator: "first",
        samples: [{ name: "g_first", labels: {}, value: v }],
      },
      {
        name: "start",
        help: "s",
        type: "gauge",
        aggregator: "omit",
        samples: [{ name: "start", labels: {}, value: v }],
      },
      {
        name: "h",
        help: "h",
        type: "histogram",
        aggregator: "sum",
        samples: [
          { name: "h_bucket", labels: { le: "0.1", t: "x" }, value: v },
          { name: "h_bucket", labels: { t: "x", le: "+Inf" }, value: v * 2 },
          { name: "h_sum", labels: { t: "x" }, value: v / 10 },
          { name: "h_count", labels: { t: "x" }, value: v * 2 },
        ],
      },
    ],
  });

  it("sums counters and histogram series, applies each gauge's rule, omits what asks to be omitted", () => {
    const merged = mergeSnapshots([snap(1, 1), snap(2, 4)]);
    const fams = parsePrometheusText(serialize(merged));
    assert.equal(sampleValue(fams, "c_total", { a: "1" }), 5);
    assert.equal(sampleValue(fams, "g_max"), 4);
    assert.equal(sampleValue(fams, "g_min"), 1);
    assert.equal(sampleValue(fams, "g_avg"), 2.5);
    assert.equal(sampleValue(fams, "g_first"), 1);
    assert.equal(fams.has("start"), false);
    assert.equal(sampleValue(fams, "h_bucket", { le: "0.1", t: "x" }), 5);
    assert.equal(sampleValue(fams, "h_bucket", { le: "+Inf", t: "x" }), 10);
    assert.equal(sampleValue(fams, "h_count", { t: "x" }), 10);
    assert.equal(fams.get("h")?.type, "histogram");
  });

  it("keeps series seen in only some workers, and a snapshot survives JSON (IPC)", () => {
    const a = snap(1, 1);
    const b: MetricsSnapshot = JSON.parse(JSON.stringify(snap(2, 2)));
    const first = b.families[0];
    assert.ok(first);
    first.samples.push({ name: "c_total", labels: { a: "2" }, value: 7 });
    const fams = parsePrometheusText(aggregate([a, b]));
    assert.equal(sampleValue(fams, "c_total", { a: "1" }), 3);
    assert.equal(sampleValue(fams, "c_total", { a: "2" }), 7);
  });

  it("real telemetry snapshots: our gauges take the worst value, decisions add up", async () => {
    const make = async (connected: boolean, ageSeconds: number, oks: number) => {
      const t = createTelemetry({ enabled: true, otlp: false, now: () => 1e9 });
      for (let i = 0; i < oks; i++) t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.0001);
      t.setWorkloadApiConnected(connected);
      t.observeBundles(() => [{ trustDomain: "td", updatedAt: new Date(1e9 - ageSeconds * 1000) }]);
      const s = await t.snapshot();
      await t.shutdown();
      return s;
    };
    const fams = parsePrometheusText(aggregate([await make(true, 10, 2), await make(false, 50, 3)]));
    assert.equal(sampleValue(fams, METRIC.decisions, { decision: "allow", reason: "ok", transport: "envoy" }), 5);
    assert.equal(sampleValue(fams, `${METRIC.decisionDuration}_count`, { transport: "envoy" }), 5);
    assert.equal(sampleValue(fams, METRIC.workloadApiConnected), 0);
    assert.equal(sampleValue(fams, METRIC.bundleAge, { trust_domain: "td" }), 50);
    assert.equal(sampleValue(fams, METRIC.trustDomains), 1);
    // prom-client's own hint: the start time of several processes is not one number
    assert.equal(fams.has("process_start_time_seconds"), false);
    assert.ok(fams.has("process_cpu_user_seconds_total"));
  });
});

describe("telemetry: node:cluster primary serves merged worker metrics", () => {
  it("GET /metrics on the primary sums the workers' counters and keeps the worst gauges", async () => {
    const fixture = fileURLToPath(new URL("../helpers/cluster-metrics.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", fixture], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const rl = createInterface({ input: child.stdout });
        rl.once("line", resolve);
        child.once("exit", (code) => reject(new Error(`fixture exited ${code}`)));
        setTimeout(() => reject(new Error("fixture did not start in 30s")), 30_000).unref();
      });
      const { url } = JSON.parse(line) as { url: string };
      const res = await fetch(`${url}/metrics`);
      assert.equal(res.status, 200);
      const fams = parsePrometheusText(await res.text());
      assert.equal(sampleValue(fams, METRIC.decisions, { decision: "allow", reason: "ok", transport: "envoy" }), 3);
      assert.equal(
        sampleValue(fams, METRIC.decisions, { decision: "deny", reason: "expired", transport: "zentinel" }),
        2,
      );
      assert.equal(sampleValue(fams, `${METRIC.decisionDuration}_bucket`, { transport: "zentinel", le: "0.0025" }), 0);
      assert.equal(sampleValue(fams, `${METRIC.decisionDuration}_bucket`, { transport: "zentinel", le: "0.005" }), 2);
      assert.equal(sampleValue(fams, METRIC.workloadApiConnected), 0);
      assert.equal(sampleValue(fams, METRIC.bundleAge, { trust_domain: "example.org" }), 20);
      assert.equal(sampleValue(fams, METRIC.chainCacheHits), 10);
      assert.equal(sampleValue(fams, METRIC.chainCacheMisses), 2);
      assert.ok((sampleValue(fams, "process_cpu_user_seconds_total") ?? 0) > 0);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
    }
  });
});
