// What ships is one bundled module (scripts/bundle.mjs → dist/spiffe-authz.mjs, run by bin/spiffe-authz.js).
// The rest of the suite runs src/ through tsx, so here the same bundling is done into a scratch directory
// and that file is run as a server: both doors decide, reflection finds its protos, SIGTERM exits 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import {
  checkRequest,
  envoyClient,
  healthClient,
  listServices,
  unary,
  zentinelClient,
  type CheckResponseObj,
} from "../helpers/clients.js";
import { sleep, until } from "../helpers/log-capture.js";
import { blockOf, connectAsProxy, headersEvent } from "../helpers/zentinel.js";
import { decodeExportMetricsRequest } from "../helpers/otlp-decode.js";
import { METRIC } from "../../src/telemetry/index.js";
import { status as grpcStatus } from "@grpc/grpc-js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("the bundled CLI, as shipped: --version, serve with both doors, reflection and OTLP push, SIGTERM exits 0", async () => {
  // OTLP exporters are required from node_modules at run time, beside the bundled SDK: prove they still push.
  const pushes: Buffer[] = [];
  const rx = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/v1/metrics") pushes.push(Buffer.concat(chunks));
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((r) => rx.listen(0, "127.0.0.1", r));
  const otlpUrl = `http://127.0.0.1:${(rx.address() as { port: number }).port}`;
  // One level below the project root, like dist/, so the bundle finds ../proto and ../package.json.
  const dir = join(ROOT, `.test-bundle-${process.pid}`);
  const { bundleCli } = (await import(join(ROOT, "scripts/bundle.mjs"))) as { bundleCli(out: string): Promise<void> };
  const entry = join(dir, "spiffe-authz.mjs");
  await bundleCli(entry);
  const tmp = mkdtempSync(join(tmpdir(), "bundle-"));
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(tmp, "agent.sock")}`,
  });
  try {
    const v = spawnSync(process.execPath, [entry, "--version"], { encoding: "utf8" });
    assert.equal(v.status, 0);
    assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+/);

    const sock = join(tmp, "authz.sock");
    const child = spawn(
      process.execPath,
      [
        entry,
        "serve",
        "--grpc-address",
        "127.0.0.1:0",
        "--grpc-address",
        `unix://${sock}`,
        "--spire-socket",
        spire.target,
        "--metrics-address",
        "off",
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl, OTEL_METRIC_EXPORT_INTERVAL: "300" },
      },
    );
    let logs = "";
    child.stdout.on("data", (d: Buffer) => (logs += d.toString()));
    child.stderr.on("data", (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      await until(() => logs.includes("spiffe-authz serving"), 20_000, `serving (logs: ${logs.slice(-500)})`);
      const target = `unix://${sock}`;
      const h = healthClient(target);
      assert.equal((await unary<{ status: string }>(h, "Check", { service: "" })).status, "SERVING");
      h.close();

      const ok = await spire.issueX509Svid("spiffe://example.org/web");
      const c = envoyClient(target);
      assert.equal(
        (await unary<CheckResponseObj>(c, "Check", checkRequest({ certPem: ok.pem }))).status.code,
        grpcStatus.OK,
      );
      assert.equal(
        (await unary<CheckResponseObj>(c, "Check", checkRequest({}))).status.code,
        grpcStatus.UNAUTHENTICATED,
      );
      c.close();

      const z = zentinelClient(target);
      const s = await connectAsProxy(z);
      // No route_id: this config defines no routes, and a named one would be 403 unknown_route.
      s.call.write(headersEvent("bundle-1", undefined, { route: "" }));
      await until(() => s.responses().length === 1, 5000, "Zentinel answer");
      assert.equal(blockOf(s.responses()[0]!).status, 401);
      s.call.end();
      z.close();

      // Reflection is added just after SERVING; the bundle must find the .proto files it describes.
      let names: string[] = [];
      for (let i = 0; i < 100 && names.length === 0; i++) {
        names = await listServices(target).catch(() => []);
        if (names.length === 0) await sleep(50);
      }
      // What `serve` answers, health included; not SpiffeWorkloadAPI (we are its client, not its server).
      assert.deepEqual(names, [
        "envoy.service.auth.v3.Authorization",
        "grpc.health.v1.Health",
        "zentinel.agent.v2.AgentServiceV2",
      ]);

      const allowedOk = () =>
        pushes.some((b) =>
          decodeExportMetricsRequest(b).some(
            (m) =>
              m.name === METRIC.decisions &&
              m.points.some(
                (p) => p.attributes["decision"] === "allow" && p.attributes["transport"] === "envoy" && p.value >= 1,
              ),
          ),
        );
      await until(allowedOk, 10_000, "an OTLP push with the allowed Envoy decision");
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, logs.slice(-1000));
  } finally {
    await spire.close();
    rx.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
});
