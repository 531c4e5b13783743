import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, parseConfigText, loadConfigFile } from "../../src/config/load.js";
import { ConfigError } from "../../src/config/errors.js";

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a ConfigError");
}

test("empty config gets the seed's defaults", () => {
  const c = parseConfig(undefined);
  assert.equal(c.tls["require-mtls"], true);
  assert.equal(c.tls["client-cert-header"], "X-Forwarded-Client-Cert");
  assert.equal(c.tls["xfcc-element"], "last");
  assert.equal(c.failure["spire-unavailable"], "fail_closed");
  assert.equal(c.failure["validation-failure"], "reject");
  assert.equal(c.failure["cache-ttl"], 3600);
  assert.equal(c.spire["api-timeout-ms"], 5000);
  assert.equal(c.spire["bundle-refresh-interval"], 300);
  assert.equal(c.headers["spiffe-id"], "X-SPIFFE-Id");
  assert.equal(c.headers["auth-timestamp"], "X-Auth-Timestamp");
  assert.equal(c.audit["include-cert-info"], false);
  assert.deepEqual(c.allowlist, { exact: [], prefix: [], "trust-domains": [], patterns: [] });
  assert.deepEqual(c.routes, []);
});

test("tls.client-cert-format picks the header's default: XFCC, RFC 9440's pair, none for pem-url", () => {
  const tls = (t: object) => parseConfig({ tls: t }).tls;
  assert.equal(tls({})["client-cert-format"], "xfcc");
  assert.equal(tls({})["client-cert-chain-header"], undefined);
  assert.deepEqual(tls({ "client-cert-format": "rfc9440" }), {
    "require-mtls": true,
    "client-cert-format": "rfc9440",
    "client-cert-header": "Client-Cert",
    "client-cert-chain-header": "Client-Cert-Chain",
    "xfcc-element": "last",
  });
  const alb = tls({ "client-cert-format": "pem-url", "client-cert-header": "X-Amzn-Mtls-Clientcert" });
  assert.equal(alb["client-cert-header"], "X-Amzn-Mtls-Clientcert");
  const own = tls({
    "client-cert-format": "rfc9440",
    "client-cert-header": "X-Cert",
    "client-cert-chain-header": "X-Chain",
  });
  assert.deepEqual([own["client-cert-header"], own["client-cert-chain-header"]], ["X-Cert", "X-Chain"]);
  // A parsed config parses again to itself (pushed configs are merged over it).
  for (const t of [
    {},
    { "client-cert-format": "rfc9440" },
    { "client-cert-format": "pem-url", "client-cert-header": "h" },
  ])
    assert.deepEqual(tls(tls(t)), tls(t));
});

test("tls keys the chosen format does not read, or a pem-url header left to guess, are errors", () => {
  const err = (t: object) => errorOf(() => parseConfig({ tls: t })).message;
  assert.match(
    err({ "client-cert-format": "pem-url" }),
    /^config: tls\.client-cert-header: required with client-cert-format: pem-url/,
  );
  assert.match(
    err({ "client-cert-format": "pkcs7" }),
    /^config: tls\.client-cert-format: expected xfcc\|rfc9440\|pem-url$/,
  );
  assert.match(
    err({ "client-cert-chain-header": "X-Chain" }),
    /^config: tls\.client-cert-chain-header: only read with client-cert-format: rfc9440$/,
  );
  assert.match(
    err({ "client-cert-format": "rfc9440", "xfcc-element": "first" }),
    /^config: tls\.xfcc-element: only read with client-cert-format: xfcc$/,
  );
  assert.match(
    err({ "client-cert-format": "rfc9440", "client-cert-header": "X-Cert", "client-cert-chain-header": "x-cert" }),
    /^config: tls\.client-cert-chain-header: "x-cert" is also tls\.client-cert-header$/,
  );
  assert.match(
    err({ "client-cert-format": "rfc9440", "client-cert-header": "X-C", "client-cert-chain-header": "X_C" }),
    /^config: tls\.client-cert-chain-header: "X_C" is also tls\.client-cert-header$/,
  );
});

test("the seed's full config block (as YAML) is accepted", () => {
  const c = parseConfigText(`
spire: { socket: /run/spire/sockets/agent.sock, bundle-refresh-interval: 300, api-timeout-ms: 5000 }
tls: { require-mtls: true, client-cert-header: X-Forwarded-Client-Cert }
allowlist:
  exact: [spiffe://example.org/frontend, spiffe://example.org/api-gateway]
  prefix: [spiffe://example.org/services/, spiffe://example.org/jobs/]
  trust-domains: [example.org, staging.example.org]
  patterns: ['spiffe://example\\.org/team-[a-z]+/.*']
failure: { spire-unavailable: fail_closed, validation-failure: reject, cache-ttl: 3600 }
headers: { spiffe-id: X-SPIFFE-Id, trust-domain: X-SPIFFE-Trust-Domain, workload-id: X-SPIFFE-Workload-Id, auth-method: X-Auth-Method, auth-timestamp: X-Auth-Timestamp }
audit: { log-success: true, log-failure: true, include-cert-info: true }
`);
  assert.equal(c.allowlist.exact.length, 2);
  assert.equal(c.allowlist.patterns[0], "spiffe://example\\.org/team-[a-z]+/.*");
  assert.equal(c.audit["include-cert-info"], true);
});

test("JSON is accepted too", () => {
  const c = parseConfigText(JSON.stringify({ jwt: { enabled: true, audiences: ["api"] } }));
  assert.equal(c.jwt.enabled, true);
  assert.equal(c.jwt.header, "authorization");
});

