// ProcessEvent (one event, no session) and ControlStream, as the proto defines them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import {
  BASE_CONFIG,
  blockOf,
  connectAsProxy,
  headersEvent,
  startDoor,
  zentinelClient,
  type Door,
  type Msg,
} from "../../helpers/zentinel.js";
import { unary } from "../../helpers/clients.js";
import { until } from "../../helpers/log-capture.js";

let door: Door;
before(async () => {
  door = await startDoor();
});
after(async () => {
  await door.close();
});

test("ProcessEvent gives the same decision as the stream for the same request", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  const cases = [
    ["web", door.certs.web],
    ["none", undefined],
    ["intruder", door.certs.intruder],
    ["open-route", door.certs.intruder, "open"],
  ] as const;
  for (const [name, cert, route] of cases) s.call.write(headersEvent(name, cert, route ? { route } : {}));
  await until(() => s.responses().length === cases.length, 3000, "stream answers");
  for (const [name, cert, route] of cases) {
    const res = await unary<Msg>(c, "ProcessEvent", headersEvent(name, cert, route ? { route } : {}));
    assert.equal(res.message, "response");
    const u = res["response"] as Record<string, unknown>;
    const st = s.responses().find((r) => r["correlation_id"] === name)!;
    assert.equal(u["correlation_id"], name);
    assert.equal(u["decision"], st["decision"], name);
    if (st["decision"] === "block") assert.deepEqual(blockOf(u), blockOf(st));
    else {
      // Same ops except the auth timestamp, which may tick between the two calls.
      const strip = (r: Record<string, unknown>) =>
        JSON.stringify(
          (r["request_headers"] as Array<Record<string, unknown>>).filter(
            (o) => (o["set"] as { name?: string } | undefined)?.name !== "X-Auth-Timestamp",
          ),
        );
      assert.equal(strip(u), strip(st));
    }
  }
  s.call.end();
  c.close();
});

test("ProcessEvent: handshake is a capability query, ping → pong, configure answers errors only, cancel is invalid", async () => {
  const c = zentinelClient(door.tcp);
  const hs = await unary<Msg>(c, "ProcessEvent", {
    handshake: { supported_versions: [2], proxy_id: "p", config_json: JSON.stringify({ allowlist: { exact: "x" } }) },
  });
  assert.equal(
    (hs["handshake"] as Record<string, unknown>)["success"],
    true,
    "config_json is not applied on a unary handshake",
  );
  const old = await unary<Msg>(c, "ProcessEvent", { handshake: { supported_versions: [1], proxy_id: "p" } });
  assert.equal((old["handshake"] as Record<string, unknown>)["success"], false);

  const pong = await unary<Msg>(c, "ProcessEvent", { ping: { sequence: "9", timestamp_ms: "5" } });
  assert.equal((pong["pong"] as Record<string, unknown>)["sequence"], "9");
  assert.equal((pong["pong"] as Record<string, unknown>)["ping_timestamp_ms"], "5");

  const bad = await unary<Msg>(c, "ProcessEvent", {
    configure: { config_json: JSON.stringify({ allowlist: { exact: 1 } }), config_version: "u1" },
  });
  assert.equal(bad.message, "config_update");
  assert.equal((bad["config_update"] as Record<string, unknown>)["request_id"], "u1");
  const good = await unary<Msg>(c, "ProcessEvent", {
    configure: { config_json: JSON.stringify(BASE_CONFIG), config_version: "u2" },
  });
  assert.equal(good.message, undefined, "accepted: nothing to report");
  assert.deepEqual(door.applied.at(-1), ["configure", "u2"]);

  // The events the proxy waits on but we do not inspect: allowed unchanged, under their own correlation_id.
  for (const kind of [
    "request_body_chunk",
    "response_headers",
    "response_body_chunk",
    "websocket_frame",
    "guardrail",
  ]) {
    const res = await unary<Msg>(c, "ProcessEvent", { [kind]: { correlation_id: `cid-${kind}` } });
    const r = res["response"] as Record<string, unknown>;
    assert.deepEqual([r["correlation_id"], r["decision"], r["request_headers"]], [`cid-${kind}`, "allow", []], kind);
  }
  const complete = await unary<Msg>(c, "ProcessEvent", {
    request_complete: { correlation_id: "done", status_code: 200 },
  });
  assert.equal(complete.message, undefined, "request_complete: nothing to answer");

  await assert.rejects(
    unary(c, "ProcessEvent", { cancel: { correlation_id: "x" } }),
    (e: grpc.ServiceError) => e.code === 3 && /nothing to cancel/.test(e.details),
  );
  await assert.rejects(
    unary(c, "ProcessEvent", {}),
    (e: grpc.ServiceError) => e.code === 3 && e.details === "empty ProxyToAgent message",
  );
  c.close();
});

test("ControlStream: config_update requests get an honest config_response; health/metrics/log are accepted silently", async () => {
  const c = zentinelClient(door.tcp);
  const call = (c["ControlStream"] as () => grpc.ClientDuplexStream<unknown, Msg>).call(c);
  const got: Msg[] = [];
  let headers = false;
  call.on("metadata", () => (headers = true));
  call.on("data", (m: Msg) => got.push(m));
  call.on("error", () => {});
  await until(() => headers, 3000, "response headers at open, as for ProcessStream");
  call.write({ health: { agent_id: "peer", state: 1 } });
  call.write({ log: { level: 3, message: "hello" } });
  call.write({ config_update: { request_id: "r1", request_reload: {} } });
  call.write({ config_update: { request_id: "r2", rule_update: { rule_set: "x" } } });
  call.write({ config_update: { request_id: "r3", config_error: { error: "bad", field: "f" } } });
  await until(() => got.length === 3, 3000, "three answers");
  const resp = got.map((m) => m["config_response"] as { request_id: string; accepted: boolean; error?: string });
  assert.deepEqual(
    resp.map((r) => [r.request_id, r.accepted]),
    [
      ["r1", false],
      ["r2", false],
      ["r3", true],
    ],
  );
  assert.match(String(resp[0]!.error), /nothing to reload: .*started without a config file/);
  assert.match(String(resp[1]!.error), /rule updates are not supported/);
  let status: number | undefined;
  call.on("status", (s: { code: number }) => (status = s.code));
  call.end();
  await until(() => status !== undefined, 3000, "ended with the client");
  assert.equal(status, 0);
  c.close();
});
