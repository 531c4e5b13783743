import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/config/errors.js";
import { compilePolicy, selectRoute, normalizePath, pathHasPrefix, compilePattern } from "../../src/policy/index.js";

function idOf(s: string) {
  const m = /^spiffe:\/\/([^/]+)(.*)$/.exec(s);
  if (!m) throw new Error(s);
  return { spiffeId: s, trustDomain: m[1]!, path: m[2]! };
}
function allows(allowlist: object, id: string): boolean {
  const p = compilePolicy(parseConfig({ allowlist }));
  return p.allowlist.match(idOf(id)) !== undefined;
}
function configError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ConfigError && message.test(e.message), String(message));
}

test("exact: equality after parsing", () => {
  const a = { exact: ["spiffe://example.org/frontend"] };
  assert.ok(allows(a, "spiffe://example.org/frontend"));
  assert.ok(!allows(a, "spiffe://example.org/frontend/x"));
  assert.ok(!allows(a, "spiffe://example.org/frontendx"));
  assert.ok(!allows(a, "spiffe://example.org.evil.com/frontend"));
});

test("prefix is path-segment aware", () => {
  const a = { prefix: ["spiffe://example.org/services"] };
  assert.ok(allows(a, "spiffe://example.org/services/a"));
  assert.ok(allows(a, "spiffe://example.org/services/a/b"));
  assert.ok(allows(a, "spiffe://example.org/services"));
  assert.ok(!allows(a, "spiffe://example.org/servicesx"));
  assert.ok(!allows(a, "spiffe://example.org.evil.com/services/a"));
  assert.ok(!allows(a, "spiffe://other.org/services/a"));
  assert.ok(!allows(a, "spiffe://example.org/"));
});

test("prefix with the seed's trailing slash means strictly below", () => {
  const a = { prefix: ["spiffe://example.org/services/"] };
  assert.ok(allows(a, "spiffe://example.org/services/a"));
  assert.ok(!allows(a, "spiffe://example.org/services"));
  assert.ok(!allows(a, "spiffe://example.org/servicesx"));
  assert.ok(!allows(a, "spiffe://example.org.evil.com/services/a"));
});

test("prefix that is a trust domain ID matches every ID in it", () => {
  for (const p of ["spiffe://example.org", "spiffe://example.org/"]) {
    const a = { prefix: [p] };
    assert.ok(allows(a, "spiffe://example.org/anything/at/all"), p);
    assert.ok(!allows(a, "spiffe://example.org.evil.com/x"), p);
    assert.ok(!allows(a, "spiffe://sub.example.org/x"), p);
  }
});

test("trust domains: bare name or spiffe:// form, equality only", () => {
  for (const td of ["example.org", "spiffe://example.org"]) {
    const a = { "trust-domains": [td] };
    assert.ok(allows(a, "spiffe://example.org/x"), td);
    assert.ok(!allows(a, "spiffe://staging.example.org/x"), td);
    assert.ok(!allows(a, "spiffe://example.org.evil.com/x"), td);
  }
});

test("patterns are anchored full matches", () => {
  const a = { patterns: ["spiffe://example\\.org/team-[a-z]+/.*"] };
  assert.ok(allows(a, "spiffe://example.org/team-red/svc"));
  assert.ok(!allows(a, "spiffe://example.org/team-Red/svc"));
  // contains a match, but the whole ID does not match
  const b = { patterns: ["spiffe://example\\.org/a"] };
  assert.ok(allows(b, "spiffe://example.org/a"));
  assert.ok(!allows(b, "spiffe://example.org/a/b"));
  assert.ok(!allows(b, "spiffe://example.org/ab"));
  assert.ok(!allows({ patterns: ["example\\.org/a"] }, "spiffe://example.org/a"));
  // explicit anchors are harmless
  assert.ok(allows({ patterns: ["^spiffe://example\\.org/a$"] }, "spiffe://example.org/a"));
});

test("the seed's example patterns compile and match what they say", () => {
  const a = { patterns: ["spiffe://example\\.org/team-[a-z]+/.*", "spiffe://.*\\.example\\.org/backend/.*"] };
  assert.ok(allows(a, "spiffe://prod.example.org/backend/db"));
  assert.ok(!allows(a, "spiffe://example.org/backend/db"));
});

