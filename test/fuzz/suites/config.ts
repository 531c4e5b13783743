// Config parsing (src/config/schema.ts, load.ts) and compilation (src/policy): random objects, valid
// configs generated from the documented rules, and mutated YAML all end in a Config/Policy or a ConfigError
// naming a key path, never a ZodError, TypeError or RangeError; valid configs are accepted and round-trip.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { stringify as toYaml } from "yaml";
import { ConfigError } from "../../../src/config/errors.js";
import { parseConfig, parseConfigText } from "../../../src/config/load.js";
import { ConfigManager } from "../../../src/policy/config-manager.js";
import { loosenings } from "../../../src/config/tighten.js";
import { compilePolicy } from "../../../src/policy/index.js";
import { silentLogger } from "../../../src/log.js";
import {
  applyStringEdits,
  defineProperty,
  outcome,
  stringEdits,
  type FuzzProperty,
  type FuzzSuite,
} from "../harness.js";

const EXAMPLE_YAML = readFileSync(new URL("../../../deploy/config.example.yaml", import.meta.url), "utf8");

const idArb = fc.oneof(
  fc.constantFrom(
    "spiffe://example.org/frontend",
    "spiffe://example.org/services",
    "spiffe://td/a/b",
    "spiffe://example.org",
  ),
  fc
    .tuple(
      fc.stringMatching(/^[a-z0-9.-]{1,12}$/),
      fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/), { minLength: 1, maxLength: 3 }),
    )
    .map(([td, segs]) => `spiffe://${td}/${segs.join("/")}`),
);
const safePattern = fc.constantFrom(
  "spiffe://example\\.org/team-[a-z]+/.*",
  "spiffe://.*\\.example\\.org/backend/.*",
  "spiffe://td/(a|b)/[0-9]{1,3}",
  "spiffe://example\\.org/ns/[^/]+/sa/web",
);
// Not RE2 (backreferences, lookaround, bad repeats, unclosed groups); nested repetitions are fine on RE2.
const badPattern = fc.constantFrom(
  "(unclosed",
  "a(?=b)",
  "(?<!x)y",
  "(a)\\1",
  "x**",
  "a{1001}",
  "((a{100}){100}){100}",
);
const headerName = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}$/);

const validAllowlist = fc.record(
  {
    exact: fc.array(idArb, { maxLength: 3 }),
    prefix: fc.array(
      fc.oneof(
        idArb,
        idArb.map((i) => `${i}/`),
      ),
      { maxLength: 3 },
    ),
    "trust-domains": fc.array(
      fc.oneof(fc.stringMatching(/^[a-z0-9._-]{1,12}$/), fc.constantFrom("spiffe://example.org")),
      { maxLength: 2 },
    ),
    patterns: fc.array(safePattern, { maxLength: 2 }),
  },
  { requiredKeys: [] },
);

