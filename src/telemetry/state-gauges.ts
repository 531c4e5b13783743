// The gauges that describe state rather than count events: bundle ages and trust domains, the Workload API
// connection, the verified-chain cache, open Zentinel streams, enforcement dry-run in force. Each is read at
// collection from a source the server registers (Telemetry.observe*), so nothing is recorded between scrapes.
import type { Meter } from "@opentelemetry/api";
import { HELP, METRIC } from "./metric-names.js";
import type { BundleUpdateTime, CacheCounts, Unsubscribe } from "./telemetry.js";

export interface StateSources {
  /** Set directly when nothing is registered to ask (setWorkloadApiConnected). */
  connected?: boolean | undefined;
  connectedSource?: (() => boolean) | undefined;
  bundleSource?: (() => Iterable<BundleUpdateTime>) | undefined;
  cacheSource?: (() => CacheCounts) | undefined;
  streamsSource?: (() => number) | undefined;
  dryRunSource?: (() => boolean) | undefined;
}

type SourceKey = "connectedSource" | "bundleSource" | "cacheSource" | "streamsSource" | "dryRunSource";

/** Registers `cb` as the source `key`; the returned function unregisters it unless another took its place. */
export function observe<K extends SourceKey>(
  sources: StateSources,
  key: K,
  cb: NonNullable<StateSources[K]>,
): Unsubscribe {
  sources[key] = cb;
  return () => {
    if (sources[key] === cb) sources[key] = undefined;
  };
}

export function registerStateGauges(meter: Meter, sources: StateSources, clock: () => number): void {
  const bundleAge = meter.createObservableGauge(METRIC.bundleAge, { description: HELP[METRIC.bundleAge], unit: "s" });
  const trustDomains = meter.createObservableGauge(METRIC.trustDomains, { description: HELP[METRIC.trustDomains] });
  // One batch callback, so the trust store is asked once per collection for both gauges.
  meter.addBatchObservableCallback(
    (result) => {
      const source = sources.bundleSource;
      if (!source) return;
      const now = clock();
      let count = 0;
      for (const { trustDomain, updatedAt } of source()) {
        count++;
        result.observe(bundleAge, Math.max(0, (now - updatedAt.getTime()) / 1000), { trust_domain: trustDomain });
      }
      result.observe(trustDomains, count);
    },
    [bundleAge, trustDomains],
  );

  meter
    .createObservableGauge(METRIC.workloadApiConnected, { description: HELP[METRIC.workloadApiConnected] })
    .addCallback((result) => {
      const connected = sources.connectedSource ? sources.connectedSource() : sources.connected;
      // Absent until known: a deployment with static bundles only has no Workload API to be down.
      if (connected !== undefined) result.observe(connected ? 1 : 0);
    });

  const hits = meter.createObservableCounter(METRIC.chainCacheHits, { description: HELP[METRIC.chainCacheHits] });
  const misses = meter.createObservableCounter(METRIC.chainCacheMisses, {
    description: HELP[METRIC.chainCacheMisses],
  });
  meter.addBatchObservableCallback(
    (result) => {
      const stats = sources.cacheSource?.();
      if (!stats) return;
      result.observe(hits, stats.hits);
      result.observe(misses, stats.misses);
    },
    [hits, misses],
  );

  // An up-down counter, not a gauge: open streams add up across workers (families.ts sums non-monotonic sums).
  meter
    .createObservableUpDownCounter(METRIC.zentinelStreams, { description: HELP[METRIC.zentinelStreams] })
    .addCallback((result) => {
      const source = sources.streamsSource;
      if (source) result.observe(source());
    });

  // A gauge (max across workers): one worker not enforcing is enough for an alert to see.
  meter
    .createObservableGauge(METRIC.dryRunInForce, { description: HELP[METRIC.dryRunInForce] })
    .addCallback((result) => {
      const source = sources.dryRunSource;
      if (source) result.observe(source() ? 1 : 0);
    });
}
