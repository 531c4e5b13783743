// Pushed config: laid over the file's, tighten-only (src/config/tighten.ts), and ConfigManager.applyPushed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.js";
import { loosenings, mergeOverFile } from "../../src/config/tighten.js";
import { ConfigManager } from "../../src/policy/config-manager.js";
import type { Config } from "../../src/config/schema.js";
import { silentLogger } from "../../src/log.js";

const FILE = parseConfig({
  "trust-bundles": [{ "trust-domain": "partner.org", path: "/etc/partner.pem" }],
  allowlist: { exact: ["spiffe://example.org/web"] },
  routes: [{ name: "pay", match: { "path-prefix": "/pay" }, allowlist: { prefix: ["spiffe://example.org/pay"] } }],
  jwt: { enabled: true, audiences: ["api", "web"] },
  failure: { "spire-unavailable": "cache", "cache-ttl": 600 },
  audit: { "log-success": true, "log-failure": true, "include-cert-info": false },
});

/** The file with `pushed` laid over it, as applyPushed builds it. */
const over = (pushed: unknown): Config => parseConfig(mergeOverFile(FILE, pushed));
const fields = (pushed: unknown) => loosenings(FILE, over(pushed)).map((l) => l.field);

test("merge: mappings merge key by key, arrays and scalars replace, omitted keys keep the file's values", () => {
  const c = over({ allowlist: { exact: ["spiffe://example.org/a"] }, failure: { "cache-ttl": 60 }, routes: [] });
  assert.deepEqual(c.allowlist.exact, ["spiffe://example.org/a"]);
  assert.deepEqual(c["trust-bundles"], FILE["trust-bundles"]);
  assert.equal(c.failure["spire-unavailable"], "cache");
  assert.equal(c.failure["cache-ttl"], 60);
  assert.deepEqual(c.routes, []);
  assert.deepEqual(c.jwt, FILE.jwt);
  assert.deepEqual(over({}), FILE, "an empty push is the file");
});

test("merge: a __proto__ key stays a key, so the schema refuses it instead of it reaching a prototype", () => {
  const merged = mergeOverFile(FILE, JSON.parse('{"tls": {"__proto__": {"require-mtls": false}}}')) as {
    tls: Record<string, unknown>;
  };
  assert.ok(Object.hasOwn(merged.tls, "__proto__"));
  assert.equal(Object.getPrototypeOf(merged.tls), Object.prototype);
  assert.throws(() => parseConfig(merged), /tls\.__proto__: unknown key/);
  assert.equal(({} as Record<string, unknown>)["require-mtls"], undefined);
});

test("loosenings: each way to loosen the file is named by its key", () => {
  const cases: Array<[unknown, string[]]> = [
    [{ failure: { "spire-unavailable": "fail_open" } }, ["failure.spire-unavailable"]],
    [{ failure: { "validation-failure": "log_and_allow" } }, ["failure.validation-failure"]],
    [{ failure: { "cache-ttl": 3600 } }, ["failure.cache-ttl"]],
    [{ tls: { "require-mtls": false } }, ["tls.require-mtls"]],
    [{ tls: { "client-cert-header": "X-Client-Cert" } }, ["tls.client-cert-header"]],
    [{ tls: { "xfcc-element": "first" } }, ["tls.xfcc-element"]],
    // The same header's bytes read another way: the file's header name stays, the format may not move.
    [{ tls: { "client-cert-format": "pem-url" } }, ["tls.client-cert-format"]],
    [{ tls: { "client-cert-format": "rfc9440" } }, ["tls.client-cert-format", "tls.client-cert-chain-header"]],
    [{ allowlist: { exact: [] } }, ["allowlist"]],
    [{ routes: [{ name: "pay", match: { "path-prefix": "/pay" }, allowlist: {} }] }, ['routes["pay"].allowlist']],
    [{ routes: [] }, ['routes["pay"]']],
    [{ routes: [{ name: "Pay", allowlist: { exact: ["spiffe://example.org/pay"] } }] }, ['routes["pay"]']],
    [{ headers: { "spiffe-id": "X-Id" } }, ["headers"]],
    [{ headers: { "auth-timestamp": "x-auth-timestamp" } }, ["headers"]],
    [{ "trust-bundles": [] }, ["trust-bundles"]],
    [
      { "trust-bundles": [...FILE["trust-bundles"], { "trust-domain": "evil.org", path: "/tmp/evil.pem" }] },
      ["trust-bundles"],
    ],
    [{ spire: { socket: "unix:///tmp/evil.sock" } }, ["spire"]],
    [{ server: { tls: { mode: "spiffe" } } }, ["server"]],
    [{ zentinel: { "max-streams": 1 } }, ["zentinel"]],
    [{ jwt: { header: "x-token" } }, ["jwt.header"]],
    [{ jwt: { audiences: ["api", "other"] } }, ["jwt.audiences"]],
    [{ audit: { "log-failure": false } }, ["audit.log-failure"]],
    [
      {
        failure: { "validation-failure": "log_and_allow", "spire-unavailable": "fail_open" },
        tls: { "require-mtls": false },
      },
      ["tls.require-mtls", "failure.spire-unavailable", "failure.validation-failure"],
    ],
  ];
  for (const [pushed, expected] of cases) assert.deepEqual(fields(pushed), expected, JSON.stringify(pushed));
});

