// bench/envoy-e2e: one real Envoy (the pinned 1.40) with mTLS from a real SPIRE, four filter chains side by side,
// under open-loop load from vegeta presenting a client X509-SVID:
//   (a) no authorization, the baseline; (b) Envoy's RBAC filter with the allowlist of deploy/config.example.yaml
//   (principals by URI SAN); (c) ext_authz → spiffe-authz with that file, as the README's tour runs it (every
//   decision audited, telemetry on, unpinned); (d) ext_authz → OPA-Envoy with the same allowlist in Rego.
// At each offered rate the chains take turns (a, b, c, d, a, b, c, d, …) so that drift hits all of them alike.
// Every allowed request must be a 200 that the upstream saw (spiffe-authz's: with its X-SPIFFE-Id); a client off
// the allowlist must get 403 from (b), (c), (d) and never reach the upstream. Any other answer fails the run.
//   npm run bench:envoy                         full run (≈ 6–8 min on 2 CPUs)
//   BENCH_ENVOY_SECONDS=3 npm run bench:envoy   short run, for trying the harness
// Environment: BENCH_ENVOY_SECONDS (per chain per rate, split over the rounds; default 12), BENCH_ENVOY_ROUNDS
// (default 3), BENCH_ENVOY_RATES (default 500,1000,2000; 50 % of the measured maximum is added),
// BENCH_ENVOY_MAX_SECONDS (per chain, default 5), BENCH_ENVOY_MAX_WORKERS (default 32),
// BENCH_ENVOY_AUTHZ_ARGS (extra `serve` flags, e.g. "--workers 2": an extra row, not the headline),
// BENCH_ENVOY_PROFILE=1 (spiffe-authz under node --cpu-prof; its self time by function and origin is printed),
// BENCH_ENVOY_NODE_ARGS (node flags for spiffe-authz, e.g. "--trace-gc"), BENCH_ENVOY_CONFIG (another config),
// BENCH_ENVOY_SPLIT=1 (what spiffe-authz itself saw of each Check, per rate: ./lib/stream-split-hook.mjs),
// BENCH_ENVOY_AUTHZ_STANDIN=grpc-js|http2 (chain (c) served by a minimal stand-in instead of spiffe-authz, to
// measure the transport's own floor: ./lib/authz-standin.mjs; never the headline).
// Needs the peers and the bench tools: `npm run peers -- --bench`. Exits 1 on a MISS or a wrong answer.
import { spawn, type ChildProcess } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from "node:fs";
import { createServer, request, type Server } from "node:http";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { missingPeer, PINS, requirePeers, ROOT } from "../e2e/lib/peers.js";
import { Scene, until } from "../e2e/lib/proc.js";
import { id, Spire } from "../e2e/lib/spire.js";
import { freePort } from "../test/helpers/clients.js";
import { emitJson } from "./lib/args.js";
import { allowlistOf, CHAIN_LABEL, CHAINS, chainsConfig, regoPolicy, type Chain } from "./lib/envoy-chains.js";
import {
  added,
  authorizerCpuPer1k,
  envoyTargets,
  percentile,
  type ChainFigures,
  type TargetLine,
} from "./lib/envoy-verdicts.js";
import { summariseProfile } from "./lib/cpu-profile.js";
import { splitByRate, splitTable, type Window as SplitWindow } from "./lib/stream-split.js";
import { threadCpuSeconds, treeCpuSeconds } from "./lib/proc-cpu.js";
import { ensureBuilt, V8_AS_SERVE } from "./lib/processes.js";
import { suiteOutcome } from "./lib/verdicts.js";
import { attack, missingBenchTool, OPA_ENVOY, VEGETA, type AttackResult, type ClientCert } from "./lib/vegeta.js";

