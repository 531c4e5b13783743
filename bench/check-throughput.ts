// Envoy door throughput as ratios measured in one run (the machine is shared and noisy):
//   warm spiffe-authz (cached chain) vs a no-op grpc-js Check server — goal ≥ 0.90
//   telemetry on vs off — goal: ≤ 5 % cost
//   (p50/p99 at 50 % load is not measured yet: h2load prints no percentiles, and a generator inside this
//   process would share the server's event loop and measure itself.)
//   cold path (every certificate new: parse + 2 signatures) in verifications/s
// Load: h2load sending real gRPC frames. Run: npx tsx bench/check-throughput.ts [--quick]
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { Authorization, CheckRequestSchema, CheckResponseSchema, type CheckRequest, type CheckResponse } from "../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { serviceDefinition } from "../src/grpc/service-definition.js";
import { DevWorkloadApi } from "../src/trust/dev-workload-api/server.js";
import { startServer } from "../src/server.js";
import { parseConfig } from "../src/config/load.js";
import { parseListenAddress, parseWorkloadApiAddress } from "../src/cli/address.js";
import { silentLogger } from "../src/log.js";

const quick = process.argv.includes("--quick");
const DURATION_S = quick ? 5 : 15;
const dir = mkdtempSync(join(tmpdir(), "bench-"));

if (spawnSync("h2load", ["--version"]).error) {
  console.error("h2load not found: install Debian's nghttp2-client (apt-get install nghttp2-client). Nothing was installed.");
  process.exit(2);
}

function grpcFrame(msg: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

function checkBody(certPem: string): string {
  const req = create(CheckRequestSchema, {
    attributes: {
      source: { certificate: encodeURIComponent(certPem) },
      request: { http: { method: "GET", path: "/api/orders", host: "backend", headers: { ":path": "/api/orders", "x-request-id": "bench" } } },
    },
  });
  const file = join(dir, `body-${Math.random().toString(36).slice(2)}.bin`);
  writeFileSync(file, grpcFrame(toBinary(CheckRequestSchema, req)));
  return file;
}

interface H2Result {
  rps: number;
  ok: number;
  failed: number;
}

/** h2load: closed loop (max throughput) when rps is undefined, else open loop at `rps` requests/s in total. */
async function h2load(target: string, body: string, opts: { seconds: number; rps?: number }): Promise<H2Result> {
  const clients = 4;
  const args = ["-t", "1", "-c", String(clients), "-m", "16", "-D", String(opts.seconds), "-d", body, "-H", "content-type: application/grpc", "-H", "te: trailers"];
  if (opts.rps) args.push("--rps", String(Math.max(1, Math.round(opts.rps / clients))));
  args.push(`http://${target}/envoy.service.auth.v3.Authorization/Check`);
  // Async: the servers under test live in this process and must keep running while h2load loads them.
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn("h2load", args, { stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.on("error", reject);
    child.on("close", () => resolve(text));
  });
  const rps = Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  const succeeded = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0);
  return { rps, ok: succeeded, failed };
}

