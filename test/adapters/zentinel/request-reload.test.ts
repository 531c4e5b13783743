// ControlStream RequestReload through the real server: the config file is re-read exactly as on SIGHUP.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connectAsProxy } from "../../helpers/zentinel.js";
import { INTRUDER, WEB, openControl, startServerDoor, type ControlStream } from "../../helpers/zentinel-server.js";
import { until } from "../../helpers/log-capture.js";

async function reload(c: ControlStream, id: string) {
  c.call.write({ config_update: { request_id: id, request_reload: {} } });
  await until(() => c.responses().some((r) => r.request_id === id), 3000, `config_response ${id}`);
  return c.responses().find((r) => r.request_id === id)!;
}

test("RequestReload re-reads the --config file: a good one is applied, a bad or empty one refused with the reason, the previous config stays", async () => {
  const d = await startServerDoor({ allowlist: { exact: [WEB] } });
  const allowed = () => d.server.engine.policy.config.allowlist.exact;
  const c = openControl(d.client);
  try {
    d.writeConfig({ allowlist: { exact: [INTRUDER] } });
    const ok = await reload(c, "r1");
    assert.equal(ok.accepted, true, ok.error);
    assert.deepEqual(allowed(), [INTRUDER]);
    assert.equal(d.server.config.applied.source, "file");
    const reread = () => d.logged("Zentinel RequestReload: config file re-read");
    assert.equal(reread().length, 1);
    assert.deepEqual(
      [reread()[0]!["requestId"], reread()[0]!["ok"], reread()[0]!["version"], reread()[0]!["error"]],
      ["r1", true, d.server.config.applied.version, undefined],
    );

    d.writeConfig({ allowlist: { exact: 42 } });
    const bad = await reload(c, "r2");
    assert.equal(bad.accepted, false);
    assert.match(String(bad.error), /allowlist\.exact: expected array/);
    assert.deepEqual(
      [reread()[1]!["requestId"], reread()[1]!["ok"], reread()[1]!["error"], reread()[1]!["version"]],
      ["r2", false, bad.error, undefined],
    );
    // The same log line as SIGHUP's: one path for both.
    assert.ok(d.logged("config file reload failed; previous config stays in force").length >= 1);

    d.writeConfig("");
    const empty = await reload(c, "r3");
    assert.equal(empty.accepted, false);
    assert.match(String(empty.error), /empty file/);

    d.writeConfig({ tls: { "require-mtls": true } });
    const opened = await reload(c, "r4");
    assert.equal(opened.accepted, false, "a file that would empty the allowlist is refused, as on SIGHUP");
    assert.match(String(opened.error), /allowlist would become empty/);
    assert.deepEqual(allowed(), [INTRUDER], "the last good file still decides");
  } finally {
    c.call.end();
    await d.close();
  }
});

test("RequestReload brings back the file after a pushed config, and picks up a changed zentinel.accept-configure", async () => {
  const d = await startServerDoor({ zentinel: { "accept-configure": true }, allowlist: { exact: [WEB] } });
  const c = openControl(d.client);
  try {
    const s = await connectAsProxy(d.client);
    s.call.write({
      configure: { config_json: JSON.stringify({ allowlist: { exact: [INTRUDER] } }), config_version: "pushed" },
    });
    await until(() => d.server.config.applied.version === "pushed", 3000, "push applied");

    // The file turns pushing off; the reload restores the file's allowlist over the push.
    d.writeConfig({ allowlist: { exact: [WEB] } });
    assert.equal((await reload(c, "r1")).accepted, true);
    assert.equal(d.server.config.applied.source, "file");
    assert.deepEqual(d.server.engine.policy.config.allowlist.exact, [WEB]);
    s.call.write({
      configure: { config_json: JSON.stringify({ allowlist: { exact: [INTRUDER] } }), config_version: "late" },
    });
    await until(() => s.of("config_update").length === 1, 3000, "config_error now that pushing is off");
    assert.equal((s.of("config_update")[0]!["config_error"] as { field: string }).field, "zentinel.accept-configure");
    assert.deepEqual(d.server.engine.policy.config.allowlist.exact, [WEB]);
    s.call.end();
  } finally {
    c.call.end();
    await d.close();
  }
});

test("RequestReload without --config: answered and logged as nothing to reload", async () => {
  const d = await startServerDoor(undefined);
  const c = openControl(d.client);
  try {
    const version = d.server.config.applied.version;
    const r = await reload(c, "r1");
    assert.equal(r.accepted, false);
    assert.match(String(r.error), /nothing to reload: .*without a config file \(--config\)/);
    assert.equal(d.logged("Zentinel RequestReload: nothing to reload").length, 1);
    assert.equal(d.server.config.applied.version, version);
  } finally {
    c.call.end();
    await d.close();
  }
});
