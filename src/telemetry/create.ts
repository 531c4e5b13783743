// createTelemetry: the single place that builds the MeterProvider, its readers and the process metrics.
import { randomUUID } from "node:crypto";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { InstrumentType, MeterProvider, type IMetricReader, type MetricReader } from "@opentelemetry/sdk-metrics";
import { Registry, collectDefaultMetrics } from "prom-client";
import { DurationHistogram } from "./duration-histogram.js";
import { DURATION_BUCKETS_SECONDS, HELP, METER_NAME, METRIC } from "./metric-names.js";
import { createNoopTelemetry } from "./noop.js";
import { OtelTelemetry } from "./otel.js";
import { createOtlpReader, otlpSettingsFromEnv, type OtlpSettings } from "./otlp.js";
import { PullMetricReader } from "./pull-reader.js";
import type { Telemetry } from "./telemetry.js";
import type { Logger } from "../log.js";

/**
 * How long shutdown waits for the final OTLP export. A collector that never answers would otherwise hold a
 * SIGTERM for the exporter's own timeout (10 s and more); what is not out by then is dropped, and logged.
 */
export const FINAL_EXPORT_TIMEOUT_MS = 1500;

export interface TelemetryOptions {
  enabled: boolean;
  /** Environment for the OTLP settings (default process.env); ignored when `otlp` is given. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Explicit OTLP push settings, or false for none; default from the environment. */
  otlp?: OtlpSettings | false;
  /** prom-client default process metrics on /metrics; default true. */
  processMetrics?: boolean;
  serviceVersion?: string;
  onCollectError?: (errors: unknown[]) => void;
  /** Wall clock in ms, for bundle ages and how often OTLP failures are reported (tests). */
  now?: () => number;
  /** Where OTLP push says it is on, failing, recovered or cut short at shutdown; without it, silent. */
  log?: Logger;
}

/**
 * Builds the process's telemetry. Throws TelemetryConfigError for a bad OTLP environment (unknown
 * protocol, bad interval), which the CLI reports like any bad flag.
 */
export function createTelemetry(opts: TelemetryOptions): Telemetry {
  if (!opts.enabled) return createNoopTelemetry();

  const otlp = opts.otlp === undefined ? otlpSettingsFromEnv(opts.env ?? process.env) : opts.otlp || undefined;

  // service.instance.id keeps the cumulative streams of several workers (or replicas) apart in an OTLP
  // backend; OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (envDetector) override our defaults.
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        "service.name": "spiffe-authz",
        "service.instance.id": randomUUID(),
        ...(opts.serviceVersion ? { "service.version": opts.serviceVersion } : {}),
      }),
    )
    .merge(detectResources({ detectors: [envDetector] }));

  // The decision-duration histogram is ours (duration-histogram.ts); each reader collects it through a producer
  // that asks that reader which temporality it wants.
  const durations = new DurationHistogram({
    name: METRIC.decisionDuration,
    description: HELP[METRIC.decisionDuration],
    boundaries: DURATION_BUCKETS_SECONDS,
    scope: { name: METER_NAME, ...(opts.serviceVersion ? { version: opts.serviceVersion } : {}) },
    resource,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const producerFor = (reader: () => MetricReader) =>
    durations.producer(() => reader().selectAggregationTemporality(InstrumentType.HISTOGRAM));
  const pullReader: PullMetricReader = new PullMetricReader({ metricProducers: [producerFor(() => pullReader)] });
  const readers: IMetricReader[] = [pullReader];
  if (otlp) {
    const pushReader: MetricReader = createOtlpReader(otlp, opts.log, opts.now, [producerFor(() => pushReader)]);
    readers.push(pushReader);
  }

  const meterProvider = new MeterProvider({ resource, readers });
  let processRegistry: Registry | undefined;
  if (opts.processMetrics !== false) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return new OtelTelemetry(meterProvider.getMeter(METER_NAME, opts.serviceVersion), {
    meterProvider,
    pullReader,
    durations,
    processRegistry,
    onCollectError: opts.onCollectError,
    now: opts.now,
    ...(otlp
      ? {
          shutdownTimeoutMs: FINAL_EXPORT_TIMEOUT_MS,
          onShutdownTimeout: () =>
            opts.log?.warn(
              { endpoint: otlp.url, timeoutMs: FINAL_EXPORT_TIMEOUT_MS },
              "OTLP final export did not finish in time; dropped",
            ),
        }
      : {}),
    build: { version: opts.serviceVersion ?? "unknown", nodeVersion: process.version },
  });
}
