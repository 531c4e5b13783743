// Memory under handshake-less Zentinel streams: a peer that opens thousands of ProcessStreams and never sends a
// handshake used to hold each one forever (20 connections × 1000 streams took RSS from 104 to 490 MB). Now at most
// zentinel.max-streams are admitted (the rest get RESOURCE_EXHAUSTED at once) and each is ended after
// zentinel.handshake-timeout-ms. The server is the built CLI (`node bin/spiffe-authz.js serve`) with the shipped
// defaults; its RSS is read from /proc. Baseline: the same process idle, in the same run.
// Run: npx tsx bench/zentinel-idle-streams.ts [--connections N] [--streams-per-connection N] [--json]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { DevWorkloadApi } from "../src/trust/dev-workload-api/server.js";
import { zentinelClient } from "../test/helpers/clients.js";
import { emitJson, machine, numberArg, sleep } from "./lib/args.js";
import { freePort } from "./lib/grpc-wire.js";
import { ensureBuilt } from "./lib/processes.js";
import { serveFlags } from "./lib/dev-spire.js";

const CONNECTIONS = numberArg("--connections", 20);
const PER_CONNECTION = numberArg("--streams-per-connection", 150);
/** The shipped defaults (src/config/schema.ts). */
const MAX_STREAMS = 1024;
const HANDSHAKE_TIMEOUT_MS = 10_000;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), "idle-streams-"));
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
  });
  const port = await freePort();
  const server = spawn(
    process.execPath,
    ["bin/spiffe-authz.js", "serve", ...serveFlags({ grpcAddress: `127.0.0.1:${port}`, spireTarget: spire.target })],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let logs = "";
  server.stdout!.on("data", (d: Buffer) => (logs += d.toString()));
  const clients: grpc.Client[] = [];
  try {
    for (let t0 = Date.now(); !logs.includes("spiffe-authz serving"); await sleep(50))
      if (Date.now() - t0 > 20_000) throw new Error(`server did not start:\n${logs}`);
    await sleep(1000);
    const idle = rssMb(server.pid!);

    let refused = 0;
    let open = 0;
    const t0 = Date.now();
    const ended = new Set<grpc.ClientDuplexStream<unknown, unknown>>();
    for (let c = 0; c < CONNECTIONS; c++) {
      // One channel each (no shared subchannel pool): every client is a connection of its own.
      const client = zentinelClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        "grpc.use_local_subchannel_pool": 1,
      });
      clients.push(client);
      for (let s = 0; s < PER_CONNECTION; s++) {
        const call = (
          client as unknown as { ProcessStream(): grpc.ClientDuplexStream<unknown, unknown> }
        ).ProcessStream();
        open++;
        call.on("error", (e: grpc.ServiceError) => {
          if (e.code === grpc.status.RESOURCE_EXHAUSTED) refused++;
          ended.add(call);
        });
        call.on("data", () => undefined);
      }
    }
    await sleep(3000);
    const peak = rssMb(server.pid!);
    const refusedAtPeak = refused;
    // Past the handshake timeout every admitted stream must have been ended by the server.
    await sleep(HANDSHAKE_TIMEOUT_MS + 3000);
    const after = rssMb(server.pid!);
    const endedAll = ended.size;
    const ok = refusedAtPeak >= open - MAX_STREAMS && endedAll === open && peak - idle < 100;
    const result = {
      machine: machine(),
      node: process.version,
      connections: CONNECTIONS,
      streamsOpened: open,
      refusedResourceExhausted: refusedAtPeak,
      admitted: open - refusedAtPeak,
      endedByServerAfterHandshakeTimeout: endedAll,
      rssIdleMb: Number(idle.toFixed(1)),
      rssPeakMb: Number(peak.toFixed(1)),
      rssAfterTimeoutMb: Number(after.toFixed(1)),
      seconds: Number(((Date.now() - t0) / 1000).toFixed(1)),
      verdict: ok ? "PASS" : "MISS",
    };
    console.log(
      `zentinel idle streams: ${open} opened over ${CONNECTIONS} connections, ${refusedAtPeak} refused (RESOURCE_EXHAUSTED), ` +
        `${endedAll} ended by the server by now; RSS idle ${result.rssIdleMb} MB, peak ${result.rssPeakMb} MB (+${(peak - idle).toFixed(1)}), ` +
        `after the handshake timeout ${result.rssAfterTimeoutMb} MB → ${result.verdict} (cap ${MAX_STREAMS} streams, peak growth < 100 MB, every stream ended)`,
    );
    emitJson("zentinel-idle-streams", result);
    process.exitCode = ok ? 0 : 1;
  } finally {
    for (const c of clients) c.close();
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
    await spire.close();
  }
}

await main();
