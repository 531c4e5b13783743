// `demo`: the newcomer's first run. Starts the embedded dev Workload API and the real server on free local
// ports, then sends real Envoy Check calls over gRPC and prints each decision on one line.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  Authorization,
  CheckRequestSchema,
  type CheckRequest,
  type CheckResponse,
} from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import { serviceDefinition } from "../grpc/service-definition.js";
import {
  AgentServiceV2,
  ProxyToAgentSchema,
  type AgentToProxy,
  type ProxyToAgent,
} from "../gen/zentinel/agent/v2/agent_v2_pb.js";
import { DevWorkloadApi } from "../trust/dev-workload-api/server.js";
import { DevCertificateAuthority } from "../dev-ca/index.js";
import { parseConfig } from "../config/load.js";
import { parseListenAddress, parseWorkloadApiAddress } from "../grpc/address.js";
import { createLogger } from "../log.js";
import { startServer } from "../server.js";
import { UsageError } from "./errors.js";
import { demoOutProblem, keepInstructions, writeDemoFiles } from "./demo-files.js";

const DEMO_CONFIG = {
  allowlist: { prefix: ["spiffe://example.org/services/"] },
  routes: [
    {
      name: "payments",
      match: { "path-prefix": "/payments" },
      allowlist: { exact: ["spiffe://example.org/services/checkout"] },
    },
  ],
  audit: { "log-success": false, "log-failure": false },
};

type CheckFn = (req: CheckRequest) => Promise<CheckResponse>;

function envoyCheck(target: string): { check: CheckFn; close(): void } {
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(Authorization), "Authorization");
  const client = new Client(target, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Check(req: CheckRequest, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void): void;
  };
  return {
    check: (req) =>
      new Promise((resolve, reject) => client.Check(req, (err, res) => (err ? reject(err) : resolve(res)))),
    close: () => client.close(),
  };
}

/** One Zentinel request_headers event through the unary ProcessEvent, as the proxy's XFCC header carries the cert. */
async function zentinelDecision(target: string, certPem: string): Promise<string> {
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(AgentServiceV2), "AgentServiceV2");
  const client = new Client(target, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    ProcessEvent(req: ProxyToAgent, cb: (err: grpc.ServiceError | null, res: AgentToProxy) => void): void;
  };
  const event = create(ProxyToAgentSchema, {
    message: {
      case: "requestHeaders",
      value: {
        metadata: { correlationId: "demo-1", requestId: "demo-1" },
        method: "GET",
        uri: "/api/orders",
        headers: [{ name: "x-forwarded-client-cert", value: `Cert="${encodeURIComponent(certPem)}"` }],
      },
    },
  });
  const res = await new Promise<AgentToProxy>((resolve, reject) =>
    client.ProcessEvent(event, (err, r) => (err ? reject(err) : resolve(r))),
  );
  client.close();
  if (res.message.case !== "response") return `unexpected ${res.message.case ?? "empty"} answer`;
  const r = res.message.value;
  if (r.decision.case === "allow") {
    const id = r.requestHeaders.find((op) => op.operation.case === "set" && op.operation.value.name === "X-SPIFFE-Id");
    return `  ALLOW  200  ${"services/web via the Zentinel door (XFCC)".padEnd(44)} X-SPIFFE-Id: ${id?.operation.case === "set" ? id.operation.value.value : "-"}`;
  }
  return `  DENY   ${r.decision.case === "block" ? r.decision.value.status : "?"}  via the Zentinel door`;
}

function request(certPem: string | undefined, path = "/api/orders"): CheckRequest {
  return create(CheckRequestSchema, {
    attributes: {
      source: { certificate: certPem ? encodeURIComponent(certPem) : "" },
      request: {
        http: {
          method: "GET",
          path,
          host: "backend.example.org",
          headers: { "x-spiffe-id": "spiffe://example.org/admin" },
        },
      },
    },
  });
}

function line(label: string, res: CheckResponse): string {
  const code = res.status?.code ?? 0;
  if (res.httpResponse.case === "okResponse") {
    const id = res.httpResponse.value.headers.find((h) => h.header?.key === "X-SPIFFE-Id")?.header?.value ?? "-";
    return `  ALLOW  200  ${label.padEnd(44)} X-SPIFFE-Id: ${id}`;
  }
  const denied = res.httpResponse.case === "deniedResponse" ? res.httpResponse.value : undefined;
  let reason = "";
  try {
    reason = (JSON.parse(denied?.body ?? "{}") as { reason?: string }).reason ?? "";
  } catch {
    reason = "?";
  }
  return `  DENY   ${String(denied?.status?.code ?? "?").padEnd(4)} ${label.padEnd(44)} reason: ${reason} (gRPC ${grpc.status[code]})`;
}

