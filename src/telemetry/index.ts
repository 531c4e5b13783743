export { createTelemetry, type TelemetryOptions } from "./create.js";
export type * from "./telemetry.js";
export { createNoopTelemetry } from "./noop.js";
export {
  MetricsListenError,
  startMetricsServer,
  type MetricsServer,
  type MetricsServerOptions,
  type MetricsSource,
} from "./http.js";
export { aggregate, mergeSnapshots } from "./aggregate.js";
export { serialize, PROMETHEUS_CONTENT_TYPE } from "./exposition.js";
export type { Aggregator, FamilyType, MetricFamily, MetricsSnapshot, Sample } from "./families.js";
export { METRIC, DURATION_BUCKETS_SECONDS, type BundleUpdateSource } from "./metric-names.js";
export { TelemetryConfigError, otlpSettingsFromEnv, type OtlpProtocol, type OtlpSettings } from "./otlp.js";
export { clusterMetricsSource, collectWorkerSnapshots, serveSnapshotsToPrimary } from "./worker-metrics.js";
