// Telemetry on OpenTelemetry: instruments are created through @opentelemetry/api on a MeterProvider whose
// readers are a pull reader (for /metrics, decisionCounts) and, when configured, an OTLP push reader.
// Process metrics come from prom-client's defaults on a private registry and are appended to snapshots.
import type { Attributes, Counter, Meter } from "@opentelemetry/api";
import { DataPointType, type MeterProvider } from "@opentelemetry/sdk-metrics";
import type { Registry } from "prom-client";
import type { Reason, Transport } from "../engine/contract.js";
import { DecisionTally } from "./decision-tally.js";
import { serialize } from "./exposition.js";
import type { DurationHistogram } from "./duration-histogram.js";
import { HELP, METRIC, type BundleUpdateSource } from "./metric-names.js";
import type { PullMetricReader } from "./pull-reader.js";
import { observe, registerStateGauges, type StateSources } from "./state-gauges.js";
import { LifecycleMetrics, type BuildInfo } from "./lifecycle-metrics.js";
import { finishesWithin } from "./otlp-reporting.js";
import { familiesFromOtel, familiesFromPromClient, type MetricFamily, type MetricsSnapshot } from "./families.js";
import type {
  BundleExpiry,
  BundleUpdateTime,
  CacheCounts,
  DecisionCount,
  DecisionOutcome,
  Telemetry,
  Unsubscribe,
} from "./telemetry.js";

const BUNDLE_SOURCES: readonly BundleUpdateSource[] = ["spire", "file"];

export interface OtelTelemetryOptions {
  meterProvider: MeterProvider;
  pullReader: PullMetricReader;
  /** spiffe_authz_decision_duration_seconds; the readers collect it through its producers (create.ts). */
  durations: DurationHistogram;
  /** prom-client registry with the process metrics, if any. */
  processRegistry?: Registry;
  /** Told about failures inside collection (a throwing observe callback); collection goes on. */
  onCollectError?: (errors: unknown[]) => void;
  /** Wall clock in ms, for bundle ages and the last config reload. */
  now?: () => number;
  /** spiffe_authz_build_info's labels. */
  build: BuildInfo;
  /** Shutdown waits this long for the readers' final export, then goes on without it (onShutdownTimeout). */
  shutdownTimeoutMs?: number;
  onShutdownTimeout?: () => void;
}

export class OtelTelemetry implements Telemetry {
  readonly enabled = true;
  private readonly meterProvider: MeterProvider;
  private readonly reader: PullMetricReader;
  private readonly processRegistry: Registry | undefined;
  private readonly onCollectError: ((errors: unknown[]) => void) | undefined;
  private readonly now: () => number;
  private readonly durations: DurationHistogram;
  private readonly bundleUpdates: Counter;
  private readonly decisions: DecisionTally;
  private readonly sourceAttrs: Record<BundleUpdateSource, Attributes>;
  private closed: Promise<void> | undefined;
  /** What the state gauges read at collection (state-gauges.ts). */
  private readonly sources: StateSources = {};
  private readonly lifecycle: LifecycleMetrics;

  constructor(
    meter: Meter,
    private readonly opts: OtelTelemetryOptions,
  ) {
    this.meterProvider = opts.meterProvider;
    this.reader = opts.pullReader;
    this.processRegistry = opts.processRegistry;
    this.onCollectError = opts.onCollectError;
    this.now = opts.now ?? Date.now;

    this.durations = opts.durations;
    this.bundleUpdates = meter.createCounter(METRIC.bundleUpdates, { description: HELP[METRIC.bundleUpdates] });

    this.decisions = new DecisionTally(meter);

    this.sourceAttrs = { spire: Object.freeze({ source: "spire" }), file: Object.freeze({ source: "file" }) };
    for (const source of BUNDLE_SOURCES) this.bundleUpdates.add(0, this.sourceAttrs[source]);

    registerStateGauges(meter, this.sources, this.now);
    this.lifecycle = new LifecycleMetrics(meter, opts.build, this.now);
  }

