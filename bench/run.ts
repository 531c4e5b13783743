// The benchmark suite: runs every bench in its own process, one after the other, and prints one pass/fail table
// against the targets. Needs h2load (nghttp2-client); installs nothing.
//   npm run bench                 full suite (≈ 6–8 min on 2 CPUs; memory sends 100 000 identities)
//   npm run bench -- --quick      short durations, fewer identities (≈ 1.5–2 min)
//   npm run bench -- --only latency,memory   a subset
//   npm run bench -- --strict     exit 1 when a target is missed (default: only when a bench fails to run)
//   npm run bench -- --soak [--minutes N]    the soak instead (bench/soak.ts); also `npm run soak`
// Every bench is run with --json and reports through its last stdout line (older output without it is parsed).
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { argv, flag, machine } from "./lib/args.js";
import { H2LOAD_MISSING, haveH2load } from "./lib/h2load.js";
import { BUILT_ENV, ensureBuilt, ROOT } from "./lib/processes.js";

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
      const line = text.split("\n").reverse().find((l) => l.startsWith('{"bench":'));
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
  const pass = argv.filter((a) => a !== "--soak" && a !== "--quick" && a !== "--strict");
  const r = await runBench("soak", pass, 3600 * 24);
  const j = r.json;
  if (j) {
    console.log(
      `\nsoak summary: ${j["pass"] ? "PASS" : "FAIL"}; ${String(j["mismatches"])} mismatches, ${String(j["errors"])} errors, ${String(j["unanswered"])} unanswered; ` +
        `RSS ${String(j["rssStartMb"])} → ${String(j["rssEndMb"])} MB (max ${String(j["rssMaxMb"])}, trend ${Number(j["rssTrendMbPerMin"]).toFixed(2)} MB/min)`,
    );
  }
  process.exit(r.ok && j?.["pass"] === true ? 0 : 1);
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
if (only) for (const n of only) if (!STEPS.some((s) => s.name === n)) throw new Error(`--only: unknown bench ${n} (have ${STEPS.map((s) => s.name).join(", ")})`);

const t0 = performance.now();
const results = new Map<string, Outcome>();
console.log(`bench suite${quick ? " (--quick)" : ""}: ${machine()}, ${new Date().toISOString()}`);
for (const s of STEPS) if (!only || only.has(s.name)) results.set(s.name, await runBench(s.name, s.args, s.timeoutS));

// ── Reading the results ──────────────────────────────────────────────────────────────────────────────────────

const num = (v: unknown): number => (typeof v === "number" ? v : NaN);
const get = (j: Json | undefined, ...path: string[]): unknown => path.reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Json)[k] : undefined), j);

/** Cells of the markdown row whose first cell matches. */
function row(text: string, first: RegExp): string[] | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith("|")) continue;
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (cells[0] && first.test(cells[0])) return cells;
  }
  return undefined;
}
const firstNumber = (s: string | undefined): number => Number(/[-−]?\d+(\.\d+)?/.exec(s ?? "")?.[0]?.replace("−", "-") ?? NaN);

/** check-throughput has no --json: its table (or a JSON line, should it gain one). */
function throughput(o: Outcome | undefined): { noop: number; warm: number; ratio: number; telemetryCostPct: number; coldRatio: number } | undefined {
  if (!o) return undefined;
  if (o.json) {
    const j = o.json;
    return { noop: num(j["noopRps"]), warm: num(j["warmRps"] ?? j["onRps"]), ratio: num(j["warmRatio"] ?? j["ratio"]), telemetryCostPct: num(j["telemetryCostPct"]), coldRatio: num(j["coldRatio"]) };
  }
  const warm = row(o.text, /warm, telemetry on/i);
  if (!warm) return undefined;
  return {
    noop: firstNumber(row(o.text, /no-op/i)?.[1]),
    warm: firstNumber(warm[1]),
    ratio: firstNumber(warm[2]),
    telemetryCostPct: firstNumber(row(o.text, /telemetry cost/i)?.[1]),
    coldRatio: firstNumber(row(o.text, /cold path/i)?.[2]),
  };
}

