// Regression (found by config/mutated-yaml-typed-errors in the long fuzz run): config keys, route names and
// patterns were echoed raw into ConfigError, so a key with a newline or an escape sequence made the "one
// line naming the key" a multi-line message that could also drive the terminal it was printed on.
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "../../src/config/errors.js";
import { parseConfig, parseConfigText } from "../../src/config/load.js";
import { compilePolicy } from "../../src/policy/index.js";
import { runCli } from "../helpers/cli.js";

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail("no ConfigError");
}

/** One line of printable text: no control characters, no line or paragraph separators, no bidi overrides. */
function assertOneLine(msg: string): void {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  assert.doesNotMatch(msg, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/, JSON.stringify(msg));
}

test("the fuzz counterexample: a mutated example config whose top-level key is a multi-line mapping", () => {
  const example = readFileSync(new URL("../../deploy/config.example.yaml", import.meta.url), "utf8");
  const mutated = `? ${example.slice(3)}`; // "?" for "#", then one character deleted
  const msg = message(() => parseConfigText(mutated, "x.yaml"));
  assertOneLine(msg);
  assert.match(msg, /^config: "\{\\n {2}piffe-authz configuration: .*…": unknown key$/);
});

test("unknown keys with line breaks or escape sequences are quoted and escaped, plain ones stay bare", () => {
  assert.equal(
    message(() => parseConfig({ "a\nb": 1 })),
    'config: "a\\nb": unknown key',
  );
  assert.equal(
    message(() => parseConfig({ allowlist: { "x\u001b[31m": [] } })),
    'config: allowlist."x\\u001b[31m": unknown key',
  );
  assert.equal(
    message(() => parseConfig({ "a\u2028b\u202e": 1 })),
    'config: "a\\u2028b\\u202e": unknown key',
  );
  assert.equal(
    message(() => parseConfig({ allowList: {} })),
    "config: allowList: unknown key",
  );
  assert.equal(
    message(() => parseConfig({ tls: { "require-mTLS": true } })),
    "config: tls.require-mTLS: unknown key",
  );
  assert.equal(
    message(() => parseConfig({ [`k${"x".repeat(100)}`]: 1 })),
    `config: "k${"x".repeat(63)}…": unknown key`,
  );
  assert.equal(
    message(() => parseConfig({ "": 1 })),
    'config: "": unknown key',
  );
});

test("route names and patterns from the config cannot break the line either", () => {
  assertOneLine(message(() => compilePolicy(parseConfig({ routes: [{ name: "a\nb" }, { name: "a\nb" }] }))));
  assertOneLine(message(() => compilePolicy(parseConfig({ allowlist: { patterns: ["(\n\u001b[2J"] } }))));
});

test("spiffe-authz check: exit 2 and exactly one line on stderr for such a key", async () => {
  const dir = mkdtempSync(join(tmpdir(), "config-errors-"));
  const cfg = join(dir, "c.json");
  writeFileSync(cfg, JSON.stringify({ "x\n\u001b[2Jforged line": 1 }));
  writeFileSync(join(dir, "leaf.pem"), "x\n");
  const r = await runCli(["check", "--config", cfg, "--cert", join(dir, "leaf.pem")]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  assertOneLine(r.stderr.trimEnd());
});
