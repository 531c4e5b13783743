import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { runCli, spawnServe } from "../helpers/cli.js";
import {
  checkRequest,
  envoyClient,
  freePort,
  healthClient,
  listServices,
  reflectionClient,
  unary,
  type CheckResponseObj,
} from "../helpers/clients.js";
import { sleep } from "../helpers/log-capture.js";
import { status as grpcStatus } from "@grpc/grpc-js";

async function waitServing(target: string, timeoutMs = 15_000): Promise<void> {
  const h = healthClient(target);
  const t0 = Date.now();
  try {
    for (;;) {
      try {
        const r = await unary<{ status: string }>(h, "Check", { service: "" });
        if (r.status === "SERVING") return;
      } catch {
        // not listening yet
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`not SERVING after ${timeoutMs} ms`);
      await sleep(50);
    }
  } finally {
    h.close();
  }
}

test("serve: TCP and unix socket in one run, health SERVING for every service name, SIGTERM during an open bidi stream exits 0 within the drain timeout", async () => {
  const dir = mkdtempSync(join(tmpdir(), "serve-"));
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
  });
  const port = await freePort();
  const metricsPort = await freePort();
  const sock = join(dir, "authz.sock");
  const cfg = join(dir, "config.yaml");
  writeFileSync(cfg, "allowlist: { prefix: [spiffe://example.org/services] }\n");
  const { child, logs, exit } = spawnServe([
    "--grpc-address",
    `127.0.0.1:${port}`,
    "--socket",
    sock,
    "--spire-socket",
    spire.target,
    "--config",
    cfg,
    "--metrics-address",
    `127.0.0.1:${metricsPort}`,
    "--drain-timeout-ms",
    "1500",
  ]);
  try {
    await waitServing(`127.0.0.1:${port}`);
    const h = healthClient(`unix://${sock}`);
    for (const service of ["", "envoy.service.auth.v3.Authorization", "zentinel.agent.v2.AgentServiceV2"]) {
      assert.deepEqual(await unary(h, "Check", { service }), { status: "SERVING" }, service);
    }
    h.close();

    const svid = await spire.issueX509Svid("spiffe://example.org/services/web");
    for (const target of [`127.0.0.1:${port}`, `unix://${sock}`]) {
      const c = envoyClient(target);
      const res = await unary<CheckResponseObj>(c, "Check", checkRequest({ certPem: svid.pem }));
      assert.equal(res.status.code, 0, target);
      c.close();
    }

    // The same decisions are counted on /metrics, with process metrics beside them.
    const denied = await spire.issueX509Svid("spiffe://example.org/intruder");
    const c = envoyClient(`127.0.0.1:${port}`);
    assert.equal(
      (await unary<CheckResponseObj>(c, "Check", checkRequest({ certPem: denied.pem }))).status.code,
      grpcStatus.PERMISSION_DENIED,
    );
    c.close();
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(
      text,
      /^spiffe_authz_decisions_total\{[^}]*decision="allow"[^}]*reason="ok"[^}]*transport="envoy"[^}]*\} 2$/m,
    );
    assert.match(text, /^spiffe_authz_decisions_total\{[^}]*decision="deny"[^}]*reason="not_allowed"[^}]*\} 1$/m);
    assert.match(text, /^spiffe_authz_workload_api_connected 1$/m);
    assert.match(text, /^spiffe_authz_trust_domains 1$/m);
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);

    // An open bidi stream (server reflection) that the client never ends. Reflection is added just after
    // SERVING, so wait until it answers.
    for (let i = 0; ; i++) {
      try {
        await listServices(`127.0.0.1:${port}`);
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const r = reflectionClient(`127.0.0.1:${port}`);
    const stream = (r["ServerReflectionInfo"] as () => grpc.ClientDuplexStream<unknown, unknown>).call(r);
    stream.on("error", () => {});
    await new Promise<void>((resolve) => {
      stream.once("data", () => resolve());
      stream.write({ list_services: "" });
    });
    const t0 = Date.now();
    child.kill("SIGTERM");
    const { code } = await exit;
    const took = Date.now() - t0;
    assert.equal(code, 0, logs());
    assert.ok(took < 1500 + 3000, `exit took ${took} ms`);
    assert.match(logs(), /"msg":"shutting down"/);
    r.close();
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await spire.close();
  }
});

