// The config file is watched: an edit, an atomic rename and a Kubernetes ConfigMap `..data` symlink swap are each
// applied within 2 s, with SIGHUP's validation and refusals (a bad file, an allowlist emptied by a cut-off write).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { loadConfigFile } from "../../src/config/load.js";
import { parseListenAddress, parseWorkloadApiAddress } from "../../src/grpc/address.js";
import { capturedLogger, sleep, until } from "../helpers/log-capture.js";

const cfg = (id: string) => `allowlist: { exact: [spiffe://example.org/${id}] }\n`;

async function serve(dir: string, file: string) {
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
  });
  const { log, lines } = capturedLogger();
  const server: RunningServer = await startServer(
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
  const allowed = () => server.engine.policy.config.allowlist.exact[0];
  const applied = () => lines().filter((l) => l["msg"] === "config applied from file").length;
  return {
    allowed,
    applied,
    lines,
    async close() {
      await server.stop();
      await spire.close();
    },
  };
}

test("an edit in place and an atomic rename onto the file are applied within 2 s; a bad file and an emptied allowlist are refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "config-watch-"));
  const file = join(dir, "config.yaml");
  writeFileSync(file, cfg("a"));
  const s = await serve(dir, file);
  try {
    writeFileSync(file, cfg("b"));
    await until(() => s.allowed() === "spiffe://example.org/b", 2000, "the edit applied");

    writeFileSync(join(dir, "config.yaml.tmp"), cfg("c"));
    renameSync(join(dir, "config.yaml.tmp"), file);
    await until(() => s.allowed() === "spiffe://example.org/c", 2000, "the rename applied");

    writeFileSync(file, "allowlist: { exact: 42 }\n");
    await until(
      () => s.lines().some((l) => l["msg"] === "config file reload failed; previous config stays in force"),
      2000,
      "the bad file refused",
    );
    writeFileSync(file, "tls: { require-mtls: true }\n"); // as if cut off before its allowlist
    await until(
      () => s.lines().some((l) => l["msg"] === "config file reload refused; previous config stays in force"),
      2000,
      "the emptied allowlist refused",
    );
    assert.equal(s.allowed(), "spiffe://example.org/c", "the last good config still decides");

    // Touching the file without changing it re-applies nothing.
    const before = s.applied();
    writeFileSync(file, cfg("c"));
    await until(() => s.allowed() === "spiffe://example.org/c" && s.applied() === before + 1, 2000, "c again");
    writeFileSync(file, cfg("c"));
    await sleep(1500);
    assert.equal(s.applied(), before + 1, "same bytes, no second apply");
  } finally {
    await s.close();
  }
});

test("a ConfigMap update (the kubelet's `..data` symlink swap) is applied within 2 s", async () => {
  const dir = mkdtempSync(join(tmpdir(), "config-watch-cm-"));
  // The kubelet's layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>/
  mkdirSync(join(dir, "..2026_12_07_1"));
  writeFileSync(join(dir, "..2026_12_07_1", "config.yaml"), cfg("a"));
  symlinkSync("..2026_12_07_1", join(dir, "..data"));
  symlinkSync("..data/config.yaml", join(dir, "config.yaml"));
  const s = await serve(dir, join(dir, "config.yaml"));
  try {
    assert.equal(s.allowed(), "spiffe://example.org/a");
    mkdirSync(join(dir, "..2026_12_07_2"));
    writeFileSync(join(dir, "..2026_12_07_2", "config.yaml"), cfg("b"));
    symlinkSync("..2026_12_07_2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data")); // atomic swap, no event names config.yaml
    await until(() => s.allowed() === "spiffe://example.org/b", 2000, "the swap applied");
  } finally {
    await s.close();
  }
});
