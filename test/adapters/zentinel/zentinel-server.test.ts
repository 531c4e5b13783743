// The Zentinel door as the server wires it: health follows the real Workload API connection.
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

test("HealthStatus turns DEGRADED when the dev Workload API is stopped (cache mode) and HEALTHY when it returns", async () => {
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(mkdtempSync(join(tmpdir(), "zsrv-")), "agent.sock")}`,
  });
  const server = await startServer(
    {
      listen: [parseListenAddress("127.0.0.1:0", "t")],
      spireSocket: parseWorkloadApiAddress(spire.target, "t"),
      metrics: null,
      configPath: undefined,
      config: parseConfig({ failure: { "spire-unavailable": "cache", "cache-ttl": 600 } }),
      verbose: false,
      drainTimeoutMs: 500,
      workers: 1,
    },
    silentLogger(),
    { zentinelIntervalsMs: { health: 50, metrics: 1000 } },
  );
  const c = zentinelClient(server.grpcTargets[0]!);
  const call = (c["ProcessStream"] as () => grpc.ClientDuplexStream<unknown, Record<string, unknown>>).call(c);
  const states: number[] = [];
  call.on(
    "data",
    (m: Record<string, unknown>) => m["message"] === "health" && states.push((m["health"] as { state: number }).state),
  );
  call.on("error", () => {});
  try {
    call.write({ handshake: { supported_versions: [2], proxy_id: "p", config_json: "{}" } });
    await until(() => states.at(-1) === 1, 2000, "HEALTHY");
    await spire.close();
    await until(() => states.at(-1) === 2, 3000, "DEGRADED after the Workload API is gone");
    await spire.restart();
    await until(() => states.at(-1) === 1, 5000, "HEALTHY again after it returns");
    // The sequence the proxy saw: healthy, then degraded, then healthy again.
    const firstDegraded = states.indexOf(2);
    assert.ok(firstDegraded > 0 && states.slice(0, firstDegraded).every((s) => s === 1));
    assert.equal(states.at(-1), 1);
  } finally {
    call.end();
    c.close();
    await server.stop();
    await spire.close();
  }
});
