// Config reload through the composition root: SIGHUP re-reads the file; a bad or missing file keeps the old
// config deciding; start-up-only sections are reported, not silently ignored.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { startServer } from "../../src/server.js";
import { loadConfigFile } from "../../src/config/load.js";
import { parseListenAddress, parseWorkloadApiAddress } from "../../src/grpc/address.js";
import { capturedLogger, until } from "../helpers/log-capture.js";

test("SIGHUP reload: good file applied, bad and deleted files keep the old config, spire/trust-bundles changes need a restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), "reload-"));
  const file = join(dir, "config.yaml");
  writeFileSync(file, "allowlist: { exact: [spiffe://example.org/a] }\n");
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
  });
  const { log, lines } = capturedLogger();
  const server = await startServer(
    {
      listen: [parseListenAddress("127.0.0.1:0", "t")],
      spireSocket: parseWorkloadApiAddress(spire.target, "t"),
      metrics: null,
      configPath: file,
      config: loadConfigFile(file),
      verbose: false,
      drainTimeoutMs: 500,
      workers: 1,
    },
    log,
  );
  const allowed = () => server.engine.policy.config.allowlist.exact;
  try {
    writeFileSync(file, "allowlist: { exact: [spiffe://example.org/b] }\n");
    process.kill(process.pid, "SIGHUP");
    await until(() => allowed()[0] === "spiffe://example.org/b", 2000, "reloaded");

    writeFileSync(file, "allowlist: { exact: 42 }\n");
    process.kill(process.pid, "SIGHUP");
    await until(
      () => lines().some((l) => l["msg"] === "config file reload failed; previous config stays in force"),
      2000,
      "bad file logged",
    );
    assert.equal(allowed()[0], "spiffe://example.org/b");

    rmSync(file);
    process.kill(process.pid, "SIGHUP");
    await until(
      () =>
        // The file watch may have re-read the change too (the same refusal): at least the SIGHUP's.
        lines().filter((l) => l["msg"] === "config file reload failed; previous config stays in force").length >= 2,
      2000,
      "missing file logged",
    );
    assert.equal(allowed()[0], "spiffe://example.org/b");

    const r = server.config.apply({ "trust-bundles": [{ "trust-domain": "p.org", path: "/x.pem" }] }, "configure");
    assert.equal(r.ok, true);
    assert.ok(
      lines().some(
        (l) => l["msg"] === "config changes to spire.*, trust-bundles or server.tls.mode take effect on restart",
      ),
    );
  } finally {
    await server.stop();
    await spire.close();
  }
});
