// The long fuzz run: every property of test/fuzz/suites with many more cases than `npm test` gives them.
//
//   npm run fuzz                        # ≈1.9M cases (each property's longRuns), 2 workers, at most 45 min
//   npm run fuzz -- xfcc check/wire     # only properties whose name contains one of these
//   npm run fuzz -- x509/               # the X.509 differential against openssl verify alone (5000 cases)
//   FUZZ_RUNS=5000000 FUZZ_SEED=42 FUZZ_MINUTES=120 FUZZ_WORKERS=1 npm run fuzz
//
// FUZZ_RUNS changes the total number of cases, shared out in proportion to each property's `longRuns`. The
// seed of each property is derived from FUZZ_SEED (random unless given) and its name, and printed, so any
// run can be repeated. Each property may use the time still left divided by the properties still to run;
// one that runs out is stopped and reported as interrupted (its cases are counted), not as failed.
// A failing property prints fast-check's report (seed, path, shrunk counterexample); the exit code is 1.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { seedFor, type FuzzProperty, type FuzzSuite } from "../test/fuzz/harness.js";
import { certsSuite } from "../test/fuzz/suites/certs.js";
import { checkSuite } from "../test/fuzz/suites/check.js";
import { configSuite } from "../test/fuzz/suites/config.js";
import { jwtSuite } from "../test/fuzz/suites/jwt.js";
import { regexSuite } from "../test/fuzz/suites/regex.js";
import { spiffeIdSuite } from "../test/fuzz/suites/spiffe-id.js";
import { x509Suite } from "../test/fuzz/suites/x509.js";
import { xfccSuite } from "../test/fuzz/suites/xfcc.js";

const SUITES: FuzzSuite[] = [
  checkSuite,
  xfccSuite,
  certsSuite,
  spiffeIdSuite,
  jwtSuite,
  configSuite,
  regexSuite,
  x509Suite,
];