test("loosenings: tightening, and changing allowlist entries or route matches, is allowed", () => {
  const allowed: unknown[] = [
    {},
    { failure: { "spire-unavailable": "fail_closed", "cache-ttl": 10 } },
    { allowlist: { exact: ["spiffe://example.org/other"], patterns: ["spiffe://example\\.org/team-[a-z]+"] } },
    {
      routes: [
        {
          name: "pay",
          match: { "path-prefix": "/payments", methods: ["POST"] },
          allowlist: { exact: ["spiffe://example.org/pay"] },
        },
      ],
    },
    {
      routes: [
        ...FILE.routes,
        { name: "admin", match: { "path-prefix": "/admin" }, allowlist: { exact: ["spiffe://example.org/ops"] } },
      ],
    },
    { jwt: { enabled: false } },
    { jwt: { audiences: ["api"] } },
    { audit: { "include-cert-info": true } },
  ];
  for (const pushed of allowed) assert.deepEqual(fields(pushed), [], JSON.stringify(pushed));
});

test("loosenings: a file without JWT, mTLS off or failing open can be tightened, and only in that direction", () => {
  const lax = parseConfig({
    tls: { "require-mtls": false },
    failure: { "spire-unavailable": "fail_open", "validation-failure": "log_and_allow" },
  });
  const next = (p: unknown) => loosenings(lax, parseConfig(mergeOverFile(lax, p))).map((l) => l.field);
  assert.deepEqual(
    next({ tls: { "require-mtls": true }, failure: { "spire-unavailable": "cache", "validation-failure": "reject" } }),
    [],
  );
  assert.deepEqual(next({ jwt: { enabled: true, audiences: ["api"] } }), ["jwt.enabled", "jwt.audiences"]);
  assert.deepEqual(next({}), [], "restating the file's lax values is no loosening");
  // An empty allowlist in the file (authentication only) may be filled.
  assert.deepEqual(next({ allowlist: { exact: ["spiffe://example.org/a"] } }), []);
});

function manager(file: unknown): ConfigManager {
  return new ConfigManager(parseConfig(file), silentLogger(), "file");
}

test("applyPushed: refused unless the FILE says zentinel.accept-configure; the config in force stays", () => {
  const m = manager({ allowlist: { exact: ["spiffe://example.org/web"] } });
  const before = m.applied;
  const r = m.applyPushed(JSON.stringify({ tls: { "require-mtls": false } }), "configure", "v1");
  assert.deepEqual(r, {
    ok: false,
    error: "config: zentinel.accept-configure: is false in the config file: Configure event ignored",
    field: "zentinel.accept-configure",
  });
  assert.equal(m.applied, before);
  // apply() as it is (the file path, tests) is not what the network reaches.
  assert.equal(
    m.applyPushed(JSON.stringify({ zentinel: { "accept-configure": true } }), "handshake").ok,
    false,
    "a push cannot turn pushing on",
  );
});

