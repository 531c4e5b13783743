// enforcement: dry-run in decide(): every request passes (200) carrying the verdict enforcement would have given;
// identity headers only for a verified identity, spoofable ones always removed; per route, and never shared
// with an enforced decision for the same credential.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decide } from "../../src/engine/decide.js";
import { ChainCache } from "../../src/engine/chain-cache.js";
import { isShared, type Decision } from "../../src/engine/contract.js";
import { NOW, bareRequest, policyOf, sharedCas, snapshotOf, xfccRequest } from "../helpers/engine.js";

const ALL_IDENTITY_HEADERS = policyOf({}).identityHeaderNames.slice().sort();
const WEB = "spiffe://example.org/web";
const OTHER = "spiffe://example.org/other";

function passesAs(d: Decision, would: { allow: boolean; status: 200 | 401 | 403 | 503; reason: string }): void {
  assert.equal(d.allow, true, "dry-run never denies");
  assert.equal(d.httpStatus, 200);
  assert.equal(d.grpcCode, 0);
  assert.equal(d.reason, would.reason, d.detail);
  assert.deepEqual(
    { allow: d.dryRun?.allow, status: d.dryRun?.httpStatus },
    { allow: would.allow, status: would.status },
  );
  const set = d.headersToSet.map((h) => h.name.toLowerCase());
  assert.deepEqual([...d.headersToRemove, ...set].sort(), ALL_IDENTITY_HEADERS, "every spoofable header handled");
}

test("dry-run: a verified identity the allowlist refuses passes, with its identity headers; the verdict is 403 not_allowed", async () => {
  const { example } = await sharedCas();
  const other = await example.issueX509Svid(OTHER);
  const policy = policyOf({ enforcement: "dry-run", allowlist: { exact: [WEB] } });
  const d = await decide(xfccRequest(other.pem), policy, snapshotOf([example.x509Bundle()]), NOW);
  passesAs(d, { allow: false, status: 403, reason: "not_allowed" });
  assert.equal(d.identity?.spiffeId, OTHER);
  assert.deepEqual(d.headersToSet.map((h) => [h.name, h.value]).slice(0, 2), [
    ["X-SPIFFE-Id", OTHER],
    ["X-SPIFFE-Trust-Domain", "example.org"],
  ]);
  // Enforced, the same request is a 403 and carries no verdict field at all.
  const enforced = await decide(
    xfccRequest(other.pem),
    policyOf({ allowlist: { exact: [WEB] } }),
    snapshotOf([example.x509Bundle()]),
    NOW,
  );
  assert.equal(enforced.httpStatus, 403);
  assert.equal("dryRun" in enforced, false);
});

