// Events on an open ProcessStream: concurrent decisions matched by correlation_id, cancel, ping, the events a
// SPIFFE agent passes through, and what reaches the engine and the audit line.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  blockOf,
  connectAsProxy,
  headerOps,
  headersEvent,
  startDoor,
  zentinelClient,
  type Door,
} from "../../helpers/zentinel.js";
import { sleep, until } from "../../helpers/log-capture.js";

let door: Door;
before(async () => {
  door = await startDoor();
});
after(async () => {
  await door.close();
});

test("100 pipelined request_headers (allow/401/403) all answered, matched by correlation_id; a slow one holds nothing back", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  const release = door.hold("e0");
  const want = new Map<string, number>();
  for (let i = 0; i < 100; i++) {
    const kind = i % 3;
    s.call.write(headersEvent(`e${i}`, kind === 0 ? door.certs.web : kind === 1 ? undefined : door.certs.intruder));
    want.set(`e${i}`, kind === 0 ? 200 : kind === 1 ? 401 : 403);
  }
  await until(() => s.responses().length === 99, 10_000, "99 answers while e0 is still being decided");
  assert.ok(!s.responses().some((r) => r["correlation_id"] === "e0"), "the held event did not hold the others back");
  release();
  await until(() => s.responses().length === 100, 2000, "e0 answered too");
  assert.equal(s.responses().at(-1)!["correlation_id"], "e0");
  const ids = new Set(s.responses().map((r) => r["correlation_id"] as string));
  assert.equal(ids.size, 100, "one answer per event");
  for (const r of s.responses()) {
    const expected = want.get(r["correlation_id"] as string);
    if (expected === 200) {
      assert.equal(r["decision"], "allow");
      assert.ok(
        headerOps(r).some(
          ([op, name, value]) => op === "set" && name === "X-SPIFFE-Id" && value === "spiffe://example.org/web",
        ),
      );
    } else {
      assert.equal(r["decision"], "block", String(r["correlation_id"]));
      const b = blockOf(r);
      assert.equal(b.status, expected);
      assert.deepEqual(b.headers, [{ name: "content-type", value: "application/json" }]);
      assert.equal(JSON.parse(b.body).reason, expected === 401 ? "no_certificate" : "not_allowed");
    }
  }
  s.call.end();
  c.close();
});

test("allow: spoofed identity headers are removed before ours are set; audit metadata names the reason", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  door.slow.set("spoof", 100);
  const sent = performance.now();
  s.call.write(
    headersEvent("spoof", door.certs.web, {
      headers: [
        { name: "X-SPIFFE-Id", value: "spiffe://example.org/admin" },
        { name: "x-auth-method", value: "none" },
      ],
    }),
  );
  await until(() => s.responses().length === 1, 3000, "answer");
  const wall = performance.now() - sent;
  const r = s.responses()[0]!;
  const ops = headerOps(r);
  const firstSet = ops.findIndex(([op]) => op === "set");
  assert.ok(
    ops.slice(0, firstSet).every(([op]) => op === "remove"),
    "removals come first",
  );
  assert.ok(ops.slice(firstSet).every(([op]) => op === "set"));
  const set = Object.fromEntries(ops.filter(([op]) => op === "set").map(([, n, v]) => [n, v]));
  assert.deepEqual(Object.keys(set).sort(), [
    "X-Auth-Method",
    "X-Auth-Timestamp",
    "X-SPIFFE-Id",
    "X-SPIFFE-Trust-Domain",
    "X-SPIFFE-Workload-Id",
  ]);
  assert.equal(set["X-SPIFFE-Id"], "spiffe://example.org/web");
  assert.equal(set["X-Auth-Method"], "spiffe");
  const audit = r["audit"] as { reason_codes: string[]; custom: Record<string, string> };
  assert.deepEqual(audit.reason_codes, ["ok"]);
  assert.equal(audit.custom["spiffe_id"], "spiffe://example.org/web");
  // The engine's time (held 100 ms here), which cannot exceed the round trip the proxy saw.
  const took = Number(r["processing_time_ms"]);
  assert.ok(took >= 95 && took <= Math.ceil(wall), `processing_time_ms ${took}, round trip ${wall.toFixed(1)} ms`);
  s.call.end();
  c.close();
});

test("503 when the ID's trust domain has no bundle and SPIRE is unavailable (fail_closed)", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  door.setSpireAvailable(false);
  s.call.write(headersEvent("down", door.certs.stranger));
  await until(() => s.responses().length === 1, 3000, "answer");
  door.setSpireAvailable(true);
  assert.equal(blockOf(s.responses()[0]!).status, 503);
  assert.equal(JSON.parse(blockOf(s.responses()[0]!).body).reason, "spire_unavailable");
  s.call.end();
  c.close();
});

