// OTLP push reports itself: a line when it is on, a warn line at the first failed export, then at most one a
// minute while exports keep failing (with how many failed), and a line when they recover. A real HTTP receiver
// answers 400 (a failure the exporter does not retry) or 200; the clock that paces the reports is the test's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createTelemetry } from "../../src/telemetry/index.js";
import { capturedLogger } from "../helpers/log-capture.js";

test("OTLP export failures: reported at once, then once a minute with the count; recovery reported once", async () => {
  let status = 400;
  let received = 0;
  const rx = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received++;
      res.writeHead(status, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => rx.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/v1/metrics`;
  const { log, lines } = capturedLogger();
  let clock = 1_000_000;
  const t = createTelemetry({
    enabled: true,
    processMetrics: false,
    otlp: { protocol: "http/json", url, intervalMillis: 3_600_000, timeoutMillis: 5000 },
    log,
    now: () => clock,
  });
  const said = (msg: string) => lines().filter((l) => l["msg"] === msg);
  try {
    assert.deepEqual(
      said("OTLP metrics export on").map((l) => [l["endpoint"], l["protocol"], l["intervalMs"]]),
      [[url, "http/json", 3_600_000]],
    );
    t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.0001);

    await t.flush();
    assert.equal(received, 1);
    assert.deepEqual(
      said("OTLP metrics export failing").map((l) => [l["level"], l["failures"]]),
      [[40, 1]],
    );
    assert.match(String(said("OTLP metrics export failing")[0]!["error"]), /\S/);

    for (let i = 0; i < 3; i++) await t.flush();
    clock += 59_000;
    await t.flush();
    assert.equal(received, 5);
    assert.equal(said("OTLP metrics export failing").length, 1, "no second report within the minute");

    clock += 2_000;
    await t.flush();
    assert.deepEqual(
      said("OTLP metrics export failing").map((l) => l["failures"]),
      [1, 6],
    );

    status = 200;
    await t.flush();
    await t.flush();
    assert.deepEqual(
      said("OTLP metrics export recovered").map((l) => [l["level"], l["failures"]]),
      [[30, 6]],
    );

    // A new run of failures is reported at once, counted from one.
    status = 400;
    await t.flush();
    assert.deepEqual(
      said("OTLP metrics export failing").map((l) => l["failures"]),
      [1, 6, 1],
    );
  } finally {
    await t.shutdown();
    await new Promise<void>((r) => rx.close(() => r()));
  }
});
