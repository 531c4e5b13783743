// Route selection (src/policy/route-selection.ts) for a path too long to read every way: every route with match
// rules applies, plus the top level, and none that only the proxy can name. Up to the limit a path is read as
// usual. Before this file only refusals of long paths were tested (routes-and-headers.test.ts), so a selection
// that refused everyone, or one that let a name-only route join, went unnoticed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../src/config/load.js";
import { compilePolicy, selectRoute } from "../../src/policy/index.js";
import { MAX_READ_PATH_LENGTH } from "../../src/policy/route-selection.js";

const id = (p: string) => ({ spiffeId: `spiffe://example.org${p}`, trustDomain: "example.org", path: p });

const policy = compilePolicy(
  parseConfig({
    allowlist: { exact: ["spiffe://example.org/all", "spiffe://example.org/top"] },
    routes: [
      { name: "named-only", allowlist: { exact: ["spiffe://example.org/other"] } },
      { name: "pay", match: { "path-prefix": "/payments" }, allowlist: { exact: ["spiffe://example.org/all"] } },
      { name: "writes", match: { methods: ["DELETE"] }, allowlist: { exact: ["spiffe://example.org/all"] } },
    ],
  }),
);

function pathOf(length: number): string {
  const p = "/api/" + "a".repeat(length - 5);
  assert.equal(p.length, length);
  return p;
}

test("a path over the limit needs every route with match rules and the top level; a name-only route never joins", () => {
  const sel = selectRoute(policy, { path: pathOf(MAX_READ_PATH_LENGTH + 1), method: "GET" });
  assert.equal(sel.route?.name, "pay+writes+(top-level)");
  assert.ok(sel.allowlist.match(id("/all")), "an identity on every list is allowed");
  assert.equal(sel.allowlist.match(id("/top")), undefined, "on the top-level list only");
  assert.equal(sel.allowlist.match(id("/other")), undefined, "on the name-only route's list only");
});

test("a path of exactly the limit is read as usual: the top level alone", () => {
  const sel = selectRoute(policy, { path: pathOf(MAX_READ_PATH_LENGTH), method: "GET" });
  assert.equal(sel.route, undefined);
  assert.ok(sel.allowlist.match(id("/top")));
});

test("without routes a long path goes to the top level, and a named route wins over the path", () => {
  const flat = compilePolicy(parseConfig({ allowlist: { exact: ["spiffe://example.org/top"] } }));
  const sel = selectRoute(flat, { path: pathOf(MAX_READ_PATH_LENGTH + 1), method: "GET" });
  assert.equal(sel.route, undefined);
  assert.ok(sel.allowlist.match(id("/top")));
  const named = selectRoute(policy, { routeName: "named-only", path: pathOf(MAX_READ_PATH_LENGTH + 1), method: "GET" });
  assert.equal(named.route?.name, "named-only");
});

test("a combined selection is dry-run only when every route in it is: one enforced route enforces", () => {
  const mixed = compilePolicy(
    parseConfig({
      allowlist: { exact: ["spiffe://example.org/all"] },
      routes: [
        {
          name: "trial",
          match: { "path-prefix": "/trial" },
          enforcement: "dry-run",
          allowlist: { exact: ["spiffe://example.org/all"] },
        },
        { name: "pay", match: { "path-prefix": "/payments" }, allowlist: { exact: ["spiffe://example.org/all"] } },
      ],
    }),
  );
  const long = selectRoute(mixed, { path: pathOf(MAX_READ_PATH_LENGTH + 1), method: "GET" });
  assert.equal(long.route?.name, "trial+pay+(top-level)");
  assert.equal(long.route?.dryRun, false, "the enforced routes must not be put in dry-run by the trial route");
  const trialOrTop = selectRoute(mixed, { path: "//trial/x", method: "GET" });
  assert.equal(trialOrTop.route?.name, "trial+(top-level)");
  assert.equal(trialOrTop.route?.dryRun, false, "the top level is enforced");

  const allTrial = compilePolicy(parseConfig({ ...mixed.config, enforcement: "dry-run" }));
  assert.equal(selectRoute(allTrial, { path: "//trial/x", method: "GET" }).route?.dryRun, true);
});

test("a combination is named in config order whatever reading found it first", () => {
  // The first reading (/x/..%2Fpayments, %2F kept) is top-level; the decoded one (/payments) is route pay.
  assert.equal(selectRoute(policy, { path: "/x/..%2Fpayments", method: "GET" }).route?.name, "pay+(top-level)");
});

test("method-override values are trimmed and upper-cased before they select a route", () => {
  const headers = new Map([["x-http-method-override", " delete "]]);
  assert.equal(selectRoute(policy, { path: "/api", method: "POST", headers }).route?.name, "writes+(top-level)");
});
