// Latency at 50 % load, warm: p50/p90/p99/max of Envoy-door Check calls with an out-of-process, open-loop
// driver, for spiffe-authz and, as the baseline, a no-op grpc-js Check server. Goal: p99 ≤ 2 ms.
//
// Three processes: this one (dev Workload API, orchestration), the server under test (bench/lib/server-host.mjs
// over the build in dist/), and the load generator (h2load for the maximum, then bench/lib/open-loop-driver.ts), so that neither load
// generator shares the server's event loop. Per server:
//   1. maximum throughput, closed loop: h2load -t1 -c4 -m16 (real gRPC frames of a CheckRequest carrying a
//      leaf + intermediate EC P-256 chain in source.certificate, as Envoy sends it);
//   2. warm-up at 50 % of that maximum, discarded;
//   3. the measured run at 50 %: requests leave on a fixed schedule over 4 HTTP/2 connections and latency is
//      taken from each request's scheduled send time (no coordinated omission), so generator lateness counts
//      against the server rather than hiding its stalls; the generator's own lateness is shown as "send lag".
// Why not h2load --rps: h2load prints min/max/mean/sd of request time, no percentiles, and its --log-file
// times requests from when they actually left (coordinated omission when it falls behind).
// Run: npx tsx bench/latency.ts [--quick] [--seconds N] [--json]
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../src/trust/dev-workload-api/server.js";
import { argv, emitJson, flag, machine, numberArg } from "./lib/args.js";
import { checkFrame } from "./lib/grpc-wire.js";
import { bodyFile, h2load, haveTaskset, requireH2load } from "./lib/h2load.js";
import { ensureBuilt, OpenLoopDriver, startServerHost } from "./lib/processes.js";
import type { DriverStats } from "./lib/open-loop-driver.js";
import { pass } from "./lib/stats.js";

requireH2load();
ensureBuilt();
const quick = flag("--quick");
const pin = haveTaskset();
const MAX_S = numberArg("--max-seconds", quick ? 2 : 8);
const WARM_S = numberArg("--warm-seconds", quick ? 1 : 3);
const RUN_S = numberArg("--seconds", quick ? 3 : 15);
const LOAD = numberArg("--load", 0.5);
const TARGET_P99_MS = 2;

const dir = mkdtempSync(join(tmpdir(), "latency-"));
const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "agent.sock")}`, intermediate: true });
const svid = await spire.issueX509Svid("spiffe://example.org/services/web");
const frame = checkFrame(svid.chainPem);
const body = bodyFile(frame);
const config = { allowlist: { prefix: ["spiffe://example.org/services"] }, audit: { "log-success": false, "log-failure": false } };

interface Row {
  server: string;
  maxRps: number;
  rate: number;
  stats: DriverStats;
}

async function measure(kind: "noop" | "authz"): Promise<Row> {
  const host = await startServerHost({ kind, spire: spire.target, config });
  // One CPU each, so neither waits for the other's timeslice (when taskset exists).
  if (pin) spawnSync("taskset", ["-a", "-p", "-c", "0", String(host.pid)], { stdio: "ignore" });
  const driver = await OpenLoopDriver.start(pin ? { cpu: 1 } : {});
  try {
    await h2load(host.target, body, { seconds: 1, ...(pin ? { cpu: 1 } : {}) }); // JIT and cache warm-up
    const max = await h2load(host.target, body, { seconds: MAX_S, ...(pin ? { cpu: 1 } : {}) });
    if (max.failed + max.errored > 0) throw new Error(`${kind}: h2load saw ${max.failed} failed, ${max.errored} errored requests`);
    const rate = Math.max(1, Math.round(max.rps * LOAD));
    await driver.connect(host.target, 4);
    await driver.bodies([{ id: "web", frame, expect: "allow" }]);
    await driver.run(rate, WARM_S);
    const stats = await driver.run(rate, RUN_S);
    return { server: kind === "noop" ? "no-op grpc-js Check server" : "spiffe-authz (warm chain cache)", maxRps: max.rps, rate, stats };
  } finally {
    await driver.close();
    await host.stop();
  }
}

const rows = [await measure("noop"), await measure("authz")];
await spire.close();

const authz = rows[1]!;
const valid = (r: Row) => r.stats.errors + r.stats.unanswered + r.stats.mismatches === 0;
const ok = valid(authz) && authz.stats.latency.p99Ms <= TARGET_P99_MS;
console.log(`\n${new Date().toISOString()}  ${machine()}  args: ${argv.join(" ") || "(none)"}`);
console.log(`max: h2load -t1 -c4 -m16 closed loop ${MAX_S}s; then open loop at ${Math.round(LOAD * 100)} % of it over 4 HTTP/2 connections: ${WARM_S}s warm-up (discarded) + ${RUN_S}s measured; latency from scheduled send time\n`);
console.log("| server | max (closed loop) | offered (open loop) | achieved | p50 | p90 | p99 | p99.9 | max | send lag p99 | errors | target |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
for (const r of rows) {
  const l = r.stats.latency;
  const target = r === authz ? `${pass(ok)} (p99 ≤ ${TARGET_P99_MS} ms)` : "baseline";
  console.log(
    `| ${r.server} | ${r.maxRps.toFixed(0)} req/s | ${r.rate} req/s | ${r.stats.achievedRps.toFixed(0)} req/s | ${l.p50Ms.toFixed(3)} ms | ${l.p90Ms.toFixed(3)} ms | ${l.p99Ms.toFixed(3)} ms | ${l.p999Ms.toFixed(3)} ms | ${l.maxMs.toFixed(3)} ms | ${r.stats.sendLag.p99Ms.toFixed(3)} ms | ${r.stats.errors + r.stats.unanswered + r.stats.mismatches} | ${target} |`,
  );
}
if (!valid(authz)) console.log(`\nspiffe-authz answered ${authz.stats.errors} errors, left ${authz.stats.unanswered} unanswered and gave ${authz.stats.mismatches} denials for an allowed identity: the latency above is not valid.`);
emitJson("latency", {
  quick,
  load: LOAD,
  targetP99Ms: TARGET_P99_MS,
  pass: ok,
  authz: { maxRps: authz.maxRps, rate: authz.rate, ...authz.stats },
  noop: { maxRps: rows[0]!.maxRps, rate: rows[0]!.rate, ...rows[0]!.stats },
});
process.exit(0);
