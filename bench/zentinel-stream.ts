// Zentinel door throughput vs the Envoy door on the same engine, same run: 64 request_headers events in flight on
// one ProcessStream vs 64 concurrent unary Checks, both driven by grpc-js clients in a child process so the
// drivers do not share the server's event loop. Goal: ratio ≥ 0.9. Run: npx tsx bench/zentinel-stream.ts [--quick]
import { fork } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { Authorization, CheckRequestSchema, type CheckRequest, type CheckResponse } from "../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { AgentServiceV2, ProxyToAgentSchema, type AgentToProxy, type ProxyToAgent } from "../src/gen/zentinel/agent/v2/agent_v2_pb.js";
import { serviceDefinition } from "../src/grpc/service-definition.js";
import { DevWorkloadApi } from "../src/trust/dev-workload-api/server.js";
import { startServer } from "../src/server.js";
import { parseConfig } from "../src/config/load.js";
import { parseListenAddress, parseWorkloadApiAddress } from "../src/cli/address.js";
import { silentLogger } from "../src/log.js";

const IN_FLIGHT = 64;

async function driver(kind: "envoy" | "zentinel", target: string, pem: string, seconds: number): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  if (kind === "envoy") {
    const C = grpc.makeGenericClientConstructor(serviceDefinition(Authorization), "A");
    const c = new C(target, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Check(r: CheckRequest, cb: (e: unknown, r: CheckResponse) => void): void };
    const req = create(CheckRequestSchema, { attributes: { source: { certificate: encodeURIComponent(pem) }, request: { http: { method: "GET", path: "/api" } } } });
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (Date.now() < end) await new Promise<void>((r) => c.Check(req, () => (done++, r())));
      }),
    );
    c.close();
    return done / seconds;
  }
  const C = grpc.makeGenericClientConstructor(serviceDefinition(AgentServiceV2), "Z");
  const c = new C(target, grpc.credentials.createInsecure()) as unknown as grpc.Client & { ProcessStream(): grpc.ClientDuplexStream<ProxyToAgent, AgentToProxy> };
  const call = c.ProcessStream();
  const xfcc = `Cert="${encodeURIComponent(pem)}"`;
  let seq = 0;
  const send = () =>
    call.write(create(ProxyToAgentSchema, { message: { case: "requestHeaders", value: { metadata: { correlationId: `c${seq++}` }, method: "GET", uri: "/api", headers: [{ name: "x-forwarded-client-cert", value: xfcc }] } } }));
  await new Promise<void>((resolve) => {
    call.on("data", (m: AgentToProxy) => {
      if (m.message.case === "handshake") {
        for (let i = 0; i < IN_FLIGHT; i++) send();
      } else if (m.message.case === "response") {
        done++;
        if (Date.now() < end) send();
        else if (done >= seq) resolve();
      }
    });
    call.write(create(ProxyToAgentSchema, { message: { case: "handshake", value: { supportedVersions: [2], proxyId: "bench" } } }));
  });
  call.end();
  c.close();
  return done / seconds;
}

if (process.argv[2] === "--driver") {
  const [, , , kind, target, seconds] = process.argv;
  process.once("message", (pem: unknown) => {
    void driver(kind as "envoy" | "zentinel", target!, String(pem), Number(seconds)).then((rps) => {
      process.send?.(rps);
      process.exit(0);
    });
  });
} else {
  const quick = process.argv.includes("--quick");
  const seconds = quick ? 3 : 8;
  const dir = mkdtempSync(join(tmpdir(), "zbench-"));
  const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "agent.sock")}` });
  const server = await startServer(
    {
      listen: [parseListenAddress("127.0.0.1:0", "b")],
      spireSocket: parseWorkloadApiAddress(spire.target, "b"),
      metrics: null,
      configPath: undefined,
      config: parseConfig({ audit: { "log-success": false, "log-failure": false } }),
      verbose: false,
      drainTimeoutMs: 500,
      workers: 1,
    },
    silentLogger(),
  );
  const pem = (await spire.issueX509Svid("spiffe://example.org/web")).pem;
  const run = (kind: string) =>
    new Promise<number>((resolve) => {
      const child = fork(fileURLToPath(import.meta.url), ["--driver", kind, server.grpcTargets[0]!, String(seconds)], { execArgv: ["--import", "tsx"] });
      child.once("message", (rps) => resolve(Number(rps)));
      child.send(pem);
    });
  const rounds = quick ? 1 : 3;
  let envoy = 0;
  let zentinel = 0;
  for (let i = 0; i < rounds; i++) {
    envoy += await run("envoy");
    zentinel += await run("zentinel");
  }
  envoy /= rounds;
  zentinel /= rounds;
  await server.stop();
  await spire.close();
  console.log(`\n${new Date().toISOString()}  ${IN_FLIGHT} in flight, ${seconds}s × ${rounds} interleaved rounds, warm cache\n`);
  console.log("| door | decisions/s | ratio | target |\n|---|---|---|---|");
  console.log(`| Envoy (unary Check) | ${envoy.toFixed(0)} | 1.00 | |`);
  console.log(`| Zentinel (one ProcessStream) | ${zentinel.toFixed(0)} | ${(zentinel / envoy).toFixed(2)} | ${zentinel / envoy >= 0.9 ? "PASS" : "MISS"} (≥ 0.90) |`);
  process.exit(0);
}
