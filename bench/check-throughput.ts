// Envoy door throughput as ratios measured in one run (the machine is shared and noisy):
//   warm spiffe-authz (cached chain) vs a no-op grpc-js Check server — goal ≥ 0.90
//   telemetry on vs off — goal: ≤ 5 % cost; source.certificate vs XFCC
//   cold path (every certificate new: parse + 2 signatures) vs openssl's verify rate ÷ 2
// Every server runs from the build in its own process (bench/lib/server-host.mjs), pinned to CPU 0 when taskset
// exists; h2load sends real gRPC frames from CPU 1. Variants are interleaved over rounds so drift hits all alike.
// Run: npx tsx bench/check-throughput.ts [--quick] [--json]   (p50/p99 at 50 % load: bench/latency.ts)
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../src/trust/dev-workload-api/server.js";
import { argv, emitJson, flag, machine } from "./lib/args.js";
import { CHECK_PATH, checkFrame } from "./lib/grpc-wire.js";
import { RawH2Connection, requestTemplate } from "./lib/h2-raw.js";
import { bodyFile, h2load, haveTaskset, requireH2load } from "./lib/h2load.js";
import { LeafFactory, leafTemplate } from "./lib/leaf-factory.js";
import { ensureBuilt, startServerHost, type ServerHost } from "./lib/processes.js";
import { pass } from "./lib/stats.js";

requireH2load();
ensureBuilt();
const quick = flag("--quick");
const ROUND_S = quick ? 3 : 5;
const ROUNDS = quick ? 1 : 3;
const pin = haveTaskset();

const dir = mkdtempSync(join(tmpdir(), "bench-"));
const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "agent.sock")}`, intermediate: true });
const svid = await spire.issueX509Svid("spiffe://example.org/services/web");
const sourceBody = bodyFile(checkFrame(svid.chainPem));
// The same chain as Envoy forwards it in XFCC (SANITIZE_SET + Chain), no source.certificate.
const xfccBody = bodyFile(checkFrame(svid.chainPem, "/api/orders", "xfcc"));
const config = { allowlist: { prefix: ["spiffe://example.org/services"] }, audit: { "log-success": false, "log-failure": false } };

async function host(kind: "noop" | "authz", telemetry = true): Promise<ServerHost> {
  const h = await startServerHost({ kind, spire: spire.target, config, telemetry });
  if (pin) spawnSync("taskset", ["-a", "-p", "-c", "0", String(h.pid)], { stdio: "ignore" });
  return h;
}

const noop = await host("noop");
const on = await host("authz", true);
const off = await host("authz", false);
const variants: Array<[string, ServerHost, string]> = [
  ["noop", noop, sourceBody],
  ["on", on, sourceBody],
  ["off", off, sourceBody],
  ["xfcc", on, xfccBody],
];
const load = { seconds: ROUND_S, ...(pin ? { cpu: 1 } : {}) };
for (const [, h, body] of variants) await h2load(h.target, body, { ...load, seconds: 1 }); // JIT and cache warm-up
const sum: Record<string, number> = {};
let failed = 0;
let command = "";
for (let i = 0; i < ROUNDS; i++) {
  for (const [name, h, body] of variants) {
    const r = await h2load(h.target, body, load);
    sum[name] = (sum[name] ?? 0) + r.rps / ROUNDS;
    failed += r.failed + r.errored;
    command = r.command;
  }
}

// Cold: every call carries a certificate the server has never seen (parse + 2 signature checks), sent from
// this process over bench/lib/h2-raw.ts (the server is in its own process), 32 calls in flight.
const coldN = quick ? 600 : 3000;
const factory = new LeafFactory(await leafTemplate(spire.ca, "spiffe://example.org/services/cold-"));
const conn = await RawH2Connection.connect(on.target);
const coldTemplates = Array.from({ length: coldN }, (_, i) => requestTemplate(on.target, CHECK_PATH, checkFrame(factory.chainPem(i))));
let next = 0;
let coldAllowed = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (next < coldTemplates.length) {
      const t = coldTemplates[next++]!;
      if ((await new Promise((resolve) => conn.call(t, resolve))) === "allow") coldAllowed++;
    }
  }),
);
const coldRps = coldN / ((performance.now() - t0) / 1000);
conn.close();
const ossl = spawnSync("openssl", ["speed", "-seconds", quick ? "1" : "3", "ecdsap256"], { encoding: "utf8" }).stdout ?? "";
const verifyPerSec = Number(/256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+[\d.]+\s+([\d.]+)/.exec(ossl)?.[1] ?? NaN);

for (const h of [noop, on, off]) await h.stop();
await spire.close();

const noopRps = sum["noop"]!;
const onRps = sum["on"]!;
const offRps = sum["off"]!;
const xfccRps = sum["xfcc"]!;
const warmRatio = onRps / noopRps;
const telemetryCostPct = (1 - onRps / offRps) * 100;
const coldRatio = coldRps / (verifyPerSec / 2);
const rows = [
  ["no-op grpc-js Check server (ceiling)", `${noopRps.toFixed(0)} req/s`, "1.00", ""],
  ["spiffe-authz warm, source.certificate, telemetry on", `${onRps.toFixed(0)} req/s`, warmRatio.toFixed(2), `${pass(warmRatio >= 0.9)} (≥ 0.90)`],
  ["spiffe-authz warm, source.certificate, telemetry off", `${offRps.toFixed(0)} req/s`, (offRps / noopRps).toFixed(2), ""],
  ["spiffe-authz warm, XFCC Chain, telemetry on", `${xfccRps.toFixed(0)} req/s`, (xfccRps / noopRps).toFixed(2), ""],
  ["telemetry cost (1 − on/off)", `${telemetryCostPct.toFixed(1)} %`, "", `${pass(telemetryCostPct <= 5)} (≤ 5 %)`],
  ["cold path through the Envoy door (new cert each call)", `${coldRps.toFixed(0)} req/s (${coldAllowed}/${coldN} allowed)`, coldRatio.toFixed(2), "vs openssl verify/s ÷ 2 signatures"],
  ["openssl speed ecdsap256 (verify)", `${verifyPerSec.toFixed(0)} /s`, "", ""],
];
console.log(`\n${new Date().toISOString()}  ${machine()}  args: ${argv.join(" ") || "(none)"}`);
console.log(`load: ${command.replace(/-D \d+/, `-D ${ROUND_S}`)}; ${ROUND_S}s per variant × ${ROUNDS} interleaved rounds; servers ${pin ? "pinned to CPU 0, h2load to CPU 1" : "unpinned (no taskset)"}; failed requests: ${failed}\n`);
console.log("| measurement | result | ratio | target |\n|---|---|---|---|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
emitJson("check-throughput", { noopRps, warmRps: onRps, warmRatio, offRps, xfccRps, telemetryCostPct, coldRps, coldRatio, coldAllowed, coldN, opensslVerifyPerSecond: verifyPerSec, failed });
process.exit(0);
