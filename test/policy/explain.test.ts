// Allowlist.explain and explainRoute: the offline answer to "why was this allowed", checked against match()
// and selectRoute(), which stay the judges.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { compileAllowlist, compilePolicy, explainRoute, selectRoute } from "../../src/policy/index.js";

const id = (spiffeId: string) => {
  const u = /^spiffe:\/\/([^/]+)(\/.*)?$/.exec(spiffeId)!;
  return { spiffeId, trustDomain: u[1]!, path: u[2] ?? "" };
};

const list = compileAllowlist(
  {
    exact: ["spiffe://prod.example/web", "spiffe://prod.example/api"],
    prefix: ["spiffe://prod.example/ns/billing", "spiffe://prod.example/ns/payments/"],
    "trust-domains": ["partner.example", "other.example"],
    patterns: ["spiffe://prod\\.example/team-[a-z]+/.*", "spiffe://dev\\.example/.*"],
  },
  "allowlist",
);

test("explain names the entry of each kind that allowed the ID, by key path and as written", () => {
  const cases: Array<[string, string, string]> = [
    ["spiffe://prod.example/api", "exact", "allowlist.exact[1] spiffe://prod.example/api"],
    ["spiffe://prod.example/ns/payments/x", "prefix", "allowlist.prefix[1] spiffe://prod.example/ns/payments/"],
    ["spiffe://prod.example/ns/billing", "prefix", "allowlist.prefix[0] spiffe://prod.example/ns/billing"],
    ["spiffe://other.example/any", "trust-domain", "allowlist.trust-domains[1] other.example"],
    ["spiffe://dev.example/x", "pattern", "allowlist.patterns[1] spiffe://dev\\.example/.*"],
  ];
  for (const [spiffeId, kind, entry] of cases) {
    const e = list.explain(id(spiffeId));
    assert.equal(e.match, kind, spiffeId);
    assert.equal(e.match, list.match(id(spiffeId)), "the same kind match() returns");
    assert.equal(e.entry, entry, spiffeId);
    assert.equal(e.text, `allowed by ${entry}`);
  }
});

test("explain says what was checked when no entry matched, and match() agrees", () => {
  // Strictly below ns/payments/ only; a sibling of a prefix; an unanchored-looking pattern hit.
  for (const spiffeId of [
    "spiffe://prod.example/ns/payments",
    "spiffe://prod.example/ns/billingx",
    "spiffe://prod.example/x/team-a/y",
  ]) {
    const e = list.explain(id(spiffeId));
    assert.equal(e.match, undefined);
    assert.equal(list.match(id(spiffeId)), undefined);
    assert.equal(e.entry, undefined);
    assert.equal(
      e.text,
      `no entry of allowlist matched ${spiffeId}: exact 2, prefix 2, trust-domains 2, patterns 2 checked`,
    );
  }
  const empty = compileAllowlist({ exact: [], prefix: [], "trust-domains": [], patterns: [] }, "routes[3].allowlist");
  assert.deepEqual(empty.explain(id("spiffe://a.example/x")), {
    match: "empty",
    text: "routes[3].allowlist is empty: every verified SPIFFE ID is allowed (authentication only)",
  });
});

const policy = compilePolicy(
  parseConfig({
    allowlist: { exact: ["spiffe://example.org/web"] },
    routes: [
      { name: "payments", match: { "path-prefix": "/payments", methods: ["POST"] }, allowlist: { exact: [] } },
      { name: "admin", match: { "path-prefix": "/admin" }, allowlist: { exact: ["spiffe://example.org/ops"] } },
      { name: "api" },
    ],
  }),
);

