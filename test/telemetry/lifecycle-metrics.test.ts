// Reload counters, the last-reload time, build_info and bundle expiry on a real `serve --workers 2`: the
// primary's /metrics adds up what each worker counts (one config change is re-read by both workers, so it counts
// 2), keeps the oldest last-reload time, and shows build_info once.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { METRIC } from "../../src/telemetry/index.js";
import { spawnServe } from "../helpers/cli.js";
import { freePort } from "../helpers/clients.js";
import { until } from "../helpers/log-capture.js";
import { poll } from "../helpers/server-harness.js";
import { parsePrometheusText, sampleValue, type ParsedFamily } from "../helpers/prom-text.js";

const VERSION = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

async function scrape(url: string): Promise<Map<string, ParsedFamily>> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  return parsePrometheusText(await res.text());
}

/** Writes the file as an operator should: a new file renamed onto the old one. */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

function kill(child: ChildProcess) {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

test("serve --workers 2: a good reload and a refused one move the reload counters; build_info and bundle expiry on /metrics", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lifecycle-"));
  const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "a.sock")}` });
  const file = join(dir, "config.yaml");
  writeFileSync(file, 'allowlist:\n  prefix: ["spiffe://example.org/web"]\n');
  const metricsPort = await freePort();
  const url = `http://127.0.0.1:${metricsPort}/metrics`;
  const started = Date.now() / 1000;
  const s = spawnServe([
    ...["--workers", "2", "--config", file, "--spire-socket", spire.target],
    ...["--grpc-address", `127.0.0.1:${await freePort()}`, "--metrics-address", `127.0.0.1:${metricsPort}`],
  ]);
  const reloads = (m: Map<string, ParsedFamily>, result: string) => sampleValue(m, METRIC.configReloads, { result });
  try {
    await until(() => (s.logs().match(/"msg":"spiffe-authz serving"/g) ?? []).length === 2, 30_000, "2 workers");
    let m = await scrape(url);
    assert.equal(sampleValue(m, METRIC.buildInfo, { version: VERSION, node_version: process.version }), 1);
    assert.equal(m.get(METRIC.buildInfo)?.samples.length, 1, "one build_info series, not one per worker");
    assert.equal(reloads(m, "success"), 0);
    assert.equal(reloads(m, "failure"), 0);
    const loadedAt = sampleValue(m, METRIC.configLastReload)!;
    assert.ok(loadedAt >= started - 1 && loadedAt <= Date.now() / 1000, `start-up load time ${loadedAt}`);
    assert.equal(
      sampleValue(m, METRIC.bundleExpiry, { trust_domain: "example.org" }),
      spire.ca.root().certificate.notAfterMs / 1000,
    );

    // A good change on disk: each worker re-reads it, so 2 successes, and the last-reload time moves.
    const beforeGood = Date.now() / 1000;
    replace(file, 'allowlist:\n  prefix: ["spiffe://example.org/api"]\n');
    m = (
      await poll(
        () => scrape(url),
        (x) => reloads(x, "success") === 2,
        10_000,
        "2 successful reloads",
      )
    ).value;
    const reloadedAt = sampleValue(m, METRIC.configLastReload)!;
    assert.ok(reloadedAt >= beforeGood - 0.001, `last reload ${reloadedAt} after the change at ${beforeGood}`);

    // A refused change (a wrong type) counts as failures and leaves the last-reload time alone.
    replace(file, "allowlist: { exact: 42 }\n");
    m = (
      await poll(
        () => scrape(url),
        (x) => reloads(x, "failure") === 2,
        10_000,
        "2 failed reloads",
      )
    ).value;
    assert.equal(reloads(m, "success"), 2);
    assert.equal(sampleValue(m, METRIC.configLastReload), reloadedAt);

    s.child.kill("SIGTERM");
    assert.equal((await s.exit).code, 0, s.logs().slice(-2000));
  } finally {
    kill(s.child);
    await spire.close();
  }
});
