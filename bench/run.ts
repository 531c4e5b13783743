// The benchmark suite: runs every bench in its own process, one after the other, and prints one pass/fail table
// against the targets. Needs h2load (nghttp2-client); installs nothing.
//   npm run bench                 full suite (≈ 6–8 min on 2 CPUs; memory sends 100 000 identities)
//   npm run bench -- --quick      short durations, fewer identities (≈ 1.5–2 min)
//   npm run bench -- --only latency,memory   a subset
// Exits 1 on any MISS or ERROR, and says so in its last line ("bench: FAIL (… MISS …): exit 1"). The verdicts are
// the pure functions of bench/lib/verdicts.ts (each shown failing in test/bench/verdicts.test.ts).
//   npm run bench -- --soak [--minutes N]    the soak instead (bench/soak.ts); also `npm run soak`
// Every bench is run with --json and reports through its last stdout line (older output without it is parsed).
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { argv, flag, machine } from "./lib/args.js";
import { H2LOAD_MISSING, haveH2load } from "./lib/h2load.js";
import { BUILT_ENV, ensureBuilt, ROOT } from "./lib/processes.js";
import {
  addedLatencyVerdict,
  atLeast,
  atMost,
  coldVerdict,
  sampleVerdict,
  suiteOutcome,
  telemetryCostVerdict,
  throughputVerdict,
  type OutcomeSample,
  type Verdict,
} from "./lib/verdicts.js";

type Json = Record<string, unknown>;

interface Outcome {
  ok: boolean;
  code: number | null;
  text: string;
  json: Json | undefined;
  seconds: number;
}

if (!haveH2load()) {
  console.error(H2LOAD_MISSING);
  process.exit(2);
}

const quick = flag("--quick");

/** Runs `bench/<name>.ts ARGS --json`, echoing its output (minus the JSON line) as it comes. */
function runBench(name: string, args: string[], timeoutS: number): Promise<Outcome> {
  const file = join(ROOT, "bench", `${name}.ts`);
  console.log(`\n── ${name}: npx tsx bench/${name}.ts ${args.join(" ")}`.trimEnd());
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", file, ...args, "--json"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, [BUILT_ENV]: "1" }, // built once above: every bench measures the same build
    });
    let text = "";
    let pending = "";
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString();
      pending += d.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const l of lines) if (!l.startsWith('{"bench":')) console.log(`   ${l}`);
    });
    child.stderr.on("data", (d: Buffer) => process.stderr.write(d));
    const timer = setTimeout(() => {
      console.error(`   ${name}: no result after ${timeoutS} s; stopping it`);
      child.kill("SIGKILL");
    }, timeoutS * 1000);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (pending && !pending.startsWith('{"bench":')) console.log(`   ${pending}`);
      const line = text
        .split("\n")
        .reverse()
        .find((l) => l.startsWith('{"bench":'));
      let json: Json | undefined;
      try {
        json = line ? (JSON.parse(line) as Json) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ ok: code === 0, code, text, json, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

if (flag("--soak")) {
  // The soak prints its own table; pass every other flag through (--minutes N, --rotate-seconds S, --load F).
  ensureBuilt();
  const pass = argv.filter((a) => a !== "--soak" && a !== "--quick");
  const r = await runBench("soak", pass, 3600 * 24);
  const j = r.json;
  if (j) {
    console.log(
      `\nsoak summary: ${j["pass"] ? "PASS" : `FAIL (${String(j["why"])})`}; ${String(j["mismatches"])} mismatches, ${String(j["errors"])} errors, ${String(j["unanswered"])} unanswered; ` +
        `RSS ${String(j["rssStartMb"])} → ${String(j["rssEndMb"])} MB (max ${String(j["rssMaxMb"])}, trend ${Number(j["rssTrendMbPerMin"]).toFixed(2)} MB/min)`,
    );
  }
  const soakOk = r.ok && j?.["pass"] === true;
  console.log(soakOk ? "soak: PASS" : "soak: FAIL: exit 1");
  process.exit(soakOk ? 0 : 1);
}

ensureBuilt();

interface Step {
  name: string;
  args: string[];
  timeoutS: number;
}
const STEPS: Step[] = [
  { name: "x509-verify", args: ["--seconds", quick ? "1" : "3"], timeoutS: 120 },
  { name: "check-throughput", args: quick ? ["--quick"] : [], timeoutS: 300 },
  { name: "latency", args: quick ? ["--quick"] : [], timeoutS: 300 },
  { name: "rotation", args: [], timeoutS: 120 },
  { name: "zentinel-stream", args: quick ? ["--quick"] : [], timeoutS: 300 },
  { name: "startup", args: quick ? ["--quick"] : [], timeoutS: 300 },
  { name: "memory", args: quick ? ["--quick"] : [], timeoutS: 900 },
  { name: "workers", args: quick ? ["--quick"] : [], timeoutS: 300 },
  { name: "telemetry-record", args: ["--seconds", quick ? "0.3" : "2"], timeoutS: 120 },
];
const onlyArg = argv[argv.indexOf("--only") + 1];
const only = argv.includes("--only") && onlyArg ? new Set(onlyArg.split(",")) : undefined;
if (only)
  for (const n of only)
    if (!STEPS.some((s) => s.name === n))
      throw new Error(`--only: unknown bench ${n} (have ${STEPS.map((s) => s.name).join(", ")})`);

const t0 = performance.now();
const results = new Map<string, Outcome>();
console.log(`bench suite${quick ? " (--quick)" : ""}: ${machine()}, ${new Date().toISOString()}`);
for (const s of STEPS) if (!only || only.has(s.name)) results.set(s.name, await runBench(s.name, s.args, s.timeoutS));

// ── Reading the results ──────────────────────────────────────────────────────────────────────────────────────

const num = (v: unknown): number => (typeof v === "number" ? v : NaN);
const get = (j: Json | undefined, ...path: string[]): unknown =>
  path.reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Json)[k] : undefined), j);

