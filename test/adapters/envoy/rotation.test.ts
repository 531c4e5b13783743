// End to end: dev Workload API → watcher → trust store → engine → Envoy door, through the composition root.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../../src/trust/dev-workload-api/server.js";
import { startServer } from "../../../src/server.js";
import { parseConfig } from "../../../src/config/load.js";
import { parseListenAddress, parseWorkloadApiAddress } from "../../../src/grpc/address.js";
import { silentLogger } from "../../../src/log.js";
import { checkRequest, envoyClient, unary, type CheckResponseObj } from "../../helpers/clients.js";
import { until } from "../../helpers/log-capture.js";
import { status as grpcStatus } from "@grpc/grpc-js";

test("rotation: once the Workload API drops the old CA, a cached old certificate is denied and the new one allowed", async () => {
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(mkdtempSync(join(tmpdir(), "rot-e2e-")), "agent.sock")}`,
  });
  const server = await startServer(
    {
      listen: [parseListenAddress("127.0.0.1:0", "t")],
      spireSocket: parseWorkloadApiAddress(spire.target, "t"),
      metrics: null,
      configPath: undefined,
      config: parseConfig({
        allowlist: { exact: ["spiffe://example.org/web"] },
        audit: { "log-success": false, "log-failure": false },
      }),
      verbose: false,
      drainTimeoutMs: 500,
      workers: 1,
    },
    silentLogger(),
  );
  const c = envoyClient(server.grpcTargets[0]!);
  const check = async (pem: string) => {
    const r = await unary<CheckResponseObj>(c, "Check", checkRequest({ certPem: pem }));
    return r.status.code === grpcStatus.OK ? "ok" : (JSON.parse(r.denied_response!.body) as { reason: string }).reason;
  };
  try {
    const old = await spire.issueX509Svid("spiffe://example.org/web");
    assert.equal(await check(old.pem), "ok");
    assert.equal(await check(old.pem), "ok"); // now cached
    const hitsBefore = server.engine.cache!.stats().hits;
    assert.ok(hitsBefore >= 1);

    await spire.rotateCa(); // preparation: old and new roots both trusted
    const fresh = await spire.issueX509Svid("spiffe://example.org/web");
    await until(
      () => server.store.current().bundles.x509Bundle("example.org")?.authorities.length === 2,
      2000,
      "both roots",
    );
    assert.equal(await check(old.pem), "ok");
    assert.equal(await check(fresh.pem), "ok");

    spire.dropOldAuthorities();
    await until(
      () => server.store.current().bundles.x509Bundle("example.org")?.authorities.length === 1,
      2000,
      "old root dropped",
    );
    assert.equal(await check(old.pem), "untrusted");
    assert.equal(await check(fresh.pem), "ok");
  } finally {
    c.close();
    await server.stop();
    await spire.close();
  }
});