interface Result {
  name: string;
  seed: number;
  planned: number;
  numRuns: number;
  ms: number;
  status: "ok" | "interrupted" | "failed";
  report?: string;
}

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`fuzz: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
}

function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

/** Properties selected by the command-line filters, with their share of the total. */
async function plan(filters: string[], total: number | undefined): Promise<Array<{ p: FuzzProperty; runs: number }>> {
  const all: FuzzProperty[] = [];
  for (const s of SUITES) all.push(...(await s.properties()));
  const chosen = filters.length === 0 ? all : all.filter((p) => filters.some((f) => p.name.includes(f)));
  const weight = chosen.reduce((a, p) => a + p.longRuns, 0);
  return chosen.map((p) => ({
    p,
    runs: total === undefined ? p.longRuns : Math.max(1, Math.round((p.longRuns / weight) * total)),
  }));
}

/** Rough cost of one case, relative to a parser case: the Check path verifies signatures, config parses YAML. */
function costOf(name: string): number {
  if (name.startsWith("check/")) return 15;
  if (name.startsWith("x509/")) return 1500; // builds a chain and runs `openssl verify` per case
  if (name.startsWith("config/valid") || name === "xfcc/cert-and-chain-encodings") return 25;
  if (name.startsWith("config/")) return 5;
  return 1;
}

/** Longest-processing-time-first: each property to the worker with the least estimated work so far. */
function shardOf(planned: Array<{ p: FuzzProperty; runs: number }>, shards: number): number[] {
  const load = new Array<number>(shards).fill(0);
  const owner = new Array<number>(planned.length).fill(0);
  const order = planned.map((x, i) => ({ i, cost: x.runs * costOf(x.p.name) })).sort((a, b) => b.cost - a.cost);
  for (const { i, cost } of order) {
    const w = load.indexOf(Math.min(...load));
    owner[i] = w;
    load[w] = (load[w] as number) + cost;
  }
  return owner;
}

function totalFromEnv(): number | undefined {
  return process.env["FUZZ_RUNS"] ? envInt("FUZZ_RUNS", 1) : undefined;
}

/** One worker: runs its share of the properties in order, one JSON line per result on stdout. */
async function worker(shard: number, shards: number, filters: string[]): Promise<void> {
  const base = envInt("FUZZ_SEED", 1);
  const deadline = Number(process.env["FUZZ_DEADLINE"]);
  const planned = await plan(filters, totalFromEnv());
  const owner = shardOf(planned, shards);
  const mine = planned.filter((_, i) => owner[i] === shard);
  for (let k = 0; k < mine.length; k++) {
    const { p, runs } = mine[k] as { p: FuzzProperty; runs: number };
    const seed = seedFor(p.name, base);
    const timeLimitMs = Math.max(10_000, Math.floor((deadline - Date.now()) / (mine.length - k)));
    const t0 = performance.now();
    let r: Result;
    try {
      const out = await p.check({ seed, numRuns: runs, timeLimitMs });
      const status = out.failed && !out.interrupted ? "failed" : out.interrupted ? "interrupted" : "ok";
      r = {
        name: p.name,
        seed,
        planned: runs,
        numRuns: out.numRuns,
        ms: performance.now() - t0,
        status,
        ...(out.report ? { report: out.report } : {}),
      };
    } catch (err) {
      r = {
        name: p.name,
        seed,
        planned: runs,
        numRuns: 0,
        ms: performance.now() - t0,
        status: "failed",
        report: err instanceof Error ? (err.stack ?? err.message) : String(err),
      };
    }
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}

function line(r: Result): string {
  const rate = r.ms > 0 ? Math.round((r.numRuns / r.ms) * 1000) : 0;
  const status =
    r.status === "ok"
      ? "ok"
      : r.status === "interrupted"
        ? `INTERRUPTED after ${fmt(r.numRuns)} of ${fmt(r.planned)}`
        : "FAILED";
  return `${r.name.padEnd(52)} ${fmt(r.numRuns).padStart(10)} cases  seed ${String(r.seed).padStart(11)}  ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${fmt(rate).padStart(7)}/s  ${status}`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const shardArg = args.indexOf("--shard");
  if (shardArg >= 0) {
    const [i, n] = (args[shardArg + 1] ?? "").split("/").map(Number);
    await worker(
      i ?? 0,
      n ?? 1,
      args.filter((_, k) => k !== shardArg && k !== shardArg + 1),
    );
    return;
  }

  const filters = args;
  const seed = envInt("FUZZ_SEED", 1 + Math.floor(Math.random() * 2 ** 31 - 2));
  const minutes = envInt("FUZZ_MINUTES", 45);
  const workers = envInt("FUZZ_WORKERS", 2);
  const deadline = Date.now() + minutes * 60_000;
  const planned = await plan(filters, totalFromEnv());
  if (planned.length === 0) {
    console.error("fuzz: no property matches", filters.join(" "));
    process.exit(2);
  }
  console.log(
    `fuzz: ${planned.length} properties, ${fmt(planned.reduce((a, x) => a + x.runs, 0))} cases planned, FUZZ_SEED=${seed}, ${workers} worker(s), at most ${minutes} min`,
  );

  const started = performance.now();
  const results: Result[] = [];
  const self = fileURLToPath(import.meta.url);
  await Promise.all(
    Array.from({ length: workers }, (_, i) => {
      const child = spawn(process.execPath, ["--import", "tsx", self, "--shard", `${i}/${workers}`, ...filters], {
        env: { ...process.env, FUZZ_SEED: String(seed), FUZZ_DEADLINE: String(deadline) },
        stdio: ["ignore", "pipe", "inherit"],
      });
      let buf = "";
      child.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const text = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            const r = JSON.parse(text) as Result;
            results.push(r);
            console.log(line(r));
          } catch {
            console.log(text);
          }
        }
      });
      return new Promise<void>((resolve) =>
        child.on("close", (code) => {
          if (code !== 0)
            results.push({
              name: `worker ${i}`,
              seed,
              planned: 0,
              numRuns: 0,
              ms: 0,
              status: "failed",
              report: `exited with code ${code}`,
            });
          resolve();
        }),
      );
    }),
  );

  const cases = results.reduce((a, r) => a + r.numRuns, 0);
  const failed = results.filter((r) => r.status === "failed");
  const interrupted = results.filter((r) => r.status === "interrupted");
  const secs = (performance.now() - started) / 1000;
  for (const r of failed) console.log(`\n=== ${r.name} FAILED (seed ${r.seed}) ===\n${r.report ?? ""}`);
  console.log(
    `\nfuzz: ${fmt(cases)} cases in ${secs.toFixed(0)} s over ${results.length} properties (FUZZ_SEED=${seed}): ` +
      `${failed.length} failed, ${interrupted.length} interrupted by the time limit`,
  );
  process.exit(failed.length > 0 ? 1 : 0);
}

await main();
