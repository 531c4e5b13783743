// The authorizer's own share of the latency through Envoy (bench/envoy-e2e with BENCH_ENVOY_SPLIT=1): the events
// ./stream-split-hook.mjs recorded inside spiffe-authz, cut by the wall-clock windows of its measured steps.
import { readFileSync } from "node:fs";
import { percentile } from "./envoy-verdicts.js";

type Event = [kind: "s" | "gap" | "gc", atMs: number, ms: number, gcKind?: number];

export interface Window {
  rate: number;
  startMs: number;
  endMs: number;
}

export interface SplitRow {
  rate: number;
  streams: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  gaps: number;
  gapMs: number;
  gapMaxMs: number;
  gcMs: number;
  gcMaxMs: number;
  /** Streams of the step's first 500 ms among those over 5 ms, as a share (the warm-up after a chain's idle turn). */
  slowEarlyShare: number;
}

export function splitByRate(file: string, windows: Window[]): SplitRow[] {
  const events = JSON.parse(readFileSync(file, "utf8")) as Event[];
  const rates = [...new Set(windows.map((w) => w.rate))];
  return rates.map((rate) => {
    const ws = windows.filter((w) => w.rate === rate);
    const inside = (e: Event) => ws.find((w) => e[1] >= w.startMs && e[1] <= w.endMs);
    const streams: number[] = [];
    let gaps = 0;
    let gapMs = 0;
    let gapMaxMs = 0;
    let gcMs = 0;
    let gcMaxMs = 0;
    let slow = 0;
    let slowEarly = 0;
    for (const e of events) {
      const w = inside(e);
      if (!w) continue;
      if (e[0] === "s") {
        streams.push(e[2]);
        if (e[2] > 5) {
          slow++;
          if (e[1] - w.startMs < 500) slowEarly++;
        }
      } else if (e[0] === "gap") {
        gaps++;
        gapMs += e[2];
        gapMaxMs = Math.max(gapMaxMs, e[2]);
      } else {
        gcMs += e[2];
        gcMaxMs = Math.max(gcMaxMs, e[2]);
      }
    }
    const sorted = Float64Array.from(streams).sort();
    return {
      rate,
      streams: streams.length,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
      gaps,
      gapMs,
      gapMaxMs,
      gcMs,
      gcMaxMs,
      slowEarlyShare: slow ? slowEarly / slow : 0,
    };
  });
}

export function splitTable(rows: SplitRow[]): string {
  const f = (x: number) => x.toFixed(2);
  return [
    "| offered/s | streams | in-process p50 ms | in-process p99 ms | max ms | loop late > 5 ms: times, total ms, worst ms | GC pauses > 1 ms: total ms, worst ms | share of streams over 5 ms in a step's first 0.5 s |",
    "|---|---:|---:|---:|---:|---|---|---:|",
    ...rows.map(
      (r) =>
        `| ${r.rate} | ${r.streams} | ${f(r.p50Ms)} | ${f(r.p99Ms)} | ${f(r.maxMs)} | ${r.gaps}, ${r.gapMs.toFixed(0)}, ${r.gapMaxMs.toFixed(1)} | ${r.gcMs.toFixed(0)}, ${r.gcMaxMs.toFixed(1)} | ${(r.slowEarlyShare * 100).toFixed(0)} % |`,
    ),
  ].join("\n");
}
