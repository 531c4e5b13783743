// Configure events: fire-and-forget for the proxy; we answer only a rejection (ConfigUpdateRequest{config_error}).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  BASE_CONFIG,
  blockOf,
  connectAsProxy,
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

test("a new allowlist decides the next event; a malformed one is refused with its key and the old one still decides", async () => {
  const c = zentinelClient(door.tcp);
  const s = await connectAsProxy(c);
  s.call.write(headersEvent("before", door.certs.intruder));
  s.call.write({
    configure: {
      config_json: JSON.stringify({ allowlist: { exact: ["spiffe://example.org/intruder"] } }),
      config_version: "v2",
      is_initial: false,
      timestamp_ms: "1",
    },
  });
  s.call.write(headersEvent("after", door.certs.intruder));
  await until(() => s.responses().length === 2, 3000, "answers");
  const by = (id: string) => s.responses().find((r) => r["correlation_id"] === id)!;
  assert.equal(blockOf(by("before")).status, 403);
  assert.equal(by("after")["decision"], "allow");
  assert.deepEqual(door.applied.at(-1), ["configure", "v2"]);
  assert.equal(door.audit().find((l) => l["correlation_id"] === "after")!["policy_version"], "v2");

  for (const [json, key] of [
    [JSON.stringify({ allowlist: { exact: "not-a-list" } }), /allowlist\.exact/],
    [JSON.stringify({ allowlist: { patterns: ["(a)\\1"] } }), /allowlist\.patterns/],
    [JSON.stringify({ alowlist: {} }), /alowlist/],
    ["{not json", /not valid JSON/],
  ] as const) {
    const n = s.of("config_update").length;
    s.call.write({ configure: { config_json: json, config_version: `bad-${n}` } });
    await until(() => s.of("config_update").length === n + 1, 3000, "config error reported");
    const upd = s.of("config_update")[n]!;
    assert.equal(upd["request_id"], `bad-${n}`);
    assert.equal(upd["update_type"], "config_error");
    assert.match(String((upd["config_error"] as { error: string }).error), key);
  }
  s.call.write(headersEvent("still", door.certs.intruder));
  await until(() => s.responses().length === 3, 3000, "answer");
  assert.equal(by("still")["decision"], "allow", "v2 still in force");

  // Without config_version the error still names itself; `{}` changes nothing and gets no answer.
  s.call.write({ configure: { config_json: "[]" } });
  s.call.write({ configure: { config_json: "{}" } });
  await until(() => s.of("config_update").length === 5, 3000, "unversioned error");
  assert.match(String(s.of("config_update")[4]!["request_id"]), /^configure-\d+$/);
  await sleep(50);
  assert.equal(s.of("config_update").length, 5);
  assert.deepEqual(door.applied.at(-1), ["configure", "v2"]);

  s.call.write({ configure: { config_json: JSON.stringify(BASE_CONFIG), config_version: "base-again" } });
  s.call.end();
  await until(s.ended, 3000, "closed");
  c.close();
});
