// The bench verdicts as small pure functions, so test/bench/verdicts.test.ts can show each one failing on
// fabricated numbers (a deny-everything server, a slower server, a negative cost, a cached run) without running a
// benchmark. Every function returns { ok, why }: `why` says what decided a MISS, for the table.

export interface Verdict {
  ok: boolean;
  /** Empty on a PASS; on a MISS, the reason in a few words. */
  why: string;
}

const PASS: Verdict = { ok: true, why: "" };
const miss = (why: string): Verdict => ({ ok: false, why });

// ── Throughput: only checked answers count ──────────────────────────────────────────────────────────────────

/**
 * Answers read and checked by a sampler running alongside the load generator (h2load only sees HTTP/2 status
 * 200, and a gRPC deny or a gRPC error is an HTTP 200 too). `correct` = allow with the expected identity in
 * the CheckResponse (or whatever outcome the request should get).
 */
export interface OutcomeSample {
  checked: number;
  correct: number;
  allow: number;
  deny: number;
  error: number;
}

export const emptySample = (): OutcomeSample => ({ checked: 0, correct: 0, allow: 0, deny: 0, error: 0 });

export function addSamples(a: OutcomeSample, b: OutcomeSample): OutcomeSample {
  return {
    checked: a.checked + b.checked,
    correct: a.correct + b.correct,
    allow: a.allow + b.allow,
    deny: a.deny + b.deny,
    error: a.error + b.error,
  };
}

/** The load generator's rate scaled by the share of sampled answers that were correct (0 without a sample). */
export function correctRps(rps: number, s: OutcomeSample): number {
  return s.checked > 0 ? (rps * s.correct) / s.checked : 0;
}

/** A sample is clean when it has answers and every one was the expected one. */
export function sampleVerdict(s: OutcomeSample): Verdict {
  if (s.checked === 0) return miss("no answer was checked");
  if (s.correct !== s.checked)
    return miss(
      `${s.checked - s.correct} of ${s.checked} sampled answers were wrong (${s.allow} allow, ${s.deny} deny, ${s.error} error)`,
    );
  return PASS;
}

/**
 * `measured / baseline ≥ goal`, counting only correct answers on both sides: a server that denies everything
 * (or errors) reports 0 correct answers/s whatever h2load says.
 */
export function throughputVerdict(m: {
  rps: number;
  sample: OutcomeSample;
  baselineRps: number;
  baselineSample: OutcomeSample;
  goal: number;
}): Verdict & { ratio: number } {
  const ratio = correctRps(m.rps, m.sample) / correctRps(m.baselineRps, m.baselineSample);
  const s = sampleVerdict(m.sample);
  if (!s.ok) return { ...s, ratio };
  const b = sampleVerdict(m.baselineSample);
  if (!b.ok) return { ok: false, why: `baseline: ${b.why}`, ratio };
  if (!Number.isFinite(ratio)) return { ...miss("no ratio"), ratio };
  return ratio >= m.goal ? { ...PASS, ratio } : { ...miss(`${ratio.toFixed(2)} < ${m.goal}`), ratio };
}

// ── Cost and added latency: paired, interleaved rounds with a noise band ─────────────────────────────────────

export interface PairedEstimate {
  /** The mean of the per-round differences. */
  value: number;
  /** Noise: the largest distance of one round's difference from the mean, at least `floor`. */
  band: number;
  perRound: number[];
}

/** `diff(a_i, b_i)` for each interleaved round i; fewer than 2 rounds give an infinite band (no noise estimate). */
export function paired(
  a: readonly number[],
  b: readonly number[],
  diff: (x: number, y: number) => number,
  floor: number,
): PairedEstimate {
  const n = Math.min(a.length, b.length);
  const perRound = Array.from({ length: n }, (_, i) => diff(a[i]!, b[i]!));
  const value = n ? perRound.reduce((s, d) => s + d, 0) / n : NaN;
  const band = n >= 2 ? Math.max(floor, ...perRound.map((d) => Math.abs(d - value))) : Infinity;
  return { value, band, perRound };
}

/**
 * An upper-bound goal on a difference (a cost, an added latency) that can fail both ways:
 *   MISS when the value exceeds the goal;
 *   MISS when it is negative beyond the noise band (the variant "costs less" than its baseline: a measurement
 *        fault, e.g. the runs saw different load, not a result);
 *   MISS when the noise band is wider than the goal (the run cannot tell a pass from a miss).
 */
export function bandVerdict(e: Pick<PairedEstimate, "value" | "band">, goal: number, unit: string): Verdict {
  if (!Number.isFinite(e.value)) return miss("not measured");
  if (!Number.isFinite(e.band)) return miss("no noise estimate (fewer than 2 interleaved rounds)");
  if (e.value > goal) return miss(`${fmt(e.value)} ${unit} > ${goal} ${unit}`);
  if (e.value < -e.band)
    return miss(`negative beyond the noise band (${fmt(e.value)} < −${fmt(e.band)} ${unit}): suspicious, not a pass`);
  if (e.band > goal) return miss(`noise band ±${fmt(e.band)} ${unit} is wider than the goal`);
  return PASS;
}

const fmt = (x: number): string => (Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));

