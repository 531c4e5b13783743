// ConfigManager in the test process: real config files on disk reloaded, the real validation and policy
// compiler, and a real pino logger whose lines are kept. What a reload refuses, what it tells its listeners,
// and what it logs. Pushed config (applyPushed) is config-manager-pushed.test.ts's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigFile, parseConfig } from "../../src/config/load.js";
import { ConfigManager } from "../../src/policy/config-manager.js";
import { selectRoute } from "../../src/policy/index.js";
import { silentLogger } from "../../src/log.js";
import { capturedLogger } from "../helpers/log-capture.js";

/** A config file in a fresh directory, rewritten by the returned `write`. */
function configFile(text: string): { path: string; write: (text: string) => void } {
  const path = join(mkdtempSync(join(tmpdir(), "cfg-manager-")), "config.yaml");
  const write = (t: string) => writeFileSync(path, t);
  write(text);
  return { path, write };
}

const EMPTY_ALLOWLIST = "allowlist is empty: every verified SPIFFE ID is allowed (authentication only)";
// The top level authenticates only; the route restricts /pay.
const PAY_ROUTE =
  "routes:\n  - name: pay\n    match: { path-prefix: /pay }\n    allowlist: { exact: [spiffe://example.org/pay] }\n";

test("without a source the config is the defaults'; the first config's warnings and every applied one's are logged", () => {
  const { log, lines } = capturedLogger();
  const warnings = () => lines().flatMap((l) => (l["level"] === 40 ? [l["msg"]] : []));
  const m = new ConfigManager(parseConfig({}), log);
  assert.equal(m.applied.source, "defaults");
  assert.match(m.applied.version, /^defaults:[0-9a-f]{12}$/);
  assert.deepEqual(warnings(), [EMPTY_ALLOWLIST], "the initial config's warning, before anything is applied");

  const dryRun = { allowlist: { exact: ["spiffe://example.org/a"] }, enforcement: "dry-run" };
  assert.equal(m.apply(dryRun, "configure", "v1").ok, true);
  assert.equal(warnings().length, 2);
  assert.match(String(warnings()[1]), /^enforcement dry-run: requests are not denied \(routes: \(top-level\)\)/);

  const { path } = configFile("audit: { log-success: false }\n");
  assert.equal(m.reloadFile(path).ok, true);
  assert.deepEqual(warnings().slice(2), [EMPTY_ALLOWLIST], "a reload's policy warns too");
});

test("onApply hears every config applied, from any source, until unsubscribed; onReload every reload's outcome", () => {
  const { path, write } = configFile("allowlist: { exact: [spiffe://example.org/a] }\n");
  const m = new ConfigManager(loadConfigFile(path), silentLogger(), "file");
  const applied: string[] = [];
  const reloads: boolean[] = [];
  const offApply = m.onApply((a) => {
    assert.equal(a, m.applied, "told the config now in force");
    applied.push(`${a.source} ${a.version}`);
  });
  const offReload = m.onReload((ok) => reloads.push(ok));

  assert.equal(m.apply({ allowlist: { exact: ["spiffe://example.org/b"] } }, "configure", "v1").ok, true);
  assert.equal(m.apply({ allowlist: { exact: 1 } }, "configure", "v2").ok, false);
  assert.deepEqual(applied, ["configure v1"], "a rejected config is no news");
  assert.deepEqual(reloads, [], "apply() is no reload");

  write("allowlist: { exact: [spiffe://example.org/c] }\n");
  assert.equal(m.reloadFile(path).ok, true);
  write("allowlist: { exact: [spiffe://example.org/c], prefix: 3 }\n");
  assert.equal(m.reloadFile(path).ok, false);
  assert.deepEqual(applied, ["configure v1", `file ${m.applied.version}`]);
  assert.deepEqual(reloads, [true, false], "the failed reload is reported too");

  offApply();
  offReload();
  write("allowlist: { exact: [spiffe://example.org/d] }\n");
  assert.equal(m.reloadFile(path).ok, true);
  assert.equal(m.apply({ allowlist: { exact: ["spiffe://example.org/e"] } }, "configure", "v3").ok, true);
  assert.equal(applied.length, 2, "no longer told after unsubscribing");
  assert.equal(reloads.length, 2);
});