/** check-throughput's JSON line: h2load's rates per round and the sampled answers that decide what counts. */
interface Throughput {
  h2loadRps: Record<string, number>;
  perRound: Record<string, number[]>;
  samples: Record<string, OutcomeSample>;
  coldRatio: number;
  coldWarmCaches: string[];
}
function throughput(o: Outcome | undefined): Throughput | undefined {
  const j = o?.json;
  if (!j || !j["samples"] || !j["perRound"]) return undefined; // without sampled answers there is no verdict
  return j as unknown as Throughput;
}

/** startup has no --json: "spiffe-authz p50 N ms (max M)" (or the older "p50 N ms, max M ms"). */
function startup(o: Outcome | undefined): { p50: number; max: number; baselineP50: number } | undefined {
  if (!o) return undefined;
  if (o.json)
    return { p50: num(o.json["p50Ms"]), max: num(o.json["maxMs"]), baselineP50: num(o.json["baselineP50Ms"]) };
  const m = /spiffe-authz p50 (\d+) ms \(max (\d+)\)/.exec(o.text) ?? /p50 (\d+) ms, max (\d+) ms/.exec(o.text);
  if (!m) return undefined;
  return {
    p50: Number(m[1]),
    max: Number(m[2]),
    baselineP50: Number(/baseline[^;]*?p50 (\d+) ms/.exec(o.text)?.[1] ?? NaN),
  };
}