const envNum = (name: string, dflt: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`${name}: expected a positive number, got ${raw}`);
    process.exit(2);
  }
  return v;
};
const SECONDS = envNum("BENCH_ENVOY_SECONDS", 12);
const ROUNDS = Math.round(envNum("BENCH_ENVOY_ROUNDS", 3));
const MAX_SECONDS = envNum("BENCH_ENVOY_MAX_SECONDS", 5);
const MAX_WORKERS = Math.round(envNum("BENCH_ENVOY_MAX_WORKERS", 32));
const RATES = (process.env["BENCH_ENVOY_RATES"] ?? "500,1000,2000").split(",").map((r) => {
  const v = Number(r);
  if (!Number.isInteger(v) || v <= 0) {
    console.error(`BENCH_ENVOY_RATES: expected positive integers, got ${r}`);
    process.exit(2);
  }
  return v;
});
const AUTHZ_ARGS = (process.env["BENCH_ENVOY_AUTHZ_ARGS"] ?? "").split(/\s+/).filter(Boolean);
const PROFILE = process.env["BENCH_ENVOY_PROFILE"] === "1";
// BENCH_ENVOY_NODE_ARGS: node flags for spiffe-authz's process, to explain a figure (e.g. "--trace-gc").
const NODE_ARGS = (process.env["BENCH_ENVOY_NODE_ARGS"] ?? "").split(/\s+/).filter(Boolean);
const SPLIT = process.env["BENCH_ENVOY_SPLIT"] === "1";
const STANDIN = process.env["BENCH_ENVOY_AUTHZ_STANDIN"] ?? "";
if (STANDIN !== "" && STANDIN !== "grpc-js" && STANDIN !== "http2") {
  console.error(`BENCH_ENVOY_AUTHZ_STANDIN: expected grpc-js or http2, got ${STANDIN}`);
  process.exit(2);
}
/** With SPLIT: the wall-clock windows of spiffe-authz's measured steps, to cut its own records by rate. */
const splitWindows: SplitWindow[] = [];
const TARGET_RATE = 1000;
// BENCH_ENVOY_CONFIG: another spiffe-authz config (its allowlist is what RBAC and OPA-Envoy get too), e.g. the example
// with audit off, to split a figure; the headline is the shipped example.
const CONFIG = process.env["BENCH_ENVOY_CONFIG"] ?? join(ROOT, "deploy/config.example.yaml");

const missing = missingPeer(["spire", "envoy"]) ?? missingBenchTool();
if (missing) {
  console.error(missing);
  process.exit(2);
}
ensureBuilt();

// ── The upstream: the same tiny server behind every chain, counting what reached it per chain ───────────────

const ALLOWED = id("frontend");
const seen = new Map<string, number>();
const count = (k: string) => seen.get(k) ?? 0;
const upstream: Server = createServer((req, res) => {
  const chain = String(req.headers["x-bench-chain"] ?? "?");
  seen.set(chain, count(chain) + 1);
  if (req.headers["x-spiffe-id"] === ALLOWED) seen.set(`${chain}+id`, count(`${chain}+id`) + 1);
  req.resume();
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("ok");
});

// ── Processes ────────────────────────────────────────────────────────────────────────────────────────────────

const scene = new Scene("envoy-bench");
const started: ChildProcess[] = [];
let failed = false;

/** A process whose output goes to a file in the scene (audit lines at thousands a second stay out of our heap). */
function spawnLogged(name: string, cmd: string, args: string[]): { child: ChildProcess; log: string } {
  const log = scene.path(`${name}.log`);
  const fd = openSync(log, "a");
  const child = spawn(cmd, args, { stdio: ["ignore", fd, fd], cwd: ROOT });
  closeSync(fd);
  started.push(child);
  return { child, log };
}
const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
const tail = (log: string) => readFileSync(log, "utf8").split("\n").slice(-20).join("\n");

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function waitUp(what: string, c: ChildProcess, log: string, probe: () => Promise<boolean>): Promise<void> {
  await until(
    what,
    async () => {
      if (exited(c)) throw new Error(`${what}: the process exited:\n${tail(log)}`);
      return (await probe().catch(() => false)) ? true : undefined;
    },
    60_000,
    200,
  );
}

