// What the Zentinel HealthStatus says about us, from the trust sources: no bundles yet means we cannot decide
// (unhealthy); a lost Workload API means we still decide, by the failure policy (degraded).
import type { HealthReport } from "./reports.js";

export interface TrustState {
  /** Decisions are possible (the trust store's ready()). */
  ready(): boolean;
  /** The Workload API streams that delivered are up. */
  readonly workloadApiConnected: boolean;
}

/** `spireUnavailable` is read at each report: failure.spire-unavailable of the config in force. */
export function trustHealth(trust: TrustState, spireUnavailable: () => string): HealthReport {
  if (!trust.ready()) return { state: "unhealthy", message: "no trust bundles yet" };
  if (trust.workloadApiConnected) return { state: "healthy" };
  return { state: "degraded", message: `Workload API lost (${spireUnavailable()})` };
}