test("applyPushed: validated like a file, merged over it, tighten-only; errors name the key and keep the previous config", () => {
  const m = manager({
    zentinel: { "accept-configure": true },
    "trust-bundles": [{ "trust-domain": "p.org", path: "/p.pem" }],
    allowlist: { exact: ["spiffe://example.org/web"] },
  });
  const bad: Array<[string, string | undefined, RegExp]> = [
    ["{not json", undefined, /not valid JSON/],
    ["[]", undefined, /expected object/],
    [JSON.stringify({ allowlist: { exact: "x" } }), "allowlist.exact", /expected array/],
    [JSON.stringify({ alowlist: {} }), "alowlist", /unknown key/],
    [JSON.stringify({ allowlist: { patterns: ["(a)\\1"] } }), "allowlist.patterns[0]", /not a valid RE2/],
    [
      JSON.stringify({ failure: { "spire-unavailable": "fail_open" } }),
      "failure.spire-unavailable",
      /fail_open would loosen the config file's fail_closed \(a pushed config may tighten/,
    ],
  ];
  const version = m.applied.version;
  for (const [json, field, problem] of bad) {
    const r = m.applyPushed(json, "configure");
    assert.equal(r.ok, false, json);
    if (!r.ok) {
      assert.equal(r.field, field, json);
      assert.match(r.error, problem);
    }
  }
  assert.equal(m.applied.version, version);

  const ok = m.applyPushed(JSON.stringify({ allowlist: { exact: ["spiffe://example.org/api"] } }), "configure", "v2");
  assert.deepEqual(ok, { ok: true, version: "v2" });
  assert.equal(m.applied.source, "configure");
  assert.deepEqual(
    m.applied.config["trust-bundles"],
    [{ "trust-domain": "p.org", path: "/p.pem" }],
    "never drops the file's trust-bundles",
  );
  assert.deepEqual(m.applied.config.allowlist.exact, ["spiffe://example.org/api"]);
  assert.equal(m.fileConfig.allowlist.exact[0], "spiffe://example.org/web", "a push never becomes the file");
});

test("applyPushed: no emptying an allowlist the config in force has filled; a reload of the file is measured against the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "cfg-push-"));
  const path = join(dir, "c.yaml");
  writeFileSync(path, "zentinel: { accept-configure: true }\n");
  const m = manager({ zentinel: { "accept-configure": true } }); // the file: authentication only
  assert.equal(
    m.applyPushed(JSON.stringify({ allowlist: { exact: ["spiffe://example.org/a"] } }), "configure", "filled").ok,
    true,
  );
  const r = m.applyPushed(JSON.stringify({ allowlist: { exact: [] } }), "configure", "emptied");
  assert.equal(r.ok, false, "the file's empty allowlist would be no loosening, but the config in force has entries");
  assert.match(r.ok ? "" : r.error, /^config: allowlist: would become empty .*the config in force has entries/);
  assert.equal(m.applied.version, "filled");
  // SIGHUP / RequestReload brings back the file as it is: the push that filled the allowlist is no file.
  const back = m.reloadFile(path);
  assert.equal(back.ok, true, back.ok ? "" : back.error);
  assert.equal(m.applied.source, "file");
  assert.deepEqual(m.applied.config.allowlist.exact, []);
});

test("applyPushed: a route name from the network reaches the error escaped, on one line", () => {
  const m = manager({
    zentinel: { "accept-configure": true },
    routes: [{ name: "a\u202eb\nc", allowlist: { exact: ["spiffe://example.org/a"] } }],
  });
  const r = m.applyPushed(JSON.stringify({ routes: [] }), "configure");
  assert.equal(r.ok, false);
  assert.equal(r.ok ? "" : r.field, 'routes["a\\u202eb\\nc"]');
  assert.ok(!/[\u202e\n]/.test(r.ok ? "" : r.error), "one printable line");
});