test("invalid patterns are rejected at compile with the key path", () => {
  configError(
    () => compilePolicy(parseConfig({ allowlist: { patterns: ["spiffe://ok/.*", "(unclosed"] } })),
    /^config: allowlist\.patterns\[1\]: not a valid RE2 regular expression/,
  );
  configError(
    () => compilePolicy(parseConfig({ routes: [{ name: "r", allowlist: { patterns: ["x**"] } }] })),
    /^config: routes\[0\]\.allowlist\.patterns\[0\]: not a valid RE2 regular expression/,
  );
  // backreferences and lookahead are not RE2
  configError(() => compilePolicy(parseConfig({ allowlist: { patterns: ["(a)\\1"] } })), /not a valid RE2/);
  configError(() => compilePolicy(parseConfig({ allowlist: { patterns: ["a(?=b)"] } })), /not a valid RE2/);
});

test("shapes that would stall a backtracking engine are accepted: RE2 runs them in linear time", () => {
  const shapes: Array<[string, string, string]> = [
    ["(a+)+", "aaa", "aab"],
    ["(a|a)*", "aaa", "aab"],
    ["(?:a{1,5})+", "aaaaaaa", "b"],
    ["(a|\\w)+", "a_b1", "a-b"],
    ["(?i)(a|A)*", "aAa", "ab"],
    ["([a-z]+/)*x", "ns/web/x", "ns/web/"],
    ["spiffe://example\\.org/(ns/[a-z]+/?)*sa", "spiffe://example.org/ns/prod/sa", "spiffe://example.org/ns/prod/s"],
    ["\\Q(a+)+\\E", "(a+)+", "aa"],
    ["x{", "x{", "x"],
  ];
  for (const [src, yes, no] of shapes) {
    const re = compilePattern(src);
    assert.equal(re.matches(yes), true, `${src} on ${yes}`);
    assert.equal(re.matches(no), false, `${src} on ${no}`);
  }
});

test("matching a hostile input against an accepted pattern stays fast (RE2)", () => {
  const re = compilePattern("spiffe://[a-z.]*[a-z]*[a-z]*x");
  const input = "spiffe://" + "a".repeat(20_000);
  const t0 = performance.now();
  assert.equal(re.matches(input), false);
  assert.ok(performance.now() - t0 < 2000);
});

test("bad entries name their key path", () => {
  configError(
    () => compilePolicy(parseConfig({ allowlist: { exact: ["spiffe://example.org/a", "http://example.org/b"] } })),
    /^config: allowlist\.exact\[1\]: not a valid SPIFFE ID: /,
  );
  configError(
    () => compilePolicy(parseConfig({ allowlist: { exact: ["spiffe://example.org/a/"] } })),
    /allowlist\.exact\[0\]: not a valid SPIFFE ID/,
  );
  configError(
    () => compilePolicy(parseConfig({ allowlist: { exact: ["spiffe://Example.org/a"] } })),
    /allowlist\.exact\[0\]/,
  );
  configError(
    () => compilePolicy(parseConfig({ allowlist: { prefix: ["spiffe://example.org/a//"] } })),
    /allowlist\.prefix\[0\]: not a valid SPIFFE ID prefix/,
  );
  configError(
    () => compilePolicy(parseConfig({ allowlist: { "trust-domains": ["exa mple.org"] } })),
    /allowlist\.trust-domains\[0\]: not a valid trust domain/,
  );
  configError(
    () => compilePolicy(parseConfig({ allowlist: { "trust-domains": ["spiffe://example.org/a"] } })),
    /allowlist\.trust-domains\[0\]/,
  );
  configError(
    () => compilePolicy(parseConfig({ routes: [{ name: "a" }, { name: "a" }] })),
    /^config: routes\[1\]\.name: duplicate route name/,
  );
  configError(
    () => compilePolicy(parseConfig({ routes: [{ name: "a", match: { methods: [] } }] })),
    /routes\[0\]\.match\.methods/,
  );
  configError(() => compilePolicy(parseConfig({ headers: { "trust-domain": "x-spiffe-id" } })), /^config: headers: /);
  // The client-cert headers are our input; an identity header is our output, stripped from clients.
  configError(
    () => compilePolicy(parseConfig({ headers: { "spiffe-id": "X-Forwarded-Client-Cert" } })),
    /^config: headers: "x-forwarded-client-cert" is also tls\.client-cert-header/,
  );
  configError(
    () =>
      compilePolicy(parseConfig({ tls: { "client-cert-format": "rfc9440" }, headers: { "spiffe-id": "client-cert" } })),
    /^config: headers: "client-cert" is also tls\.client-cert-header/,
  );
  configError(
    () =>
      compilePolicy(
        parseConfig({ tls: { "client-cert-format": "rfc9440" }, headers: { "workload-id": "Client-Cert-Chain" } }),
      ),
    /^config: headers: "client-cert-chain" is also tls\.client-cert-chain-header/,
  );
  // ...in any '-'/'_' spelling: identity headers are stripped in all of them, and CGI-style upstreams read both alike.
  configError(
    () =>
      compilePolicy(parseConfig({ tls: { "client-cert-format": "rfc9440" }, headers: { "spiffe-id": "Client_Cert" } })),
    /^config: headers: "client_cert" is also tls\.client-cert-header/,
  );
  configError(
    () =>
      compilePolicy(
        parseConfig({
          tls: { "client-cert-format": "pem-url", "client-cert-header": "X_SSL_Client_Cert" },
          headers: { "spiffe-id": "X-SSL-Client-Cert" },
        }),
      ),
    /^config: headers: "x-ssl-client-cert" is also tls\.client-cert-header/,
  );
  // every -/_ spelling must be removable: 2^7 would be too many
  configError(
    () => compilePolicy(parseConfig({ headers: { "spiffe-id": "X-Mesh-Caller-Spiffe-Id-Verified-By-Edge" } })),
    /^config: headers\.spiffe-id: .*more than 6/,
  );
});