interface Line {
  target: string;
  measured: string;
  goal: string;
  result: "PASS" | "MISS" | "ERROR" | "info" | "skipped";
}
type Read = { measured: string; ok: boolean | "info"; why?: string } | undefined;
const judged = (measured: string, v: Verdict): Read => ({ measured, ok: v.ok, why: v.why });
const lines: Line[] = [];
const verdict = (ok: boolean): Line["result"] => (ok ? "PASS" : "MISS");
function add(bench: string, target: string, goal: string, read: (o: Outcome) => Read): void {
  const o = results.get(bench);
  if (!o) return void (only ? undefined : lines.push({ target, measured: "not run", goal, result: "skipped" }));
  let r: ReturnType<typeof read>;
  try {
    r = read(o);
  } catch {
    r = undefined;
  }
  if (!r || r.measured.includes("NaN")) {
    return void lines.push({
      target,
      measured: o.ok ? `could not read the output of ${bench}` : `${bench} failed (exit ${o.code ?? "killed"})`,
      goal,
      result: "ERROR",
    });
  }
  const why = r.ok === false && r.why ? `; MISS: ${r.why}` : "";
  lines.push({
    target,
    measured: r.measured + why + (o.ok ? "" : ` (${bench} exited ${o.code ?? "killed"})`),
    goal,
    result: r.ok === "info" ? "info" : o.ok ? verdict(r.ok) : "ERROR",
  });
}

const sampled = (x: OutcomeSample | undefined) =>
  x ? `${x.correct}/${x.checked} sampled answers correct` : "no sample";
