// OTLP metrics push, configured by the standard OTel environment variables:
//   OTEL_EXPORTER_OTLP_METRICS_ENDPOINT (used as is) or OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/metrics for HTTP)
//   OTEL_EXPORTER_OTLP_METRICS_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL: grpc | http/protobuf (default) | http/json
//   OTEL_METRIC_EXPORT_INTERVAL (ms, default 60000), OTEL_METRIC_EXPORT_TIMEOUT (ms, default 30000)
// Headers, compression, TLS files and temporality preference are read by the exporters themselves.
import { createRequire } from "node:module";
import type * as GrpcExporters from "@opentelemetry/exporter-metrics-otlp-grpc";
import type * as HttpExporters from "@opentelemetry/exporter-metrics-otlp-http";
import type * as ExporterBase from "@opentelemetry/otlp-exporter-base/node-http";
import type * as Transformer from "@opentelemetry/otlp-transformer";
import {
  PeriodicExportingMetricReader,
  type MetricProducer,
  type PushMetricExporter,
} from "@opentelemetry/sdk-metrics";
import type { Logger } from "../log.js";
import { ReportingExporter } from "./otlp-reporting.js";

// The exporters (and the OTLP transformer/gRPC stack under them) take longer to load than the rest of the
// server together, and most deployments scrape /metrics instead. So they are loaded only when OTLP push is
// configured, synchronously through require (every package here ships CommonJS), which keeps
// createTelemetry synchronous. Types come from the ESM declarations; the runtime shapes are the same.
const load = createRequire(import.meta.url);

export type OtlpProtocol = "grpc" | "http/protobuf" | "http/json";
const PROTOCOLS: readonly string[] = ["grpc", "http/protobuf", "http/json"];

export class TelemetryConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = "TelemetryConfigError";
  }
}

export interface OtlpSettings {
  protocol: OtlpProtocol;
  url: string;
  intervalMillis: number;
  timeoutMillis: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function envValue(env: Env, key: string): string | undefined {
  const v = env[key]?.trim();
  return v ? v : undefined;
}

function positiveInt(env: Env, key: string, fallback: number): number {
  const raw = envValue(env, key);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new TelemetryConfigError(key, `expected a positive integer of milliseconds, got "${raw}"`);
  return n;
}

/** The OTLP push settings the environment asks for, or undefined when no endpoint is set. */
export function otlpSettingsFromEnv(env: Env = process.env): OtlpSettings | undefined {
  const signalEndpoint = envValue(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
  const endpoint = envValue(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  if (signalEndpoint === undefined && endpoint === undefined) return undefined;

  const protocolKey =
    envValue(env, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") !== undefined
      ? "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
      : "OTEL_EXPORTER_OTLP_PROTOCOL";
  const protocol = envValue(env, protocolKey) ?? "http/protobuf"; // the spec's default
  if (!PROTOCOLS.includes(protocol)) {
    throw new TelemetryConfigError(
      protocolKey,
      `unknown OTLP protocol "${protocol}" (expected grpc, http/protobuf or http/json)`,
    );
  }

  // Per the spec, the signal-specific endpoint is the full URL; the generic one is a base that HTTP
  // exporters extend with the signal path, while gRPC uses it as the target.
  let url: string;
  if (signalEndpoint !== undefined) url = signalEndpoint;
  else if (protocol === "grpc") url = endpoint as string;
  else url = `${(endpoint as string).replace(/\/+$/, "")}/v1/metrics`;

  const intervalMillis = positiveInt(env, "OTEL_METRIC_EXPORT_INTERVAL", 60_000);
  // PeriodicExportingMetricReader rejects a timeout longer than the interval.
  const timeoutMillis = Math.min(positiveInt(env, "OTEL_METRIC_EXPORT_TIMEOUT", 30_000), intervalMillis);
  return { protocol: protocol as OtlpProtocol, url, intervalMillis, timeoutMillis };
}

// http/protobuf is what @opentelemetry/exporter-metrics-otlp-proto does in ten lines with these
// packages; they are already installed as dependencies of the exporters (same 0.301.0 release).
function protobufHttpExporter(url: string): PushMetricExporter {
  const { OTLPMetricExporterBase } = load("@opentelemetry/exporter-metrics-otlp-http") as typeof HttpExporters;
  const { convertLegacyHttpOptions, createOtlpHttpExportDelegate } = load(
    "@opentelemetry/otlp-exporter-base/node-http",
  ) as typeof ExporterBase;
  const { MetricsExporterMetricsHelper, ProtobufMetricsSerializer } = load(
    "@opentelemetry/otlp-transformer",
  ) as typeof Transformer;
  return new OTLPMetricExporterBase(
    createOtlpHttpExportDelegate(
      convertLegacyHttpOptions({ url }, "METRICS", "v1/metrics", { "Content-Type": "application/x-protobuf" }),
      ProtobufMetricsSerializer,
      "otlp_http_metric_exporter",
      MetricsExporterMetricsHelper,
      undefined,
    ),
  );
}

export function createOtlpExporter(settings: OtlpSettings): PushMetricExporter {
  switch (settings.protocol) {
    case "grpc": {
      const { OTLPMetricExporter } = load("@opentelemetry/exporter-metrics-otlp-grpc") as typeof GrpcExporters;
      return new OTLPMetricExporter({ url: settings.url });
    }
    case "http/json": {
      const { OTLPMetricExporter } = load("@opentelemetry/exporter-metrics-otlp-http") as typeof HttpExporters;
      return new OTLPMetricExporter({ url: settings.url });
    }
    case "http/protobuf":
      return protobufHttpExporter(settings.url);
  }
}

/** The push reader; with `log`, it says that export is on and reports failing and recovering exports. */
export function createOtlpReader(
  settings: OtlpSettings,
  log?: Logger,
  now?: () => number,
  metricProducers: MetricProducer[] = [],
): PeriodicExportingMetricReader {
  let exporter = createOtlpExporter(settings);
  if (log) {
    log.info(
      { endpoint: settings.url, protocol: settings.protocol, intervalMs: settings.intervalMillis },
      "OTLP metrics export on",
    );
    const report = { log, endpoint: settings.url, timeoutMs: settings.timeoutMillis, ...(now ? { now } : {}) };
    exporter = new ReportingExporter(exporter, report);
  }
  return new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: settings.intervalMillis,
    exportTimeoutMillis: settings.timeoutMillis,
    metricProducers,
  });
}
