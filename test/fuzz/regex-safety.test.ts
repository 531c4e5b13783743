// Regex safety (#10.5). test/policy/policy.test.ts already checks that compilePattern rejects nested
// quantifiers with the key path and that one hostile 20k input stays under 2 s. Added here: rejection
// where configs are LOADED (file → ConfigManager as `serve` does it, SIGHUP reload, Zentinel Configure, the
// `check` command's exit 2), the overlapping-alternation shape `(a|aa)*b`, matching time that grows
// linearly (10k vs 100k characters), the lint's own cost on long sources, and the pattern properties.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/config/errors.js";
import { loadConfigFile, parseConfig } from "../../src/config/load.js";
import { ConfigManager } from "../../src/config/manager.js";
import { silentLogger } from "../../src/log.js";
import { compilePolicy } from "../../src/policy/index.js";
import { compilePattern, MAX_PATTERN_LENGTH, PatternError } from "../../src/policy/pattern.js";
import { MAX_SPIFFE_ID_BYTES } from "../../src/spiffe/index.js";
import { runCli } from "../helpers/cli.js";
import { registerSuite } from "./register.js";
import { regexSuite } from "./suites/regex.js";

const CATASTROPHIC = [
  "(a+)+$",
  "(a|aa)*b",
  "(a*)*b",
  "(\\w+\\d*)+x",
  "spiffe://example\\.org/(ns/[a-z]+/?)*sa",
  "(.*,)*x",
  "^(a|a?)+$",
  "([a-z0-9]+\\.)+org",
];

const dir = mkdtempSync(join(tmpdir(), "regex-safety-"));
function configFile(name: string, patterns: string[], where: "top" | "route" = "top"): string {
  const allowlist = `{ patterns: [${patterns.map((p) => `'${p}'`).join(", ")}] }`;
  const body = where === "top" ? `allowlist: ${allowlist}\n` : `routes:\n  - name: r\n    allowlist: ${allowlist}\n`;
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

/** What `serve` does with --config: read the file, then compile it into the first ConfigManager. */
function loadLikeServe(path: string): ConfigManager {
  return new ConfigManager(loadConfigFile(path), silentLogger(), "file");
}

describe("catastrophic patterns are rejected where configs are loaded", () => {
  test("file → ConfigManager (serve start-up): ConfigError naming the key and the reason", () => {
    CATASTROPHIC.forEach((p, i) => {
      const path = configFile(`bad-${i}.yaml`, ["spiffe://example\\.org/ok/.*", p]);
      assert.throws(
        () => loadLikeServe(path),
        (e: unknown) =>
          e instanceof ConfigError &&
          /^config: allowlist\.patterns\[1\]: pattern can backtrack catastrophically: /.test(e.message) &&
          !e.message.includes("\n"),
        p,
      );
    });
    const inRoute = configFile("route.yaml", ["(a|aa)*b"], "route");
    assert.throws(
      () => loadLikeServe(inRoute),
      /^ConfigError: config: routes\[0\]\.allowlist\.patterns\[0\]: pattern can backtrack catastrophically: alternatives/,
    );
  });

  test("the reason names the shape: nested quantifiers vs overlapping alternatives", () => {
    assert.throws(
      () => compilePattern("(a+)+$"),
      (e: unknown) => e instanceof PatternError && /nested quantifiers, like \(a\+\)\+/.test(e.message),
    );
    assert.throws(
      () => compilePattern("(a|aa)*b"),
      (e: unknown) =>
        e instanceof PatternError && /alternatives that can start with the same character/.test(e.message),
    );
  });

  test("SIGHUP reload and Zentinel Configure refuse them and keep the previous policy", () => {
    const good = configFile("good.yaml", ["spiffe://example\\.org/ok/.*"]);
    const m = loadLikeServe(good);
    const before = m.applied;
    const reload = m.reloadFile(configFile("reload.yaml", ["(a+)+$"]));
    assert.equal(reload.ok, false);
    assert.match(reload.ok ? "" : reload.error, /allowlist\.patterns\[0\]: pattern can backtrack catastrophically/);
    const configure = m.applyJson(JSON.stringify({ allowlist: { patterns: ["(a|aa)*b"] } }), "configure", "v2");
    assert.deepEqual(configure.ok ? undefined : configure.field, "allowlist.patterns[0]");
    assert.equal(m.applied, before);
  });

  test("spiffe-authz check --config: exit 2 and one line naming the key", async () => {
    // The policy is compiled before the certificate is looked at: any readable file will do.
    const cert = join(dir, "leaf.pem");
    writeFileSync(cert, "not a certificate\n");
    const r = await runCli(["check", "--config", configFile("cli.yaml", ["(a|aa)*b"]), "--cert", cert]);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? "", /allowlist\.patterns\[0\]: pattern can backtrack catastrophically/);
  });
});

