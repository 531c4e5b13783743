// Regex safety (#10.5, #15.5). Allowlist patterns run on re2js, which never backtracks: a pattern that
// would stall a backtracking engine compiles and matches in time linear in the input. Checked here: the
// classic pathological shapes match 100k-character adversarial inputs in about 10x the time of 10k (a
// ratio, so a loaded machine does not matter; the same measurement run on JavaScript's backtracking RegExp
// fails, so it can tell), and patterns RE2 does not accept are one-line load errors wherever configs are
// loaded (file → ConfigManager as `serve` does it, SIGHUP reload, Zentinel Configure, `check`'s exit 2).
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/config/errors.js";
import { loadConfigFile, parseConfig } from "../../src/config/load.js";
import { ConfigManager } from "../../src/policy/config-manager.js";
import { silentLogger } from "../../src/log.js";
import { compilePolicy } from "../../src/policy/index.js";
import { compilePattern, MAX_PATTERN_LENGTH, PatternError } from "../../src/policy/pattern.js";
import { MAX_SPIFFE_ID_BYTES } from "../../src/spiffe/index.js";
import { runCli } from "../helpers/cli.js";
import { registerSuite } from "./register.js";
import { regexSuite } from "./suites/regex.js";

/** Not RE2: backreference, lookaround, unclosed group, repeat counts past RE2's limit of 1000. */
const INVALID = ["(a)\\1", "a(?=b)", "(?<!x)y", "(unclosed", "a{1001}", "((a{100}){100}){100}", "x**"];

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

describe("patterns RE2 does not accept are load errors where configs are loaded", () => {
  test("file → ConfigManager (serve start-up): ConfigError naming the key and the reason", () => {
    INVALID.forEach((p, i) => {
      const path = configFile(`bad-${i}.yaml`, ["spiffe://example\\.org/ok/.*", p]);
      assert.throws(
        () => loadLikeServe(path),
        (e: unknown) =>
          e instanceof ConfigError &&
          /^config: allowlist\.patterns\[1\]: not a valid RE2 regular expression: /.test(e.message) &&
          !e.message.includes("\n"),
        p,
      );
    });
    const inRoute = configFile("route.yaml", ["(a)\\1"], "route");
    assert.throws(
      () => loadLikeServe(inRoute),
      /^ConfigError: config: routes\[0\]\.allowlist\.patterns\[0\]: not a valid RE2 regular expression/,
    );
    const long = configFile("long.yaml", [`spiffe://example\\.org/${"a".repeat(MAX_PATTERN_LENGTH)}`]);
    assert.throws(() => loadLikeServe(long), /allowlist\.patterns\[0\]: pattern longer than 4096 characters/);
  });

  test("SIGHUP reload and Zentinel Configure refuse them and keep the previous policy", () => {
    const good = configFile("good.yaml", ["spiffe://example\\.org/ok/.*"]);
    const m = loadLikeServe(good);
    const before = m.applied;
    const reload = m.reloadFile(configFile("reload.yaml", ["a(?=b)"]));
    assert.equal(reload.ok, false);
    assert.match(reload.ok ? "" : reload.error, /allowlist\.patterns\[0\]: not a valid RE2 regular expression/);
    const configure = m.applyJson(JSON.stringify({ allowlist: { patterns: ["(a)\\1"] } }), "configure", "v2");
    assert.deepEqual(configure.ok ? undefined : configure.field, "allowlist.patterns[0]");
    assert.equal(m.applied, before);
  });

  test("spiffe-authz check --config: exit 2 and one line naming the key", async () => {
    // The policy is compiled before the certificate is looked at: any readable file will do.
    const cert = join(dir, "leaf.pem");
    writeFileSync(cert, "not a certificate\n");
    const r = await runCli(["check", "--config", configFile("cli.yaml", ["(unclosed"]), "--cert", cert]);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? "", /allowlist\.patterns\[0\]: not a valid RE2 regular expression/);
  });
});

/** Calls of fn that take at least 15 ms together (after a warm-up call). */
function calibrate(fn: () => void): number {
  fn();
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    if (performance.now() - t0 >= 15) return reps;
    reps *= 2;
  }
}

/**
 * Milliseconds per call of `small` and of `large`: windows of the calibrated number of calls, the two sizes
 * alternating over seven rounds (a burst of load from elsewhere then hits both, not one), best window of each.
 * The best window is the one the scheduler and the collector disturbed least.
 */
function perCallPair(small: () => void, large: () => void): [number, number] {
  const sizes = [small, large].map((fn) => ({ fn, reps: calibrate(fn), best: Infinity }));
  for (let round = 0; round < 7; round++) {
    for (const m of sizes) {
      const t0 = performance.now();
      for (let i = 0; i < m.reps; i++) m.fn();
      m.best = Math.min(m.best, (performance.now() - t0) / m.reps);
    }
  }
  return [sizes[0]?.best ?? NaN, sizes[1]?.best ?? NaN];
}

