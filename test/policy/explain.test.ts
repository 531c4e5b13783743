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
