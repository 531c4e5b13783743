// Envoy door throughput as ratios measured in one run (the machine is shared and noisy):
//   headline: spiffe-authz with the shipped defaults — every decision audited (one JSON line each, written to a
//   file as `serve` writes stdout), telemetry on, nothing pinned — vs a no-op grpc-js Check server — goal ≥ 0.90
//   extra rows: audit off; telemetry on vs off — goal: ≤ 5 % cost, within the round-to-round noise band;
//   source.certificate vs XFCC; the no-op answered on spiffe-authz's raw HTTP/2 path (the floor of the path the Envoy
//   door takes on a plaintext port, src/grpc/raw-unary.ts); the defaults with servers pinned to CPU 0 and h2load to CPU 1 (where taskset exists)
//   cold path (every leaf new: parse + its signature; the verified-CA cache of keys and CA signatures is warm) vs
//   openssl's verify rate ÷ 2
// Only correct answers count: h2load's "succeeded" is any HTTP 200, and a gRPC deny is one too. While h2load runs, a
// sampler (bench/lib/outcome-sampler.ts) reads answers on its own connection and checks each is an allow carrying
// the expected SPIFFE ID; a rate counts only the correct share, and any wrong answer misses the verdict.
// Every server runs from the build in its own process (bench/lib/server-host.mjs). Variants are interleaved over
// rounds so drift hits all alike.
// Run: npx tsx bench/check-throughput.ts [--quick] [--json]   (p50/p99 at 50 % load: bench/latency.ts)
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { startDevSpire } from "./lib/dev-spire.js";
import { argv, emitJson, flag, machine } from "./lib/args.js";
import { CHECK_PATH, checkFrame } from "./lib/grpc-wire.js";
import { RawH2Connection, requestTemplate } from "./lib/h2-raw.js";
import { bodyFile, h2load, haveTaskset, requireH2load } from "./lib/h2load.js";
import { LeafFactory, leafTemplate } from "./lib/leaf-factory.js";
import { ensureBuilt, startServerHost, type ServerHost } from "./lib/processes.js";
import { sampleWhile, type Expectation } from "./lib/outcome-sampler.js";
import { pass } from "./lib/stats.js";
import {
  addSamples,
  correctRps,
  emptySample,
  sampleVerdict,
  telemetryCostVerdict,
  throughputVerdict,
  type OutcomeSample,
} from "./lib/verdicts.js";

requireH2load();
ensureBuilt();
const quick = flag("--quick");
const ROUND_S = quick ? 3 : 5;
const ROUNDS = quick ? 2 : 3; // at least 2: the telemetry cost needs a round-to-round noise estimate
const pin = haveTaskset();
const ALL_CPUS = `0-${cpus().length - 1}`;
const taskset = (cpu: string, pid: number) =>
  spawnSync("taskset", ["-a", "-p", "-c", cpu, String(pid)], { stdio: "ignore" });

const { dir, spire } = await startDevSpire("bench");
const ID = "spiffe://example.org/services/web";
const svid = await spire.issueX509Svid(ID);
const sourceFrame = checkFrame(svid.chainPem);
const sourceBody = bodyFile(sourceFrame);
// The same chain as Envoy forwards it in XFCC (SANITIZE_SET + Chain), no source.certificate.
const xfccFrame = checkFrame(svid.chainPem, "/api/orders", "xfcc");
const xfccBody = bodyFile(xfccFrame);
// The shipped defaults: only an allowlist is set; audit.log-success and telemetry are on.
const defaults = { allowlist: { prefix: ["spiffe://example.org/services"] } };
const quiet = { ...defaults, audit: { "log-success": false, "log-failure": false } };
const auditFile = join(dir, "audit.log");

