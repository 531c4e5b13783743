// What an operator needs to hear about OTLP push: that it is on, when exports start failing (the first failure,
// then at most once a minute while they keep failing, with how many failed), and when they recover. The
// exporters say nothing themselves (their errors go to OTel's diag logger, silent by default), so a collector
// that is down or never answers would otherwise go unnoticed. An export counts as failed when the exporter
// reports a failure or when no answer came within the export timeout (the reader gives up on it then).
import type { PushMetricExporter, ResourceMetrics } from "@opentelemetry/sdk-metrics";
import type { Logger } from "../log.js";

type ResultCallback = Parameters<PushMetricExporter["export"]>[1];
/** @opentelemetry/core's ExportResultCode.SUCCESS (core is not a direct dependency of ours). */
const SUCCESS = 0;

/** How often, at most, a run of failures is reported again. */
export const FAILURE_REPORT_INTERVAL_MS = 60_000;

export class ReportingExporter implements PushMetricExporter {
  private failing = false;
  private failures = 0;
  private lastReport = 0;
  readonly selectAggregationTemporality?: PushMetricExporter["selectAggregationTemporality"];
  readonly selectAggregation?: PushMetricExporter["selectAggregation"];

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly opts: { log: Logger; endpoint: string; timeoutMs: number; now?: () => number },
  ) {
    // Only what the inner exporter has: the reader treats an absent selector as "use the default".
    if (inner.selectAggregationTemporality)
      this.selectAggregationTemporality = (t) => inner.selectAggregationTemporality!(t);
    if (inner.selectAggregation) this.selectAggregation = (t) => inner.selectAggregation!(t);
  }

  export(metrics: ResourceMetrics, resultCallback: ResultCallback): void {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      this.failed(`no answer within ${this.opts.timeoutMs} ms`);
    }, this.opts.timeoutMs);
    timer.unref();
    this.inner.export(metrics, (result) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        if (result.code === SUCCESS) this.succeeded();
        else this.failed(result.error?.message ?? "export failed");
      }
      resultCallback(result);
    });
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private failed(error: string): void {
    this.failures++;
    const now = this.now();
    if (this.failing && now - this.lastReport < FAILURE_REPORT_INTERVAL_MS) return;
    this.opts.log.warn({ endpoint: this.opts.endpoint, error, failures: this.failures }, "OTLP metrics export failing");
    this.failing = true;
    this.lastReport = now;
  }

  private succeeded(): void {
    if (!this.failing) return;
    this.opts.log.info({ endpoint: this.opts.endpoint, failures: this.failures }, "OTLP metrics export recovered");
    this.failing = false;
    this.failures = 0;
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** Whether `p` settles within `ms`; a rejection in time is thrown, a late one is dropped (no unhandled rejection). */
export async function finishesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
    p.catch(() => {});
  }
}