/** Configs that follow every documented rule: they must be accepted and compile. */
const validConfig = fc
  .record(
    {
      spire: fc.record(
        {
          socket: fc.constantFrom("unix:///run/spire/sockets/agent.sock", "/tmp/agent.sock", "tcp://127.0.0.1:8081"),
          "api-timeout-ms": fc.integer({ min: 1, max: 600_000 }),
          "bundle-refresh-interval": fc.integer({ min: 1, max: 86_400 }),
        },
        { requiredKeys: [] },
      ),
      "trust-bundles": fc.array(
        fc.record({
          "trust-domain": fc.constantFrom("partner.org", "b.example"),
          path: fc.constantFrom("/etc/b.json", "b.pem"),
        }),
        { maxLength: 2 },
      ),
      tls: fc.record(
        {
          "require-mtls": fc.boolean(),
          "client-cert-format": fc.constantFrom("xfcc", "rfc9440", "pem-url"),
          "client-cert-header": fc.constantFrom("X-Forwarded-Client-Cert", "x-client-cert"),
          "client-cert-chain-header": fc.constantFrom("Client-Cert-Chain", "x-client-chain"),
          "xfcc-element": fc.constantFrom("first", "last"),
        },
        { requiredKeys: [] },
      ),
      allowlist: validAllowlist,
      jwt: fc.record({
        enabled: fc.boolean(),
        header: headerName,
        audiences: fc.array(fc.stringMatching(/^[a-z]{1,8}$/), { minLength: 1, maxLength: 2 }),
      }),
      routes: fc.uniqueArray(
        fc.record(
          {
            name: fc.stringMatching(/^[a-z]{1,6}$/),
            match: fc.record(
              {
                "path-prefix": fc.stringMatching(/^\/[a-z/]{0,10}$/),
                methods: fc.array(fc.constantFrom("GET", "post", "PUT"), { minLength: 1, maxLength: 2 }),
              },
              { requiredKeys: [] },
            ),
            allowlist: validAllowlist,
          },
          { requiredKeys: ["name"] },
        ),
        { selector: (r) => r.name, maxLength: 3 },
      ),
      failure: fc.record(
        {
          "spire-unavailable": fc.constantFrom("fail_closed", "fail_open", "cache"),
          "validation-failure": fc.constantFrom("reject", "log_and_allow"),
          "cache-ttl": fc.integer({ min: 0, max: 31_536_000 }),
        },
        { requiredKeys: [] },
      ),
      headers: fc.constant({
        "spiffe-id": "X-Id",
        "trust-domain": "X-Td",
        "workload-id": "X-Wl",
        "auth-method": "X-Am",
        "auth-timestamp": "X-Ts",
      }),
      audit: fc.record(
        { "log-success": fc.boolean(), "log-failure": fc.boolean(), "include-cert-info": fc.boolean() },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  )
  // Keys the format does not read are refused, and pem-url names its header: keep to valid combinations.
  .filter((c) => {
    const format = c.tls?.["client-cert-format"] ?? "xfcc";
    if (format !== "xfcc" && c.tls?.["xfcc-element"] === "first") return false;
    if (format !== "rfc9440" && c.tls?.["client-cert-chain-header"] !== undefined) return false;
    return format !== "pem-url" || c.tls?.["client-cert-header"] !== undefined;
  })
  // The jwt header must not collide with the client certificate header.
  .filter(
    (c) =>
      !c.jwt ||
      !c.tls ||
      c.jwt.header.toLowerCase() !== (c.tls["client-cert-header"] ?? "x-forwarded-client-cert").toLowerCase(),
  );

/** A value for any key: the right shape now and then, otherwise anything. */
const junk = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1.5, 1e308, "", "x", [], {}, "__proto__", "fail_open", "spiffe://example.org/a"),
  fc.jsonValue({ maxDepth: 2 }),
  fc.integer(),
  fc.array(fc.oneof(fc.string({ maxLength: 6 }), badPattern, idArb), { maxLength: 3 }),
);
const KEYS = ["spire", "trust-bundles", "tls", "allowlist", "jwt", "routes", "failure", "headers", "audit"];
const SUBKEYS = [
  "socket",
  "api-timeout-ms",
  "exact",
  "prefix",
  "patterns",
  "trust-domains",
  "enabled",
  "audiences",
  "header",
  "name",
  "match",
  "allowlist",
  "path-prefix",
  "methods",
  "require-mtls",
  "client-cert-header",
  "client-cert-format",
  "client-cert-chain-header",
  "xfcc-element",
  "spire-unavailable",
  "cache-ttl",
  "spiffe-id",
  "include-cert-info",
  "constructor",
  "__proto__",
  "toString",
  "",
  "a\nb",
  "\u001b[2J",
  "x.y",
  "\u2028",
  "k".repeat(80),
];
const messyObject: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    junk,
    tie("object"),
    fc.array(tie("object"), { maxLength: 2 }),
  ),
  object: fc.dictionary(fc.oneof(fc.constantFrom(...SUBKEYS), fc.string({ maxLength: 4 })), tie("value"), {
    maxKeys: 4,
  }),
})).value;
const messyConfig = fc.oneof(
  fc.dictionary(
    fc.oneof(fc.constantFrom(...KEYS), fc.constantFrom(...SUBKEYS), fc.string({ maxLength: 4 })),
    messyObject,
    { maxKeys: 5 },
  ),
  // A valid config with one subtree replaced by something messy.
  fc.tuple(validConfig, fc.constantFrom(...KEYS), messyObject).map(([c, k, v]) => ({ ...c, [k]: v })),
  fc.tuple(validConfig, badPattern).map(([c, p]) => ({ ...c, allowlist: { patterns: [p] } })),
  junk,
);

