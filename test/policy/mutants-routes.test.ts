// Mutation-testing survivors in src/policy/policy.ts (bench/mutation-survivors.md): a path ambiguous between
// routes selects all of them, but only refusals were ever asserted. An identity on every selected list must be
// allowed, and two ambiguous paths that select different routes must never share one memoised selection.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { compilePolicy, selectRoute } from "../../src/policy/index.js";

function idOf(s: string) {
  const m = /^spiffe:\/\/([^/]+)(.*)$/.exec(s);
  if (!m) throw new Error(s);
  return { spiffeId: s, trustDomain: m[1]!, path: m[2]! };
}

const policy = compilePolicy(
  parseConfig({
    allowlist: { exact: ["spiffe://example.org/both", "spiffe://example.org/top"] },
    routes: [
      { name: "a", match: { "path-prefix": "/a" }, allowlist: { exact: ["spiffe://example.org/both"] } },
      { name: "b", match: { "path-prefix": "/b" }, allowlist: { exact: ["spiffe://example.org/b-only"] } },
    ],
  }),
);
const allowed = (path: string, id: string) =>
  selectRoute(policy, { path, method: "GET" }).allowlist.match(idOf(`spiffe://example.org/${id}`)) !== undefined;

test("a path read as two routes is allowed for an identity on both lists, refused for one on only one", () => {
  // `//a/x` is /a/x, or /x to a parser that takes `//a` for a host: route a and the top level.
  assert.equal(selectRoute(policy, { path: "//a/x", method: "GET" }).route?.name, "a+(top-level)");
  assert.equal(allowed("//a/x", "both"), true);
  assert.equal(allowed("//a/x", "top"), false, "not on route a's list");
  assert.equal(allowed("/a/x", "both"), true);
});

test("two ambiguous paths that select different routes get different selections, whatever was asked first", () => {
  for (const order of [
    ["//a/x", "//b/x"],
    ["//b/x", "//a/x"],
  ]) {
    const fresh = compilePolicy(policy.config);
    const sel = order.map((path) => selectRoute(fresh, { path, method: "GET" }));
    const names = sel.map((s) => s.route?.name);
    assert.deepEqual(
      names,
      order.map((p) => (p.startsWith("//a") ? "a+(top-level)" : "b+(top-level)")),
    );
    const both = idOf("spiffe://example.org/both");
    assert.deepEqual(
      sel.map((s) => s.allowlist.match(both) !== undefined),
      order.map((p) => p.startsWith("//a")),
      "only route a and the top level both list spiffe://example.org/both",
    );
    // The same set of routes, however reached, is the same memoised selection.
    assert.equal(selectRoute(fresh, { path: order[0]!, method: "GET" }), sel[0]);
  }
});

test("more spellings an upstream reads as /payments select its route: a host-like first segment, parameters before or inside it", () => {
  const p = compilePolicy(
    parseConfig({
      allowlist: { exact: ["spiffe://example.org/frontend"] },
      routes: [
        {
          name: "payments",
          match: { "path-prefix": "/payments" },
          allowlist: { exact: ["spiffe://example.org/checkout"] },
        },
      ],
    }),
  );
  for (const path of ["//evil/payments/x", "/;v=1/payments", "/payments;v=1/x", "/a;b/../payments"]) {
    const sel = selectRoute(p, { path, method: "GET" });
    assert.ok(sel.route?.name.split("+").includes("payments"), `${path} selects ${sel.route?.name ?? "(top-level)"}`);
    assert.equal(sel.allowlist.match(idOf("spiffe://example.org/frontend")), undefined, path);
  }
  // Not every path is ambiguous: these stay on the top level.
  for (const path of ["/api/payments", "/paymentsx", "/api?next=/payments", "//payments-archive/x"]) {
    assert.equal(selectRoute(p, { path, method: "GET" }).route, undefined, path);
  }
});