const bad: Array<[string, unknown, string]> = [
  [
    "enum",
    { failure: { "spire-unavailable": "maybe" } },
    "config: failure.spire-unavailable: expected fail_closed|fail_open|cache",
  ],
  [
    "enum 2",
    { failure: { "validation-failure": "allow" } },
    "config: failure.validation-failure: expected reject|log_and_allow",
  ],
  ["unknown top-level key", { allowList: {} }, "config: allowList: unknown key"],
  ["unknown nested key", { tls: { "require-mTLS": true } }, "config: tls.require-mTLS: unknown key"],
  ["wrong type", { tls: { "require-mtls": "yes" } }, "config: tls.require-mtls: expected boolean, got string"],
  ["array expected", { allowlist: { exact: "spiffe://a/b" } }, "config: allowlist.exact: expected array, got string"],
  [
    "route path",
    { routes: [{ name: "r", match: { "path-prefix": "api" } }] },
    "config: routes[0].match.path-prefix: expected a path starting with /",
  ],
  ["negative ttl", { failure: { "cache-ttl": -1 } }, "config: failure.cache-ttl:"],
  [
    "bad header name",
    { headers: { "spiffe-id": "X SPIFFE" } },
    "config: headers.spiffe-id: expected an HTTP header name",
  ],
  [
    "trust bundle entry",
    { "trust-bundles": [{ "trust-domain": "a.org" }] },
    "config: trust-bundles[0].path: expected string, got nothing",
  ],
];
for (const [name, value, message] of bad) {
  test(`bad config: ${name}`, () => {
    const err = errorOf(() => parseConfig(value));
    assert.ok(err.message.startsWith(message), `${err.message} should start with ${message}`);
  });
}

test("top level must be a mapping, YAML syntax errors name the file and line", () => {
  assert.match(errorOf(() => parseConfigText("- a\n- b", "c.yaml")).message, /^config: c\.yaml: expected a mapping/);
  assert.match(
    errorOf(() => parseConfigText("a: [\n", "c.yaml")).message,
    /^config: c\.yaml: not valid YAML\/JSON: .* at line \d+, column \d+$/,
  );
  // The parser's sentence, not its error code (was: "MULTILINE_IMPLICIT_KEY", "DUPLICATE_KEY").
  const dup = errorOf(() => parseConfigText("tls: {}\ntls: {}\n", "c.yaml")).message;
  assert.match(dup, /^config: c\.yaml: not valid YAML\/JSON: Map keys must be unique at line 2, column 1$/);
  const indent = errorOf(() => parseConfigText("allowlist:\n  exact: [a\n   b: c\n", "c.yaml")).message;
  assert.doesNotMatch(indent, /[A-Z]{3,}_[A-Z_]+/, indent);
  assert.equal(indent.includes("\n"), false);
});

test('bounds are said in words, with the value given (not zod\'s "Too small: expected number to be >0")', () => {
  assert.equal(
    errorOf(() => parseConfig({ spire: { "api-timeout-ms": 0 } })).message,
    "config: spire.api-timeout-ms: must be greater than 0, got 0",
  );
  assert.equal(
    errorOf(() => parseConfig({ spire: { "api-timeout-ms": 600_001 } })).message,
    "config: spire.api-timeout-ms: must be at most 600000, got 600001",
  );
});

test("missing or unreadable file is a clear error", () => {
  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  assert.equal(
    errorOf(() => loadConfigFile(join(dir, "nope.yaml"))).message,
    `config: cannot read ${join(dir, "nope.yaml")}: no such file`,
  );
  assert.equal(errorOf(() => loadConfigFile(dir)).message, `config: cannot read ${dir}: is a directory`);
  writeFileSync(join(dir, "ok.yaml"), "audit: { log-success: false }\n");
  assert.equal(loadConfigFile(join(dir, "ok.yaml")).audit["log-success"], false);
});

test("reload: a file that would empty a non-empty allowlist (a cut-off write) is refused; a restart applies it", async () => {
  const { ConfigManager } = await import("../../src/policy/config-manager.js");
  const { silentLogger } = await import("../../src/log.js");
  const dir = mkdtempSync(join(tmpdir(), "cfg-open-"));
  const file = join(dir, "c.yaml");
  const initial = parseConfig({
    allowlist: { exact: ["spiffe://example.org/a"] },
    routes: [{ name: "pay", match: { "path-prefix": "/pay" }, allowlist: { exact: ["spiffe://example.org/pay"] } }],
  });
  const m = new ConfigManager(initial, silentLogger(), "file");
  const v0 = m.applied.version;

  writeFileSync(file, "tls:\n  require-mtls: true\n"); // parses, but the allowlist is gone, and the route with it
  let r = m.reloadFile(file);
  assert.equal(r.ok, false);
  assert.match(r.ok ? "" : r.error, /^config: allowlist, routes\["pay"\]\.allowlist would become empty/);
  assert.equal(m.applied.version, v0);

  writeFileSync(
    file,
    "allowlist: { exact: [spiffe://example.org/a] }\nroutes: [{ name: pay, match: { path-prefix: /pay }, allowlist: {} }]\n",
  );
  r = m.reloadFile(file);
  assert.equal(r.ok, false);
  assert.match(r.ok ? "" : r.error, /routes\["pay"\]\.allowlist would become empty/);

  // Narrowing or changing entries is an ordinary reload.
  writeFileSync(
    file,
    "allowlist: { exact: [spiffe://example.org/b] }\nroutes: [{ name: pay, match: { path-prefix: /pay }, allowlist: { prefix: [spiffe://example.org/pay] } }]\n",
  );
  assert.equal(m.reloadFile(file).ok, true);
  assert.deepEqual(m.applied.config.allowlist.exact, ["spiffe://example.org/b"]);
});