export async function demoCommand(argv: string[]): Promise<number> {
  let keep = false;
  let outDir: string | undefined;
  try {
    const options = { keep: { type: "boolean" }, out: { type: "string" } } as const;
    const { values } = parseArgs({ args: argv, options, strict: true });
    keep = values.keep ?? false;
    outDir = values.out;
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0] ?? "bad arguments");
  }
  const outProblem = outDir === undefined ? undefined : demoOutProblem(outDir);
  if (outProblem) throw new UsageError(`demo ${outProblem}`);
  const log = createLogger({ level: keep ? "info" : "warn", fd: 2 });
  const dir = mkdtempSync(join(tmpdir(), "spiffe-authz-demo-"));
  const out = (s: string) => process.stdout.write(`${s}\n`);

  out("spiffe-authz demo: dev Workload API (trust domain example.org) + server + real Envoy and Zentinel calls\n");
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
  });
  const server = await startServer(
    {
      listen: [parseListenAddress("127.0.0.1:0", "demo")],
      spireSocket: parseWorkloadApiAddress(spire.target, "demo"),
      // Kept running, it serves /metrics as `serve` does, on a free port it prints.
      metrics: keep ? { host: "127.0.0.1", port: 0 } : null,
      configPath: undefined,
      config: parseConfig(DEMO_CONFIG),
      verbose: false,
      drainTimeoutMs: 2000,
      workers: 1,
    },
    log,
  );
  const target = server.grpcTargets[0] as string;
  out(
    `  Workload API ${spire.target}\n  gRPC         ${target}\n  policy       allowlist prefix spiffe://example.org/services/; route /payments → only .../services/checkout\n`,
  );

  const { check, close } = envoyCheck(target);
  try {
    const web = await spire.issueX509Svid("spiffe://example.org/services/web");
    const intruder = await spire.issueX509Svid("spiffe://example.org/intruder");
    const expired = await spire.issueX509Svid("spiffe://example.org/services/web", {
      notBefore: new Date(Date.now() - 7200_000),
      notAfter: new Date(Date.now() - 3600_000),
    });
    const rogue = await (
      await DevCertificateAuthority.createRoot("example.org")
    ).issueX509Svid("spiffe://example.org/services/web");
    const partner = await (
      await DevCertificateAuthority.createRoot("partner.org")
    ).issueX509Svid("spiffe://partner.org/services/web");

    out(line("services/web", await check(request(web.pem))));
    out(line("services/web on /payments (route rule)", await check(request(web.pem, "/payments/charge"))));
    out(line("intruder (valid SVID, not allowed)", await check(request(intruder.pem))));
    out(line("services/web, expired certificate", await check(request(expired.pem))));
    out(line("services/web, signed by a rogue CA", await check(request(rogue.pem))));
    out(line("partner.org (no bundle for that domain)", await check(request(partner.pem))));
    out(line("no client certificate", await check(request(undefined))));
    out(await zentinelDecision(target, web.pem));

    out("\n  rotation: the Workload API rotates its CA and drops the old one");
    const before = server.store.current().generation;
    await spire.rotateCa();
    spire.dropOldAuthorities();
    const t0 = Date.now();
    while (
      server.store.current().generation === before ||
      !server.store
        .current()
        .bundles.x509Bundle("example.org")
        ?.authorities.some((c) => c.equals(spire.ca.certificate))
    ) {
      if (Date.now() - t0 > 5000) throw new Error("rotation not seen within 5 s");
      await new Promise((r) => setTimeout(r, 5));
    }
    out(`  (seen by the server after ${Date.now() - t0} ms)`);
    const fresh = await spire.issueX509Svid("spiffe://example.org/services/web");
    out(line("services/web, certificate from the old CA", await check(request(web.pem))));
    out(line("services/web, certificate from the new CA", await check(request(fresh.pem))));

    // The certificates that just decided, for `check` and curl by hand: after the rotation, so they verify.
    const files = keep || outDir !== undefined ? writeDemoFiles(outDir, fresh, DEMO_CONFIG) : undefined;
    if (files && !keep) out(`\n  files in ${files.dir}: bundle.pem, web.pem, web.key, config.yaml`);
    if (keep && files) {
      out(keepInstructions({ grpc: target, metricsUrl: server.metricsUrl, files }));
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
    }
  } finally {
    close();
    await server.stop();
    await spire.close();
    rmSync(dir, { recursive: true, force: true });
  }
  out("\ndone.");
  return 0;
}
