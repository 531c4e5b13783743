// The decision-duration histogram we keep ourselves (src/telemetry/duration-histogram.ts): bucket edges as
// OTel and Prometheus define them (a value on a boundary counts in that boundary's bucket), the SDK's dropping of
// NaN and negative values, cumulative and delta points per reader, and what /metrics shows of it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { emptyResource } from "@opentelemetry/resources";
import { AggregationTemporality, DataPointType, type HistogramMetricData } from "@opentelemetry/sdk-metrics";
import { DurationHistogram } from "../../src/telemetry/duration-histogram.js";
import { createTelemetry, METRIC } from "../../src/telemetry/index.js";

function histogram(now = () => 1_700_000_000_123) {
  return new DurationHistogram({
    name: "d",
    description: "durations",
    boundaries: [0.001, 0.01, 0.1],
    scope: { name: "test" },
    resource: emptyResource(),
    now,
  });
}

async function points(h: DurationHistogram, temporality: AggregationTemporality) {
  const { resourceMetrics, errors } = await h.producer(() => temporality).collect();
  assert.deepEqual(errors, []);
  const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  if (metrics.length === 0) return { metric: undefined, byTransport: new Map() };
  const metric = metrics[0] as HistogramMetricData;
  assert.equal(metric.dataPointType, DataPointType.HISTOGRAM);
  return { metric, byTransport: new Map(metric.dataPoints.map((p) => [p.attributes["transport"], p])) };
}

describe("DurationHistogram", () => {
  it("reports nothing before the first value", async () => {
    assert.equal((await points(histogram(), AggregationTemporality.CUMULATIVE)).metric, undefined);
  });

  it("puts a value on a boundary in that boundary's bucket, past the last in +Inf; keeps sum, count, min, max", async () => {
    const h = histogram();
    for (const v of [0, 0.001, 0.0011, 0.01, 0.1, 0.5, 2]) h.record("envoy", v);
    h.record("zentinel", 0.05);
    const { metric, byTransport } = await points(h, AggregationTemporality.CUMULATIVE);
    assert.equal(metric?.descriptor.name, "d");
    assert.equal(metric?.descriptor.unit, "s");
    assert.equal(metric?.aggregationTemporality, AggregationTemporality.CUMULATIVE);
    const envoy = byTransport.get("envoy");
    assert.deepEqual(envoy?.value.buckets, { boundaries: [0.001, 0.01, 0.1], counts: [2, 2, 1, 2] });
    assert.equal(envoy?.value.count, 7);
    assert.ok(Math.abs((envoy?.value.sum ?? 0) - 2.6121) < 1e-12);
    assert.equal(envoy?.value.min, 0);
    assert.equal(envoy?.value.max, 2);
    assert.deepEqual(envoy?.startTime, [1_700_000_000, 123_000_000]);
    assert.deepEqual(byTransport.get("zentinel")?.value.buckets.counts, [0, 0, 1, 0]);
  });

  it("drops NaN and negative values, as the SDK's histogram does", async () => {
    const h = histogram();
    h.record("envoy", Number.NaN);
    h.record("envoy", -0.001);
    assert.equal((await points(h, AggregationTemporality.CUMULATIVE)).metric, undefined);
    h.record("envoy", 0.002);
    const envoy = (await points(h, AggregationTemporality.CUMULATIVE)).byTransport.get("envoy");
    assert.equal(envoy?.value.count, 1);
    assert.equal(envoy?.value.sum, 0.002);
  });

  it("gives each delta reader what came since its own last collection, the cumulative reader everything", async () => {
    let ms = 1_000_000;
    const h = histogram(() => ms);
    const delta = h.producer(() => AggregationTemporality.DELTA);
    const other = h.producer(() => AggregationTemporality.DELTA);
    const collect = async (p: typeof delta) => {
      const m = (await p.collect()).resourceMetrics.scopeMetrics[0]?.metrics[0] as HistogramMetricData;
      return m.dataPoints.find((dp) => dp.attributes["transport"] === "envoy");
    };
    h.record("envoy", 0.005);
    h.record("envoy", 0.005);
    ms += 1000;
    const first = await collect(delta);
    assert.deepEqual(first?.value.buckets.counts, [0, 2, 0, 0]);
    assert.equal(first?.value.min, undefined); // delta points carry no min/max
    assert.deepEqual(first?.endTime, [1001, 0]);
    h.record("envoy", 0.05);
    ms += 1000;
    const second = await collect(delta);
    assert.deepEqual(second?.value.buckets.counts, [0, 0, 1, 0]);
    assert.equal(second?.value.count, 1);
    assert.equal(second?.value.sum, 0.05);
    assert.deepEqual(second?.startTime, first?.endTime); // the interval starts where the last one ended
    assert.equal((await collect(other))?.value.count, 3); // another reader's state is its own
    const cumulative = (await points(h, AggregationTemporality.CUMULATIVE)).byTransport.get("envoy");
    assert.equal(cumulative?.value.count, 3);
  });
});

describe("telemetry: spiffe_authz_decision_duration_seconds on /metrics", () => {
  it("counts every recorded decision per transport, in the shipped buckets", async () => {
    const t = createTelemetry({ enabled: true, processMetrics: false, otlp: false });
    try {
      t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.00005); // on the first boundary
      t.recordDecision("envoy", { allow: false, reason: "not_allowed" }, 0.00006);
      t.recordDecision("zentinel", { allow: true, reason: "ok" }, 3);
      const text = await t.metricsText();
      const line = (s: string) => text.split("\n").find((l) => l.startsWith(s));
      assert.equal(line(`${METRIC.decisionDuration}_bucket{transport="envoy",le="0.00005"}`)?.split(" ")[1], "1");
      assert.equal(line(`${METRIC.decisionDuration}_bucket{transport="envoy",le="0.0001"}`)?.split(" ")[1], "2");
      assert.equal(line(`${METRIC.decisionDuration}_count{transport="envoy"}`)?.split(" ")[1], "2");
      assert.equal(line(`${METRIC.decisionDuration}_bucket{transport="zentinel",le="1"}`)?.split(" ")[1], "0");
      assert.equal(line(`${METRIC.decisionDuration}_bucket{transport="zentinel",le="+Inf"}`)?.split(" ")[1], "1");
      assert.equal(text.split("\n").filter((l) => l.startsWith(`# TYPE ${METRIC.decisionDuration} `)).length, 1);
    } finally {
      await t.shutdown();
    }
  });
});