add(
  "check-throughput",
  "Warm Envoy-door Check throughput with the shipped defaults (audit on, telemetry on, unpinned) vs no-op grpc-js server (correct answers only)",
  "≥ 0.90 × no-op",
  (o) => {
    const t = throughput(o);
    if (!t || !t.samples["defaults"]) return undefined;
    const v = throughputVerdict({
      rps: num(t.h2loadRps["defaults"]),
      sample: t.samples["defaults"],
      baselineRps: num(t.h2loadRps["noop"]),
      baselineSample: t.samples["noop"]!,
      goal: 0.9,
    });
    return judged(
      `${v.ratio.toFixed(2)} × (${num(t.h2loadRps["defaults"]).toFixed(0)} vs ${num(t.h2loadRps["noop"]).toFixed(0)} Check/s; ${sampled(t.samples["defaults"])})`,
      v,
    );
  },
);
add("check-throughput", "The same, audit off (telemetry on, unpinned)", "—", (o) => {
  const t = throughput(o);
  if (!t) return undefined;
  const r = num(t.h2loadRps["on"]) / num(t.h2loadRps["noop"]);
  return { measured: `${r.toFixed(2)} × (h2load rates)`, ok: "info" };
});
add("check-throughput", "The defaults, servers pinned to CPU 0 and h2load to CPU 1", "—", (o) => {
  const t = throughput(o);
  if (!t || t.h2loadRps["defaultsPinned"] === undefined) return undefined;
  const r = num(t.h2loadRps["defaultsPinned"]) / num(t.h2loadRps["noopPinned"]);
  return { measured: `${r.toFixed(2)} × (h2load rates)`, ok: "info" };
});
add("latency", "p99 latency at 50 % load, warm (open loop, out of process; worst round)", "p99 ≤ 2 ms", (o) => {
  const a = get(o.json, "authz") as Json | undefined;
  const n = get(o.json, "noop") as Json | undefined;
  if (!a || !n || !Array.isArray(a["p99sMs"])) return undefined;
  const p99s = a["p99sMs"] as number[];
  const bad = num(a["errors"]) + num(a["unanswered"]) + num(a["mismatches"]);
  return judged(
    `p99 ${Math.max(...p99s).toFixed(2)} ms (rounds: ${p99s.map((x) => x.toFixed(2)).join(", ")}) at ${num(a["rate"])}/s${bad ? `; ${bad} bad answers` : ""}`,
    atMost(Math.max(...p99s), 2, "ms", bad),
  );
});
// The absolute target is only checkable on a quiet machine: on a shared VM the no-op server's own p99 is often
// tens of ms. What spiffe-authz adds to the tail over that baseline, interleaved at one offered rate, with the
// round-to-round noise as the band, is checkable where the noise is smaller than the goal.
add(
  "latency",
  "p99 latency added over the no-op grpc-js server, shipped defaults, unpinned (interleaved rounds, same offered rate)",
  "≤ 1 ms, not below −noise",
  (o) => {
    const a = get(o.json, "authz") as Json | undefined;
    const n = get(o.json, "noop") as Json | undefined;
    if (!a || !n || !Array.isArray(a["p99sMs"]) || !Array.isArray(n["p99sMs"])) return undefined;
    const bad =
      num(a["errors"]) +
      num(a["unanswered"]) +
      num(a["mismatches"]) +
      num(n["errors"]) +
      num(n["unanswered"]) +
      num(n["mismatches"]);
    const v = addedLatencyVerdict({
      authzP99Ms: a["p99sMs"] as number[],
      baselineP99Ms: n["p99sMs"] as number[],
      authzRate: num(a["rate"]),
      baselineRate: num(n["rate"]),
      bad,
      goalMs: 1,
    });
    return judged(
      `${v.value >= 0 ? "+" : ""}${v.value.toFixed(2)} ms ± ${v.band.toFixed(2)} (per round: ${v.perRound.map((d) => d.toFixed(2)).join(", ")}; no-op p99 ${(n["p99sMs"] as number[]).map((x) => x.toFixed(2)).join(", ")} ms)`,
      v,
    );
  },
);
add(
  "x509-verify",
  "Cold verifications/s per core vs openssl verify/s ÷ 2 signatures (no cache of any kind)",
  "≥ 0.60",
  (o) => {
    const r = num(o.json?.["ratioCold"]);
    return judged(
      `${r.toFixed(2)} (openssl ${num(o.json?.["opensslVerifyPerSecond"]).toFixed(0)} verify/s)`,
      coldVerdict(r, 0.6, []),
    );
  },
);
add(
  "x509-verify",
  "The same with the verified-CA cache warm (keys and CA signatures; the service's default; not cold)",
  "—",
  (o) => {
    const r = num(o.json?.["ratioDefault"]);
    return { measured: `${r.toFixed(2)}`, ok: "info" };
  },
);
add("workers", "serve --workers 2 vs --workers 1 (h2load, correct answers only)", "≥ 1.6 ×", (o) => {
  const j = o.json;
  if (!j || !Array.isArray(j["samples"])) return undefined;
  const samples = j["samples"] as OutcomeSample[];
  const [raw1, raw2] = (j["h2loadRps"] as number[] | undefined) ?? [NaN, NaN];
  const v = throughputVerdict({
    rps: num(raw2),
    sample: samples[1]!,
    baselineRps: num(raw1),
    baselineSample: samples[0]!,
    goal: 1.6,
  });
  const w1 = num(j["workers1"]);
  const w2 = num(j["workers2"]);
  const s = [sampleVerdict(samples[0]!), sampleVerdict(samples[1]!)].find((x) => !x.ok);
  const pinned =
    j["h2loadPinnedCpu"] === null
      ? "h2load not pinned"
      : `h2load pinned to CPU ${num(j["h2loadPinnedCpu"])} of ${num(j["cpus"])}`;
  return judged(
    `${v.ratio.toFixed(2)} × (${w2.toFixed(0)} vs ${w1.toFixed(0)} Check/s; ${sampled(samples[1])}; ${pinned})`,
    s ?? (num(j["failed"]) > 0 ? { ok: false, why: `${num(j["failed"])} failed requests` } : v),
  );
});
add("rotation", "CA rotation visible in the trust store", "≤ 100 ms", (o) => {
  const max = num(o.json?.["maxMs"]);
  return judged(
    `max ${max.toFixed(1)} ms, p50 ${num(o.json?.["p50Ms"]).toFixed(1)} ms over ${num(o.json?.["rotations"])} rotations`,
    atMost(max, 100, "ms"),
  );
});
add("memory", `RSS with ${quick ? "12k (quick; target: 100k)" : "100k"} distinct identities`, "≤ 150 MB", (o) => {
  const j = o.json;
  if (!j) return undefined;
  const v = j["bounded"] === true ? atMost(num(j["rssAfterMb"]), 150, "MB") : { ok: false, why: "cache NOT bounded" };
  return judged(
    `${num(j["rssAfterMb"])} MB after ${num(j["identities"])} (before ${num(j["rssBeforeMb"])} MB, peak ${num(j["peakRssMb"])} MB; heap after GC ${num(j["heapUsedAfterMb"])} MB; cache ${num(j["cacheEntries"])} entries${j["bounded"] ? ", bounded" : ", NOT bounded"})`,
    j["pass"] === true || !v.ok ? v : { ok: false, why: "the memory bench's own verdict" },
  );
});
add("startup", "Process start → health SERVING (built CLI)", "≤ 500 ms", (o) => {
  const s = startup(o);
  return (
    s &&
    judged(
      `p50 ${s.p50} ms, max ${s.max} ms${Number.isFinite(s.baselineP50) ? ` (bare grpc-js + health: p50 ${s.baselineP50} ms)` : ""}`,
      atMost(s.p50, 500, "ms"),
    )
  );
});
add(
  "check-throughput",
  "Telemetry cost on the warm path (on vs off, interleaved rounds)",
  "≤ 5 %, not below −noise",
  (o) => {
    const t = throughput(o);
    if (!t) return undefined;
    const v = telemetryCostVerdict(t.perRound["on"]!, t.perRound["off"]!);
    const s = [sampleVerdict(t.samples["on"]!), sampleVerdict(t.samples["off"]!)].find((x) => !x.ok);
    return judged(
      `${v.value.toFixed(1)} % ± ${v.band.toFixed(1)} (per round: ${v.perRound.map((c) => c.toFixed(1)).join(", ")})`,
      s ?? v,
    );
  },
);
add("zentinel-stream", "Zentinel ProcessStream vs Envoy unary Check, same engine", "≥ 0.90", (o) => {
  const j = o.json;
  return (
    j &&
    judged(
      `${num(j["ratio"]).toFixed(2)} (${num(j["zentinel"]).toFixed(0)} vs ${num(j["envoy"]).toFixed(0)} decisions/s)`,
      atLeast(num(j["ratio"]), 0.9),
    )
  );
});
add(
  "check-throughput",
  "Cold leaf through the Envoy door (new leaf each call; verified-CA cache of keys and CA signatures warm)",
  "≥ 0.40 of openssl verify/s ÷ 2",
  (o) => {
    const t = throughput(o);
    return t && judged(`${num(t.coldRatio).toFixed(2)} of openssl verify/s ÷ 2`, atLeast(num(t.coldRatio), 0.4));
  },
);
add("telemetry-record", "Telemetry per decision (recordDecision, pull reader)", "—", (o) => {
  const r = (o.json?.["results"] as { name: string; nsPerOp: number }[] | undefined)?.find((x) =>
    /pull reader \(\/metrics\)/.test(x.name),
  );
  return r && { measured: `${r.nsPerOp.toFixed(0)} ns`, ok: "info" };
});

const minutes = (performance.now() - t0) / 60_000;
console.log(
  `\n═══ bench suite${quick ? " (--quick)" : ""}: ${machine()}, ${new Date().toISOString()}, ${minutes.toFixed(1)} min ═══\n`,
);
console.log("| target | measured | goal | result |\n|---|---|---|---|");
for (const l of lines) console.log(`| ${l.target} | ${l.measured} | ${l.goal} | ${l.result} |`);
console.log(
  `\nper bench: ${[...results].map(([n, o]) => `${n} ${o.seconds.toFixed(0)} s${o.ok ? "" : " (failed)"}`).join(", ")}`,
);
if (loadavg()[0]! > cpus().length) {
  console.log(
    `note: the 1-minute load average is ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs: other work competed with these measurements (latency suffers most).`,
  );
}
const outcome = suiteOutcome(lines.map((l) => l.result));
console.log(outcome.line);
process.exit(outcome.exitCode);
