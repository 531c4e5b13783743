// Zentinel door throughput vs the Envoy door on the same engine, same run: N request_headers events in flight on
// one ProcessStream vs N concurrent unary Checks (default N = 64), both driven by grpc-js clients in a child
// process so the drivers do not share the server's event loop. The Zentinel driver connects as the proxy does
// (waits for response headers, then handshakes) and counts only allow answers, so a broken door cannot look fast.
// Goal: ratio ≥ 0.9. Run: npx tsx bench/zentinel-stream.ts [--quick] [--in-flight N] [--json]
import { fork } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  Authorization,
  CheckRequestSchema,
  type CheckRequest,
  type CheckResponse,
} from "../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import {
  AgentServiceV2,
  ProxyToAgentSchema,
  type AgentToProxy,
  type ProxyToAgent,
} from "../src/gen/zentinel/agent/v2/agent_v2_pb.js";
import { serviceDefinition } from "../src/grpc/service-definition.js";
import { DevWorkloadApi } from "../src/trust/dev-workload-api/server.js";
import { startServer } from "../src/server.js";
import { parseConfig } from "../src/config/load.js";
import { parseListenAddress, parseWorkloadApiAddress } from "../src/grpc/address.js";
import { silentLogger } from "../src/log.js";

const flag = process.argv.indexOf("--in-flight");
const IN_FLIGHT = flag > 0 ? Number(process.argv[flag + 1]) : 64;

async function driver(
  kind: "envoy" | "zentinel",
  target: string,
  pem: string,
  seconds: number,
  inFlight: number,
): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  let wrong = 0;
  if (kind === "envoy") {
    const C = grpc.makeGenericClientConstructor(serviceDefinition(Authorization), "A");
    const c = new C(target, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Check(r: CheckRequest, cb: (e: unknown, r: CheckResponse) => void): void;
    };
    const req = create(CheckRequestSchema, {
      attributes: {
        source: { certificate: encodeURIComponent(pem) },
        request: { http: { method: "GET", path: "/api" } },
      },
    });
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (Date.now() < end)
          await new Promise<void>((r) =>
            c.Check(req, (e, res) => (e || res.status?.code !== 0 ? wrong++ : done++, r())),
          );
      }),
    );
    c.close();
    if (wrong > 0) throw new Error(`envoy driver: ${wrong} answers were not OK`);
    return done / seconds;
  }
  const C = grpc.makeGenericClientConstructor(serviceDefinition(AgentServiceV2), "Z");
  const c = new C(target, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    ProcessStream(): grpc.ClientDuplexStream<ProxyToAgent, AgentToProxy>;
  };
  const call = c.ProcessStream();
  const xfcc = `Cert="${encodeURIComponent(pem)}"`;
  let seq = 0;
  const send = () =>
    call.write(
      create(ProxyToAgentSchema, {
        message: {
          case: "requestHeaders",
          value: {
            metadata: { correlationId: `c${seq++}` },
            method: "GET",
            uri: "/api",
            headers: [{ name: "x-forwarded-client-cert", value: xfcc }],
          },
        },
      }),
    );
  await new Promise<void>((resolve) => {
    call.on("data", (m: AgentToProxy) => {
      if (m.message.case === "handshake") {
        if (!m.message.value.success) throw new Error(`handshake refused: ${m.message.value.error}`);
        for (let i = 0; i < inFlight; i++) send();
      } else if (m.message.case === "response") {
        if (m.message.value.decision.case === "allow") done++;
        else wrong++;
        if (Date.now() < end) send();
        else if (done + wrong >= seq) resolve();
      }
    });
    // As the proxy's tonic client: response headers first, then the handshake it always sends.
    call.once("metadata", () =>
      call.write(
        create(ProxyToAgentSchema, {
          message: {
            case: "handshake",
            value: { supportedVersions: [2, 1], proxyId: "zentinel-proxy", proxyVersion: "bench", configJson: "{}" },
          },
        }),
      ),
    );
  });
  call.end();
  c.close();
  if (wrong > 0) throw new Error(`zentinel driver: ${wrong} answers were not allow`);
  return done / seconds;
}

if (process.argv[2] === "--driver") {
  const [, , , kind, target, seconds, inFlight] = process.argv;
  process.once("message", (pem: unknown) => {
    void driver(kind as "envoy" | "zentinel", target!, String(pem), Number(seconds), Number(inFlight)).then((rps) => {
      process.send?.(rps);
      process.exit(0);
    });
  });
} else {
  const quick = process.argv.includes("--quick");
  const seconds = quick ? 3 : 8;
  const dir = mkdtempSync(join(tmpdir(), "zbench-"));
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
  });
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
    new Promise<number>((resolve, reject) => {
      const child = fork(
        fileURLToPath(import.meta.url),
        ["--driver", kind, server.grpcTargets[0]!, String(seconds), String(IN_FLIGHT)],
        { execArgv: ["--import", "tsx"] },
      );
      child.once("message", (rps) => resolve(Number(rps)));
      child.once("exit", (code) => reject(new Error(`${kind} driver exited with ${code} before reporting`)));
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
  console.log(
    `\n${new Date().toISOString()}  ${IN_FLIGHT} in flight, ${seconds}s × ${rounds} interleaved rounds, warm cache\n`,
  );
  console.log("| door | decisions/s | ratio | target |\n|---|---|---|---|");
  console.log(`| Envoy (unary Check) | ${envoy.toFixed(0)} | 1.00 | |`);
  console.log(
    `| Zentinel (one ProcessStream) | ${zentinel.toFixed(0)} | ${(zentinel / envoy).toFixed(2)} | ${zentinel / envoy >= 0.9 ? "PASS" : "MISS"} (≥ 0.90) |`,
  );
  // --json: one machine-readable line last (bench/run.ts reads it).
  if (process.argv.includes("--json"))
    console.log(
      JSON.stringify({ bench: "zentinel-stream", inFlight: IN_FLIGHT, envoy, zentinel, ratio: zentinel / envoy }),
    );
  process.exit(0);
}
