// Signals a real `serve` process gets from an operator or a kubelet: SIGHUP re-reads the config, in a single
// process and in every worker of --workers; signals during start-up neither kill it silently nor get lost.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { spawnServe } from "../helpers/cli.js";
import { checkRequest, envoyClient, freePort, healthClient, unary, type CheckResponseObj } from "../helpers/clients.js";
import { sleep, until } from "../helpers/log-capture.js";

async function serving(target: string, timeoutMs = 30_000): Promise<void> {
  const h = healthClient(target);
  try {
    const t0 = Date.now();
    for (;;) {
      try {
        if ((await unary<{ status: string }>(h, "Check", { service: "" })).status === "SERVING") return;
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

const config = (prefix: string, extra = "") =>
  `spire:\n  api-timeout-ms: 20000\nallowlist:\n  prefix: ["${prefix}"]\n${extra}`;

async function codes(target: string, pem: string, n: number): Promise<number[]> {
  const out: number[] = [];
  // Separate connections, so the primary's round-robin spreads them over every worker.
  for (let i = 0; i < n; i++) {
    const c = envoyClient(target);
    out.push((await unary<CheckResponseObj>(c, "Check", checkRequest({ certPem: pem }))).status.code);
    c.close();
  }
  return out;
}

function kill(child: ChildProcess) {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

test("serve --workers 2: SIGHUP re-reads the config in every worker and the service keeps running; SIGTERM exits 0", async () => {
  const dir = mkdtempSync(join(tmpdir(), "signals-"));
  const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "a.sock")}` });
  const file = join(dir, "config.yaml");
  writeFileSync(file, config("spiffe://example.org/web"));
  const port = await freePort();
  const target = `127.0.0.1:${port}`;
  const s = spawnServe(["--workers", "2", "--config", file, "--grpc-address", target, "--spire-socket", spire.target]);
  try {
    await serving(target);
    await until(() => (s.logs().match(/"msg":"spiffe-authz serving"/g) ?? []).length === 2, 30_000, "2 workers");
    const web = await spire.issueX509Svid("spiffe://example.org/web");
    assert.deepEqual(await codes(target, web.pem, 6), [0, 0, 0, 0, 0, 0]);
    writeFileSync(file, config("spiffe://example.org/api"));
    const applied = () => (s.logs().match(/"msg":"config applied from file"/g) ?? []).length;
    const before = applied();
    s.child.kill("SIGHUP");
    await until(() => applied() === before + 2, 10_000, "both workers re-read the file");
    assert.equal(s.child.exitCode, null, "SIGHUP must not stop the primary");
    assert.deepEqual(await codes(target, web.pem, 6), [7, 7, 7, 7, 7, 7], "every worker denies web now");
    s.child.kill("SIGTERM");
    assert.equal((await s.exit).code, 0, s.logs().slice(-2000));
  } finally {
    kill(s.child);
    await spire.close();
  }
});

test("SIGTERM during start-up (no Workload API yet): a log line and exit 0, not a silent 143", async () => {
  const dir = mkdtempSync(join(tmpdir(), "signals-"));
  const file = join(dir, "config.yaml");
  writeFileSync(file, config("spiffe://example.org/web"));
  const port = await freePort();
  const s = spawnServe([
    "--config",
    file,
    "--grpc-address",
    `127.0.0.1:${port}`,
    "--spire-socket",
    `unix://${join(dir, "none.sock")}`,
  ]);
  try {
    await until(() => s.logs().includes('"msg":"gRPC listening"'), 20_000, "start-up under way");
    s.child.kill("SIGTERM");
    const { code, signal } = await s.exit;
    assert.equal(signal, null);
    assert.equal(code, 0, s.logs().slice(-2000));
    assert.match(s.logs(), /"signal":"SIGTERM".*"msg":"stopped during start-up"/);
    assert.doesNotMatch(s.logs(), /spiffe-authz serving/);
  } finally {
    kill(s.child);
  }
});

test("SIGHUP during start-up does not kill: the config is re-read once serving", async () => {
  const dir = mkdtempSync(join(tmpdir(), "signals-"));
  const sock = join(dir, "a.sock");
  const file = join(dir, "config.yaml");
  writeFileSync(file, config("spiffe://example.org/web"));
  const port = await freePort();
  const target = `127.0.0.1:${port}`;
  const s = spawnServe(["--config", file, "--grpc-address", target, "--spire-socket", `unix://${sock}`]);
  let spire: DevWorkloadApi | undefined;
  try {
    await until(() => s.logs().includes('"msg":"gRPC listening"'), 20_000, "start-up under way");
    writeFileSync(file, config("spiffe://example.org/api"));
    s.child.kill("SIGHUP");
    await until(() => s.logs().includes("SIGHUP during start-up"), 5000, "the SIGHUP noted");
    assert.equal(s.child.exitCode, null);
    spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${sock}` });
    await serving(target);
    await until(() => /"msg":"config applied from file"/.test(s.logs()), 10_000, "re-read");
    const web = await spire.issueX509Svid("spiffe://example.org/web");
    // SERVING comes with the first bundle stream that delivers; until the X.509 one has, an X.509 request is
    // 503 (14) under fail_closed. Wait that out, then the answer must be the reloaded file's deny.
    let got: number[] = [];
    const t0 = Date.now();
    while ((got = await codes(target, web.pem, 1))[0] === 14 && Date.now() - t0 < 5000) await sleep(50);
    assert.deepEqual(got, [7], "the file as it was at SIGHUP is in force");
    s.child.kill("SIGTERM");
    assert.equal((await s.exit).code, 0);
  } finally {
    kill(s.child);
    await spire?.close();
  }
});

test("SIGHUP without --config says it is ignored, and serving goes on", async () => {
  const dir = mkdtempSync(join(tmpdir(), "signals-"));
  const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "a.sock")}` });
  const port = await freePort();
  const target = `127.0.0.1:${port}`;
  const s = spawnServe(["--grpc-address", target, "--spire-socket", spire.target]);
  try {
    await serving(target);
    s.child.kill("SIGHUP");
    await until(() => s.logs().includes("SIGHUP ignored: serving without --config"), 5000, "the warning");
    await sleep(200);
    assert.equal(s.child.exitCode, null);
    s.child.kill("SIGTERM");
    assert.equal((await s.exit).code, 0);
  } finally {
    kill(s.child);
    await spire.close();
  }
});