async function noopServer(): Promise<{ target: string; stop(): void }> {
  const server = new grpc.Server();
  const ok = create(CheckResponseSchema, { status: { code: 0 } });
  server.addService(serviceDefinition(Authorization), { Check: (_c: unknown, cb: grpc.sendUnaryData<CheckResponse>) => cb(null, ok) });
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { target: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

async function authz(spire: DevWorkloadApi, telemetry: boolean) {
  return startServer(
    {
      listen: [parseListenAddress("127.0.0.1:0", "bench")],
      spireSocket: parseWorkloadApiAddress(spire.target, "bench"),
      metrics: null,
      configPath: undefined,
      config: parseConfig({ allowlist: { prefix: ["spiffe://example.org/services"] }, audit: { "log-success": false, "log-failure": false } }),
      verbose: false,
      drainTimeoutMs: 1000,
      workers: 1,
    },
    silentLogger(),
    { telemetry },
  );
}

// The servers run in this process, h2load in another: one core each on a 2-core machine.
const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "agent.sock")}` });
const inter = await spire.ca.createIntermediate();
const svid = await inter.issueX509Svid("spiffe://example.org/services/web");
const body = checkBody(svid.chainPem);

const noop = await noopServer();
const on = await authz(spire, true);
const off = await authz(spire, false);

// Warm-up, then interleaved rounds so drift on a shared machine hits every variant alike.
for (const t of [noop.target, on.grpcTargets[0]!, off.grpcTargets[0]!]) await h2load(t, body, { seconds: 1 });
const rounds = quick ? 1 : 3;
const sum = { noop: 0, on: 0, off: 0, failed: 0 };
for (let i = 0; i < rounds; i++) {
  const a = await h2load(noop.target, body, { seconds: DURATION_S / rounds });
  const b = await h2load(on.grpcTargets[0]!, body, { seconds: DURATION_S / rounds });
  const c = await h2load(off.grpcTargets[0]!, body, { seconds: DURATION_S / rounds });
  sum.noop += a.rps;
  sum.on += b.rps;
  sum.off += c.rps;
  sum.failed += a.failed + b.failed + c.failed;
}
const noopRps = sum.noop / rounds;
const onRps = sum.on / rounds;
const offRps = sum.off / rounds;

// Cold: every request carries a certificate the cache has never seen (parse + 2 signature checks).
const coldN = quick ? 300 : 1500;
const coldReqs: CheckRequest[] = [];
for (let i = 0; i < coldN; i++) {
  const s = await inter.issueX509Svid(`spiffe://example.org/services/w${i}`);
  coldReqs.push(create(CheckRequestSchema, { attributes: { source: { certificate: encodeURIComponent(s.chainPem) }, request: { http: { method: "GET", path: "/" } } } }));
}
const Client = grpc.makeGenericClientConstructor(serviceDefinition(Authorization), "Authorization");
const cc = new Client(on.grpcTargets[0]!, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Check(r: CheckRequest, cb: (e: unknown, res: CheckResponse) => void): void };
const t0 = performance.now();
let idx = 0;
let coldAllowed = 0;
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (idx < coldReqs.length) {
      const r = coldReqs[idx++]!;
      await new Promise<void>((resolve) => cc.Check(r, (_e, res) => ((coldAllowed += res?.status?.code === 0 ? 1 : 0), resolve())));
    }
  }),
);
const coldRps = coldN / ((performance.now() - t0) / 1000);
cc.close();
const ossl = spawnSync("openssl", ["speed", "-seconds", quick ? "1" : "3", "ecdsap256"], { encoding: "utf8" }).stdout ?? "";
const verifyPerSec = Number(/256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+[\d.]+\s+([\d.]+)/.exec(ossl)?.[1] ?? NaN);

await on.stop();
await off.stop();
noop.stop();
await spire.close();

const pass = (ok: boolean) => (ok ? "PASS" : "MISS");
const rows = [
  ["no-op grpc-js Check server (ceiling)", `${noopRps.toFixed(0)} req/s`, "1.00", ""],
  ["spiffe-authz warm, telemetry on", `${onRps.toFixed(0)} req/s`, (onRps / noopRps).toFixed(2), `${pass(onRps / noopRps >= 0.9)} (≥ 0.90)`],
  ["spiffe-authz warm, telemetry off", `${offRps.toFixed(0)} req/s`, (offRps / noopRps).toFixed(2), ""],
  ["telemetry cost (1 − on/off)", `${((1 - onRps / offRps) * 100).toFixed(1)} %`, "", `${pass(1 - onRps / offRps <= 0.05)} (≤ 5 %)`],
  ["cold path through the Envoy door (new cert each call)", `${coldRps.toFixed(0)} req/s (${coldAllowed}/${coldN} allowed)`, (coldRps / (verifyPerSec / 2)).toFixed(2), "vs openssl verify/s ÷ 2 signatures"],
  ["openssl speed ecdsap256 (verify)", `${verifyPerSec.toFixed(0)} /s`, "", ""],
];
console.log(`\n${new Date().toISOString()}  ${cpus().length} × ${cpus()[0]?.model}  node ${process.version}  h2load -t1 -c4 -m16, ${DURATION_S}s per variant in ${rounds} interleaved rounds; failed requests: ${sum.failed}\n`);
console.log("| measurement | result | ratio | target |\n|---|---|---|---|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
process.exit(0);