const noop = await startServerHost({ kind: "noop" });
const noopRaw = await startServerHost({ kind: "noop-raw" });
const dflt = await startServerHost({ kind: "authz", spire: spire.target, config: defaults, logFile: auditFile });
const on = await startServerHost({ kind: "authz", spire: spire.target, config: quiet, telemetry: true });
const off = await startServerHost({ kind: "authz", spire: spire.target, config: quiet, telemetry: false });
const allowWeb: Expectation = { outcome: "allow", contains: ID };
// [name, host, h2load body, sampler frame, expected answer, pinned]. Pinned rounds move the two servers to CPU 0
// and h2load to CPU 1 for that round only (what the earlier headline measured; no user runs it that way).
type Variant = [string, ServerHost, string, Uint8Array, Expectation, boolean];
const variants: Variant[] = [
  ["noop", noop, sourceBody, sourceFrame, { outcome: "allow" }, false], // the no-op server answers OK, no headers
  ["noopRaw", noopRaw, sourceBody, sourceFrame, { outcome: "allow" }, false],
  ["defaults", dflt, sourceBody, sourceFrame, allowWeb, false],
  ["on", on, sourceBody, sourceFrame, allowWeb, false],
  ["off", off, sourceBody, sourceFrame, allowWeb, false],
  ["xfcc", on, xfccBody, xfccFrame, allowWeb, false],
  ...(pin
    ? ([
        ["noopPinned", noop, sourceBody, sourceFrame, { outcome: "allow" }, true],
        ["defaultsPinned", dflt, sourceBody, sourceFrame, allowWeb, true],
      ] satisfies Variant[])
    : []),
];
const load = { seconds: ROUND_S };
for (const [, h, body] of variants) await h2load(h.target, body, { ...load, seconds: 1 }); // JIT and cache warm-up
const sum: Record<string, number> = {};
const perRound: Record<string, number[]> = {};
const samples: Record<string, OutcomeSample> = {};
let failed = 0;
let command = "";
for (let i = 0; i < ROUNDS; i++) {
  for (const [name, h, body, frame, want, pinned] of variants) {
    if (pinned) taskset("0", h.pid);
    const { result: r, sample } = await sampleWhile(
      h.target,
      frame,
      want,
      h2load(h.target, body, pinned ? { ...load, cpu: 1 } : load),
    );
    if (pinned) taskset(ALL_CPUS, h.pid);
    samples[name] = addSamples(samples[name] ?? emptySample(), sample);
    (perRound[name] ??= []).push(r.rps);
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
const coldTemplates = Array.from({ length: coldN }, (_, i) =>
  requestTemplate(on.target, CHECK_PATH, checkFrame(factory.chainPem(i))),
);
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
const ossl =
  spawnSync("openssl", ["speed", "-seconds", quick ? "1" : "3", "ecdsap256"], { encoding: "utf8" }).stdout ?? "";
const verifyPerSec = Number(
  /256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+[\d.]+\s+([\d.]+)/.exec(ossl)?.[1] ?? NaN,
);

for (const h of [noop, noopRaw, dflt, on, off]) await h.stop();
const auditBytes = statSync(auditFile).size;
await spire.close();

// Rates count only correct answers: h2load's rate × the sampled share of correct answers.
const correct = (name: string) => correctRps(sum[name]!, samples[name]!);
const noopRps = correct("noop");
const noopRawRps = correct("noopRaw");
const defaultsRps = correct("defaults");
const onRps = correct("on");
const offRps = correct("off");
const xfccRps = correct("xfcc");
const warm = throughputVerdict({
  rps: sum["defaults"]!,
  sample: samples["defaults"]!,
  baselineRps: sum["noop"]!,
  baselineSample: samples["noop"]!,
  goal: 0.9,
});
const warmRatio = warm.ratio;
const cost = telemetryCostVerdict(perRound["on"]!, perRound["off"]!);
const telemetryOk = cost.ok && sampleVerdict(samples["on"]!).ok && sampleVerdict(samples["off"]!).ok;
const telemetryCostPct = cost.value;
const coldRatio = coldRps / (verifyPerSec / 2);
const sampled = (name: string) => {
  const x = samples[name]!;
  return `${x.correct}/${x.checked} sampled answers correct`;
};
const pinnedRatio = pin ? correct("defaultsPinned") / correct("noopPinned") : NaN;
const rows = [
  ["no-op grpc-js Check server (ceiling), unpinned", `${noopRps.toFixed(0)} req/s (${sampled("noop")})`, "1.00", ""],
  [
    "**spiffe-authz, shipped defaults** (every decision audited, telemetry on), unpinned",
    `${defaultsRps.toFixed(0)} req/s (${sampled("defaults")}; ${(auditBytes / 1e6).toFixed(0)} MB of audit lines)`,
    warmRatio.toFixed(2),
    `${pass(warm.ok)} (≥ 0.90)${warm.why ? `: ${warm.why}` : ""}`,
  ],
  [
    "no-op Check on spiffe-authz's raw HTTP/2 path (how the Envoy door is served on a plaintext port; extra row)",
    `${noopRawRps.toFixed(0)} req/s (${sampled("noopRaw")})`,
    (noopRawRps / noopRps).toFixed(2),
    `shipped defaults ÷ this: ${(defaultsRps / noopRawRps).toFixed(2)}`,
  ],
  [
    "spiffe-authz, audit off, telemetry on",
    `${onRps.toFixed(0)} req/s (${sampled("on")})`,
    (onRps / noopRps).toFixed(2),
    "",
  ],
  [
    "spiffe-authz, audit off, telemetry off",
    `${offRps.toFixed(0)} req/s (${sampled("off")})`,
    (offRps / noopRps).toFixed(2),
    "",
  ],
  [
    "spiffe-authz, audit off, telemetry on, XFCC Chain",
    `${xfccRps.toFixed(0)} req/s (${sampled("xfcc")})`,
    (xfccRps / noopRps).toFixed(2),
    "",
  ],
  [
    "telemetry cost (1 − on/off), per round",
    `${telemetryCostPct.toFixed(1)} % ± ${cost.band.toFixed(1)} (rounds: ${cost.perRound.map((c) => c.toFixed(1)).join(", ")})`,
    "",
    `${pass(telemetryOk)} (≤ 5 %, not below −noise)${cost.why ? `: ${cost.why}` : ""}`,
  ],
  [
    "cold leaf through the Envoy door (new leaf each call; verified-CA cache of keys and CA signatures warm)",
    `${coldRps.toFixed(0)} req/s (${coldAllowed}/${coldN} allowed)`,
    coldRatio.toFixed(2),
    "vs openssl verify/s ÷ 2 signatures",
  ],
  ["openssl speed ecdsap256 (verify)", `${verifyPerSec.toFixed(0)} /s`, "", ""],
];
if (pin)
  rows.splice(6, 0, [
    "shipped defaults with the servers pinned to CPU 0, h2load to CPU 1 (vs the no-op, pinned alike)",
    `${correct("defaultsPinned").toFixed(0)} vs ${correct("noopPinned").toFixed(0)} req/s`,
    pinnedRatio.toFixed(2),
    "",
  ]);
console.log(`\n${new Date().toISOString()}  ${machine()}  args: ${argv.join(" ") || "(none)"}`);
console.log(
  `load: ${command.replace(/-D \d+/, `-D ${ROUND_S}`)}; ${ROUND_S}s per variant × ${ROUNDS} interleaved rounds; unpinned${pin ? " (pinned rounds: servers on CPU 0, h2load on CPU 1)" : ""}; failed requests: ${failed}\n`,
);
console.log("| measurement | result | ratio | target |\n|---|---|---|---|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
emitJson("check-throughput", {
  noopRps,
  noopRawRps,
  warmRps: defaultsRps,
  auditOffRps: onRps,
  pinnedRatio,
  auditBytes,
  warmRatio,
  warmPass: warm.ok,
  warmWhy: warm.why,
  offRps,
  xfccRps,
  telemetryCostPct,
  telemetryBandPct: cost.band,
  telemetryPerRoundPct: cost.perRound,
  telemetryPass: telemetryOk,
  telemetryWhy: cost.why,
  h2loadRps: sum,
  perRound,
  samples,
  coldRps,
  coldRatio,
  coldAllowed,
  coldN,
  coldWarmCaches: ["verified-CA keys", "verified CA signatures"],
  opensslVerifyPerSecond: verifyPerSec,
  failed,
});
process.exit(0);