/**
 * Throws unless the time per call grows at most 3.5x faster than the input: linear is 1x (10k → 100k: ~10x
 * the time), quadratic would be 10x (~100x the time), exponential far beyond. On a busy machine one
 * measurement can be off; up to three are taken and one within the bound is enough, which a quadratic or
 * exponential matcher never gets (it is over the bound every time: see the backtracking test below).
 */
function assertLinear(
  test: (s: string) => boolean,
  input: (n: number) => string,
  small: number,
  large: number,
): string {
  const a = input(small);
  const b = input(large);
  const sizes = large / small;
  const tried: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const [ta, tb] = perCallPair(
      () => test(a),
      () => test(b),
    );
    const what = `n=${small}: ${ta.toFixed(3)} ms, n=${large}: ${tb.toFixed(3)} ms (time ${(tb / ta).toFixed(1)}x for ${sizes}x the input)`;
    if (tb / ta < 3.5 * sizes) return what;
    tried.push(what);
  }
  assert.fail(tried.join("; "));
}

describe("every pattern matches in linear time, pathological shapes included", () => {
  // Each pattern with an input that nearly matches: the worst case for a backtracking engine.
  const cases: Array<[string, (n: number) => string, string]> = [
    ["(a+)+$", (n) => `${"a".repeat(n)}!`, "aaaa"],
    ["(a|a)*b", (n) => "a".repeat(n), "aaab"],
    ["(x+x+)+y", (n) => "x".repeat(n), "xxxxy"],
    ["(a|aa)*b", (n) => "a".repeat(n), "aab"],
    ["(a*)*b", (n) => "a".repeat(n), "b"],
    ["^(a|a?)+$", (n) => `${"a".repeat(n)}b`, "aa"],
    ["(.*,)*x", (n) => ",".repeat(n), ",,x"],
    ["(\\w+\\d*)+x", (n) => `${"a1".repeat(n / 2)}!`, "a1x"],
    ["([a-z0-9]+\\.)+org", (n) => `${"a.".repeat(n / 2)}!`, "a.b.org"],
    [
      "spiffe://example\\.org/(ns/[a-z]+/?)*sa",
      (n) => `spiffe://example.org/${"ns/a".repeat(n / 4)}!`,
      "spiffe://example.org/ns/a/ns/bsa",
    ],
    ["spiffe://[a-z.]*[a-z]*[a-z]*x", (n) => `spiffe://${"a".repeat(n)}`, "spiffe://ax"],
    [".*a.*a.*a.*a.*b", (n) => "a".repeat(n), "aaaab"],
  ];
  for (const [src, adversarial, matching] of cases) {
    test(`${src}: 100k characters take about 10x the time of 10k`, (t) => {
      const re = compilePattern(src);
      // Not vacuous: the pattern matches what it should, in full only, and rejects the adversarial input.
      assert.equal(re.matches(matching), true);
      assert.equal(re.matches(`${matching}~`), false);
      assert.equal(re.matches(adversarial(10_000)), false);
      t.diagnostic(assertLinear((s) => re.matches(s), adversarial, 10_000, 100_000));
    });
  }

  test("the same measurement fails for a backtracking engine (JavaScript RegExp on (a+)+$ and (x+x+)+y)", () => {
    // 14 → 21 characters: linear growth would be 1.5x the time, a backtracker takes about 2^7 = 128x.
    const nested = /^(?:(a+)+$)$/;
    assert.throws(
      () =>
        assertLinear(
          (s) => nested.test(s),
          (n) => `${"a".repeat(n)}!`,
          14,
          21,
        ),
      assert.AssertionError,
    );
    const overlapping = /^(?:(x+x+)+y)$/;
    assert.throws(
      () =>
        assertLinear(
          (s) => overlapping.test(s),
          (n) => "x".repeat(n),
          14,
          21,
        ),
      assert.AssertionError,
    );
  });

  test("the allowlist on the longest IDs there are (2048 bytes) stays cheap", () => {
    const policy = compilePolicy(parseConfig({ allowlist: { patterns: cases.map(([src]) => src) } }));
    const path = `/${"a".repeat(MAX_SPIFFE_ID_BYTES - "spiffe://example.org/".length)}`;
    const id = { spiffeId: `spiffe://example.org${path}`, trustDomain: "example.org", path };
    assert.equal(id.spiffeId.length, MAX_SPIFFE_ID_BYTES);
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) policy.allowlist.match(id);
    assert.ok(performance.now() - t0 < 2000);
  });

  test("compiling is cheap on long hostile sources", () => {
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
      "[a-z]{1000}".repeat(4),
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
