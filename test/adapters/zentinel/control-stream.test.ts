// ControlStream (src/adapters/zentinel/control.ts) through a real GrpcHost around a stand-in engine: every kind
// of config update answered as the proto's reference server does, what a peer sends logged at its own level,
// and the stream's slot: freed when the peer cancels, never taken while the door drains.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { ALLOWED } from "../../../src/engine/contract.js";
import { startStubDoor, type Msg, type StubDoor } from "../../helpers/zentinel.js";
import { until } from "../../helpers/log-capture.js";

let door: StubDoor;
before(async () => {
  door = await startStubDoor({
    decide: () => ({ ...ALLOWED, allow: true, reason: "ok", detail: "", headersToSet: [], headersToRemove: [] }),
  });
});
after(() => door.stop());

interface Control {
  call: grpc.ClientDuplexStream<unknown, Msg>;
  got: Msg[];
  status: () => number | undefined;
}

async function openControl(): Promise<Control> {
  const call = (door.client["ControlStream"] as () => grpc.ClientDuplexStream<unknown, Msg>).call(door.client);
  const got: Msg[] = [];
  let status: number | undefined;
  let headers = false;
  call.on("metadata", () => (headers = true));
  call.on("data", (m: Msg) => got.push(m));
  call.on("status", (s: { code: number }) => (status = s.code));
  call.on("error", () => {});
  await until(() => headers || status !== undefined, 3000, "response headers (or the end)");
  return { call, got, status: () => status };
}

const logged = (msg: string) => door.lines().filter((l) => l["msg"] === msg);

test("every config update kind gets its own honest answer; restart and config-error reports are logged", async () => {
  const c = await openControl();
  c.call.write({
    config_update: { request_id: "restart", restart_required: { reason: "upgrade", grace_period_ms: "500" } },
  });
  c.call.write({ config_update: { request_id: "error", config_error: { error: "bad key", field: "allowlist" } } });
  c.call.write({ config_update: { request_id: "reload", request_reload: {} } });
  c.call.write({ config_update: { request_id: "rule", rule_update: { rule_set: "x" } } });
  c.call.write({ config_update: { request_id: "list", list_update: { list_id: "l", add: ["a"] } } });
  c.call.write({ config_update: { request_id: "empty" } });
  await until(() => c.got.length === 6, 3000, "six answers");
  const answers = c.got.map((m) => {
    assert.equal(m.message, "config_response");
    const r = m["config_response"] as { request_id: string; accepted: boolean; error?: string; timestamp_ms: string };
    assert.ok(Number(r.timestamp_ms) > 0);
    return [r.request_id, r.accepted, r.error];
  });
  assert.deepEqual(answers, [
    ["restart", true, undefined],
    ["error", true, undefined],
    ["reload", false, "nothing to reload: spiffe-authz was started without a config file (--config)"],
    ["rule", false, "rule updates are not supported; push the whole config with a Configure event"],
    ["list", false, "list updates are not supported; push the whole config with a Configure event"],
    ["empty", false, "empty config update"],
  ]);

  const restart = logged("Zentinel peer reports a restart is required");
  assert.deepEqual(
    restart.map((l) => [l["level"], l["reason"], l["gracePeriodMs"]]),
    [[40, "upgrade", 500]],
  );
  const error = logged("Zentinel peer reports a configuration error");
  assert.deepEqual(
    error.map((l) => [l["level"], l["error"], l["field"]]),
    [[50, "bad key", "allowlist"]],
  );
  const reload = logged("Zentinel RequestReload: nothing to reload (started without --config)");
  assert.deepEqual(
    reload.map((l) => [l["level"], l["requestId"], l["stream"]]),
    [[30, "reload", "control"]],
  );
  c.call.end();
  await until(() => c.status() !== undefined, 3000, "ended with the client");
  assert.equal(c.status(), 0);
});

test("what the peer sends is logged at its own level under `peer:`; health, metrics and empty messages at debug", async () => {
  const c = await openControl();
  const levels: Array<[number, string]> = [
    [4, "error"],
    [3, "warn"],
    [2, "info"],
    [1, "debug"],
    [0, "unspecified"],
  ];
  for (const [level, name] of levels)
    c.call.write({ log: { level, message: `m-${name}`, correlation_id: `c-${name}`, fields: { k: name } } });
  c.call.write({ health: { agent_id: "peer", state: 1 } });
  c.call.write({ metrics: { agent_id: "peer" } });
  c.call.write({});
  await until(() => logged("empty AgentControl message ignored").length === 1, 3000, "all read");
  for (const [, name] of levels) {
    const l = logged(`peer: m-${name}`);
    assert.equal(l.length, 1, name);
    assert.deepEqual(
      [l[0]!["level"], l[0]!["correlationId"], l[0]!["fields"], l[0]!["stream"]],
      [{ error: 50, warn: 40, info: 30 }[name] ?? 20, `c-${name}`, { k: name }, "control"],
      name,
    );
    assert.match(String(l[0]!["peer"]), /^127\.0\.0\.1:\d+$/);
  }
  assert.deepEqual(
    logged("Zentinel control message").map((l) => [l["level"], l["message"]]),
    [
      [20, "health"],
      [20, "metrics"],
    ],
  );
  assert.equal(logged("empty AgentControl message ignored")[0]!["level"], 20);
  assert.equal(c.got.length, 0, "none of these is answered");
  c.call.end();
  await until(() => c.status() !== undefined, 3000, "ended with the client");
});

test("a cancelled ControlStream frees its slot; one opened while the door drains ends at once with OK (last: drain is final)", async () => {
  const c = await openControl();
  await until(() => door.zentinel.streams() === 1, 3000, "admitted");
  c.call.cancel();
  await until(() => door.zentinel.streams() === 0, 3000, "released by the cancel");

  const kept = await openControl();
  await until(() => door.zentinel.streams() === 1, 3000, "admitted");
  // Nothing in flight (a ControlStream carries no events): the drain does not wait out its 5 s.
  const t0 = Date.now();
  await door.zentinel.drain();
  assert.ok(Date.now() - t0 < 1000, `drain with nothing in flight took ${Date.now() - t0} ms`);
  assert.equal(door.zentinel.streams(), 0, "released by the drain itself, not later when grpc-js reports the end");
  await until(() => kept.status() !== undefined, 3000, "ended by the drain");
  assert.equal(kept.status(), 0);

  const late = await openControl();
  await until(() => late.status() !== undefined, 3000, "ended at once");
  assert.equal(late.status(), 0);
  assert.equal(door.zentinel.streams(), 0, "never counted");
  assert.equal(late.got.length, 0);
});
