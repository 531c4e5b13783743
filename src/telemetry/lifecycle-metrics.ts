// The metrics an operator alerts on rather than graphs: config reloads (how many, how they went, when the config
// in force was loaded), which build runs, and when this service's own SVID and each trust domain's bundle expire.
// Expiry gauges are read at collection from sources the server registers (Telemetry.observe*), like state-gauges.ts.
import type { Counter, Meter } from "@opentelemetry/api";
import { HELP, METRIC, type ConfigReloadResult } from "./metric-names.js";
import type { BundleExpiry, Unsubscribe } from "./telemetry.js";

export interface BuildInfo {
  version: string;
  nodeVersion: string;
}

export class LifecycleMetrics {
  private readonly reloads: Counter;
  private readonly resultAttrs: Record<ConfigReloadResult, { result: ConfigReloadResult }> = {
    success: Object.freeze({ result: "success" }),
    failure: Object.freeze({ result: "failure" }),
  };
  private lastLoadedMs: number;
  private svidSource: (() => Date | undefined) | undefined;
  private bundleSource: (() => Iterable<BundleExpiry>) | undefined;

  constructor(
    meter: Meter,
    build: BuildInfo,
    private readonly now: () => number,
  ) {
    // The config in force was loaded when the process started: the timestamp exists from the first scrape.
    this.lastLoadedMs = now();
    this.reloads = meter.createCounter(METRIC.configReloads, { description: HELP[METRIC.configReloads] });
    // Both results from the start at 0, so increase() over a window works before the first failure.
    this.reloads.add(0, this.resultAttrs.success);
    this.reloads.add(0, this.resultAttrs.failure);
    meter
      .createObservableGauge(METRIC.configLastReload, { description: HELP[METRIC.configLastReload], unit: "s" })
      .addCallback((r) => r.observe(this.lastLoadedMs / 1000));
    const buildAttrs = Object.freeze({ version: build.version, node_version: build.nodeVersion });
    meter
      .createObservableGauge(METRIC.buildInfo, { description: HELP[METRIC.buildInfo] })
      .addCallback((r) => r.observe(1, buildAttrs));
    meter
      .createObservableGauge(METRIC.svidExpiry, { description: HELP[METRIC.svidExpiry], unit: "s" })
      .addCallback((r) => {
        const at = this.svidSource?.();
        if (at) r.observe(at.getTime() / 1000);
      });
    meter
      .createObservableGauge(METRIC.bundleExpiry, { description: HELP[METRIC.bundleExpiry], unit: "s" })
      .addCallback((r) => {
        for (const { trustDomain, expiresAt } of this.bundleSource?.() ?? [])
          r.observe(expiresAt.getTime() / 1000, { trust_domain: trustDomain });
      });
  }

  configReloaded(ok: boolean): void {
    this.reloads.add(1, ok ? this.resultAttrs.success : this.resultAttrs.failure);
    if (ok) this.lastLoadedMs = this.now();
  }

  observeSvidExpiry(cb: () => Date | undefined): Unsubscribe {
    this.svidSource = cb;
    return () => {
      if (this.svidSource === cb) this.svidSource = undefined;
    };
  }

  observeBundleExpiries(cb: () => Iterable<BundleExpiry>): Unsubscribe {
    this.bundleSource = cb;
    return () => {
      if (this.bundleSource === cb) this.bundleSource = undefined;
    };
  }

  close(): void {
    this.svidSource = undefined;
    this.bundleSource = undefined;
  }
}