  recordDecision(transport: Transport, decision: DecisionOutcome, seconds: number): void {
    this.decisions.count(transport, decision);
    this.durations.record(String(transport), seconds);
  }

  readonly onDecision = (req: { transport: Transport }, decision: DecisionOutcome, durationSeconds: number): void => {
    this.recordDecision(req.transport, decision, durationSeconds);
  };

  setWorkloadApiConnected(connected: boolean): void {
    this.sources.connected = connected;
  }

  observeWorkloadApi(cb: () => boolean): Unsubscribe {
    return observe(this.sources, "connectedSource", cb);
  }

  bundleUpdated(source: BundleUpdateSource): void {
    this.bundleUpdates.add(1, this.sourceAttrs[source] ?? { source: String(source) });
  }

  observeBundles(cb: () => Iterable<BundleUpdateTime>): Unsubscribe {
    return observe(this.sources, "bundleSource", cb);
  }

  observeCache(cb: () => CacheCounts): Unsubscribe {
    return observe(this.sources, "cacheSource", cb);
  }

  observeZentinelStreams(cb: () => number): Unsubscribe {
    return observe(this.sources, "streamsSource", cb);
  }

  configReloaded(ok: boolean): void {
    this.lifecycle.configReloaded(ok);
  }

  observeSvidExpiry(cb: () => Date | undefined): Unsubscribe {
    return this.lifecycle.observeSvidExpiry(cb);
  }

  observeBundleExpiries(cb: () => Iterable<BundleExpiry>): Unsubscribe {
    return this.lifecycle.observeBundleExpiries(cb);
  }

  observeDryRun(cb: () => boolean): Unsubscribe {
    return observe(this.sources, "dryRunSource", cb);
  }

  private async otelFamilies(): Promise<MetricFamily[]> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) this.onCollectError?.(errors);
    return familiesFromOtel(resourceMetrics);
  }

  async snapshot(): Promise<MetricsSnapshot> {
    const [otel, processFamilies] = await Promise.all([
      this.otelFamilies(),
      this.processRegistry ? familiesFromPromClient(this.processRegistry) : Promise.resolve([]),
    ]);
    return { pid: process.pid, families: [...otel, ...processFamilies] };
  }

  async metricsText(): Promise<string> {
    return serialize((await this.snapshot()).families);
  }

  async decisionCounts(): Promise<DecisionCount[]> {
    const { resourceMetrics } = await this.reader.collect();
    const out: DecisionCount[] = [];
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== METRIC.decisions || metric.dataPointType !== DataPointType.SUM) continue;
        for (const dp of metric.dataPoints) {
          const a = dp.attributes;
          out.push({
            decision: a["decision"] === "allow" ? "allow" : "deny",
            reason: a["reason"] as Reason,
            transport: a["transport"] as Transport,
            value: dp.value,
          });
        }
      }
    }
    return out;
  }

  async flush(): Promise<void> {
    if (this.closed) return;
    await this.meterProvider.forceFlush();
  }

  shutdown(): Promise<void> {
    this.closed ??= (async () => {
      this.sources.bundleSource = undefined;
      this.sources.cacheSource = undefined;
      this.sources.connectedSource = undefined;
      this.sources.streamsSource = undefined;
      this.lifecycle.close();
      this.sources.dryRunSource = undefined;
      try {
        // Bounded (create.ts): an OTLP collector that never answers must not hold a SIGTERM for its timeout.
        const done = this.meterProvider.shutdown();
        const limit = this.opts.shutdownTimeoutMs;
        if (limit === undefined) await done;
        else if (!(await finishesWithin(done, limit))) this.opts.onShutdownTimeout?.();
      } finally {
        this.processRegistry?.clear();
      }
    })();
    return this.closed;
  }
}
