// Mutation-testing survivors in src/policy/policy.ts (bench/mutation-survivors.md): the third method-override
// header, a padded entry in an override list, and the exact limit on separators in an identity header name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/config/errors.js";
import { compilePolicy, selectRoute } from "../../src/policy/index.js";

const policy = compilePolicy(
  parseConfig({
    allowlist: { exact: ["spiffe://example.org/web"] },
    routes: [
      {
        name: "reports",
        match: { "path-prefix": "/reports", methods: ["GET"] },
        allowlist: { exact: ["spiffe://example.org/analyst"] },
      },
    ],
  }),
);
const routeOf = (method: string, headers: Record<string, string> = {}) =>
  selectRoute(policy, { path: "/reports/q3", method, headers: new Map(Object.entries(headers)) }).route?.name;

test("every method-override header, and each entry of a padded list, is a method the GET-only route governs", () => {
  assert.equal(routeOf("POST"), undefined, "baseline: POST is not the GET-only route");
  for (const h of ["x-http-method-override", "x-http-method", "x-method-override"]) {
    assert.equal(routeOf("POST", { [h]: "GET" }), "reports+(top-level)", h);
  }
  assert.equal(routeOf("POST", { "x-http-method-override": "PUT, GET" }), "reports+(top-level)", "padded entry");
  assert.equal(routeOf("POST", { "x-http-method-override": " , ,PUT" }), undefined, "empty entries select nothing");
});

test("identity header names may have exactly 6 '-'/'_' separators, not 7", () => {
  const six = "x-a-b-c-d-e-f";
  const p = compilePolicy(parseConfig({ headers: { "spiffe-id": six } }));
  assert.ok(p.identityHeaderNames.includes("x_a_b_c_d_e_f"), "all 2^6 spellings are removed");
  assert.equal(p.identityHeaderNames.filter((n) => n.replace(/_/g, "-") === six).length, 64);
  assert.throws(
    () => compilePolicy(parseConfig({ headers: { "spiffe-id": `${six}-g` } })),
    (e: unknown) => e instanceof ConfigError && /more than 6/.test(e.message),
  );
});