/**
 * The yaml package reports recoverable oddities (ambiguous aliases, unknown tags, collection keys) as process warnings; the
 * mutated YAML below produces thousands. Drop those, keep every other warning.
 */
function quietYamlWarnings(): void {
  const listeners = process.listeners("warning");
  process.removeAllListeners("warning");
  process.on("warning", (w) => {
    if (w.name === "YAMLWarning" || w.message.startsWith("Keys with collection values will be stringified")) return;
    for (const l of listeners) l(w);
  });
}

function compileOutcome(value: unknown) {
  return outcome([ConfigError], () => compilePolicy(parseConfig(value)));
}

function assertConfigError(e: Error): void {
  assert.ok(e instanceof ConfigError);
  assert.match(e.message, /^config: /);
  // One printable line, whatever the keys and values said (see test/fuzz/config-errors.test.ts).
  assert.ok(
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    !/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(e.message),
    `not one printable line: ${JSON.stringify(e.message)}`,
  );
}

/** One loosening each: a push carrying any of them must be refused. */
const LOOSENINGS: Array<Record<string, unknown>> = [
  { failure: { "validation-failure": "log_and_allow" } },
  { failure: { "spire-unavailable": "fail_open" } },
  { failure: { "spire-unavailable": "cache" } },
  { failure: { "cache-ttl": 999_999 } },
  { tls: { "require-mtls": false } },
  { tls: { "xfcc-element": "first" } },
  { tls: { "client-cert-header": "X-Client-Cert" } },
  { tls: { "client-cert-format": "pem-url" } },
  { tls: { "client-cert-format": "rfc9440" } },
  { headers: { "spiffe-id": "X-Caller" } },
  { jwt: { enabled: true, audiences: ["spiffe://example.org/x"] } },
  { audit: { "log-failure": false } },
  { routes: [{ name: "api" }] },
  { routes: [{ name: "api" }, { name: "pay", allowlist: {} }] },
  { server: { tls: { mode: "spiffe" } } },
  { zentinel: { "max-streams": 5 } },
  { spire: { "api-timeout-ms": 1 } },
  { "trust-bundles": [{ "trust-domain": "evil.org", path: "/tmp/evil.pem" }] },
];

/** The config files a pushed config is laid over: pushing off (the default) and on. */
const PUSH_FILE_OFF = parseConfig({
  allowlist: { exact: ["spiffe://example.org/web"] },
  routes: [{ name: "api" }, { name: "pay", allowlist: { exact: ["spiffe://example.org/pay"] } }],
});
const PUSH_FILE_ON = parseConfig({ ...PUSH_FILE_OFF, zentinel: { "accept-configure": true } });

