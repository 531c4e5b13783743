// Periodic HealthStatus and MetricsReport on every ProcessStream.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connectAsProxy, headersEvent, startDoor, zentinelClient, type Door } from "../../helpers/zentinel.js";
import { until } from "../../helpers/log-capture.js";

let door: Door;
before(async () => {
  door = await startDoor({ healthIntervalMs: 50, metricsIntervalMs: 50 });
});
after(async () => {
  await door.close();
});

type Health = {
  state: number;
  message?: string;
  unhealthy_reason?: string;
  recoverable: boolean;
  valid_until_ms: string;
  timestamp_ms: string;
  load?: { in_flight: number };
};

test("HealthStatus follows deps.health(): healthy, degraded when the Workload API is lost, unhealthy, healthy again", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  const last = () => s.of("health").at(-1) as Health | undefined;
  await until(() => last()?.state === 1, 3000, "HEALTHY");
  door.setHealth({ state: "degraded", message: "Workload API lost (cache)" });
  await until(() => last()?.state === 2, 3000, "DEGRADED");
  assert.equal(last()!.message, "Workload API lost (cache)");
  assert.equal(last()!.recoverable, true);
  door.setHealth({ state: "unhealthy", message: "no trust bundles yet" });
  await until(() => last()?.state === 4, 3000, "UNHEALTHY");
  assert.equal(last()!.unhealthy_reason, "no trust bundles yet");
  door.setHealth({ state: "healthy" });
  await until(() => last()?.state === 1, 3000, "HEALTHY again");
  const h = last()!;
  assert.ok(Number(h.valid_until_ms) > Number(h.timestamp_ms), "reports say how long they hold");
  assert.equal(h.load?.in_flight, 0);
  s.call.end();
  c.close();
});

test("MetricsReport carries the decision counters read from the OTel instruments, and the gauges", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  s.call.write(headersEvent("m1", door.certs.web));
  s.call.write(headersEvent("m2", undefined));
  s.call.write(headersEvent("m3", undefined));
  await until(() => s.responses().length === 3, 3000, "answers");
  type Report = {
    agent_id: string;
    interval_ms: string;
    counters: Array<{ name: string; labels: Record<string, string>; value: string }>;
    gauges: Array<{ name: string; value: number }>;
  };
  const count = (r: Report, decision: string, reason: string) =>
    Number(
      r.counters.find(
        (x) =>
          x.name === "spiffe_authz_decisions_total" &&
          x.labels["decision"] === decision &&
          x.labels["reason"] === reason &&
          x.labels["transport"] === "zentinel",
      )?.value ?? 0,
    );
  await until(
    () => {
      const r = s.of("metrics").at(-1) as Report | undefined;
      return r !== undefined && count(r, "allow", "ok") >= 1 && count(r, "deny", "no_certificate") >= 2;
    },
    2000,
    "a report counting this stream's decisions",
  );
  const r = s.of("metrics").at(-1) as Report;
  assert.match(r.agent_id, /^spiffe-authz-/);
  assert.equal(r.interval_ms, "50");
  assert.deepEqual(
    r.gauges.map((g) => [g.name, g.value]),
    [["spiffe_authz_workload_api_connected", 1]],
  );
  // Cumulative: a later report never goes down (the proxy keeps the latest value per series).
  const before = count(r, "deny", "no_certificate");
  const n = s.of("metrics").length;
  await until(() => s.of("metrics").length > n, 3000, "next report");
  assert.ok(count(s.of("metrics").at(-1) as Report, "deny", "no_certificate") >= before);
  s.call.end();
  c.close();
});