/** Telemetry cost per round: 1 − on/off, in %. Rounds interleave on and off under the same closed-loop load. */
export function telemetryCost(onRps: readonly number[], offRps: readonly number[]): PairedEstimate {
  return paired(onRps, offRps, (on, off) => (1 - on / off) * 100, 1);
}

export function telemetryCostVerdict(
  onRps: readonly number[],
  offRps: readonly number[],
  goalPct = 5,
): Verdict & PairedEstimate {
  const e = telemetryCost(onRps, offRps);
  return { ...e, ...bandVerdict(e, goalPct, "%") };
}

/**
 * p99 added over the baseline server: rounds interleave the two at one offered rate. Different offered rates
 * (e.g. 50 % of each server's own maximum) are not comparable: MISS.
 */
export function addedLatencyVerdict(m: {
  authzP99Ms: readonly number[];
  baselineP99Ms: readonly number[];
  authzRate: number;
  baselineRate: number;
  bad: number;
  goalMs: number;
}): Verdict & PairedEstimate {
  const e = paired(m.authzP99Ms, m.baselineP99Ms, (a, b) => a - b, 0.1);
  if (m.authzRate !== m.baselineRate)
    return { ...e, ...miss(`offered rates differ (${m.authzRate} vs ${m.baselineRate}/s)`) };
  if (m.bad > 0) return { ...e, ...miss(`${m.bad} wrong or missing answers`) };
  return { ...e, ...bandVerdict(e, m.goalMs, "ms") };
}

/** An absolute upper bound (p99 ≤ 2 ms, RSS ≤ 150 MB, …), invalid when any answer was wrong or missing. */
export function atMost(value: number, goal: number, unit: string, bad = 0): Verdict {
  if (!Number.isFinite(value)) return miss("not measured");
  if (bad > 0) return miss(`${bad} wrong or missing answers`);
  return value <= goal ? PASS : miss(`${fmt(value)} ${unit} > ${goal} ${unit}`);
}

export function atLeast(value: number, goal: number): Verdict {
  if (!Number.isFinite(value)) return miss("not measured");
  return value >= goal ? PASS : miss(`${value.toFixed(2)} < ${goal}`);
}

// ── Cold ────────────────────────────────────────────────────────────────────────────────────────────────────

/** A "cold" figure passes only when no cache of any kind was warm; a run with a warm cache says which, and misses. */
export function coldVerdict(ratio: number, goal: number, warmCaches: readonly string[]): Verdict {
  if (warmCaches.length > 0) return miss(`not cold: ${warmCaches.join(", ")} warm`);
  return atLeast(ratio, goal);
}

// ── Soak ────────────────────────────────────────────────────────────────────────────────────────────────────

export interface SoakFigures {
  sent: number;
  completed: number;
  mismatches: number;
  errors: number;
  unanswered: number;
  rotationsSettled: boolean;
  rssTrendMbPerMin: number;
  rssMaxMb: number;
  maxRefusedMs: number;
}

export const SOAK_GOALS = { rssTrendMbPerMin: 1, rssMaxMb: 150, rotationMs: 100 };

/** The soak passes on decisions, errors, memory (trend and ceiling) and rotation together. */
export function soakVerdict(f: SoakFigures, goals = SOAK_GOALS): Verdict {
  const whys: string[] = [];
  if (f.completed === 0) whys.push("nothing answered");
  if (f.mismatches > 0) whys.push(`${f.mismatches} mismatches`);
  if (f.errors + f.unanswered > 0) whys.push(`${f.errors} errors, ${f.unanswered} unanswered`);
  if (!f.rotationsSettled) whys.push("a rotation did not settle");
  if (!(f.rssTrendMbPerMin <= goals.rssTrendMbPerMin))
    whys.push(`RSS trend ${fmt(f.rssTrendMbPerMin)} MB/min > ${goals.rssTrendMbPerMin}`);
  if (!(f.rssMaxMb <= goals.rssMaxMb)) whys.push(`RSS max ${f.rssMaxMb} MB > ${goals.rssMaxMb}`);
  if (!(f.maxRefusedMs <= goals.rotationMs))
    whys.push(`old CA refused after ${fmt(f.maxRefusedMs)} ms > ${goals.rotationMs}`);
  return whys.length ? miss(whys.join("; ")) : PASS;
}

// ── The suite ───────────────────────────────────────────────────────────────────────────────────────────────

export type Result = "PASS" | "MISS" | "ERROR" | "info" | "skipped";

/** Exit code and last line of `npm run bench`: non-zero on any MISS or ERROR. */
export function suiteOutcome(results: readonly Result[]): { exitCode: number; line: string } {
  const n = (r: Result) => results.filter((x) => x === r).length;
  const counts = `${n("PASS")} PASS, ${n("MISS")} MISS, ${n("ERROR")} ERROR`;
  if (n("MISS") + n("ERROR") > 0) return { exitCode: 1, line: `bench: FAIL (${counts}): exit 1` };
  if (n("PASS") === 0) return { exitCode: 1, line: `bench: FAIL (no target was checked): exit 1` };
  return { exitCode: 0, line: `bench: PASS (${counts})` };
}
