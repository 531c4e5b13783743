// Periodic HealthStatus and MetricsReport on every ProcessStream.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ALLOWED } from "../../../src/engine/contract.js";
import type { ReportedMetrics } from "../../../src/adapters/zentinel/service.js";
import {
  connectAsProxy,
  headersEvent,
  startDoor,
  startStubDoor,
  zentinelClient,
  type Door,
} from "../../helpers/zentinel.js";
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
  assert.equal(last()!.unhealthy_reason, undefined, "only UNHEALTHY carries a reason");
  door.setHealth({ state: "unhealthy", message: "no trust bundles yet" });
  await until(() => last()?.state === 4, 3000, "UNHEALTHY");
  assert.equal(last()!.unhealthy_reason, "no trust bundles yet");
  door.setHealth({ state: "unhealthy" });
  await until(() => last()?.state === 4 && last()!.message === undefined, 3000, "UNHEALTHY without a message");
  assert.equal(last()!.unhealthy_reason, "unhealthy");
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

test("MetricsReport carries what the source gives: help texts, gauges, histograms and their buckets; a count that is not a finite positive number is sent as 0", async () => {
  let next: ReportedMetrics | ReportedMetrics["counters"] = [];
  const stub = await startStubDoor({
    decide: () => ({ ...ALLOWED, allow: true, reason: "ok", detail: "", headersToSet: [], headersToRemove: [] }),
    metrics: () => next,
    metricsIntervalMs: 30,
  });
  try {
    const s = await connectAsProxy(stub.client);
    const reports = () => (s.of("metrics") as Array<Record<string, unknown>>).map(fields);
    // A bare counter array (what server.ts passes): counters only.
    next = [{ name: "c", labels: { k: "v" }, value: 2.6 }];
    await until(() => reports().some((r) => (r["counters"] as unknown[]).length === 1), 3000, "a counter report");
    const bare = reports().find((r) => (r["counters"] as unknown[]).length === 1)!;
    assert.deepEqual(bare["counters"], [{ name: "c", labels: { k: "v" }, value: "3" }]);
    assert.deepEqual([bare["gauges"], bare["histograms"]], [[], []]);

    next = {
      counters: [
        { name: "neg", labels: {}, value: -1, help: "negative" },
        { name: "nan", labels: {}, value: Number.NaN },
        { name: "inf", labels: {}, value: Number.POSITIVE_INFINITY },
      ],
      gauges: [{ name: "g", labels: { a: "b" }, value: -0.5, help: "a gauge" }],
      histograms: [
        {
          name: "h",
          labels: { x: "y" },
          sum: 1.5,
          count: 3,
          buckets: [
            { le: 0.5, count: 1 },
            { le: Number.POSITIVE_INFINITY, count: 3 },
          ],
          help: "a histogram",
        },
      ],
    };
    await until(() => reports().some((r) => (r["histograms"] as unknown[]).length === 1), 3000, "a full report");
    const full = reports().find((r) => (r["histograms"] as unknown[]).length === 1)!;
    assert.deepEqual(full["counters"], [
      { name: "neg", labels: {}, value: "0", help: "negative" },
      { name: "nan", labels: {}, value: "0" },
      { name: "inf", labels: {}, value: "0" },
    ]);
    assert.deepEqual(full["gauges"], [{ name: "g", labels: { a: "b" }, value: -0.5, help: "a gauge" }]);
    assert.deepEqual(full["histograms"], [
      {
        name: "h",
        labels: { x: "y" },
        sum: 1.5,
        count: "3",
        buckets: [
          { le: 0.5, count: "1" },
          { le: Number.POSITIVE_INFINITY, count: "3" },
        ],
        help: "a histogram",
      },
    ]);
    s.call.end();
  } finally {
    await stub.stop();
  }
});

/** The message's fields as sent: proto-loader adds a `_name` key naming each proto3 optional field that is set. */
function fields(v: unknown): Record<string, unknown> {
  const strip = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(strip)
      : x !== null && typeof x === "object"
        ? Object.fromEntries(
            Object.entries(x)
              .filter(([k]) => !k.startsWith("_"))
              .map(([k, y]) => [k, strip(y)]),
          )
        : x;
  return strip(v) as Record<string, unknown>;
}