test("route_id selects the route; headers joined; uri kept with its query; correlation id and traceparent reach the audit line", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  const ev = headersEvent("r1", door.certs.intruder, {
    route: "open",
    headers: [
      { name: "Accept", value: "text/html" },
      { name: "accept", value: "application/json" },
      { name: "cookie", value: "a=1" },
      { name: "Cookie", value: "b=2" },
    ],
  });
  s.call.write(ev);
  await until(() => s.responses().length === 1, 3000, "answer");
  assert.equal(s.responses()[0]!["decision"], "allow", 'route "open" allows the whole trust domain');
  const req = door.seen.find((r) => r.correlationId === "r1")!;
  assert.equal(req.transport, "zentinel");
  assert.equal(req.routeName, "open");
  assert.equal(req.method, "GET");
  assert.equal(req.path, "/api/orders?page=2");
  assert.equal(req.host, "api.example.org");
  assert.equal(req.requestId, "req-r1");
  assert.equal(req.headers.get("accept"), "text/html,application/json");
  assert.equal(req.headers.get("cookie"), "a=1; b=2");
  const line = door.audit().find((l) => l["correlation_id"] === "r1")!;
  assert.ok(line, "audit line for r1");
  assert.equal(line["traceparent"], ev.request_headers.metadata.traceparent);
  assert.equal(line["request_id"], "req-r1");
  assert.equal(line["route"], "open");
  assert.equal(line["transport"], "zentinel");
  // The proxy always names its own route ("api" here): with no such route in our config, the top-level allowlist decides.
  s.call.write(headersEvent("r2", door.certs.intruder));
  await until(() => s.responses().length === 2, 3000, "answer");
  assert.equal(blockOf(s.responses()[1]!).status, 403);
  s.call.end();
  c.close();
});

test("cancel suppresses the answer of that event only; ping gets a pong echoing sequence and timestamp", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  const releaseGone = door.hold("gone");
  const releaseKept = door.hold("kept");
  s.call.write(headersEvent("gone", door.certs.web));
  s.call.write(headersEvent("kept", door.certs.web));
  s.call.write({ cancel: { correlation_id: "gone", reason: 2, timestamp_ms: "1" } });
  s.call.write({ cancel: { correlation_id: "never-seen", reason: 5 } }); // the pool sends cancels to every connection
  s.call.write({ ping: { sequence: "7", timestamp_ms: "123" } });
  await until(() => s.of("pong").length === 1, 3000, "pong");
  const pong = s.of("pong")[0]!;
  assert.equal(pong["sequence"], "7");
  assert.equal(pong["ping_timestamp_ms"], "123");
  assert.ok(Number(pong["timestamp_ms"]) >= Date.now() - 5000);
  await until(() => door.seen.some((r) => r.correlationId === "kept"), 3000, "both being decided");
  releaseKept();
  releaseGone();
  await until(() => s.responses().length === 1, 3000, "kept answered");
  await sleep(100);
  assert.deepEqual(
    s.responses().map((r) => r["correlation_id"]),
    ["kept"],
  );
  s.call.end();
  c.close();
});

test("events the proxy waits on but we do not inspect pass unchanged; request_complete gets no answer", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  s.call.write({
    request_body_chunk: { correlation_id: "b1", chunk_index: 0, data: Buffer.from("hello"), is_last: true },
  });
  s.call.write({
    response_headers: {
      correlation_id: "b2",
      status_code: 200,
      headers: [{ name: "content-type", value: "text/plain" }],
    },
  });
  s.call.write({
    response_body_chunk: { correlation_id: "b3", chunk_index: 0, data: Buffer.from("x"), is_last: true },
  });
  s.call.write({
    websocket_frame: { correlation_id: "b4", client_to_server: true, frame_type: 1, payload: Buffer.from("hi") },
  });
  s.call.write({ guardrail: { correlation_id: "b5", content: "prompt", content_type: 1 } });
  s.call.write({ request_complete: { correlation_id: "b6", status_code: 200, duration_ms: "3" } });
  s.call.write({ ping: { sequence: "1", timestamp_ms: "1" } });
  await until(() => s.of("pong").length === 1 && s.responses().length === 5, 3000, "answers");
  await sleep(50);
  assert.deepEqual(
    s.responses().map((r) => r["correlation_id"]),
    ["b1", "b2", "b3", "b4", "b5"],
  );
  for (const r of s.responses()) {
    assert.equal(r["decision"], "allow");
    assert.deepEqual(r["request_headers"], []);
    assert.deepEqual(r["response_headers"], []);
  }
  s.call.end();
  c.close();
});

test("an engine failure is a 500 block for that event alone", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  door.failing.add("boom");
  s.call.write(headersEvent("boom", door.certs.web));
  s.call.write(headersEvent("fine", door.certs.web));
  await until(() => s.responses().length === 2, 3000, "answers");
  door.failing.clear();
  const boom = s.responses().find((r) => r["correlation_id"] === "boom")!;
  assert.equal(blockOf(boom).status, 500);
  assert.equal(JSON.parse(blockOf(boom).body).reason, "internal_error");
  assert.equal(s.responses().find((r) => r["correlation_id"] === "fine")!["decision"], "allow");
  s.call.end();
  c.close();
});

test("above max concurrency the stream stops reading and catches up: nothing lost", async () => {
  const small = await startDoor({ maxConcurrency: 4 });
  const c = zentinelClient(small.tcp);
  // Closed whatever happens: a door left open by a failed assertion keeps the file running (a mutant that
  // breaks backpressure then reads as a timeout, not a kill).
  try {
    const s = await connectAsProxy(c);
    for (let i = 0; i < 12; i++) small.slow.set(`p${i}`, 50);
    for (let i = 0; i < 12; i++) s.call.write(headersEvent(`p${i}`, small.certs.web));
    await until(() => s.responses().length === 12, 3000, "all answered");
    assert.equal(small.maxInFlight(), 4, "never more than max_concurrency decisions at once");
    s.call.end();
  } finally {
    c.close();
    await small.close();
  }
});
