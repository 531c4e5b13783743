// A MetricReader that only answers collect(): /metrics and decisionCounts() pull from it on demand, so
// there is no timer and no second HTTP server (as @opentelemetry/exporter-prometheus would bring).
import { MetricReader } from "@opentelemetry/sdk-metrics";

export class PullMetricReader extends MetricReader {
  // Cumulative temporality and default aggregations (the MetricReader defaults) are what Prometheus expects.
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}