/** startup has no --json: "spiffe-authz p50 N ms (max M)" (or the older "p50 N ms, max M ms"). */
function startup(o: Outcome | undefined): { p50: number; max: number; baselineP50: number } | undefined {
  if (!o) return undefined;
  if (o.json) return { p50: num(o.json["p50Ms"]), max: num(o.json["maxMs"]), baselineP50: num(o.json["baselineP50Ms"]) };
  const m = /spiffe-authz p50 (\d+) ms \(max (\d+)\)/.exec(o.text) ?? /p50 (\d+) ms, max (\d+) ms/.exec(o.text);
  if (!m) return undefined;
  return { p50: Number(m[1]), max: Number(m[2]), baselineP50: Number(/baseline[^;]*?p50 (\d+) ms/.exec(o.text)?.[1] ?? NaN) };
}

interface Line {
  target: string;
  measured: string;
  goal: string;
  result: "PASS" | "MISS" | "ERROR" | "info" | "skipped";
}
const lines: Line[] = [];
const verdict = (ok: boolean): Line["result"] => (ok ? "PASS" : "MISS");
function add(bench: string, target: string, goal: string, read: (o: Outcome) => { measured: string; ok: boolean | "info" } | undefined): void {
  const o = results.get(bench);
  if (!o) return void (only ? undefined : lines.push({ target, measured: "not run", goal, result: "skipped" }));
  let r: ReturnType<typeof read>;
  try {
    r = read(o);
  } catch {
    r = undefined;
  }
  if (!r || r.measured.includes("NaN")) {
    return void lines.push({ target, measured: o.ok ? `could not read the output of ${bench}` : `${bench} failed (exit ${o.code ?? "killed"})`, goal, result: "ERROR" });
  }
  lines.push({ target, measured: r.measured + (o.ok ? "" : ` (${bench} exited ${o.code ?? "killed"})`), goal, result: r.ok === "info" ? "info" : o.ok ? verdict(r.ok) : "ERROR" });
}

