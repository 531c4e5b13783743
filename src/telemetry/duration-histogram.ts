// spiffe_authz_decision_duration_seconds kept by us and handed to each metric reader as a MetricProducer.
// The SDK's synchronous Histogram.record hashes the attribute set (sorted keys, JSON) and reads the clock on every
// call; once per decision that was most of what telemetry cost a warm Check (bench/RESULTS.md). Here a record is a
// bucket search and a few additions into arrays built once per transport, and the data point is built at collection,
// in the temporality the reader asks for.
import type { Attributes, HrTime } from "@opentelemetry/api";
import { ValueType } from "@opentelemetry/api";
import type { Resource } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricProducer,
} from "@opentelemetry/sdk-metrics";

/** Milliseconds since the epoch as OTel's [seconds, nanoseconds]. */
function hrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

interface Series {
  attrs: Attributes;
  /** Per bucket (not cumulative): counts[i] holds values in (boundaries[i-1], boundaries[i]]; the last is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
  min: number;
  max: number;
  /** When this series saw its first value (the cumulative start time). */
  start: HrTime;
}

export interface DurationHistogramOptions {
  name: string;
  description: string;
  boundaries: readonly number[];
  /** The instrumentation scope the data points are reported under (the service's meter). */
  scope: { name: string; version?: string };
  resource: Resource;
  /** Wall clock in ms (tests). */
  now?: () => number;
}

/** One explicit-bucket histogram with a single `transport` attribute. */
export class DurationHistogram {
  private readonly series = new Map<string, Series>();
  private readonly boundaries: readonly number[];
  private readonly now: () => number;

  constructor(private readonly opts: DurationHistogramOptions) {
    this.boundaries = [...opts.boundaries];
    this.now = opts.now ?? Date.now;
  }

  /** Records one duration. As the SDK's histogram: NaN and negative values are dropped. */
  record(transport: string, seconds: number): void {
    if (!(seconds >= 0)) return;
    let s = this.series.get(transport);
    if (s === undefined) {
      s = {
        attrs: Object.freeze({ transport }),
        counts: new Float64Array(this.boundaries.length + 1),
        sum: 0,
        count: 0,
        min: Infinity,
        max: -Infinity,
        start: hrTime(this.now()),
      };
      this.series.set(transport, s);
    }
    const b = this.boundaries;
    let i = 0;
    while (i < b.length && (b[i] as number) < seconds) i++;
    s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += seconds;
    s.count++;
    if (seconds < s.min) s.min = seconds;
    if (seconds > s.max) s.max = seconds;
  }

  /**
   * A producer for one reader. `temporality` is asked at each collection (a push reader's exporter chooses it).
   * Delta points carry no min/max: they are optional in OTLP, and keeping them per interval would cost every
   * record a second pair of comparisons per reader.
   */
  producer(temporality: () => AggregationTemporality): MetricProducer {
    const last = new Map<string, { counts: Float64Array; sum: number; count: number; at: HrTime }>();
    return {
      collect: async (): Promise<CollectionResult> => {
        const end = hrTime(this.now());
        const delta = temporality() === AggregationTemporality.DELTA;
        const dataPoints: DataPoint<Histogram>[] = [];
        for (const [transport, s] of this.series) {
          if (!delta) {
            dataPoints.push(this.point(s, s.start, end, Array.from(s.counts), s.sum, s.count, true));
            continue;
          }
          const prev = last.get(transport);
          const counts = Array.from(s.counts, (c, i) => c - (prev?.counts[i] ?? 0));
          dataPoints.push(
            this.point(
              s,
              prev?.at ?? s.start,
              end,
              counts,
              s.sum - (prev?.sum ?? 0),
              s.count - (prev?.count ?? 0),
              false,
            ),
          );
          last.set(transport, { counts: Float64Array.from(s.counts), sum: s.sum, count: s.count, at: end });
        }
        const metrics =
          dataPoints.length === 0
            ? []
            : [
                {
                  descriptor: {
                    name: this.opts.name,
                    description: this.opts.description,
                    unit: "s",
                    valueType: ValueType.DOUBLE,
                  },
                  aggregationTemporality: delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
                  dataPointType: DataPointType.HISTOGRAM as const,
                  dataPoints,
                },
              ];
        return {
          resourceMetrics: { resource: this.opts.resource, scopeMetrics: [{ scope: this.opts.scope, metrics }] },
          errors: [],
        };
      },
    };
  }

  private point(
    s: Series,
    startTime: HrTime,
    endTime: HrTime,
    counts: number[],
    sum: number,
    count: number,
    minMax: boolean,
  ): DataPoint<Histogram> {
    return {
      attributes: s.attrs,
      startTime,
      endTime,
      value: {
        buckets: { boundaries: [...this.boundaries], counts },
        sum,
        count,
        ...(minMax ? { min: s.min, max: s.max } : {}),
      },
    };
  }
}