async function teardown(): Promise<void> {
  for (const c of started.reverse()) {
    if (exited(c)) continue;
    const gone = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    // spiffe-authz drains before it exits (and writes its --cpu-prof profile then).
    const t = setTimeout(() => c.kill("SIGKILL"), 15_000);
    await gone;
    clearTimeout(t);
  }
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
  printProfile();
  printSplit();
  await scene.teardown(failed);
}
/** With BENCH_ENVOY_PROFILE=1: where spiffe-authz's CPU went (the profile is written when it exits). */
function printProfile(): void {
  if (!PROFILE) return;
  const dir = scene.path("profile");
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")) : [];
  if (files.length === 0) console.log("profile: spiffe-authz wrote no .cpuprofile");
  for (const f of files) {
    const s = summariseProfile(join(dir, f));
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    console.log(
      `\nspiffe-authz CPU profile, main thread (${f}: ${(s.totalMs / 1000).toFixed(1)} s wall, ${(s.busyMs / 1000).toFixed(1)} s busy; shares of busy self time):`,
    );
    console.log(`  by origin: ${s.byOrigin.map((o) => `${o.name} ${pct(o.share)}`).join(", ")}`);
    for (const fn of s.byFunction) console.log(`  ${pct(fn.share).padStart(7)}  ${fn.name}`);
  }
}

/** With BENCH_ENVOY_SPLIT=1: spiffe-authz's own view of each rate (its records are written when it exits). */
function printSplit(): void {
  if (!SPLIT) return;
  const file = scene.path("stream-split.json");
  if (!existsSync(file)) return console.log("split: spiffe-authz wrote no records");
  console.log(
    "\nspiffe-authz's own view (BENCH_ENVOY_SPLIT=1): each Check stream from its HEADERS read to its answer written, " +
      "the event loop's lateness and GC pauses, in the measured steps of chain (c):",
  );
  console.log(splitTable(splitByRate(file, splitWindows)));
}

// ── One measured step ────────────────────────────────────────────────────────────────────────────────────────

interface Step {
  result: AttackResult;
  upstream: number;
  upstreamWithId: number;
  /** Wall-clock span of the load. */
  startMs: number;
  endMs: number;
  authzCpu: number;
  envoyCpu: number;
}

interface Pids {
  envoy: number;
  authz: Record<Chain, number | undefined>;
}

async function step(
  pids: Pids,
  chain: Chain,
  port: number,
  client: ClientCert,
  rate: number,
  seconds: number,
  maxWorkers?: number,
): Promise<Step> {
  const authzPid = pids.authz[chain];
  const cpu = () => ({ envoy: treeCpuSeconds(pids.envoy), authz: authzPid ? treeCpuSeconds(authzPid) : NaN });
  const up0 = count(chain);
  const id0 = count(`${chain}+id`);
  const c0 = cpu();
  const dir = scene.path(`vegeta-${chain}`);
  mkdirSync(dir, { recursive: true });
  const startMs = Date.now();
  const result = await attack({ url: `https://127.0.0.1:${port}/api/orders`, rate, seconds, client, dir, maxWorkers });
  const endMs = Date.now();
  const c1 = cpu();
  return {
    result,
    upstream: count(chain) - up0,
    upstreamWithId: count(`${chain}+id`) - id0,
    startMs,
    endMs,
    authzCpu: c1.authz - c0.authz,
    envoyCpu: c1.envoy - c0.envoy,
  };
}

const ok200 = (r: AttackResult) => r.codes.get(200) ?? 0;
const total = (r: AttackResult) => [...r.codes.values()].reduce((s, n) => s + n, 0);
const codesText = (r: AttackResult) =>
  [...r.codes]
    .sort((x, y) => x[0] - y[0])
    .map(([c, n]) => `${c === 0 ? "no answer" : c}×${n}`)
    .join(", ") + (r.errors.length ? ` (${r.errors.join("; ")})` : "");

