// The decision counters' state: spiffe_authz_decisions_total (enforced decisions) and
// spiffe_authz_dry_run_decisions_total (decisions under enforcement dry-run, by would-be outcome), never mixed.
// One slot per (transport, outcome, reason) of the closed sets, reported by observable counters at collection:
// a synchronous Counter.add hashes its attribute set on every call (~2 µs for three attributes, see
// bench/RESULTS.md); an array increment is a few ns, and the slots' attribute objects are built once.
import type { Attributes, Meter, ObservableResult } from "@opentelemetry/api";
import { REASONS, type Reason, type Transport } from "../engine/contract.js";
import { HELP, METRIC } from "./metric-names.js";
import type { DecisionOutcome } from "./telemetry.js";

export const TRANSPORTS: readonly Transport[] = ["envoy", "zentinel"];
const TRANSPORT_INDEX: Record<Transport, number> = { envoy: 0, zentinel: 1 };
const REASON_INDEX = Object.fromEntries(REASONS.map((r, i) => [r, i])) as Record<Reason, number>;
const ALLOW_REASONS: ReadonlySet<Reason> = new Set<Reason>(["ok", "fail_open", "log_and_allow"]);
const SLOTS = TRANSPORTS.length * 2 * REASONS.length;

/** Slot of (transport, allow, reason) in a tally. */
function slot(transportIndex: number, allow: boolean, reasonIndex: number): number {
  return (transportIndex * 2 + (allow ? 1 : 0)) * REASONS.length + reasonIndex;
}

export class DecisionTally {
  private readonly enforced = new Float64Array(SLOTS);
  private readonly dryRun = new Float64Array(SLOTS);
  private readonly enforcedAttrs: Attributes[] = [];
  private readonly dryRunAttrs: Attributes[] = [];
  /** Outcomes outside the closed sets (only reachable from untyped callers): counted, not dropped. */
  private readonly odd = new Map<string, { attrs: Attributes; value: number; dry: boolean }>();

  constructor(meter: Meter) {
    // Enforced series of the outcome each reason has are reported from the start at 0, so rates and ratios
    // exist from the first scrape; other slots appear once non-zero.
    const natural: boolean[] = [];
    for (const transport of TRANSPORTS) {
      for (const allow of [false, true]) {
        for (const reason of REASONS) {
          const i = slot(TRANSPORT_INDEX[transport], allow, REASON_INDEX[reason]);
          this.enforcedAttrs[i] = Object.freeze({ decision: allow ? "allow" : "deny", reason, transport });
          this.dryRunAttrs[i] = Object.freeze({ would: allow ? "allow" : "deny", reason, transport });
          natural[i] = allow === ALLOW_REASONS.has(reason);
        }
      }
    }
    meter
      .createObservableCounter(METRIC.decisions, { description: HELP[METRIC.decisions] })
      .addCallback((result: ObservableResult) =>
        this.report(result, this.enforced, this.enforcedAttrs, false, natural),
      );
    // Only what was counted: most deployments never run dry-run, and its series need no zeros to start from.
    meter
      .createObservableCounter(METRIC.dryRunDecisions, { description: HELP[METRIC.dryRunDecisions] })
      .addCallback((result: ObservableResult) => this.report(result, this.dryRun, this.dryRunAttrs, true));
  }

  private report(
    result: ObservableResult,
    tally: Float64Array,
    attrs: Attributes[],
    dry: boolean,
    natural?: boolean[],
  ): void {
    for (let i = 0; i < tally.length; i++) {
      const v = tally[i] ?? 0;
      if (v > 0 || natural?.[i]) result.observe(v, attrs[i]);
    }
    for (const o of this.odd.values()) if (o.dry === dry) result.observe(o.value, o.attrs);
  }

  /** Counts one decision; returns its transport's index, or undefined for one outside the closed sets. */
  count(transport: Transport, decision: DecisionOutcome): number | undefined {
    const ti = TRANSPORT_INDEX[transport];
    const ri = REASON_INDEX[decision.reason];
    // typeof, not `=== undefined`: an untyped caller's "toString" would find Object.prototype's.
    if (typeof ti !== "number" || typeof ri !== "number") {
      this.countOdd(transport, decision);
      return undefined;
    }
    const verdict = decision.dryRun;
    if (verdict === undefined) {
      const i = slot(ti, decision.allow, ri);
      this.enforced[i] = (this.enforced[i] ?? 0) + 1;
    } else {
      const i = slot(ti, verdict.allow, ri);
      this.dryRun[i] = (this.dryRun[i] ?? 0) + 1;
    }
    return ti;
  }

  private countOdd(transport: Transport, decision: DecisionOutcome): void {
    const dry = decision.dryRun !== undefined;
    const outcome = (decision.dryRun ?? decision).allow ? "allow" : "deny";
    const attrs = {
      [dry ? "would" : "decision"]: outcome,
      reason: String(decision.reason),
      transport: String(transport),
    };
    const key = JSON.stringify(attrs);
    const entry = this.odd.get(key);
    if (entry) entry.value++;
    else this.odd.set(key, { attrs, value: 1, dry });
  }
}