export const configSuite: FuzzSuite = {
  name: "config",
  async properties(): Promise<FuzzProperty[]> {
    quietYamlWarnings();
    const manager = new ConfigManager(parseConfig({}), silentLogger());
    // Not vacuous: the shipped example is valid.
    compilePolicy(parseConfigText(EXAMPLE_YAML));
    return [
      defineProperty(
        "config/valid-configs-accepted-and-round-trip",
        400,
        15_000,
        fc.property(validConfig, (cfg) => {
          const direct = compileOutcome(cfg);
          assert.ok(direct.ok, direct.ok ? "" : direct.error.message);
          const parsed = parseConfig(cfg);
          assert.deepEqual(parseConfigText(JSON.stringify(cfg)), parsed);
          assert.deepEqual(parseConfigText(toYaml(cfg)), parsed);
          // Parsing a parsed config is the identity (defaults are stable).
          assert.deepEqual(parseConfig(JSON.parse(JSON.stringify(parsed))), parsed);
          assert.deepEqual(manager.apply(cfg, "configure").ok, true);
        }),
      ),

      defineProperty(
        "config/random-objects-typed-errors",
        1500,
        60_000,
        fc.property(messyConfig, (value) => {
          const got = compileOutcome(value);
          if (!got.ok) assertConfigError(got.error);
          // The Configure path: never throws, answers ok or an error, and says so.
          const res = manager.apply(value, "configure");
          assert.equal(res.ok, got.ok);
          if (!res.ok) assert.match(res.error, /^config: /);
          const json = JSON.stringify(value);
          if (json !== undefined) assert.equal(manager.applyJson(json, "configure").ok, got.ok);
        }),
      ),

      defineProperty(
        // The network path (Zentinel Configure / handshake config_json): with pushing off nothing changes; with
        // it on, whatever is accepted never loosens the file's config (tighten.ts) and never throws.
        "config/pushed-never-loosens",
        800,
        40_000,
        // Pushes that only change allowlist entries (allowed, so the accepted path runs), the same with exactly one
        // loosening added (each must be refused), and messy ones.
        fc.property(
          fc.oneof(
            messyConfig,
            validConfig.map((c) => ({ allowlist: c.allowlist })),
            fc.tuple(fc.constantFrom(...LOOSENINGS), validConfig).map(([l, c]) => ({ allowlist: c.allowlist, ...l })),
          ),
          fc.constantFrom<"handshake" | "configure">("handshake", "configure"),
          (value, source) => {
            const json = JSON.stringify(value);
            if (json === undefined) return;
            const off = new ConfigManager(PUSH_FILE_OFF, silentLogger(), "file");
            const offRes = off.applyPushed(json, source);
            assert.equal(offRes.ok, false, "zentinel.accept-configure is false: a push must change nothing");
            assert.equal(off.applied.config, PUSH_FILE_OFF);
            const on = new ConfigManager(PUSH_FILE_ON, silentLogger(), "file");
            const res = on.applyPushed(json, source);
            if (!res.ok) {
              assert.match(res.error, /^config: /);
              assert.equal(on.applied.config, PUSH_FILE_ON, "a refused push leaves the file's config deciding");
              return;
            }
            assert.deepEqual(loosenings(PUSH_FILE_ON, on.applied.config), []);
            const c = on.applied.config;
            assert.equal(c.failure["spire-unavailable"], "fail_closed");
            assert.equal(c.failure["validation-failure"], "reject");
            assert.equal(c.tls["require-mtls"], true);
            assert.deepEqual(c.headers, PUSH_FILE_ON.headers);
            assert.ok(
              c.allowlist.exact.length +
                c.allowlist.prefix.length +
                c.allowlist["trust-domains"].length +
                c.allowlist.patterns.length >
                0,
            );
            assert.deepEqual(
              c.routes.map((r) => r.name).filter((n) => n === "api" || n === "pay"),
              ["api", "pay"],
            );
            const pay = c.routes.find((r) => r.name === "pay")!;
            assert.ok(
              pay.allowlist === undefined ||
                pay.allowlist.exact.length +
                  pay.allowlist.prefix.length +
                  pay.allowlist["trust-domains"].length +
                  pay.allowlist.patterns.length >
                  0,
            );
            for (const k of ["spire", "trust-bundles", "server", "zentinel", "audit"] as const)
              assert.deepEqual(c[k], PUSH_FILE_ON[k], k);
            assert.equal(c.jwt.enabled, false);
            assert.equal(c.tls["xfcc-element"], PUSH_FILE_ON.tls["xfcc-element"]);
            assert.equal(c.tls["client-cert-header"], PUSH_FILE_ON.tls["client-cert-header"]);
          },
        ),
      ),

      defineProperty(
        "config/mutated-yaml-typed-errors",
        800,
        30_000,
        fc.property(
          stringEdits(
            fc.oneof(
              fc.constantFrom(
                ":",
                " ",
                "\n",
                "-",
                "[",
                "]",
                "{",
                "}",
                "'",
                '"',
                "&a",
                "*a",
                "<<: *a",
                "!!binary",
                "#",
                "\t",
                "?",
                ",",
                "|",
              ),
              fc.string({ maxLength: 3 }),
            ),
            4,
          ),
          (edits) => {
            const text = applyStringEdits(EXAMPLE_YAML, edits);
            const got = outcome([ConfigError], () => compilePolicy(parseConfigText(text, "example.yaml")));
            if (!got.ok) assertConfigError(got.error);
          },
        ),
      ),

      defineProperty(
        "config/random-text-typed-errors",
        800,
        40_000,
        fc.property(
          fc.oneof(
            fc.string({ maxLength: 80 }),
            fc.json({ maxDepth: 3 }),
            fc.constantFrom("a: &x [*x]", "!!js/function 'f'", "~", "[]", "- 1", "a: 1\na: 2"),
          ),
          (text) => {
            const got = outcome([ConfigError], () => compilePolicy(parseConfigText(text)));
            if (!got.ok) assertConfigError(got.error);
            manager.applyJson(text, "configure");
          },
        ),
      ),
    ];
  },
};