test("explainRoute: named, unknown name, path rule, no rule (top level), and readings that disagree", () => {
  assert.deepEqual(explainRoute(policy, { routeName: "api", path: "/", method: "GET" }), {
    how: "named",
    routes: ["api"],
    reasons: ['routes[2] "api" named by the request'],
  });
  const unknown = explainRoute(policy, { routeName: "nope", path: "/admin", method: "GET" });
  assert.equal(unknown.how, "unknown-name");
  assert.deepEqual(unknown.routes, []);
  assert.match(unknown.reasons[0]!, /"nope" named by the request is not in the config: 403 unknown_route/);

  const pay = explainRoute(policy, { path: "/payments/charge", method: "post" });
  assert.deepEqual(pay.routes, ["payments"]);
  assert.deepEqual(pay.reasons, [
    'routes[0] "payments" (path-prefix /payments, methods POST) matches POST /payments/charge',
  ]);

  const none = explainRoute(policy, { path: "/payments/charge", method: "GET" });
  assert.deepEqual(none.routes, ["(top-level)"]);
  assert.deepEqual(none.reasons, [
    "no route's match rule covers GET /payments/charge (2 routes with rules checked): the top-level allowlist",
  ]);

  // %2F: read raw, the path is under no route; decoded, it is under /admin. Both allowlists must allow.
  const split = explainRoute(policy, { path: "/x/..%2Fadmin/users", method: "GET" });
  assert.deepEqual(split.routes, ["admin", "(top-level)"]);
  assert.match(
    split.reasons[0]!,
    /^routes\[1\] "admin" \(path-prefix \/admin\) matches GET \/x\/\.\.%2Fadmin\/users \(path read as \/admin\/users\)$/,
  );
  assert.match(split.reasons.at(-1)!, /every one of them must allow/);
  // The same set selectRoute picks, which is what decide() uses.
  assert.equal(selectRoute(policy, { path: "/x/..%2Fadmin/users", method: "GET" }).route!.name, "admin+(top-level)");
  const folded = explainRoute(policy, { path: "/ADMIN", method: "GET" });
  assert.deepEqual(folded.routes, ["admin", "(top-level)"]);
  assert.match(folded.reasons[0]!, /matches GET \/ADMIN \(case-folded\)$/);
});

test("a combined selection explains every allowlist it requires, the first that denies deciding", () => {
  const sel = selectRoute(policy, { path: "/x/..%2Fadmin/users", method: "GET" });
  assert.equal(sel.allowlist.explain(id("spiffe://example.org/ops")).match, undefined);
  assert.match(sel.allowlist.explain(id("spiffe://example.org/ops")).text, /^no entry of allowlist matched/);
  const both = compilePolicy(
    parseConfig({
      allowlist: { "trust-domains": ["example.org"] },
      routes: [
        { name: "admin", match: { "path-prefix": "/admin" }, allowlist: { exact: ["spiffe://example.org/ops"] } },
      ],
    }),
  );
  const e = selectRoute(both, { path: "/ADMIN", method: "GET" }).allowlist.explain(id("spiffe://example.org/ops"));
  assert.equal(e.match, "exact");
  assert.equal(
    e.text,
    "allowed by routes[0].allowlist.exact[0] spiffe://example.org/ops; and allowed by allowlist.trust-domains[0] example.org",
  );
});

// Every route kind at once: path and methods, a path only, methods only, and one only a proxy can name.
const kinds = compilePolicy(
  parseConfig({
    allowlist: { exact: ["spiffe://example.org/web"] },
    routes: [
      { name: "admin", match: { "path-prefix": "/admin" }, allowlist: { exact: ["spiffe://example.org/ops"] } },
      { name: "writes", match: { methods: ["PUT", "DELETE"] }, allowlist: { exact: ["spiffe://example.org/w"] } },
      { name: "named-only", allowlist: { exact: ["spiffe://example.org/n"] } },
      { name: "x", match: { "path-prefix": "/x" }, allowlist: { exact: ["spiffe://example.org/x"] } },
    ],
  }),
);
/** The route names selectRoute picks ("a+b" for a combined selection), to hold explainRoute to. */
const selected = (p: typeof kinds, req: Parameters<typeof selectRoute>[1]) => {
  const s = selectRoute(p, req);
  return s.route === undefined ? ["(top-level)"] : s.route.name.split("+");
};

