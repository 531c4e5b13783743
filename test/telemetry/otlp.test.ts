import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { createTelemetry, METRIC, otlpSettingsFromEnv, TelemetryConfigError } from "../../src/telemetry/index.js";
import { decodeExportMetricsJson, decodeExportMetricsRequest, type OtlpMetric } from "../helpers/otlp-decode.js";

describe("telemetry: OTLP settings from the environment", () => {
  it("is off without an endpoint", () => {
    assert.equal(otlpSettingsFromEnv({}), undefined);
    assert.equal(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "  " }), undefined);
    assert.equal(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }), undefined);
  });

  it("defaults to http/protobuf, appends /v1/metrics to the generic endpoint, 60s interval", () => {
    assert.deepEqual(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }), {
      protocol: "http/protobuf",
      url: "http://collector:4318/v1/metrics",
      intervalMillis: 60_000,
      timeoutMillis: 30_000,
    });
  });

  it("uses the signal endpoint as is, and gRPC uses the generic endpoint as its target", () => {
    assert.equal(
      otlpSettingsFromEnv({
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://c:4318/custom",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://x:1",
      })?.url,
      "http://c:4318/custom",
    );
    const g = otlpSettingsFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317",
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
    });
    assert.equal(g?.protocol, "grpc");
    assert.equal(g?.url, "http://collector:4317");
  });

  it("the metrics protocol overrides the generic one", () => {
    const s = otlpSettingsFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json",
    });
    assert.equal(s?.protocol, "http/json");
    assert.equal(s?.url, "http://c:4318/v1/metrics");
  });

  it("reads the export interval; the timeout never exceeds it", () => {
    const s = otlpSettingsFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
      OTEL_METRIC_EXPORT_INTERVAL: "5000",
    });
    assert.equal(s?.intervalMillis, 5000);
    assert.equal(s?.timeoutMillis, 5000);
  });

  it("rejects an unknown protocol or a bad interval with a clear error naming the variable", () => {
    assert.throws(
      () => otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_EXPORTER_OTLP_PROTOCOL: "http/xml" }),
      (e: unknown) =>
        e instanceof TelemetryConfigError &&
        e.key === "OTEL_EXPORTER_OTLP_PROTOCOL" &&
        /unknown OTLP protocol "http\/xml" \(expected grpc, http\/protobuf or http\/json\)/.test(e.message),
    );
    assert.throws(
      () =>
        otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "udp" }),
      /^TelemetryConfigError: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: unknown OTLP protocol "udp"/,
    );
    assert.throws(
      () =>
        createTelemetry({
          enabled: true,
          env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_METRIC_EXPORT_INTERVAL: "soon" },
        }),
      /OTEL_METRIC_EXPORT_INTERVAL: expected a positive integer of milliseconds, got "soon"/,
    );
    // disabled telemetry never reads the environment
    assert.equal(
      createTelemetry({
        enabled: false,
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_EXPORTER_OTLP_PROTOCOL: "x" },
      }).enabled,
      false,
    );
  });
});

interface Received {
  path: string;
  contentType: string;
  body: Buffer;
}

async function otlpHttpReceiver(): Promise<{ url: string; requests: Received[]; close: () => Promise<void> }> {
  const requests: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/metrics") {
        res.writeHead(404).end();
        return;
      }
      const contentType = req.headers["content-type"] ?? "";
      requests.push({ path: req.url, contentType, body: Buffer.concat(chunks) });
      // An empty ExportMetricsServiceResponse in the request's encoding.
      if (contentType.includes("json")) res.writeHead(200, { "content-type": "application/json" }).end("{}");
      else res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function recordSome(t: ReturnType<typeof createTelemetry>): void {
  t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.0001);
  t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.0001);
  t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.0001);
  t.recordDecision("zentinel", { allow: false, reason: "not_allowed" }, 0.0002);
}

