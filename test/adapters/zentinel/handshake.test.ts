// Handshake as the real proxy performs it, and the ways a handshake is refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  BASE_CONFIG,
  connectAsProxy,
  headersEvent,
  openStream,
  startDoor,
  zentinelClient,
  PROXY_HANDSHAKE,
  type Door,
} from "../../helpers/zentinel.js";
import { until } from "../../helpers/log-capture.js";

let door: Door;
before(async () => {
  door = await startDoor();
});
after(async () => {
  await door.close();
});

test("the proxy's connect sequence: headers before any message, handshake answered first, honest capabilities, then health", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  const hs = s.got[0]!["handshake"] as Record<string, unknown>;
  assert.equal(hs["protocol_version"], 2);
  const caps = hs["capabilities"] as Record<string, unknown>;
  assert.equal(caps["protocol_version"], 2);
  assert.equal(caps["name"], "spiffe-authz");
  assert.equal(caps["version"], "test");
  assert.match(String(caps["agent_id"]), /^spiffe-authz-\d+$/);
  assert.deepEqual(caps["supported_events"], [1, 8], "REQUEST_HEADERS and CONFIGURE");
  assert.deepEqual(caps["features"], {
    streaming_body: false,
    websocket: false,
    guardrails: false,
    config_push: true,
    metrics_export: true,
    concurrent_requests: 1000,
    cancellation: true,
    flow_control: false,
    health_reporting: true,
  });
  assert.equal((caps["limits"] as Record<string, unknown>)["max_concurrency"], 1000);
  assert.deepEqual(caps["health_config"], {
    report_interval_ms: 100,
    include_load_metrics: true,
    include_resource_metrics: false,
  });
  await until(() => s.got.length >= 2, 3000, "first HealthStatus");
  assert.equal(s.got[1]!.message, "health");
  assert.equal((s.got[1]!["health"] as { state: number }).state, 1);
  // `{}` is what the proxy always sends: it must not replace the config in force.
  assert.deepEqual(door.applied, []);
  // And it decides right away.
  s.call.write(headersEvent("hs-1", door.certs.web));
  await until(() => s.responses().length === 1, 3000, "decision");
  assert.equal(s.responses()[0]!["decision"], "allow");
  s.call.end();
  await until(s.ended, 3000, "stream closed after the proxy half-closed");
  assert.equal(s.status()?.code, 0);
  c.close();
});

test("the same connect sequence over the unix socket", async () => {
  const c = zentinelClient(door.unix);
  const s = await connectAsProxy(c);
  s.call.write(headersEvent("u-1", door.certs.intruder));
  await until(() => s.responses().length === 1, 3000, "decision");
  assert.equal((s.responses()[0]!["block"] as { status: number }).status, 403);
  s.call.end();
  c.close();
});

test("unsupported versions: success=false naming them, then a clean end (OK status)", async () => {
  const c = zentinelClient(door.tcp);
  const s = openStream(c);
  s.call.write({
    handshake: { supported_versions: [1], proxy_id: "old-proxy", proxy_version: "0.1", config_json: "{}" },
  });
  await until(s.ended, 3000, "stream ended");
  assert.equal(s.got.length, 1);
  const hs = s.got[0]!["handshake"] as Record<string, unknown>;
  assert.equal(hs["success"], false);
  assert.match(String(hs["error"]), /unsupported protocol versions \[1\].*version 2/);
  assert.equal(s.status()?.code, 0);
  c.close();
});

test("a first message that is not a handshake: success=false, clean end, nothing decided", async () => {
  const c = zentinelClient(door.tcp);
  const s = openStream(c);
  const before = door.seen.length;
  s.call.write(headersEvent("early", door.certs.web));
  await until(s.ended, 3000, "stream ended");
  const hs = s.got[0]!["handshake"] as Record<string, unknown>;
  assert.equal(hs["success"], false);
  assert.match(String(hs["error"]), /expected a HandshakeRequest as the first message, got requestHeaders/);
  assert.equal(s.status()?.code, 0);
  assert.equal(door.seen.length, before);
  c.close();
});

test("handshake config_json: a valid one is applied; a bad one is reported (config_error) and the old policy keeps deciding", async () => {
  const c = zentinelClient(door.tcp);
  // Bad: the handshake still succeeds (a refused one leaves the proxy without the agent: every request 5xx or unchecked).
  const bad = openStream(c);
  bad.call.write({
    handshake: {
      ...PROXY_HANDSHAKE.handshake,
      config_json: JSON.stringify({ allowlist: { exact: "spiffe://example.org/intruder" } }),
    },
  });
  await until(() => bad.of("config_update").length === 1, 3000, "config error reported");
  assert.equal((bad.got[0]!["handshake"] as Record<string, unknown>)["success"], true);
  const upd = bad.of("config_update")[0]!;
  assert.equal(upd["update_type"], "config_error");
  assert.match(String((upd["config_error"] as { error: string }).error), /allowlist\.exact/);
  assert.equal((upd["config_error"] as { field: string }).field, "allowlist.exact");
  bad.call.write(headersEvent("bad-1", door.certs.intruder));
  await until(() => bad.responses().length === 1, 3000, "decision");
  assert.equal((bad.responses()[0]!["block"] as { status: number }).status, 403, "old policy still in force");
  bad.call.end();

  // Good: applied before the handshake is answered, so the first event already sees it.
  const good = openStream(c);
  good.call.write({
    handshake: {
      ...PROXY_HANDSHAKE.handshake,
      config_json: JSON.stringify({ allowlist: { exact: ["spiffe://example.org/intruder"] } }),
    },
  });
  good.call.write(headersEvent("good-1", door.certs.intruder));
  await until(() => good.responses().length === 1, 3000, "decision");
  assert.equal(good.responses()[0]!["decision"], "allow");
  assert.equal(good.of("config_update").length, 0);
  assert.deepEqual(door.applied.at(-1), ["handshake", undefined]);
  good.call.write({ configure: { config_json: JSON.stringify(BASE_CONFIG) } });
  good.call.end();
  await until(good.ended, 3000, "closed");
  c.close();
});
