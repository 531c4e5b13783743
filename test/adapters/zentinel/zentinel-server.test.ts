// The Zentinel door as the server wires it: health follows the real Workload API connection and the trust store.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { DevWorkloadApi } from "../../../src/trust/dev-workload-api/server.js";
import { startServer } from "../../../src/server.js";
import { parseConfig } from "../../../src/config/load.js";
import { parseListenAddress, parseWorkloadApiAddress } from "../../../src/grpc/address.js";
import { silentLogger } from "../../../src/log.js";
import { zentinelClient } from "../../helpers/clients.js";
import { until } from "../../helpers/log-capture.js";

type Health = { state: number; message?: string; unhealthy_reason?: string };

/** startServer over `spire` (cache mode) and one proxy stream hearing its HealthStatus every 50 ms. */
async function serverAndStream(spire: DevWorkloadApi) {
  const server = await startServer(
    {
      listen: [parseListenAddress("127.0.0.1:0", "t")],
      spireSocket: parseWorkloadApiAddress(spire.target, "t"),
      metrics: null,
      configPath: undefined,
      config: parseConfig({
        spire: { "api-timeout-ms": 300 },
        failure: { "spire-unavailable": "cache", "cache-ttl": 600 },
      }),
      verbose: false,
      drainTimeoutMs: 500,
      workers: 1,
    },
    silentLogger(),
    { zentinelIntervalsMs: { health: 50, metrics: 1000 } },
  );
  const c = zentinelClient(server.grpcTargets[0]!);
  const call = (c["ProcessStream"] as () => grpc.ClientDuplexStream<unknown, Record<string, unknown>>).call(c);
  const reports: Health[] = [];
  call.on("data", (m: Record<string, unknown>) => m["message"] === "health" && reports.push(m["health"] as Health));
  call.on("error", () => {});
  call.write({ handshake: { supported_versions: [2], proxy_id: "p", config_json: "{}" } });
  return {
    reports,
    states: () => reports.map((r) => r.state),
    async close() {
      call.end();
      c.close();
      await server.stop();
      await spire.close();
    },
  };
}

const startSpire = () =>
  DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(mkdtempSync(join(tmpdir(), "zsrv-")), "agent.sock")}`,
  });

test("HealthStatus turns DEGRADED when the dev Workload API is stopped (cache mode) and HEALTHY when it returns", async () => {
  const spire = await startSpire();
  const z = await serverAndStream(spire);
  try {
    await until(() => z.states().at(-1) === 1, 2000, "HEALTHY");
    await spire.close();
    await until(() => z.states().at(-1) === 2, 3000, "DEGRADED after the Workload API is gone");
    // The proxy logs the message; the failure policy in force is in it.
    assert.equal(z.reports.at(-1)!.message, "Workload API lost (cache)");
    await spire.restart();
    await until(() => z.states().at(-1) === 1, 5000, "HEALTHY again after it returns");
    // The sequence the proxy saw: healthy, then degraded, then healthy again.
    const states = z.states();
    const firstDegraded = states.indexOf(2);
    assert.ok(firstDegraded > 0 && states.slice(0, firstDegraded).every((s) => s === 1));
    assert.equal(states.at(-1), 1);
    assert.equal(z.reports.at(-1)!.message ?? "", "");
  } finally {
    await z.close();
  }
});

test("HealthStatus is UNHEALTHY, with the reason, while no bundle has ever arrived (cache mode: nothing to decide with)", async () => {
  const spire = await startSpire();
  await spire.close();
  const z = await serverAndStream(spire);
  try {
    await until(() => z.reports.length >= 2, 3000, "two HealthStatus reports");
    for (const r of z.reports) {
      assert.equal(r.state, 4);
      assert.equal(r.message, "no trust bundles yet");
      assert.equal(r.unhealthy_reason, "no trust bundles yet");
    }
  } finally {
    await z.close();
  }
});
