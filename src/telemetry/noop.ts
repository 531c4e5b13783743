// Telemetry switched off: the same interface, nothing recorded, nothing exported.
import type { Telemetry } from "./telemetry.js";

const nothing = (): void => {};
const unsubscribe = (): (() => void) => nothing;

export function createNoopTelemetry(): Telemetry {
  return {
    enabled: false,
    recordDecision: nothing,
    onDecision: nothing,
    setWorkloadApiConnected: nothing,
    observeWorkloadApi: unsubscribe,
    bundleUpdated: nothing,
    observeBundles: unsubscribe,
    observeCache: unsubscribe,
    observeZentinelStreams: unsubscribe,
    configReloaded: nothing,
    observeSvidExpiry: unsubscribe,
    observeBundleExpiries: unsubscribe,
    observeDryRun: unsubscribe,
    snapshot: async () => ({ pid: process.pid, families: [] }),
    metricsText: async () => "",
    decisionCounts: async () => [],
    flush: async () => {},
    shutdown: async () => {},
  };
}
