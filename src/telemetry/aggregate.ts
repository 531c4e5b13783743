// Merging the snapshots of several worker processes into one /metrics answer (for a node:cluster
// primary). Each family carries its own rule (families.ts): counters and histogram series add up, our
// gauges keep the worst value across workers, and prom-client's process metrics keep prom-client's hints
// (start time omitted, version first, event-loop lag averaged, counters summed). Gauges are merged rather
// than labelled per worker so that queries and alerts read the same with one process or many.
import { serialize } from "./exposition.js";
import type { Aggregator, MetricFamily, MetricsSnapshot, Sample } from "./families.js";

const COMBINE: Record<Exclude<Aggregator, "omit">, (values: number[]) => number> = {
  sum: (v) => v.reduce((a, b) => a + b, 0),
  first: (v) => v[0] ?? 0,
  min: (v) => Math.min(...v),
  max: (v) => Math.max(...v),
  average: (v) => v.reduce((a, b) => a + b, 0) / v.length,
};

function sampleKey(s: Sample): string {
  const keys = Object.keys(s.labels).sort();
  return JSON.stringify([s.name, ...keys.map((k) => [k, s.labels[k]])]);
}

/** Merges families by name (first snapshot's HELP, TYPE and rule win); sample order is first-seen. */
export function mergeSnapshots(snapshots: readonly MetricsSnapshot[]): MetricFamily[] {
  const byName = new Map<string, MetricFamily[]>();
  for (const snap of snapshots) {
    for (const f of snap.families) {
      const list = byName.get(f.name);
      if (list) list.push(f);
      else byName.set(f.name, [f]);
    }
  }
  const out: MetricFamily[] = [];
  for (const list of byName.values()) {
    const head = list[0];
    if (!head || head.aggregator === "omit") continue;
    const combine = COMBINE[head.aggregator];
    const groups = new Map<string, { sample: Sample; values: number[] }>();
    for (const f of list) {
      for (const s of f.samples) {
        const key = sampleKey(s);
        const g = groups.get(key);
        if (g) g.values.push(s.value);
        else groups.set(key, { sample: s, values: [s.value] });
      }
    }
    const samples = [...groups.values()].map(({ sample, values }) => ({ ...sample, value: combine(values) }));
    out.push({ ...head, samples });
  }
  return out;
}

/** Worker snapshots → one Prometheus text answer. */
export function aggregate(snapshots: readonly MetricsSnapshot[]): string {
  return serialize(mergeSnapshots(snapshots));
}