describe("accepted patterns match in linear time", () => {
  // Best of three, after a warm-up: the ratio of two sizes, never a tight absolute time.
  function best(fn: () => void): number {
    let t = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      fn();
      t = Math.min(t, performance.now() - t0);
    }
    return Math.max(t, 0.05); // below timer resolution the ratio means nothing
  }
  // Each pattern with an input that nearly matches (the worst case for a backtracking engine).
  const cases: Array<[string, (n: number) => string]> = [
    ["spiffe://example\\.org/team-[a-z]+/.*", (n) => `spiffe://example.org/team-${"a".repeat(n)}`],
    ["spiffe://.*\\.example\\.org/backend/.*", (n) => `spiffe://${".".repeat(n)}example.org/backen`],
    ["spiffe://[a-z.]*[a-z]*[a-z]*x", (n) => `spiffe://${"a".repeat(n)}`],
    ["spiffe://td/(ns/[a-z0-9-]+/)?sa/[a-z]+", (n) => `spiffe://td/ns/${"a".repeat(n)}/sa/1`],
    [".*a.*a.*a.*a.*b", (n) => "a".repeat(n)],
    ["(a|b)*c", (n) => "ab".repeat(n / 2)],
    ["spiffe://example\\.org/[A-Za-z0-9._/-]+", (n) => `spiffe://example.org${"/a".repeat(n / 2)}/%`],
  ];
  for (const [src, input] of cases) {
    test(`${src}: 100k characters < 2 s and at most ~30x the time of 10k`, () => {
      const re = compilePattern(src);
      const small = input(10_000);
      const large = input(100_000);
      assert.equal(re.matches(small), false);
      const tSmall = best(() => re.matches(small));
      const tLarge = best(() => re.matches(large));
      assert.ok(tLarge < 2000, `${tLarge.toFixed(1)} ms for 100k characters`);
      assert.ok(tLarge / tSmall < 30, `10k: ${tSmall.toFixed(2)} ms, 100k: ${tLarge.toFixed(2)} ms`);
    });
  }

  test("the allowlist on the longest IDs there are (2048 bytes) stays cheap", () => {
    const policy = compilePolicy(parseConfig({ allowlist: { patterns: cases.map(([src]) => src) } }));
    const path = `/${"a".repeat(MAX_SPIFFE_ID_BYTES - "spiffe://example.org/".length)}`;
    const id = { spiffeId: `spiffe://example.org${path}`, trustDomain: "example.org", path };
    assert.equal(id.spiffeId.length, MAX_SPIFFE_ID_BYTES);
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) policy.allowlist.match(id);
    assert.ok(performance.now() - t0 < 2000);
  });

  test("the lint itself is cheap on long hostile sources", () => {
    const sources = [
      "(".repeat(1000) + "a" + ")*".repeat(1000),
      "(?:".repeat(800) + "a" + ")?".repeat(800),
      "(?:a|".repeat(600) + "b" + ")".repeat(600) + "*",
      "(" +
        Array.from({ length: 1300 }, (_, i) => `${String.fromCharCode(97 + (i % 26))}${i.toString(36).slice(-1)}`).join(
          "|",
        ) +
        ")*",
      "(a{1,5}){1,5}".repeat(300),
      "\\Q" + "(a+)+".repeat(800) + "\\E",
      "[a-z]".repeat(800),
    ];
    for (const src of sources) {
      assert.ok(src.length <= MAX_PATTERN_LENGTH, `${src.length}`);
      const t0 = performance.now();
      try {
        compilePattern(src);
      } catch (err) {
        assert.ok(err instanceof PatternError, String(err));
      }
      assert.ok(performance.now() - t0 < 2000, `${(performance.now() - t0).toFixed(0)} ms for ${src.slice(0, 30)}…`);
    }
  });
});

await registerSuite(regexSuite);