add("check-throughput", "Warm Envoy-door Check throughput vs no-op grpc-js server", "≥ 0.90 × no-op", (o) => {
  const t = throughput(o);
  return t && { measured: `${t.ratio.toFixed(2)} × (${t.warm.toFixed(0)} vs ${t.noop.toFixed(0)} Check/s)`, ok: t.ratio >= 0.9 };
});
add("latency", "p99 latency at 50 % load, warm (open loop, out of process)", "p99 ≤ 2 ms", (o) => {
  const a = get(o.json, "authz") as Json | undefined;
  const n = get(o.json, "noop") as Json | undefined;
  if (!a || !n) return undefined;
  const p99 = num(get(a, "latency", "p99Ms"));
  const bad = num(a["errors"]) + num(a["unanswered"]) + num(a["mismatches"]);
  return {
    measured: `p99 ${p99.toFixed(2)} ms, p50 ${num(get(a, "latency", "p50Ms")).toFixed(2)} ms at ${num(a["rate"])}/s (no-op: p99 ${num(get(n, "latency", "p99Ms")).toFixed(2)} ms at ${num(n["rate"])}/s)${bad ? `; ${bad} bad answers` : ""}`,
    ok: p99 <= 2 && bad === 0,
  };
});
// The absolute target is only checkable on a quiet machine: on a shared VM the no-op server's own p99 is often
// tens of ms. What spiffe-authz adds to the tail over that baseline, in the same run, is checkable anywhere.
add("latency", "p99 latency added over the no-op grpc-js server at 50 % load (same run)", "≤ 2 ms", (o) => {
  const a = get(o.json, "authz") as Json | undefined;
  const n = get(o.json, "noop") as Json | undefined;
  if (!a || !n) return undefined;
  const added = num(get(a, "latency", "p99Ms")) - num(get(n, "latency", "p99Ms"));
  const bad = num(a["errors"]) + num(a["unanswered"]) + num(a["mismatches"]);
  return { measured: `${added >= 0 ? "+" : ""}${added.toFixed(2)} ms`, ok: added <= 2 && bad === 0 };
});
add("x509-verify", "Cold verifications/s per core vs openssl verify/s ÷ 2 signatures", "≥ 0.60", (o) => {
  const r = num(o.json?.["ratioDefault"]);
  return { measured: `${r.toFixed(2)} (fully cold, no CA key cache: ${num(o.json?.["ratioCold"]).toFixed(2)}; openssl ${num(o.json?.["opensslVerifyPerSecond"]).toFixed(0)} verify/s)`, ok: r >= 0.6 };
});
add("workers", "serve --workers 2 vs --workers 1 (h2load)", "≥ 1.6 ×", (o) => {
  const j = o.json;
  if (!j) return undefined;
  const pinned = j["h2loadPinnedCpu"] === null ? "h2load not pinned" : `h2load pinned to CPU ${num(j["h2loadPinnedCpu"])} of ${num(j["cpus"])}`;
  return { measured: `${num(j["ratio"]).toFixed(2)} × (${num(j["workers2"]).toFixed(0)} vs ${num(j["workers1"]).toFixed(0)} Check/s; ${pinned})`, ok: j["pass"] === true };
});
add("rotation", "CA rotation visible in the trust store", "≤ 100 ms", (o) => {
  const max = num(o.json?.["maxMs"]);
  return { measured: `max ${max.toFixed(1)} ms, p50 ${num(o.json?.["p50Ms"]).toFixed(1)} ms over ${num(o.json?.["rotations"])} rotations`, ok: max <= 100 };
});
add("memory", `RSS with ${quick ? "12k (quick; target: 100k)" : "100k"} distinct identities`, "≤ 150 MB", (o) => {
  const j = o.json;
  if (!j) return undefined;
  return {
    measured: `${num(j["rssAfterMb"])} MB after ${num(j["identities"])} (before ${num(j["rssBeforeMb"])} MB, peak ${num(j["peakRssMb"])} MB; heap after GC ${num(j["heapUsedAfterMb"])} MB; cache ${num(j["cacheEntries"])} entries${j["bounded"] ? ", bounded" : ", NOT bounded"})`,
    ok: j["pass"] === true && j["bounded"] === true,
  };
});
add("startup", "Process start → health SERVING (built CLI)", "≤ 500 ms", (o) => {
  const s = startup(o);
  return s && { measured: `p50 ${s.p50} ms, max ${s.max} ms${Number.isFinite(s.baselineP50) ? ` (bare grpc-js + health: p50 ${s.baselineP50} ms)` : ""}`, ok: s.p50 <= 500 };
});
add("check-throughput", "Telemetry cost on the warm path (on vs off)", "≤ 5 %", (o) => {
  const t = throughput(o);
  return t && { measured: `${t.telemetryCostPct.toFixed(1)} %`, ok: t.telemetryCostPct <= 5 };
});
add("zentinel-stream", "Zentinel ProcessStream vs Envoy unary Check, same engine", "≥ 0.90", (o) => {
  const j = o.json;
  return j && { measured: `${num(j["ratio"]).toFixed(2)} (${num(j["zentinel"]).toFixed(0)} vs ${num(j["envoy"]).toFixed(0)} decisions/s)`, ok: num(j["ratio"]) >= 0.9 };
});
add("check-throughput", "Cold path through the Envoy door (new certificate each call)", "—", (o) => {
  const t = throughput(o);
  return t && { measured: `${t.coldRatio.toFixed(2)} of openssl verify/s ÷ 2`, ok: "info" };
});
add("telemetry-record", "Telemetry per decision (recordDecision, pull reader)", "—", (o) => {
  const r = (o.json?.["results"] as { name: string; nsPerOp: number }[] | undefined)?.find((x) => /pull reader \(\/metrics\)/.test(x.name));
  return r && { measured: `${r.nsPerOp.toFixed(0)} ns`, ok: "info" };
});

const minutes = (performance.now() - t0) / 60_000;
console.log(`\n═══ bench suite${quick ? " (--quick)" : ""}: ${machine()}, ${new Date().toISOString()}, ${minutes.toFixed(1)} min ═══\n`);
console.log("| target | measured | goal | result |\n|---|---|---|---|");
for (const l of lines) console.log(`| ${l.target} | ${l.measured} | ${l.goal} | ${l.result} |`);
console.log(`\nper bench: ${[...results].map(([n, o]) => `${n} ${o.seconds.toFixed(0)} s${o.ok ? "" : " (failed)"}`).join(", ")}`);
const errors = lines.filter((l) => l.result === "ERROR").length;
const misses = lines.filter((l) => l.result === "MISS").length;
console.log(`${lines.filter((l) => l.result === "PASS").length} PASS, ${misses} MISS, ${errors} ERROR`);
if (loadavg()[0]! > cpus().length) {
  console.log(`note: the 1-minute load average is ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs: other work competed with these measurements (latency suffers most).`);
}
process.exit(errors > 0 || (flag("--strict") && misses > 0) ? 1 : 0);