/** Wrong answers in an allowed step: not 200, or a 200 the upstream did not see (spiffe-authz: without its header). */
function badAllowed(chain: Chain, s: Step): { bad: number; why: string } {
  const n = total(s.result);
  const ok = ok200(s.result);
  const whys: string[] = [];
  let bad = n - ok;
  if (bad > 0) whys.push(`answers: ${codesText(s.result)}`);
  if (s.upstream !== ok) {
    bad += Math.abs(ok - s.upstream);
    whys.push(`upstream saw ${s.upstream} of ${ok} allowed`);
  }
  if (chain === "spiffe-authz" && s.upstreamWithId !== ok) {
    bad += Math.abs(ok - s.upstreamWithId);
    whys.push(`upstream saw X-SPIFFE-Id ${ALLOWED} on ${s.upstreamWithId} of ${ok}`);
  }
  return { bad, why: whys.join("; ") };
}

// ── The run ──────────────────────────────────────────────────────────────────────────────────────────────────

const t0 = performance.now();
const loadStart = loadavg();
const machineLine = () =>
  `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
console.log(
  `bench/envoy-e2e: ${machineLine()}; load average ${loadStart.map((x) => x.toFixed(2)).join(" ")} at start; ${new Date().toISOString()}`,
);
console.log(
  `Envoy ${PINS["ENVOY_VERSION"]}, SPIRE ${PINS["SPIRE_VERSION"]}, OPA-Envoy ${PINS["OPA_ENVOY_VERSION"]}, vegeta ${PINS["VEGETA_VERSION"]}; ` +
    `${SECONDS} s per chain per rate in ${ROUNDS} interleaved rounds; maximum: ${MAX_SECONDS} s per chain at ${MAX_WORKERS} workers`,
);

let exitCode = 1;
try {
  const peers = requirePeers(["spire", "envoy"]);
  const spire = new Spire(scene, peers);
  await spire.start();
  await spire.register(id("spiffe-authz"), realpathSync(process.execPath));
  await spire.register(id("envoy"), peers.envoy);
  const clients: Record<string, ClientCert> = {};
  let bundle = "";
  for (const name of ["frontend", "intruder"]) {
    const svid = await (await spire.workload(name)).x509();
    const certFile = scene.path(`${name}.crt`);
    const keyFile = scene.path(`${name}.key`);
    writeFileSync(certFile, svid.chainPem);
    writeFileSync(keyFile, svid.keyPem, { mode: 0o600 });
    clients[name] = { certFile, keyFile };
    bundle = svid.bundlePem;
  }
  if (!bundle) throw new Error("no trust bundle from SPIRE");

  const backend = await freePort();
  await new Promise<void>((r) => upstream.listen(backend, "127.0.0.1", r));

  // (c) spiffe-authz: the built CLI with deploy/config.example.yaml, on the real agent socket.
  const authzPort = await freePort();
  const metricsPort = await freePort();
  if (SPLIT) process.env["BENCH_STREAM_SPLIT_OUT"] = scene.path("stream-split.json");
  if (STANDIN) {
    process.env["BENCH_STANDIN_ALLOWED"] = ALLOWED;
    console.log(
      `NOTE: chain (c) is served by the ${STANDIN} STAND-IN (bench/lib/authz-standin.mjs), not by spiffe-authz: ` +
        "every figure and verdict below labelled spiffe-authz is the stand-in's",
    );
  }
  const authz = spawnLogged("spiffe-authz", process.execPath, [
    ...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${scene.path("profile")}`] : []),
    // The stand-in gets the V8 setting bin/spiffe-authz.js gives `serve`, so that only the code differs.
    ...(STANDIN ? V8_AS_SERVE : []),
    ...NODE_ARGS,
    ...(SPLIT ? ["--import", join(ROOT, "bench/lib/stream-split-hook.mjs")] : []),
    STANDIN ? join(ROOT, "bench/lib/authz-standin.mjs") : join(ROOT, "bin/spiffe-authz.js"),
    "serve",
    "--grpc-address",
    `127.0.0.1:${authzPort}`,
    "--spire-socket",
    `unix://${spire.agentSocket}`,
    "--config",
    CONFIG,
    "--metrics-address",
    `127.0.0.1:${metricsPort}`,
    ...AUTHZ_ARGS,
  ]);
  await waitUp(
    "spiffe-authz ready (/readyz)",
    authz.child,
    authz.log,
    async () => (await httpGet(metricsPort, "/readyz")).status === 200,
  );

  // (d) OPA-Envoy with its own defaults (no decision log unless configured), the allowlist in Rego.
  const allow = allowlistOf(readFileSync(CONFIG, "utf8"));
  const opaPort = await freePort();
  const opaHttp = await freePort();
  const opaDiag = await freePort();
  writeFileSync(scene.path("policy.rego"), regoPolicy(allow));
  writeFileSync(
    scene.path("opa.yaml"),
    `plugins:\n  envoy_ext_authz_grpc:\n    addr: 127.0.0.1:${opaPort}\n    path: envoy/authz/allow\n`,
  );
  const opa = spawnLogged("opa-envoy", OPA_ENVOY, [
    "run",
    "--server",
    `--addr=127.0.0.1:${opaHttp}`,
    `--diagnostic-addr=127.0.0.1:${opaDiag}`,
    "--disable-telemetry",
    `--config-file=${scene.path("opa.yaml")}`,
    scene.path("policy.rego"),
  ]);
  await waitUp(
    "OPA-Envoy healthy (/health?plugins)",
    opa.child,
    opa.log,
    async () => (await httpGet(opaDiag, "/health?plugins")).status === 200,
  );

  // The one Envoy, four listeners.
  const listeners = {} as Record<Chain, number>;
  for (const c of CHAINS) listeners[c] = await freePort();
  const admin = await freePort();
  const envoyFile = scene.path("envoy.json");
  writeFileSync(
    envoyFile,
    JSON.stringify(
      chainsConfig(
        { listeners, admin, backend, spiffeAuthz: authzPort, opaEnvoy: opaPort, agentSocket: spire.agentSocket },
        allow,
      ),
      null,
      2,
    ),
  );
  const envoy = spawnLogged("envoy", peers.envoy, ["-c", envoyFile, "--disable-hot-restart", "--log-level", "warning"]);
  const stat = async (name: string) => {
    const text = (await httpGet(admin, `/stats?filter=^${name.replace(/\./g, "\\.")}$`)).body;
    return Number(new RegExp(`^${name.replace(/\./g, "\\.")}: (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
  };
  await waitUp(
    "Envoy's four listeners active (SDS secrets delivered)",
    envoy.child,
    envoy.log,
    async () => (await stat("listener_manager.total_listeners_active")) === CHAINS.length,
  );
  await waitUp(
    "Envoy LIVE",
    envoy.child,
    envoy.log,
    async () => (await httpGet(admin, "/ready")).body.trim() === "LIVE",
  );
  const pids: Pids = {
    envoy: envoy.child.pid!,
    authz: { none: undefined, rbac: undefined, "spiffe-authz": authz.child.pid!, "opa-envoy": opa.child.pid! },
  };
  // Through (c): every request, and those answered with a decision (200 or 403; the rest timed out in Envoy).
  let spiffeAuthzRequests = 0;
  let spiffeAuthzDecided = 0;
  const counted = (chain: Chain, s: Step) => {
    if (chain === "spiffe-authz") {
      spiffeAuthzRequests += total(s.result);
      spiffeAuthzDecided += ok200(s.result) + (s.result.codes.get(403) ?? 0);
    }
    return s;
  };

  // Each chain denies a client off the allowlist (low rate; the baseline has nothing to deny with).
  const problems: string[] = [];
  const denial: string[] = [];
  for (const chain of CHAINS) {
    const s = counted(chain, await step(pids, chain, listeners[chain], clients["intruder"]!, 20, 2));
    const n = total(s.result);
    if (chain === "none") {
      if (ok200(s.result) !== n || s.upstream !== n)
        problems.push(`${chain}: intruder without authorization: ${codesText(s.result)}, upstream saw ${s.upstream}`);
    } else {
      const denied = s.result.codes.get(403) ?? 0;
      if (denied !== n || s.upstream !== 0)
        problems.push(`${chain}: intruder: ${codesText(s.result)}; upstream saw ${s.upstream} (expected ${n}×403, 0)`);
      denial.push(`${CHAIN_LABEL[chain]}: ${denied}/${n} × 403, upstream saw ${s.upstream}`);
    }
  }
  console.log(`\nintruder (${id("intruder")}, 20/s for 2 s): ${denial.join("; ")}`);

  // Warm-up: JIT, connections, caches. Its timeouts (503 from Envoy's ext_authz timeout) are reported, not
  // judged; any other wrong answer (a 403 for the allowed client, a 200 the upstream did not see) fails the run.
  for (const chain of CHAINS) {
    const s = counted(chain, await step(pids, chain, listeners[chain], clients["frontend"]!, 200, 3));
    const b = badAllowed(chain, s);
    const other = total(s.result) - ok200(s.result) - (s.result.codes.get(503) ?? 0);
    if (other > 0 || s.upstream !== ok200(s.result)) problems.push(`${chain}: warm-up: ${b.why}`);
    else if (b.bad) console.log(`warm-up ${CHAIN_LABEL[chain]}: ${b.why} (not judged)`);
  }
  if (problems.length) throw new Error(`wrong answers before the measurement:\n  ${problems.join("\n  ")}`);

  // The maximum of each chain (closed loop: vegeta at rate 0 with a fixed number of workers); 50 % of the slowest
  // chain's maximum is the extra rate, offered to all four.
  const maxRps = {} as Record<Chain, number>;
  for (const chain of CHAINS) {
    const s = counted(
      chain,
      await step(pids, chain, listeners[chain], clients["frontend"]!, 0, MAX_SECONDS, MAX_WORKERS),
    );
    maxRps[chain] = ok200(s.result) / s.result.spanS;
    const n = total(s.result);
    console.log(
      `maximum ${CHAIN_LABEL[chain]}: ${maxRps[chain].toFixed(0)} 200/s${ok200(s.result) !== n ? ` (${codesText(s.result)})` : ""}`,
    );
  }
  const slowest = CHAINS.reduce((m, c) => (maxRps[c] < maxRps[m] ? c : m), CHAINS[0]!);
  const half = Math.max(10, Math.round(maxRps[slowest] / 2 / 10) * 10);
  console.log(`50 % load: ${half}/s (half of the slowest chain's maximum, ${CHAIN_LABEL[slowest]})`);
  const rates = [...new Set([...RATES, half])].sort((x, y) => x - y);

  // Interleaved rounds at each rate.
  interface Acc {
    lat: number[];
    p99s: number[];
    requests: number;
    bad: number;
    whys: string[];
    authzCpu: number;
    envoyCpu: number;
    spanS: number;
    sent: number;
  }
  const figures = new Map<number, Record<Chain, ChainFigures & { achieved: number; whys: string[] }>>();
  for (const rate of rates) {
    const acc = {} as Record<Chain, Acc>;
    for (const c of CHAINS)
      acc[c] = { lat: [], p99s: [], requests: 0, bad: 0, whys: [], authzCpu: 0, envoyCpu: 0, spanS: 0, sent: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const chain of CHAINS) {
        const s = counted(
          chain,
          await step(pids, chain, listeners[chain], clients["frontend"]!, rate, SECONDS / ROUNDS),
        );
        const a = acc[chain];
        if (chain === "spiffe-authz") splitWindows.push({ rate, startMs: s.startMs, endMs: s.endMs });
        for (const v of s.result.latenciesMs) a.lat.push(v);
        a.p99s.push(percentile(s.result.latenciesMs, 0.99));
        a.requests += total(s.result);
        const b = badAllowed(chain, s);
        a.bad += b.bad;
        if (b.bad) a.whys.push(b.why);
        a.authzCpu += s.authzCpu;
        a.envoyCpu += s.envoyCpu;
        a.spanS += s.result.spanS;
        a.sent += s.result.sentRps;
      }
    }
    const row = {} as Record<Chain, ChainFigures & { achieved: number; whys: string[] }>;
    for (const c of CHAINS) {
      const a = acc[c];
      const sorted = Float64Array.from(a.lat).sort();
      row[c] = {
        rate,
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
        p999Ms: percentile(sorted, 0.999),
        p99sMs: a.p99s,
        requests: a.requests,
        bad: a.bad,
        authzCpuPer1k: (a.authzCpu / a.requests) * 1000,
        envoyCpuPer1k: (a.envoyCpu / a.requests) * 1000,
        achieved: a.requests / a.spanS,
        sentRps: a.sent / ROUNDS,
        whys: a.whys,
      };
    }
    figures.set(rate, row);
    console.log(
      `${rate}/s: ${CHAINS.map((c) => `${c} p99 ${row[c].p99Ms.toFixed(2)} ms${row[c].bad ? ` (${row[c].bad} bad)` : ""}`).join(", ")}`,
    );
  }

  // Audit: one line per decision, nothing dropped (spiffe-authz logs to a file here; give it a moment to flush).
  await new Promise((r) => setTimeout(r, 1000));
  const auditLines = readFileSync(authz.log, "utf8")
    .split("\n")
    .filter((l) => l.includes('"component":"audit"')).length;

  // ── The table ──────────────────────────────────────────────────────────────────────────────────────────────
  const ms = (x: number) => x.toFixed(2);
  const plus = (x: number) => (x >= 0 ? "+" : "−") + Math.abs(x).toFixed(2);
  const cpuText = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "—");
  const loadEnd = loadavg();
  console.log(
    `\n═══ bench/envoy-e2e: ${machineLine()}; load average ${loadStart.map((x) => x.toFixed(2)).join(" ")} at start, ` +
      `${loadEnd.map((x) => x.toFixed(2)).join(" ")} at end; ${new Date().toISOString()}, ${((performance.now() - t0) / 60_000).toFixed(1)} min ═══\n`,
  );
  console.log(
    "| offered/s | chain | sent/s | answered/s | p50 ms | p99 ms | p99.9 ms | added p50 | added p99 | added p99.9 | authorizer CPU s / 1000 req | Envoy CPU s / 1000 req | wrong |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const [rate, row] of figures) {
    const base = row.none;
    for (const c of CHAINS) {
      const f = row[c];
      const d = added(f, base);
      const authzCpu = c === "none" ? NaN : authorizerCpuPer1k(f, base, c === "rbac");
      const label = `${CHAIN_LABEL[c]}${rate === half ? " (50 % load)" : ""}`;
      console.log(
        `| ${rate} | ${label} | ${f.sentRps.toFixed(0)} | ${f.achieved.toFixed(0)} | ${ms(f.p50Ms)} | ${ms(f.p99Ms)} | ${ms(f.p999Ms)} | ` +
          `${c === "none" ? "—" : plus(d.p50Ms)} | ${c === "none" ? "—" : plus(d.p99Ms)} | ${c === "none" ? "—" : plus(d.p999Ms)} | ` +
          `${cpuText(authzCpu)}${c === "rbac" ? " (Envoy's extra)" : ""} | ${cpuText(f.envoyCpuPer1k)} | ${f.bad} |`,
      );
    }
  }
  console.log(
    `\nmaximum (closed loop, ${MAX_WORKERS} workers, ${MAX_SECONDS} s): ${CHAINS.map((c) => `${c} ${maxRps[c].toFixed(0)}/s`).join(", ")}`,
  );
  console.log(
    `audit: ${auditLines} JSON lines from spiffe-authz; through chain (c) ${spiffeAuthzRequests} requests, ` +
      `${spiffeAuthzDecided} answered 200/403 by a decision` +
      (auditLines >= spiffeAuthzDecided
        ? " (every decision delivered was audited)"
        : " — FEWER audit lines than decisions"),
  );
  const proto = async (chain: Chain, v: string) =>
    stat(`http.bench_${chain.replace("-", "_")}.downstream_cx_${v}_total`).catch(() => NaN);
  const protos: string[] = [];
  for (const c of CHAINS) protos.push(`${c} HTTP/1.1 ${await proto(c, "http1")}, HTTP/2 ${await proto(c, "http2")}`);
  console.log(`client connections Envoy accepted: ${protos.join("; ")}`);
  const threads = threadCpuSeconds(authz.child.pid!);
  console.log(
    `spiffe-authz CPU by thread over the whole run: ${threads
      .filter((t) => t.seconds >= 0.05)
      .map((t) => `${t.thread} ${t.seconds.toFixed(1)} s`)
      .join(", ")}`,
  );
  for (const [rate, row] of figures)
    for (const c of CHAINS)
      for (const w of row[c].whys.slice(0, 3)) console.log(`wrong answers, ${c} at ${rate}/s: ${w}`);

  // ── Verdicts ───────────────────────────────────────────────────────────────────────────────────────────────
  const at = figures.get(TARGET_RATE);
  const lines: TargetLine[] = at
    ? envoyTargets({ none: at.none, rbac: at.rbac, spiffeAuthz: at["spiffe-authz"], opaEnvoy: at["opa-envoy"] })
    : [
        {
          target: `the targets at ${TARGET_RATE}/s`,
          measured: "not measured",
          goal: "—",
          ok: false,
          why: "rate not run",
        },
      ];
  const anyBad = [...figures.values()].some((row) => CHAINS.some((c) => row[c].bad > 0));
  if (anyBad)
    lines.push({
      target: "every allowed request: 200, seen by the upstream",
      measured: "wrong answers (above)",
      goal: "0",
      ok: false,
      why: "wrong answers",
    });
  console.log("\n| target | measured | goal | result |\n|---|---|---|---|");
  for (const l of lines)
    console.log(
      `| ${l.target} | ${l.measured}${l.ok ? "" : `; MISS: ${l.why}`} | ${l.goal} | ${l.ok ? "PASS" : "MISS"} |`,
    );
  if (loadStart[0]! > cpus().length || loadEnd[0]! > cpus().length)
    console.log(
      `note: the 1-minute load average was above ${cpus().length} (the CPU count): other work competed with these measurements.`,
    );
  if (STANDIN)
    console.log(`NOTE: chain (c) above is the ${STANDIN} STAND-IN, not spiffe-authz (BENCH_ENVOY_AUTHZ_STANDIN)`);
  const outcome = suiteOutcome(lines.map((l) => (l.ok ? "PASS" : "MISS")));
  console.log(outcome.line.replace(/^bench:/, "bench/envoy-e2e:"));
  emitJson("envoy-e2e", {
    rates,
    half,
    maxRps,
    auditLines,
    spiffeAuthzRequests,
    spiffeAuthzDecided,
    figures: Object.fromEntries([...figures].map(([r, row]) => [r, row])),
    targets: lines,
    loadStart,
    loadEnd,
    vegeta: VEGETA,
  });
  exitCode = anyBad ? 1 : outcome.exitCode;
} catch (err) {
  failed = true;
  console.error(`bench/envoy-e2e: ${err instanceof Error ? err.message : String(err)}`);
  exitCode = 1;
} finally {
  await teardown();
}
process.exit(exitCode);
