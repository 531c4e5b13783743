// bench/envoy-e2e's figures and targets as pure functions, so test/bench/envoy-verdicts.test.ts can show each
// target failing on fabricated numbers. Latencies in ms, CPU in seconds per 1000 requests.
import { bandVerdict, paired, type Verdict } from "./verdicts.js";

export interface ChainFigures {
  rate: number;
  /** Latency over every round of this chain at this rate. */
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** One p99 per interleaved round, in round order (the noise estimate pairs these with the baseline's). */
  p99sMs: number[];
  requests: number;
  /** Requests vegeta sent per second (averaged over the rounds): below the offered rate, the run is not open loop. */
  sentRps: number;
  /** Responses other than the expected one (allowed identity: 200 seen by the upstream). */
  bad: number;
  /** CPU seconds of the authorizer process(es) per 1000 requests; NaN for chains without one. */
  authzCpuPer1k: number;
  /** Envoy's CPU seconds per 1000 requests. */
  envoyCpuPer1k: number;
}

export interface EnvoyRun {
  none: ChainFigures;
  rbac: ChainFigures;
  spiffeAuthz: ChainFigures;
  opaEnvoy: ChainFigures | undefined;
}

export interface Added {
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

export function added(c: ChainFigures, base: ChainFigures): Added {
  return { p50Ms: c.p50Ms - base.p50Ms, p99Ms: c.p99Ms - base.p99Ms, p999Ms: c.p999Ms - base.p999Ms };
}

/** The authorizer's CPU per 1000 requests; for RBAC (in Envoy's process) Envoy's extra CPU over the baseline. */
export function authorizerCpuPer1k(c: ChainFigures, base: ChainFigures, inEnvoy: boolean): number {
  return inEnvoy ? c.envoyCpuPer1k - base.envoyCpuPer1k : c.authzCpuPer1k;
}

export interface TargetLine extends Verdict {
  target: string;
  measured: string;
  goal: string;
}

const f2 = (x: number) => (x >= 0 ? "+" : "") + x.toFixed(2);
const miss = (why: string): Verdict => ({ ok: false, why });
const PASS: Verdict = { ok: true, why: "" };

function clean(run: EnvoyRun): Verdict {
  const chains = [run.none, run.rbac, run.spiffeAuthz, run.opaEnvoy].filter((c): c is ChainFigures => c !== undefined);
  const bad = chains.reduce((s, c) => s + c.bad, 0);
  const rates = new Set(chains.map((c) => c.rate));
  if (rates.size !== 1) return miss(`chains measured at different offered rates (${[...rates].join(", ")}/s)`);
  // A load generator that fell behind measured a closed loop at a lower rate, not the offered one.
  const behind = chains.filter((c) => !(c.sentRps >= 0.95 * c.rate));
  if (behind.length)
    return miss(
      `the load generator sent only ${behind.map((c) => c.sentRps.toFixed(0)).join(", ")}/s of ${behind[0]!.rate}/s offered`,
    );
  return bad > 0 ? miss(`${bad} wrong or missing answers`) : PASS;
}

/**
 * The targets at one offered rate (1000/s):
 *   spiffe-authz's added p99 ≤ 1 ms (paired per round with the baseline; the noise band must fit in the goal);
 *   ahead of OPA-Envoy on added p99 (the per-round difference spiffe-authz − OPA-Envoy is negative on average and
 *   the merged p99 is lower) and on CPU per 1000 requests;
 *   within 2× of RBAC's added p99 (RBAC's added p99 must itself stand out of the noise, or 2× of it means nothing).
 * Any wrong or missing answer, chains at different rates, or a load generator that did not keep the offered rate
 * (≥ 95 %), misses every target.
 */
export function envoyTargets(run: EnvoyRun, goalMs = 1): TargetLine[] {
  const out: TargetLine[] = [];
  const ok = clean(run);
  const gate = (v: Verdict): Verdict => (ok.ok ? v : ok);
  const c = run.spiffeAuthz;
  const a = run.none;
  const addC = paired(c.p99sMs, a.p99sMs, (x, y) => x - y, 0.05);
  const addB = paired(run.rbac.p99sMs, a.p99sMs, (x, y) => x - y, 0.05);

  out.push({
    target: `spiffe-authz: p99 added over no authorization at ${c.rate}/s`,
    measured: `${f2(addC.value)} ms ± ${addC.band.toFixed(2)} (per round ${addC.perRound.map(f2).join(", ")}; merged ${f2(added(c, a).p99Ms)})`,
    goal: `≤ ${goalMs} ms`,
    ...gate(bandVerdict(addC, goalMs, "ms")),
  });

  const o = run.opaEnvoy;
  if (!o) {
    const none = miss("OPA-Envoy was not measured");
    out.push({ target: "spiffe-authz ahead of OPA-Envoy on added p99", measured: "—", goal: "lower", ...none });
    out.push({ target: "spiffe-authz ahead of OPA-Envoy on CPU / 1000 req", measured: "—", goal: "lower", ...none });
  } else {
    const vsO = paired(c.p99sMs, o.p99sMs, (x, y) => x - y, 0.05);
    const ahead =
      vsO.value < 0 && c.p99Ms < o.p99Ms
        ? PASS
        : miss(`spiffe-authz's p99 is ${f2(vsO.value)} ms vs OPA-Envoy's per round (merged ${f2(c.p99Ms - o.p99Ms)})`);
    out.push({
      target: `spiffe-authz ahead of OPA-Envoy on added p99 at ${c.rate}/s`,
      measured: `${f2(added(c, a).p99Ms)} vs ${f2(added(o, a).p99Ms)} ms (per-round difference ${f2(vsO.value)} ± ${vsO.band.toFixed(2)})`,
      goal: "lower",
      ...gate(ahead),
    });
    const cc = c.authzCpuPer1k;
    const oc = o.authzCpuPer1k;
    const cpu =
      !Number.isFinite(cc) || !Number.isFinite(oc)
        ? miss("CPU not measured")
        : cc < oc
          ? PASS
          : miss(`${cc.toFixed(3)} ≥ ${oc.toFixed(3)} s`);
    out.push({
      target: `spiffe-authz ahead of OPA-Envoy on authorizer CPU / 1000 req at ${c.rate}/s`,
      measured: `${cc.toFixed(3)} vs ${oc.toFixed(3)} CPU s`,
      goal: "lower",
      ...gate(cpu),
    });
  }

  const within =
    !Number.isFinite(addB.value) || !Number.isFinite(addB.band)
      ? miss("RBAC not measured in ≥ 2 rounds")
      : addB.value <= addB.band
        ? miss(
            `RBAC's added p99 (${f2(addB.value)} ms) is within its noise band (±${addB.band.toFixed(2)}): 2× of it cannot be judged`,
          )
        : addC.value <= 2 * addB.value
          ? PASS
          : miss(`${f2(addC.value)} ms > 2 × ${f2(addB.value)} ms`);
  out.push({
    target: `spiffe-authz within 2× of Envoy RBAC's added p99 at ${c.rate}/s`,
    measured: `${f2(addC.value)} vs RBAC ${f2(addB.value)} ms ± ${addB.band.toFixed(2)}`,
    goal: "≤ 2 × RBAC",
    ...gate(within),
  });
  return out;
}

/** Exact percentile (nearest rank) of ascending-sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1]!;
}
