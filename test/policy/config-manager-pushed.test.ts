// ConfigManager.applyPushed, config that arrived over the network (Zentinel handshake config_json and Configure
// events): what it answers and logs when it refuses, and the refusals test/config/tighten.test.ts and
// in-force.test.ts leave out (several loosenings at once, two allowlists opened at once, a push invalid on its
// own, an empty push). Real validation and policy compiler, a real pino logger whose lines are kept.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { ConfigManager } from "../../src/policy/config-manager.js";
import { capturedLogger } from "../helpers/log-capture.js";

const ACCEPT = { zentinel: { "accept-configure": true } };

function manager(file: unknown) {
  const { log, lines } = capturedLogger();
  return { m: new ConfigManager(parseConfig(file), log, "file"), lines, last: () => lines().at(-1)! };
}

test("a push to a file without accept-configure is refused by where it came from, and logged as ignored", () => {
  const { m, last } = manager({ allowlist: { exact: ["spiffe://example.org/web"] } });
  const before = m.applied;
  const r = m.applyPushed(JSON.stringify({ allowlist: { exact: ["spiffe://example.org/x"] } }), "handshake", "h1");
  const error = "config: zentinel.accept-configure: is false in the config file: handshake config_json ignored";
  assert.deepEqual(r, { ok: false, error, field: "zentinel.accept-configure" });
  assert.deepEqual(
    { level: last()["level"], msg: last()["msg"], source: last()["source"], version: last()["version"] },
    { level: 40, msg: "pushed config ignored", source: "handshake", version: "h1" },
  );
  assert.equal(last()["error"], error);
  assert.equal(m.applied, before);
});

test("a push that is not JSON is refused and logged; an empty or blank one is no change: the file's config", () => {
  const { m, last } = manager({ ...ACCEPT, allowlist: { exact: ["spiffe://example.org/web"] } });
  const before = m.applied;
  assert.deepEqual(m.applyPushed("{allowlist:", "configure", "c1"), { ok: false, error: "config: not valid JSON" });
  assert.deepEqual(
    { level: last()["level"], msg: last()["msg"], source: last()["source"], version: last()["version"] },
    {
      level: 50,
      msg: "config rejected: not valid JSON; previous config stays in force",
      source: "configure",
      version: "c1",
    },
  );
  assert.equal(m.applied, before);

  for (const blank of ["", " \n\t "]) {
    const r = m.applyPushed(blank, "configure", `blank${blank.length}`);
    assert.deepEqual(r, { ok: true, version: `blank${blank.length}` }, JSON.stringify(blank));
    assert.deepEqual(m.applied.config, m.fileConfig, "nothing laid over the file");
  }
  // applyJson (config applied as it is) reads blank text the same way: no keys, so every default.
  assert.equal(m.applyJson(" \n", "file", "j1").ok, true);
  assert.deepEqual(m.applied.config, parseConfig({}));
});

test("a push is a config of its own: validated as the sender wrote it before it is laid over the file", () => {
  // The file reads rfc9440 and so has a chain header. The push names only the chain header (the file's own
  // value): laid over the file that would be valid and no change, but on its own it is a chain header with
  // the default format, xfcc, which does not read one.
  const { m } = manager({ ...ACCEPT, tls: { "client-cert-format": "rfc9440" } });
  const before = m.applied;
  assert.equal(m.fileConfig.tls["client-cert-chain-header"], "Client-Cert-Chain");
  const r = m.applyPushed(JSON.stringify({ tls: { "client-cert-chain-header": "Client-Cert-Chain" } }), "configure");
  assert.deepEqual(r, {
    ok: false,
    error: "config: tls.client-cert-chain-header: only read with client-cert-format: rfc9440",
    field: "tls.client-cert-chain-header",
  });
  assert.equal(m.applied, before);
});

test("a push that loosens the file several ways is refused naming the first key, and every other way in the error", () => {
  const { m, last } = manager({ ...ACCEPT, allowlist: { exact: ["spiffe://example.org/web"] } });
  const before = m.applied;
  const json = JSON.stringify({
    tls: { "require-mtls": false },
    audit: { "log-failure": false },
    failure: { "validation-failure": "log_and_allow" },
  });
  const error =
    "config: tls.require-mtls: false would loosen the config file's true; also failure.validation-failure " +
    "log_and_allow would loosen the config file's reject; audit.log-failure false would loosen the config " +
    "file's true (a pushed config may tighten the config file's, never loosen it)";
  assert.deepEqual(m.applyPushed(json, "configure", "loose"), { ok: false, error, field: "tls.require-mtls" });
  assert.equal(m.applied, before);
  assert.equal(last()["msg"], "config rejected; previous config stays in force");
  assert.equal(last()["key"], "tls.require-mtls");
  assert.equal(last()["version"], "loose");
  // Two ways: the second is named after "also", with no separator left over.
  const two = m.applyPushed(
    JSON.stringify({ tls: { "require-mtls": false }, audit: { "log-failure": false } }),
    "configure",
  );
  assert.equal(
    two.ok ? "" : two.error,
    "config: tls.require-mtls: false would loosen the config file's true; also audit.log-failure false would " +
      "loosen the config file's true (a pushed config may tighten the config file's, never loosen it)",
  );
});

test("a push that would empty two allowlists the config in force has filled names both", () => {
  // The file authenticates only, at the top level and on its route; a first push fills both.
  const route = (entries: string[]) => ({
    name: "pay",
    match: { "path-prefix": "/pay" },
    allowlist: { exact: entries },
  });
  const { m, last } = manager({ ...ACCEPT, routes: [route([])] });
  const filled = { allowlist: { exact: ["spiffe://example.org/web"] }, routes: [route(["spiffe://example.org/pay"])] };
  assert.equal(m.applyPushed(JSON.stringify(filled), "configure", "filled").ok, true);
  const r = m.applyPushed(JSON.stringify({ allowlist: { exact: [] }, routes: [route([])] }), "configure", "emptied");
  assert.deepEqual(r, {
    ok: false,
    error:
      'config: allowlist, routes["pay"].allowlist: would become empty (every verified SPIFFE ID allowed); the config in force has entries',
    field: 'allowlist, routes["pay"].allowlist',
  });
  assert.equal(m.applied.version, "filled");
  assert.equal(last()["key"], 'allowlist, routes["pay"].allowlist');
});