test("reload: a missing file, bad YAML, a schema error, an empty or comment-only file are refused; the config in force stays", () => {
  const { log, lines } = capturedLogger();
  const { path, write } = configFile(PAY_ROUTE);
  const m = new ConfigManager(loadConfigFile(path), log, "file");
  const before = m.applied;
  const payRoute = () => selectRoute(m.applied.policy, { path: "/pay/charge", method: "POST" }).route?.name;
  assert.equal(payRoute(), "pay");

  const emptyFile = `config: ${path}: empty file (no config); it would reset every key to its default`;
  const cases: Array<[string | undefined, string | RegExp]> = [
    // Read as "all defaults" the route would be gone and /pay decided by the empty top-level allowlist (every
    // verified ID allowed); the allowlist check alone would not see it, as no allowlist with entries empties.
    ["", emptyFile],
    ["# the rest of the file not written yet\n", emptyFile],
    ["routes:\n  - name: pay\n    match: { path-prefix: /pay", /^config: .*config\.yaml: not valid YAML\/JSON: /],
    ["allowlist: { exact: [spiffe://example.org/a] }\nalowlist: {}\n", /^config: alowlist: unknown key/],
    [undefined, `config: cannot read ${path}: no such file`],
  ];
  for (const [text, error] of cases) {
    if (text === undefined) rmSync(path);
    else write(text);
    const r = m.reloadFile(path);
    assert.equal(r.ok, false, JSON.stringify(text));
    if (r.ok) continue;
    assert.deepEqual(Object.keys(r), ["ok", "error"]);
    if (typeof error === "string") assert.equal(r.error, error);
    else assert.match(r.error, error);
    const line = lines().at(-1)!;
    assert.equal(line["level"], 50);
    assert.equal(line["msg"], "config file reload failed; previous config stays in force");
    assert.equal(line["path"], path);
    assert.equal(line["error"], r.error);
    assert.equal(m.applied, before, "the previous config stays");
    assert.equal(payRoute(), "pay");
  }
});

test("reload: a file that parses but does not compile is rejected with its key, logged as from the file", () => {
  const { log, lines } = capturedLogger();
  const { path, write } = configFile(PAY_ROUTE);
  const m = new ConfigManager(loadConfigFile(path), log, "file");
  const before = m.applied;
  write(`${PAY_ROUTE}  - name: pay\n    allowlist: { exact: [spiffe://example.org/other] }\n`);
  assert.deepEqual(m.reloadFile(path), {
    ok: false,
    error: 'config: routes[1].name: duplicate route name "pay" (also routes[0])',
    field: "routes[1].name",
  });
  assert.equal(m.applied, before);
  assert.equal(m.fileConfig, before.config, "the file as last loaded stays what pushes are measured against");
  const line = lines().at(-1)!;
  assert.equal(line["msg"], "config rejected; previous config stays in force");
  assert.equal(line["level"], 50);
  assert.equal(line["source"], "file");
  assert.equal(line["key"], "routes[1].name");
  assert.equal(line["version"], undefined);
});

test("reload: a file that would empty two allowlists at once names both, and the refusal is logged", () => {
  const { log, lines } = capturedLogger();
  const { path, write } = configFile(`allowlist: { exact: [spiffe://example.org/web] }\n${PAY_ROUTE}`);
  const m = new ConfigManager(loadConfigFile(path), log, "file");
  const before = m.applied;
  write("routes:\n  - name: pay\n    match: { path-prefix: /pay }\n    allowlist: {}\n");
  const error =
    'config: allowlist, routes["pay"].allowlist would become empty (every verified SPIFFE ID allowed); refused on reload, restart to apply';
  assert.deepEqual(m.reloadFile(path), { ok: false, error });
  assert.equal(m.applied, before);
  const line = lines().at(-1)!;
  assert.equal(line["level"], 50);
  assert.equal(line["msg"], "config file reload refused; previous config stays in force");
  assert.equal(line["path"], path);
  assert.equal(line["error"], error);
});

test("apply: a config that fails validation is rejected with its key and logged; anything else is not a config error", () => {
  const { log, lines } = capturedLogger();
  const m = new ConfigManager(parseConfig({ allowlist: { exact: ["spiffe://example.org/a"] } }), log, "file");
  const before = m.applied;
  const r = m.apply({ allowlist: { exact: "spiffe://example.org/b" } }, "configure", "v7");
  assert.equal(r.ok, false);
  assert.equal(r.ok ? "" : r.field, "allowlist.exact");
  const line = lines().at(-1)!;
  assert.equal(line["level"], 50);
  assert.equal(line["msg"], "config rejected; previous config stays in force");
  assert.equal(line["source"], "configure");
  assert.equal(line["version"], "v7");
  assert.equal(line["key"], "allowlist.exact");
  assert.equal(line["error"], r.ok ? "" : r.error);

  // A throw that is not a ConfigError is a fault, not a bad config: it propagates instead of being answered
  // (and logged) as a rejection, and nothing is swapped in.
  const count = lines().length;
  const faulty = {
    get allowlist(): never {
      throw new TypeError("getter fault");
    },
  };
  assert.throws(() => m.apply(faulty, "file"), { name: "TypeError", message: "getter fault" });
  assert.equal(lines().length, count);
  assert.equal(m.applied, before);
});
