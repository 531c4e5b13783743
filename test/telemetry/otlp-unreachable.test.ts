// OTLP push against a collector that accepts connections and never answers (a blackhole, as a wedged collector or
// a dropped firewall reply looks): serve says at start that OTLP export is on, warns when exports fail, and
// SIGTERM still stops it within about 3 s, saying the last export was dropped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { spawnServe } from "../helpers/cli.js";
import { freePort } from "../helpers/clients.js";
import { until } from "../helpers/log-capture.js";

async function blackhole(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

type Line = Record<string, unknown>;
const lines = (text: string): Line[] =>
  text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line);

for (const protocol of ["http/protobuf", "grpc"]) {
  test(`OTLP ${protocol} to a collector that never answers: logged at start and on failure; SIGTERM exits within 3 s`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "otlp-blackhole-"));
    const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "a.sock")}` });
    const hole = await blackhole();
    const s = spawnServe(
      ["--spire-socket", spire.target, "--grpc-address", `127.0.0.1:${await freePort()}`, "--metrics-address", "off"],
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: hole.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_METRIC_EXPORT_INTERVAL: "1000",
      },
    );
    try {
      await until(() => s.logs().includes('"msg":"spiffe-authz serving"'), 30_000, "serving");
      const on = lines(s.logs()).find((l) => l["msg"] === "OTLP metrics export on");
      assert.ok(on, s.logs());
      assert.equal(on["protocol"], protocol);
      assert.equal(on["intervalMs"], 1000);
      assert.match(String(on["endpoint"]), new RegExp(`^${hole.url}`));
      // The first export times out (1 s, the interval) and is reported once, at warn.
      await until(() => s.logs().includes('"msg":"OTLP metrics export failing"'), 10_000, "export failure warned");
      const warn = lines(s.logs()).find((l) => l["msg"] === "OTLP metrics export failing")!;
      assert.equal(warn["level"], "warn");
      assert.match(String(warn["error"]), /\S/);

      const t0 = Date.now();
      s.child.kill("SIGTERM");
      const exit = await s.exit;
      const took = Date.now() - t0;
      assert.equal(exit.code, 0, s.logs().slice(-2000));
      assert.ok(took < 3000, `exit took ${took} ms after SIGTERM`);
      assert.ok(
        lines(s.logs()).some((l) => l["msg"] === "OTLP final export did not finish in time; dropped"),
        s.logs().slice(-2000),
      );
    } finally {
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
      await hole.close();
      await spire.close();
    }
  });
}
