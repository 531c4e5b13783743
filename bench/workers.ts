// `serve --workers 2` vs `serve --workers 1`: Envoy-door Check throughput of the real CLI (built: bin/spiffe-authz.js)
// under h2load, warm chain cache. Goal: workers=2 ≥ 1.6 × workers=1.
//
// Both servers run at once (idle while the other is loaded) against one dev Workload API in this process; h2load
// (-t1 -c8 -m16, real gRPC frames of a CheckRequest with a leaf + intermediate chain) loads one at a time, in
// interleaved rounds so drift on a shared machine hits both alike. node:cluster hands the 8 connections to the
// workers round-robin. h2load is pinned with taskset to the last CPU where taskset exists, but on a 2-CPU
// machine that CPU is also one of the two the workers need: the load generator competes with the workers, and
// workers=2 cannot reach 2× there. The CPU time each serve process used in the last workers=2 round shows how
// the work was spread. Run: npx tsx bench/workers.ts [--quick] [--seconds N] [--json]
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../src/trust/dev-workload-api/server.js";
import { argv, emitJson, flag, machine, numberArg } from "./lib/args.js";
import { checkFrame, freePort } from "./lib/grpc-wire.js";
import { bodyFile, h2load, haveTaskset, requireH2load } from "./lib/h2load.js";
import { cliCommand, ensureBuilt, spawnServe, waitReady, type CliServer } from "./lib/processes.js";
import { pass } from "./lib/stats.js";

requireH2load();
ensureBuilt();
const quick = flag("--quick");
const SECONDS = numberArg("--seconds", quick ? 2 : 8);
const ROUNDS = quick ? 2 : 3;
const GOAL = 1.6;
const CPU = cpus().length - 1;
const pinned = haveTaskset() && cpus().length > 1;

const dir = mkdtempSync(join(tmpdir(), "workers-"));
const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "agent.sock")}`, intermediate: true });
const svid = await spire.issueX509Svid("spiffe://example.org/services/web");
const body = bodyFile(checkFrame(svid.chainPem));
const cfg = join(dir, "config.yaml");
writeFileSync(cfg, "allowlist: { prefix: [spiffe://example.org/services] }\naudit: { log-success: false, log-failure: false }\n");

interface Serve {
  workers: number;
  target: string;
  server: CliServer;
}

async function serve(workers: number): Promise<Serve> {
  const port = await freePort();
  const metrics = `127.0.0.1:${await freePort()}`;
  const server = spawnServe(["--grpc-address", `127.0.0.1:${port}`, "--spire-socket", spire.target, "--config", cfg, "--metrics-address", metrics, "--workers", String(workers)]);
  await waitReady(metrics, 30_000, server);
  return { workers, target: `127.0.0.1:${port}`, server };
}

/** utime + stime of a process in clock ticks (Linux /proc), or NaN. */
function cpuTicks(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

function processTree(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // not Linux
  }
  return [pid, ...kids.flatMap(processTree)];
}

const servers = [await serve(1), await serve(2)];
const load = (s: Serve, seconds: number) => h2load(s.target, body, { seconds, clients: 8, streams: 16, cpu: pinned ? CPU : undefined });
for (const s of servers) await load(s, 1); // warm-up: JIT, chain cache in every worker

const sums = [0, 0];
let failed = 0;
let command = "";
let spread: { pid: number; role: string; share: number }[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, s] of servers.entries()) {
    const pids = processTree(s.server.pid);
    const before = pids.map(cpuTicks);
    const res = await load(s, SECONDS);
    const used = pids.map((p, k) => cpuTicks(p) - before[k]!);
    const total = used.reduce((a, b) => a + b, 0);
    if (s.workers === 2) spread = pids.map((pid, k) => ({ pid, role: k === 0 ? "primary" : `worker ${k}`, share: used[k]! / total }));
    sums[i]! += res.rps;
    failed += res.failed + res.errored;
    command = res.command;
  }
}
for (const s of servers) await s.server.stop();
await spire.close();

const w1 = sums[0]! / ROUNDS;
const w2 = sums[1]! / ROUNDS;
const ratio = w2 / w1;
console.log(`\n${new Date().toISOString()}  ${machine()}  args: ${argv.join(" ") || "(none)"}`);
console.log(`${cliCommand().label}; load: ${command.replace(/ -D \d+(\.\d+)?/, ` -D ${SECONDS}`)}; ${ROUNDS} interleaved round(s) of ${SECONDS}s; failed requests: ${failed}`);
console.log(pinned ? `h2load pinned to CPU ${CPU} of ${cpus().length}: it competes with the workers for that CPU.` : "h2load not pinned (taskset missing or 1 CPU).");
console.log("\n| serve | Check/s | ratio | target |\n|---|---:|---:|---|");
console.log(`| --workers 1 | ${w1.toFixed(0)} | 1.00 | |`);
console.log(`| --workers 2 | ${w2.toFixed(0)} | ${ratio.toFixed(2)} | ${pass(ratio >= GOAL && failed === 0)} (≥ ${GOAL}×) |`);
if (ratio > cpus().length) console.log(`\nThe ratio exceeds the number of CPUs (${cpus().length}): the workers=1 rounds were disturbed by other work; rerun with more rounds or a quieter machine.`);
if (spread.length > 0 && spread.every((s) => Number.isFinite(s.share))) {
  console.log(`\nCPU time in the last workers=2 round: ${spread.map((s) => `${s.role} ${(s.share * 100).toFixed(0)} %`).join(", ")}`);
}
emitJson("workers", { quick, workers1: w1, workers2: w2, ratio, goal: GOAL, pass: ratio >= GOAL && failed === 0, failed, cpus: cpus().length, h2loadPinnedCpu: pinned ? CPU : null, spread });
process.exit(0);