test("dry-run: a missing, untrusted or unverifiable credential passes with no identity headers, every spoofable one removed", async () => {
  const { example, evil } = await sharedCas();
  const policy = policyOf({ enforcement: "dry-run", allowlist: { exact: [WEB] } });
  const snap = snapshotOf([example.x509Bundle()]);
  const spoof = { "x-spiffe-id": WEB };
  const cases: Array<[Decision, string]> = [
    [await decide(bareRequest(spoof), policy, snap, NOW), "no_certificate"],
    [
      await decide(xfccRequest((await evil.issueX509Svid("spiffe://example.org.evil.com/web")).pem), policy, snap, NOW),
      "unknown_trust_domain",
    ],
    [
      await decide(xfccRequest("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), policy, snap, NOW),
      "malformed_certificate",
    ],
  ];
  for (const [d, reason] of cases) {
    passesAs(d, { allow: false, status: 401, reason });
    assert.deepEqual(d.headersToSet, [], reason);
    assert.equal(d.identity, undefined);
    assert.deepEqual([...d.headersToRemove].sort(), ALL_IDENTITY_HEADERS);
  }
});

test("dry-run: SPIRE unavailable under fail_closed is a would-be 503 that passes without identity; fail_open stays a would-be allow", async () => {
  const { example, other } = await sharedCas();
  const svid = await other.issueX509Svid("spiffe://other.org/x");
  const snap = snapshotOf([example.x509Bundle()], { spireAvailable: false });
  const closed = await decide(xfccRequest(svid.pem), policyOf({ enforcement: "dry-run" }), snap, NOW);
  passesAs(closed, { allow: false, status: 503, reason: "spire_unavailable" });
  assert.deepEqual(closed.headersToSet, []);
  const open = await decide(
    xfccRequest(svid.pem),
    policyOf({ enforcement: "dry-run", failure: { "spire-unavailable": "fail_open" } }),
    snap,
    NOW,
  );
  passesAs(open, { allow: true, status: 200, reason: "fail_open" });
});

test("dry-run per route: only that route passes what it would deny; other routes, the top level and unknown names stay enforced", async () => {
  const { example } = await sharedCas();
  const other = (await example.issueX509Svid(OTHER)).pem;
  const policy = policyOf({
    allowlist: { exact: [WEB] },
    routes: [
      { name: "canary", match: { "path-prefix": "/canary" }, allowlist: { exact: [WEB] }, enforcement: "dry-run" },
      { name: "pay", match: { "path-prefix": "/pay" }, allowlist: { exact: [WEB] } },
    ],
  });
  assert.deepEqual(policy.dryRunScopes, ["canary"]);
  assert.ok(policy.warnings.some((w) => w.startsWith("enforcement dry-run: requests are not denied (routes: canary)")));
  const snap = snapshotOf([example.x509Bundle()]);
  const at = (path: string, routeName?: string) =>
    decide(xfccRequest(other, { path, ...(routeName ? { routeName } : {}) }), policy, snap, NOW);
  passesAs(await at("/canary/x"), { allow: false, status: 403, reason: "not_allowed" });
  passesAs(await at("/", "canary"), { allow: false, status: 403, reason: "not_allowed" });
  for (const d of [await at("/pay/x"), await at("/elsewhere"), await at("/", "nosuch")]) {
    assert.equal(d.allow, false);
    assert.equal(d.httpStatus, 403);
    assert.equal(d.dryRun, undefined);
  }
  // A path that reads as both canary and pay must satisfy pay, which enforces.
  const both = await at("/canary/..%2Fpay/x");
  assert.equal(both.httpStatus, 403);
  assert.equal(both.dryRun, undefined);
  assert.match(both.route ?? "", /canary\+pay|pay\+canary/);
});

test("dry-run everywhere: an unknown route name passes as a would-be 403 only when the top level and every route are dry-run", async () => {
  const { example } = await sharedCas();
  const web = (await example.issueX509Svid(WEB)).pem;
  const policy = policyOf({
    enforcement: "dry-run",
    allowlist: { exact: [OTHER] },
    routes: [
      { name: "canary", match: { "path-prefix": "/canary" } }, // the top level's dry-run
      { name: "beta", match: { "path-prefix": "/beta" }, enforcement: "dry-run" },
    ],
  });
  assert.equal(policy.allDryRun, true);
  assert.deepEqual(policy.dryRunScopes, ["(top-level)", "canary", "beta"]);
  const snap = snapshotOf([example.x509Bundle()]);
  passesAs(await decide(xfccRequest(web, { routeName: "nosuch" }), policy, snap, NOW), {
    allow: false,
    status: 403,
    reason: "unknown_route",
  });
});

test("dry-run at the top level with enforced routes: a mistyped route name is denied 403 unknown_route, not passed", async () => {
  const { example } = await sharedCas();
  const web = (await example.issueX509Svid(WEB)).pem;
  const policy = policyOf({
    enforcement: "dry-run",
    allowlist: { exact: [WEB] },
    routes: [
      { name: "payments", match: { "path-prefix": "/payments" }, allowlist: { exact: [WEB] }, enforcement: "enforce" },
      { name: "admin", match: { "path-prefix": "/admin" }, allowlist: { exact: [OTHER] }, enforcement: "enforce" },
    ],
  });
  assert.equal(policy.dryRun, true);
  assert.equal(policy.allDryRun, false);
  assert.deepEqual(policy.dryRunScopes, ["(top-level)"]);
  const snap = snapshotOf([example.x509Bundle()]);
  const typo = await decide(xfccRequest(web, { routeName: "payment" }), policy, snap, NOW);
  assert.equal(typo.allow, false);
  assert.equal(typo.httpStatus, 403);
  assert.equal(typo.reason, "unknown_route");
  assert.equal(typo.dryRun, undefined);
  assert.deepEqual(typo.headersToSet, []);
  // The routes that are named enforce; a request no route names stays under the top level's dry-run.
  const admin = await decide(xfccRequest(web, { path: "/admin" }), policy, snap, NOW);
  assert.equal(admin.httpStatus, 403);
  assert.equal(admin.dryRun, undefined);
  const elsewhere = await decide(
    xfccRequest((await example.issueX509Svid(OTHER)).pem, { path: "/x" }),
    policy,
    snap,
    NOW,
  );
  passesAs(elsewhere, { allow: false, status: 403, reason: "not_allowed" });
  // One enforced route among dry-run ones is enough to keep unknown names enforced.
  const mixed = policyOf({
    enforcement: "dry-run",
    routes: [
      { name: "canary", match: { "path-prefix": "/canary" } },
      { name: "admin", match: { "path-prefix": "/admin" }, enforcement: "enforce" },
    ],
  });
  const d = await decide(xfccRequest(web, { routeName: "nosuch" }), mixed, snap, NOW);
  assert.equal(d.httpStatus, 403);
  assert.equal(d.dryRun, undefined);
});

test("shared decisions: the same credential gets the dry-run answer on the dry-run route and the enforced one elsewhere, each stable", async () => {
  const { example } = await sharedCas();
  const other = (await example.issueX509Svid(OTHER)).pem;
  const policy = policyOf({
    allowlist: { exact: [WEB] },
    routes: [{ name: "canary", match: { "path-prefix": "/canary" }, enforcement: "dry-run" }],
  });
  const snap = snapshotOf([example.x509Bundle()]);
  const cache = new ChainCache();
  const at = (path: string) => decide(xfccRequest(other, { path }), policy, snap, NOW, cache) as Decision;
  at("/warm"); // the first verification fills the cache; later requests take the shared-decision path
  const dry1 = at("/canary/a");
  const enforced1 = at("/x");
  const dry2 = at("/canary/b");
  const enforced2 = at("/y");
  assert.ok(isShared(dry1) && isShared(enforced1));
  assert.equal(dry1.allow, true);
  assert.equal(dry1.dryRun?.allow, false);
  assert.equal(enforced1.allow, false);
  assert.equal(enforced1.dryRun, undefined);
  assert.notEqual(dry1, enforced1);
  // Interleaving does not hand one route's decision to the other (the memo keeps one per route; both stay right).
  assert.equal(dry2.allow, true);
  assert.equal(enforced2.allow, false);
  assert.ok(Object.isFrozen(dry1.dryRun));
});

test("dry-run: validation-failure log_and_allow still shapes the verdict (a would-be allow without identity)", async () => {
  const policy = policyOf({ enforcement: "dry-run", failure: { "validation-failure": "log_and_allow" } });
  const d = await decide(bareRequest(), policy, snapshotOf([]), NOW);
  passesAs(d, { allow: true, status: 200, reason: "log_and_allow" });
  assert.deepEqual(d.headersToSet, []);
});