function assertDecisions(metrics: OtlpMetric[]): void {
  const decisions = metrics.filter((m) => m.name === METRIC.decisions);
  assert.ok(decisions.length > 0, `no ${METRIC.decisions} in ${metrics.map((m) => m.name).join(", ")}`);
  const last = decisions.at(-1) as OtlpMetric;
  assert.equal(last.kind, "sum");
  const point = (decision: string, reason: string, transport: string) =>
    last.points.find(
      (p) =>
        p.attributes["decision"] === decision &&
        p.attributes["reason"] === reason &&
        p.attributes["transport"] === transport,
    )?.value;
  assert.equal(point("allow", "ok", "envoy"), 3);
  assert.equal(point("deny", "not_allowed", "zentinel"), 1);
  const hist = metrics.filter((m) => m.name === METRIC.decisionDuration).at(-1);
  assert.equal(hist?.kind, "histogram");
  assert.equal(hist?.points.find((p) => p.attributes["transport"] === "envoy")?.value, 3);
}

describe("telemetry: OTLP push to a test receiver", () => {
  it("http/protobuf (the default): POST /v1/metrics carries the decision counter", async () => {
    const rx = await otlpHttpReceiver();
    try {
      const t = createTelemetry({ enabled: true, processMetrics: false, env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url } });
      recordSome(t);
      await t.shutdown(); // the final export happens on shutdown
      assert.ok(rx.requests.length >= 1);
      const req = rx.requests.at(-1) as Received;
      assert.equal(req.contentType, "application/x-protobuf");
      assertDecisions(decodeExportMetricsRequest(req.body));
    } finally {
      await rx.close();
    }
  });

  it("http/json via OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, pushed on the interval", async () => {
    const rx = await otlpHttpReceiver();
    try {
      const t = createTelemetry({
        enabled: true,
        processMetrics: false,
        env: {
          OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${rx.url}/v1/metrics`,
          OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json",
          OTEL_METRIC_EXPORT_INTERVAL: "100",
        },
      });
      recordSome(t);
      const deadline = Date.now() + 5000;
      while (rx.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(rx.requests.length >= 1, "no periodic export within 5s");
      const req = rx.requests[0] as Received;
      assert.equal(req.contentType, "application/json");
      assertDecisions(decodeExportMetricsJson(JSON.parse(req.body.toString("utf8"))));
      await t.shutdown();
    } finally {
      await rx.close();
    }
  });

  it("grpc: MetricsService/Export carries the decision counter", async () => {
    const bodies: Buffer[] = [];
    const server = new grpc.Server();
    const raw = (b: Buffer) => b;
    server.addService(
      {
        Export: {
          path: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
          requestStream: false,
          responseStream: false,
          requestSerialize: raw,
          requestDeserialize: raw,
          responseSerialize: raw,
          responseDeserialize: raw,
        },
      },
      {
        Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
          bodies.push(call.request);
          cb(null, Buffer.alloc(0));
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    try {
      const t = createTelemetry({
        enabled: true,
        processMetrics: false,
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" },
      });
      recordSome(t);
      await t.flush();
      assert.ok(bodies.length >= 1);
      assertDecisions(decodeExportMetricsRequest(bodies.at(-1) as Buffer));
      await t.shutdown();
    } finally {
      server.forceShutdown();
    }
  });
});

describe("telemetry: OTLP delta temporality (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta)", () => {
  it("each export carries only what was recorded since the last one, the duration histogram included", async () => {
    const rx = await otlpHttpReceiver();
    // The exporters read the temporality preference from process.env themselves.
    process.env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] = "delta";
    try {
      const t = createTelemetry({
        enabled: true,
        processMetrics: false,
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json" },
      });
      const envoyDurations = async () => {
        await t.flush();
        const body = JSON.parse((rx.requests.at(-1) as Received).body.toString("utf8")) as {
          resourceMetrics: { scopeMetrics: { metrics: { name: string; histogram?: Record<string, unknown> }[] }[] }[];
        };
        const hist = body.resourceMetrics
          .flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
          .find((m) => m.name === METRIC.decisionDuration)?.histogram;
        const point = (hist?.["dataPoints"] as { attributes: { key: string }[]; count: string | number }[]).find((p) =>
          JSON.stringify(p.attributes).includes("envoy"),
        );
        return { temporality: hist?.["aggregationTemporality"], count: Number(point?.count ?? 0) };
      };
      recordSome(t);
      assert.deepEqual(await envoyDurations(), { temporality: 1, count: 3 }); // 1 = AGGREGATION_TEMPORALITY_DELTA
      t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.0003);
      t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.0003);
      assert.deepEqual(await envoyDurations(), { temporality: 1, count: 2 });
      await t.shutdown();
    } finally {
      delete process.env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"];
      await rx.close();
    }
  });
});
