// Telemetry on OpenTelemetry: instruments are created through @opentelemetry/api on a MeterProvider whose
// readers are a pull reader (for /metrics, decisionCounts) and, when configured, an OTLP push reader.
// Process metrics come from prom-client's defaults on a private registry and are appended to snapshots.
import type { Attributes, Counter, Histogram, Meter, ObservableResult } from "@opentelemetry/api";
import { DataPointType, type MeterProvider } from "@opentelemetry/sdk-metrics";
import type { Registry } from "prom-client";
import { REASONS, type Reason, type Transport } from "../engine/contract.js";
import { serialize } from "./exposition.js";
import { DURATION_BUCKETS_SECONDS, HELP, METRIC, type BundleUpdateSource } from "./metric-names.js";
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

const TRANSPORTS: readonly Transport[] = ["envoy", "zentinel"];
const TRANSPORT_INDEX: Record<Transport, number> = { envoy: 0, zentinel: 1 };
const REASON_INDEX = Object.fromEntries(REASONS.map((r, i) => [r, i])) as Record<Reason, number>;
const ALLOW_REASONS: ReadonlySet<Reason> = new Set<Reason>(["ok", "fail_open", "log_and_allow"]);
const BUNDLE_SOURCES: readonly BundleUpdateSource[] = ["spire", "file"];

/** Slot of (transport, allow, reason) in the decision tally. */
function slot(transportIndex: number, allow: boolean, reasonIndex: number): number {
  return (transportIndex * 2 + (allow ? 1 : 0)) * REASONS.length + reasonIndex;
}

export interface OtelTelemetryOptions {
  meterProvider: MeterProvider;
  pullReader: PullMetricReader;
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
  private readonly duration: Histogram;
  private readonly bundleUpdates: Counter;
  // The decision counter's state: one slot per (transport, allow, reason) of the closed sets, reported by
  // an observable counter at collection. A synchronous Counter.add hashes its attribute set on every
  // call (~2 µs for three attributes, see bench/RESULTS.md); an array increment is a few ns.
  private readonly tally = new Float64Array(TRANSPORTS.length * 2 * REASONS.length);
  // The same for decisions under enforcement dry-run, by would-be outcome: never mixed into the enforced ones.
  private readonly dryTally = new Float64Array(TRANSPORTS.length * 2 * REASONS.length);
  private readonly drySlotAttrs: Attributes[] = [];
  // Attribute objects built once for every slot (and the histogram's transport), so recording allocates nothing.
  private readonly slotAttrs: Attributes[] = [];
  private readonly durationAttrs: Attributes[] = TRANSPORTS.map((transport) => Object.freeze({ transport }));
  /** Outcomes outside the closed sets (only reachable from untyped callers): counted, not dropped. */
  private readonly oddTally = new Map<string, { attrs: Attributes; value: number; dry: boolean }>();
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

    this.duration = meter.createHistogram(METRIC.decisionDuration, {
      description: HELP[METRIC.decisionDuration],
      unit: "s",
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
    });
    this.bundleUpdates = meter.createCounter(METRIC.bundleUpdates, { description: HELP[METRIC.bundleUpdates] });

    // Series of the outcome each reason has are reported from the start at 0, so rates and ratios exist
    // from the first scrape; other slots appear once non-zero.
    const natural: boolean[] = [];
    for (const transport of TRANSPORTS) {
      for (const allow of [false, true]) {
        for (const reason of REASONS) {
          const i = slot(TRANSPORT_INDEX[transport], allow, REASON_INDEX[reason]);
          this.slotAttrs[i] = Object.freeze({ decision: allow ? "allow" : "deny", reason, transport });
          this.drySlotAttrs[i] = Object.freeze({ would: allow ? "allow" : "deny", reason, transport });
          natural[i] = allow === ALLOW_REASONS.has(reason);
        }
      }
    }
    meter
      .createObservableCounter(METRIC.decisions, { description: HELP[METRIC.decisions] })
      .addCallback((result: ObservableResult) => {
        const tally = this.tally;
        for (let i = 0; i < tally.length; i++) {
          const v = tally[i] ?? 0;
          if (v > 0 || natural[i]) result.observe(v, this.slotAttrs[i]);
        }
        for (const { attrs, value, dry } of this.oddTally.values()) if (!dry) result.observe(value, attrs);
      });
    // Only what was counted: most deployments never run dry-run, and its series need no zeros to start from.
    meter
      .createObservableCounter(METRIC.dryRunDecisions, { description: HELP[METRIC.dryRunDecisions] })
      .addCallback((result: ObservableResult) => {
        const tally = this.dryTally;
        for (let i = 0; i < tally.length; i++) if ((tally[i] ?? 0) > 0) result.observe(tally[i]!, this.drySlotAttrs[i]);
        for (const { attrs, value, dry } of this.oddTally.values()) if (dry) result.observe(value, attrs);
      });

    this.sourceAttrs = { spire: Object.freeze({ source: "spire" }), file: Object.freeze({ source: "file" }) };
    for (const source of BUNDLE_SOURCES) this.bundleUpdates.add(0, this.sourceAttrs[source]);

    registerStateGauges(meter, this.sources, this.now);
    this.lifecycle = new LifecycleMetrics(meter, opts.build, this.now);
  }

  recordDecision(transport: Transport, decision: DecisionOutcome, seconds: number): void {
    const ti = TRANSPORT_INDEX[transport];
    const ri = REASON_INDEX[decision.reason];
    // typeof, not `=== undefined`: an untyped caller's "toString" would find Object.prototype's.
    if (typeof ti !== "number" || typeof ri !== "number") return this.recordOdd(transport, decision, seconds);
    const verdict = decision.dryRun;
    if (verdict === undefined) {
      const i = slot(ti, decision.allow, ri);
      this.tally[i] = (this.tally[i] ?? 0) + 1;
    } else {
      const i = slot(ti, verdict.allow, ri);
      this.dryTally[i] = (this.dryTally[i] ?? 0) + 1;
    }
    this.duration.record(seconds, this.durationAttrs[ti]);
  }

  private recordOdd(transport: Transport, decision: DecisionOutcome, seconds: number): void {
    const dry = decision.dryRun !== undefined;
    const outcome = (dry ? decision.dryRun!.allow : decision.allow) ? "allow" : "deny";
    const attrs = {
      [dry ? "would" : "decision"]: outcome,
      reason: String(decision.reason),
      transport: String(transport),
    };
    const key = JSON.stringify(attrs);
    const entry = this.oddTally.get(key);
    if (entry) entry.value++;
    else this.oddTally.set(key, { attrs, value: 1, dry });
    this.duration.record(seconds, { transport: attrs.transport });
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