test("empty allowlists are reported as warnings (authentication only)", () => {
  const p = compilePolicy(
    parseConfig({
      routes: [
        { name: "open", allowlist: {} },
        { name: "closed", allowlist: { exact: ["spiffe://td/a"] } },
        { name: "inherits" },
      ],
    }),
  );
  assert.equal(p.warnings.length, 2, "a route without an allowlist inherits the top-level one: no warning of its own");
  assert.match(p.warnings[0]!, /^allowlist is empty: every verified SPIFFE ID is allowed/);
  assert.match(p.warnings[1]!, /routes\[0\] \("open"\)/);
  assert.equal(p.allowlist.match(idOf("spiffe://any.td/x")), "empty");
  const q = compilePolicy(parseConfig({ allowlist: { "trust-domains": ["td"] } }));
  assert.deepEqual(q.warnings, []);
});

test("identity header names are lower-cased for removal, in every -/_ spelling an upstream may fold onto them", () => {
  const p = compilePolicy(parseConfig({}));
  assert.deepEqual(p.identityHeaderNames.slice(0, 5), [
    "x-spiffe-id",
    "x-spiffe-trust-domain",
    "x-spiffe-workload-id",
    "x-auth-method",
    "x-auth-timestamp",
  ]);
  // 2^separators spellings each: 4 + 8 + 8 + 4 + 4.
  assert.equal(p.identityHeaderNames.length, 28);
  assert.equal(new Set(p.identityHeaderNames).size, 28);
  for (const n of ["x_spiffe_id", "x-spiffe_id", "x_spiffe-trust_domain", "x_auth_timestamp"])
    assert.ok(p.identityHeaderNames.includes(n), n);
  assert.ok(p.identityHeaderNames.every((n) => n === n.toLowerCase()));
  assert.equal(p.headers.spiffeId, "X-SPIFFE-Id");
});