// enforcement: dry-run lets every request through, so only the config file may start it or widen where it applies.
const ROUTES = [
  { name: "pay", match: { "path-prefix": "/pay" }, allowlist: { prefix: ["spiffe://example.org/pay"] } },
  { name: "canary", match: { "path-prefix": "/canary" }, enforcement: "dry-run" as const },
];
const DRY_FILE = parseConfig({ allowlist: { exact: ["spiffe://example.org/web"] }, routes: ROUTES });
const dryFields = (pushed: unknown, file: Config = DRY_FILE) =>
  loosenings(file, parseConfig(mergeOverFile(file, pushed))).map((l) => l.field);

test("loosenings: a push never starts dry-run, at the top level or on a route, and never widens where it applies", () => {
  // The file's route "pay" has no enforcement of its own, so it would inherit dry-run: named too.
  assert.deepEqual(fields({ enforcement: "dry-run" }), ["enforcement", 'routes["pay"].enforcement']);
  assert.deepEqual(fields({ routes: [{ ...FILE.routes[0], enforcement: "dry-run" }] }), ['routes["pay"].enforcement']);
  // A new route in dry-run: would carve a path out of enforcement.
  assert.deepEqual(
    fields({ routes: [...FILE.routes, { name: "x", match: { "path-prefix": "/" }, enforcement: "dry-run" }] }),
    ["routes"],
  );
  // The file's dry-run route re-matched to capture everything, or moved before an enforced one.
  assert.deepEqual(dryFields({ routes: [ROUTES[0], { ...ROUTES[1], match: { "path-prefix": "/" } }] }), ["routes"]);
  assert.deepEqual(dryFields({ routes: [ROUTES[1], ROUTES[0]] }), ["routes"]);
  // An enforced route narrowed so its requests fall through to a dry-run top level.
  const dryTop = parseConfig({ enforcement: "dry-run", routes: [{ ...ROUTES[0], enforcement: "enforce" }] });
  assert.deepEqual(
    dryFields({ routes: [{ ...ROUTES[0], match: { "path-prefix": "/nothing" }, enforcement: "enforce" }] }, dryTop),
    ["routes"],
  );
  // The route's own enforcement dropped while the top level is dry-run: it would inherit dry-run.
  assert.deepEqual(dryFields({ routes: [{ ...ROUTES[0], enforcement: undefined }] }, dryTop), [
    'routes["pay"].enforcement',
  ]);
  // And the refusal goes through applyPushed with the key, leaving the file's config in force.
  const m = new ConfigManager(parseConfig({ ...FILE, zentinel: { "accept-configure": true } }), silentLogger(), "file");
  const before = m.applied.version;
  const r = m.applyPushed(JSON.stringify({ enforcement: "dry-run" }), "configure");
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.field, "enforcement");
  assert.match(!r.ok ? r.error : "", /dry-run would loosen the config file's enforce/);
  assert.equal(m.applied.version, before);
  assert.equal(m.applied.policy.dryRunScopes.length, 0);
});

test("loosenings: a push may end dry-run (top level or route) and change allowlists while routing stays the file's", () => {
  assert.deepEqual(dryFields({ routes: [ROUTES[0], { ...ROUTES[1], enforcement: "enforce" }] }), []);
  assert.deepEqual(
    dryFields({ routes: [ROUTES[0], { ...ROUTES[1], allowlist: { exact: ["spiffe://example.org/c"] } }] }),
    [],
  );
  const dryTop = parseConfig({ enforcement: "dry-run", routes: ROUTES });
  assert.deepEqual(dryFields({ enforcement: "enforce" }, dryTop), []);
  // With nothing left in dry-run, routes may be re-matched again as any push may.
  assert.deepEqual(
    dryFields({
      routes: [
        { ...ROUTES[0], match: { "path-prefix": "/p" } },
        { ...ROUTES[1], enforcement: "enforce" },
      ],
    }),
    [],
  );
  const m = new ConfigManager(
    parseConfig({ ...DRY_FILE, zentinel: { "accept-configure": true } }),
    silentLogger(),
    "file",
  );
  assert.deepEqual(m.applied.policy.dryRunScopes, ["canary"]);
  const r = m.applyPushed(
    JSON.stringify({ routes: [ROUTES[0], { ...ROUTES[1], enforcement: "enforce" }] }),
    "configure",
  );
  assert.equal(r.ok, true);
  assert.deepEqual(m.applied.policy.dryRunScopes, []);
});
