// A config's version names what it says, not how many reloads came before: the audit's policy_version and the
// "config applied" log line then identify the policy on every replica and across restarts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.js";
import { ConfigManager } from "../../src/policy/config-manager.js";
import { capturedLogger } from "../helpers/log-capture.js";

const A = { allowlist: { exact: ["spiffe://example.org/a"] } };
const B = { allowlist: { exact: ["spiffe://example.org/b"] } };

test("the version is the source and a digest of the config: equal configs, equal versions; the log says what it replaces", () => {
  const { log, lines } = capturedLogger();
  const one = new ConfigManager(parseConfig(A), log, "file");
  const two = new ConfigManager(parseConfig(A), log, "file");
  assert.match(one.applied.version, /^file:[0-9a-f]{12}$/);
  assert.equal(one.applied.version, two.applied.version, "the same config on another replica");
  assert.notEqual(new ConfigManager(parseConfig(B), log, "file").applied.version, one.applied.version);
  assert.match(new ConfigManager(parseConfig({}), log, "defaults").applied.version, /^defaults:[0-9a-f]{12}$/);

  const dir = mkdtempSync(join(tmpdir(), "cfg-version-"));
  const file = join(dir, "c.yaml");
  const v0 = one.applied.version;
  writeFileSync(file, "allowlist: { exact: [spiffe://example.org/b] }\n");
  const r = one.reloadFile(file);
  assert.equal(r.ok, true);
  assert.notEqual(one.applied.version, v0);
  const applied = lines().filter((l) => l["msg"] === "config applied from file");
  assert.equal(applied.at(-1)!["replaces"], v0, "the version it replaces, not the word 'file'");
  assert.equal(applied.at(-1)!["version"], one.applied.version);
  // A named version (a Zentinel Configure event's) is kept as sent.
  assert.equal(one.apply(A, "configure", "cfg-42").ok, true);
  assert.equal(one.applied.version, "cfg-42");
});
