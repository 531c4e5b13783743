// A process's metrics as plain JSON-able data: what /metrics serialises, what a cluster primary would
// receive from each worker over IPC and merge (aggregate.ts), and what the Zentinel MetricsReport reads.
import { DataPointType, type MetricData, type ResourceMetrics } from "@opentelemetry/sdk-metrics";
import type { Registry } from "prom-client";
import { METRIC } from "./metric-names.js";

export type FamilyType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

/**
 * How a family's samples combine across worker processes; the same words prom-client's cluster
 * aggregation uses, so its default process metrics keep their own hints (e.g. start time: omit).
 */
export type Aggregator = "sum" | "first" | "min" | "max" | "average" | "omit";

export interface Sample {
  /** Full sample name: the family name, or `<family>_bucket|_sum|_count` for histograms. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: FamilyType;
  aggregator: Aggregator;
  samples: Sample[];
}

export interface MetricsSnapshot {
  pid: number;
  families: MetricFamily[];
}

/**
 * Cross-worker merge of our gauges: the worst value wins, because that is what an alert needs to see.
 * One worker with a stale bundle or a dropped Workload API stream denies its share of requests, so
 * age → max, connected → min, trust domains → min. Counters and histograms add up (config reloads too: each
 * worker re-reads the file, so one SIGHUP with N workers counts N).
 */
const GAUGE_AGGREGATOR: Record<string, Aggregator> = {
  [METRIC.bundleAge]: "max",
  [METRIC.workloadApiConnected]: "min",
  [METRIC.trustDomains]: "min",
  // The oldest config in force, the SVID and bundle that expire first: what an alert must see.
  [METRIC.configLastReload]: "min",
  [METRIC.svidExpiry]: "min",
  [METRIC.bundleExpiry]: "min",
};

const INVALID_NAME_CHARS = /[^a-zA-Z0-9_:]/g;
const INVALID_LABEL_CHARS = /[^a-zA-Z0-9_]/g;

function labelsOf(attributes: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(attributes)) {
    const v = attributes[key];
    if (v === undefined) continue;
    out[key.replace(INVALID_LABEL_CHARS, "_")] = Array.isArray(v) ? JSON.stringify(v) : String(v);
  }
  return out;
}

function familyOf(metric: MetricData): MetricFamily | undefined {
  const name = metric.descriptor.name.replace(INVALID_NAME_CHARS, "_");
  const help = metric.descriptor.description;
  switch (metric.dataPointType) {
    case DataPointType.SUM: {
      const type: FamilyType = metric.isMonotonic ? "counter" : "gauge";
      const aggregator = type === "counter" ? "sum" : (GAUGE_AGGREGATOR[name] ?? "sum");
      const samples = metric.dataPoints.map((dp) => ({ name, labels: labelsOf(dp.attributes), value: dp.value }));
      return { name, help, type, aggregator, samples };
    }
    case DataPointType.GAUGE: {
      const samples = metric.dataPoints.map((dp) => ({ name, labels: labelsOf(dp.attributes), value: dp.value }));
      return { name, help, type: "gauge", aggregator: GAUGE_AGGREGATOR[name] ?? "max", samples };
    }
    case DataPointType.HISTOGRAM: {
      const samples: Sample[] = [];
      for (const dp of metric.dataPoints) {
        const labels = labelsOf(dp.attributes);
        const { boundaries, counts } = dp.value.buckets;
        // OTel counts are per bucket; Prometheus buckets are cumulative and end with +Inf = count.
        let cumulative = 0;
        for (let i = 0; i < boundaries.length; i++) {
          cumulative += counts[i] ?? 0;
          samples.push({ name: `${name}_bucket`, labels: { ...labels, le: String(boundaries[i]) }, value: cumulative });
        }
        samples.push({ name: `${name}_bucket`, labels: { ...labels, le: "+Inf" }, value: dp.value.count });
        samples.push({ name: `${name}_sum`, labels, value: dp.value.sum ?? 0 });
        samples.push({ name: `${name}_count`, labels, value: dp.value.count });
      }
      return { name, help, type: "histogram", aggregator: "sum", samples };
    }
    default:
      // Exponential histograms have no Prometheus text form; we never configure one.
      return undefined;
  }
}

/** OTel collection result → families (cumulative temporality assumed, as the pull reader uses). */
export function familiesFromOtel(rm: ResourceMetrics): MetricFamily[] {
  const out: MetricFamily[] = [];
  for (const scope of rm.scopeMetrics) {
    for (const metric of scope.metrics) {
      const family = familyOf(metric);
      if (family && family.samples.length > 0) out.push(family);
    }
  }
  return out;
}

const FAMILY_TYPES = new Set<string>(["counter", "gauge", "histogram", "summary"]);
const AGGREGATORS = new Set<string>(["sum", "first", "min", "max", "average", "omit"]);

/** prom-client registry → families (its process metrics). */
export async function familiesFromPromClient(registry: Registry): Promise<MetricFamily[]> {
  const json = await registry.getMetricsAsJSON();
  return json.map((m) => {
    // prom-client's typings say `type: MetricType` (an enum), but the runtime value is the text name.
    const type = String(m.type);
    const aggregator = String(m.aggregator);
    return {
      name: m.name,
      help: m.help,
      type: (FAMILY_TYPES.has(type) ? type : "untyped") as FamilyType,
      aggregator: (AGGREGATORS.has(aggregator) ? aggregator : "sum") as Aggregator,
      samples: m.values.map((v) => ({
        name: (v as { metricName?: string }).metricName ?? m.name,
        labels: labelsOf(v.labels),
        value: v.value,
      })),
    };
  });
}