test("explainRoute: an empty route name is no name; routes are listed in config order, whatever the readings' order", () => {
  // "" is what Envoy sends when no context extension names a route: routed by path, as selectRoute does.
  const unnamed = explainRoute(kinds, { routeName: "", path: "/admin/users", method: "GET" });
  assert.deepEqual(unnamed, {
    how: "by-path",
    routes: ["admin"],
    reasons: ['routes[0] "admin" (path-prefix /admin) matches GET /admin/users'],
  });
  assert.deepEqual(unnamed.routes, selected(kinds, { routeName: "", path: "/admin/users", method: "GET" }));

  // Read raw the path is under /x (routes[3]), decoded under /admin (routes[0]): found in that order, listed
  // in config order, each with the reading that selected it.
  const req = { path: "/x/..%2Fadmin", method: "GET" };
  const both = explainRoute(kinds, req);
  assert.deepEqual(both, {
    how: "by-path",
    routes: ["admin", "x"],
    reasons: [
      'routes[0] "admin" (path-prefix /admin) matches GET /x/..%2Fadmin (path read as /admin)',
      'routes[3] "x" (path-prefix /x) matches GET /x/..%2Fadmin',
      "several readings select different routes: every one of them must allow",
    ],
  });
  assert.deepEqual(both.routes, selected(kinds, req));
});

test("explainRoute: several methods, a method-override header, and a path read two ways at once", () => {
  const del = { path: "/reports", method: "post", headers: new Map([["x-http-method-override", "delete"]]) };
  const e = explainRoute(kinds, del);
  assert.deepEqual(e, {
    how: "by-path",
    routes: ["writes", "(top-level)"],
    reasons: [
      'routes[1] "writes" (methods PUT,DELETE) matches POST /reports (method read as DELETE)',
      "no route's match rule covers POST /reports (3 routes with rules checked): the top-level allowlist",
      "several readings select different routes: every one of them must allow",
    ],
  });
  assert.deepEqual(e.routes, selected(kinds, del));

  // Decoded and case-folded: both notes, in that order.
  const folded = explainRoute(kinds, { path: "/y/..%2FADMIN", method: "GET" });
  assert.equal(
    folded.reasons[0],
    'routes[0] "admin" (path-prefix /admin) matches GET /y/..%2FADMIN (path read as /ADMIN, case-folded)',
  );
});

test("explainRoute: a config without routes, one route with rules, and a path too long to read every way", () => {
  const bare = compilePolicy(parseConfig({ allowlist: { exact: ["spiffe://example.org/web"] } }));
  assert.deepEqual(explainRoute(bare, { path: "/anything", method: "GET" }), {
    how: "no-routes",
    routes: ["(top-level)"],
    reasons: ["the config has no routes: the top-level allowlist"],
  });

  const one = compilePolicy(
    parseConfig({
      allowlist: { exact: ["spiffe://example.org/web"] },
      routes: [{ name: "pay", match: { "path-prefix": "/pay" }, allowlist: { exact: ["spiffe://example.org/p"] } }],
    }),
  );
  assert.deepEqual(explainRoute(one, { path: "/other", method: "GET" }).reasons, [
    "no route's match rule covers GET /other (1 route with rules checked): the top-level allowlist",
  ]);

  // One byte over the limit: every route with a match rule (not the named-only one), and the top level.
  const long = { path: `/admin/${"a".repeat(8193 - 7)}`, method: "GET" };
  assert.equal(long.path.length, 8193);
  assert.deepEqual(explainRoute(kinds, long), {
    how: "path-too-long",
    routes: ["admin", "writes", "x", "(top-level)"],
    reasons: ["path longer than 8192 bytes: every route with match rules applies, and the top-level allowlist"],
  });
  assert.deepEqual(selected(kinds, long), ["admin", "writes", "x", "(top-level)"]);
  // At the limit it is still read every way.
  const atLimit = { path: `/admin/${"a".repeat(8192 - 7)}`, method: "GET" };
  assert.deepEqual(explainRoute(kinds, atLimit).how, "by-path");
  assert.deepEqual(explainRoute(kinds, atLimit).routes, ["admin"]);
});