test("serve: bad config, missing config and bad flags exit 2 with one clear line", async () => {
  const dir = mkdtempSync(join(tmpdir(), "serve-bad-"));
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "allowlist:\n  patterns: ['(a)\\1']\n");
  let r = await runCli(["serve", "--config", bad, "--metrics-address", "off"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /^spiffe-authz: config: allowlist\.patterns\[0\]: not a valid RE2 regular expression/);
  assert.equal(r.stderr.trim().split("\n").length, 1);

  writeFileSync(bad, "tls: { require-mtls: maybe }\n");
  r = await runCli(["serve", "--config", bad]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), "spiffe-authz: config: tls.require-mtls: expected boolean, got string");

  r = await runCli(["serve", "--config", join(dir, "missing.yaml")]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), `spiffe-authz: config: cannot read ${join(dir, "missing.yaml")}: no such file`);

  r = await runCli(["serve", "--grpc-address", "localhost"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^spiffe-authz: --grpc-address: expected host:port/);

  r = await runCli(["serve", "--no-such-flag"]);
  assert.equal(r.code, 2);

  writeFileSync(bad, "trust-bundles: [{ trust-domain: partner.org, path: /nonexistent/partner.pem }]\n");
  r = await runCli(["serve", "--config", bad, "--metrics-address", "off", "--grpc-address", "127.0.0.1:0"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /^spiffe-authz: config: trust-bundles\[0\]\.path: \/nonexistent\/partner\.pem: /);
});

test("serve --workers 2: one address served by two processes, /metrics adds up both, SIGTERM stops all", async () => {
  const dir = mkdtempSync(join(tmpdir(), "serve-cluster-"));
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
  });
  const port = await freePort();
  const metricsPort = await freePort();
  const { child, logs, exit } = spawnServe([
    "--workers",
    "2",
    "--grpc-address",
    `127.0.0.1:${port}`,
    "--spire-socket",
    spire.target,
    "--metrics-address",
    `127.0.0.1:${metricsPort}`,
    "--drain-timeout-ms",
    "1000",
  ]);
  try {
    await waitServing(`127.0.0.1:${port}`, 30_000);
    const svid = await spire.issueX509Svid("spiffe://example.org/web");
    // Separate connections, so the primary's round-robin spreads them over both workers.
    for (let i = 0; i < 8; i++) {
      const c = envoyClient(`127.0.0.1:${port}`);
      assert.equal(
        (await unary<CheckResponseObj>(c, "Check", checkRequest({ certPem: svid.pem }))).status.code,
        grpcStatus.OK,
      );
      c.close();
    }
    let ready = 0;
    for (let t = 0; t < 100 && ready !== 200; t++) {
      ready = (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status;
      if (ready !== 200) await sleep(100);
    }
    assert.equal(ready, 200);
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(
      text,
      /^spiffe_authz_decisions_total\{[^}]*decision="allow"[^}]*reason="ok"[^}]*\} 8$/m,
      text
        .split("\n")
        .filter((l) => l.includes("decisions_total"))
        .join("\n"),
    );
    assert.equal((logs().match(/"msg":"spiffe-authz serving"/g) ?? []).length, 2);
    child.kill("SIGTERM");
    const { code } = await exit;
    assert.equal(code, 0, logs().slice(-2000));
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await spire.close();
  }
});

test("serve on a port in use: one clear line, exit 1; with --workers the primary backs off and gives up, exit 1", async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
  const port = (taken.address() as { port: number }).port;
  try {
    let r = await runCli([
      "serve",
      "--grpc-address",
      `127.0.0.1:${port}`,
      "--metrics-address",
      "off",
      "--spire-socket",
      "/nonexistent/agent.sock",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), new RegExp(`^spiffe-authz: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    assert.equal(r.stderr.trim().split("\n").length, 1, "no stack trace");

    const t0 = Date.now();
    r = await runCli(
      [
        "serve",
        "--workers",
        "2",
        "--grpc-address",
        `127.0.0.1:${port}`,
        "--metrics-address",
        "off",
        "--spire-socket",
        "/nonexistent/agent.sock",
      ],
      { timeoutMs: 90_000 },
    );
    assert.equal(r.code, 1, r.stdout.slice(-2000));
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string; restartInMs?: number });
    const restarts = lines.filter((l) => l.msg === "worker died; starting a new one").map((l) => l.restartInMs);
    // 2 workers × 5 rounds of early deaths: 250 ms doubling per round, then the primary gives up.
    assert.deepEqual(restarts, [250, 250, 500, 500, 1000, 1000, 2000, 2000, 4000, 4000]);
    assert.ok(lines.some((l) => l.msg === "workers keep dying right after start; giving up"));
    assert.ok(Date.now() - t0 >= 7750, "the back-off delays were honoured");
  } finally {
    taken.close();
  }
});