test("routes: by name first, then path prefix and method, else top level", () => {
  const p = compilePolicy(
    parseConfig({
      allowlist: { exact: ["spiffe://td/top"] },
      routes: [
        {
          name: "payments",
          match: { "path-prefix": "/payments", methods: ["post"] },
          allowlist: { exact: ["spiffe://td/pay"] },
        },
        { name: "admin", match: { "path-prefix": "/admin/" }, allowlist: { exact: ["spiffe://td/admin"] } },
        { name: "named-only", match: { "path-prefix": "/never" }, allowlist: { exact: ["spiffe://td/named"] } },
      ],
    }),
  );
  const sel = (path: string, method = "GET", routeName?: string) =>
    selectRoute(p, { path, method, ...(routeName ? { routeName } : {}) }).route?.name;
  assert.equal(sel("/payments", "POST"), "payments");
  assert.equal(sel("/payments", "post"), "payments");
  assert.equal(sel("/payments/x", "POST"), "payments");
  assert.equal(sel("/payments?q=1", "POST"), "payments");
  assert.equal(sel("/paymentsx", "POST"), undefined);
  assert.equal(sel("/payments", "GET"), undefined);
  assert.equal(sel("/admin", "GET"), "admin");
  assert.equal(sel("/admin/users", "DELETE"), "admin");
  assert.equal(sel("/administrator"), undefined);
  assert.equal(sel("/anything", "GET", "named-only"), "named-only");
  assert.equal(sel("/payments", "POST", "admin"), "admin");
  // an unknown name is unknown_route, never a fallback to matching or the top level
  assert.equal(sel("/payments", "POST", "nope"), undefined);
  assert.equal(selectRoute(p, { path: "/payments", method: "POST", routeName: "nope" }).unknownRoute, "nope");
  assert.equal(
    selectRoute(p, { path: "/payments", method: "POST", routeName: "nope" }).allowlist.match(idOf("spiffe://td/top")),
    undefined,
  );
  // path tricks resolve to the path the upstream will serve
  assert.equal(sel("/public/../payments", "POST"), "payments");
  // `//payments` is also host "payments", path "/", to a URL parser
  assert.equal(sel("//payments", "POST"), "payments+(top-level)");
  assert.equal(sel("/%70ayments", "POST"), "payments");
  // ambiguous spellings select every route a reading falls under: a route of their own requiring both
  assert.equal(sel("/payments%2Fx", "POST"), "payments+(top-level)");
  const both = selectRoute(p, { path: "/payments%2Fx", method: "POST" });
  assert.equal(both.allowlist.match(idOf("spiffe://td/pay")), undefined, "not on the top-level allowlist");
  assert.equal(both.allowlist.match(idOf("spiffe://td/top")), undefined, "not on the payments allowlist");
  assert.equal(
    both,
    selectRoute(p, { path: "/payments%2fx", method: "POST" }),
    "the same combination is the same object (decide memoises by it)",
  );
  assert.equal(selectRoute(p, { path: "/x", method: "GET" }).allowlist, p.allowlist);
});

test("routes without match conditions are chosen by name only, never by falling through", () => {
  const p = compilePolicy(
    parseConfig({
      allowlist: { exact: ["spiffe://td/top"] },
      routes: [
        { name: "by-name", allowlist: { exact: ["spiffe://td/named"] } },
        { name: "everything-get", match: { methods: ["GET"] }, allowlist: { exact: ["spiffe://td/get"] } },
      ],
    }),
  );
  assert.equal(selectRoute(p, { path: "/x", method: "POST" }).route, undefined);
  assert.equal(selectRoute(p, { path: "/x", method: "GET" }).route?.name, "everything-get");
  assert.equal(selectRoute(p, { path: "/x", method: "POST", routeName: "by-name" }).route?.name, "by-name");
});

test("normalizePath and pathHasPrefix", () => {
  assert.equal(normalizePath("/a/./b/../c"), "/a/c");
  assert.equal(normalizePath("/a/b/.."), "/a/");
  assert.equal(normalizePath("/../../x"), "/x");
  assert.equal(normalizePath("a//b?x#y"), "/a/b");
  assert.equal(normalizePath("/%2e%2E/x"), "/x");
  assert.equal(normalizePath("/a%2fb"), "/a%2Fb");
  assert.ok(pathHasPrefix("/a", "/"));
  assert.ok(pathHasPrefix("/a/b", "/a"));
  assert.ok(!pathHasPrefix("/ab", "/a"));
});

test("jwt.enabled needs an audience: without one every JWT-SVID would be refused, so the config is", () => {
  configError(
    () => compilePolicy(parseConfig({ allowlist: { exact: ["spiffe://example.org/a"] }, jwt: { enabled: true } })),
    /^config: jwt\.audiences: must name at least one audience when jwt\.enabled is true$/,
  );
  const ok = compilePolicy(
    parseConfig({ allowlist: { exact: ["spiffe://example.org/a"] }, jwt: { enabled: true, audiences: ["api"] } }),
  );
  assert.equal(ok.config.jwt.enabled, true);
  // Disabled, no audience is needed.
  compilePolicy(parseConfig({ allowlist: { exact: ["spiffe://example.org/a"] }, jwt: { enabled: false } }));
});
