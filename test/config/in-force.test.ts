// A push measured against the config in force (src/config/in-force.ts) as well as the file: a later push may
// not put back into dry-run what an earlier push ended, whether it says so or just leaves `enforcement` out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.js";
import { openedAllowlists, restartedDryRun } from "../../src/config/in-force.js";
import { ConfigManager } from "../../src/policy/config-manager.js";
import { selectRoute } from "../../src/policy/index.js";
import { silentLogger } from "../../src/log.js";

const PAY = { name: "payments", match: { "path-prefix": "/payments" } };
const ADMIN = { name: "admin", match: { "path-prefix": "/admin" }, allowlist: { exact: ["spiffe://example.org/ops"] } };
const PAY_WITH_ENTRIES = {
  name: "pay",
  match: { "path-prefix": "/pay" },
  allowlist: { exact: ["spiffe://example.org/pay"] },
};
const FILE = {
  zentinel: { "accept-configure": true },
  allowlist: { exact: ["spiffe://example.org/web"] },
  routes: [{ ...PAY, enforcement: "dry-run" }, ADMIN],
};

test("restartedDryRun: names each scope enforced now and dry-run next, inherited enforcement included", () => {
  const cfg = (c: object) => parseConfig(c);
  assert.deepEqual(restartedDryRun(cfg({ routes: [PAY] }), cfg({ routes: [{ ...PAY, enforcement: "dry-run" }] })), [
    'routes["payments"].enforcement',
  ]);
  // The top level back in dry-run takes the routes that inherit it along.
  assert.deepEqual(
    restartedDryRun(
      cfg({ routes: [PAY, { ...ADMIN, enforcement: "enforce" }] }),
      cfg({ enforcement: "dry-run", routes: [PAY, { ...ADMIN, enforcement: "enforce" }] }),
    ),
    ["enforcement", 'routes["payments"].enforcement'],
  );
  // A dry-run route the config in force lacks counts as enforced now.
  assert.deepEqual(restartedDryRun(cfg({}), cfg({ routes: [{ ...PAY, enforcement: "dry-run" }] })), [
    'routes["payments"].enforcement',
  ]);
  // Dry-run staying dry-run, or ending, is no restart.
  const dry = cfg({ enforcement: "dry-run", routes: [PAY] });
  assert.deepEqual(restartedDryRun(dry, dry), []);
  assert.deepEqual(restartedDryRun(dry, cfg({ routes: [PAY] })), []);
});

test("applyPushed: a push that leaves enforcement out may not restart the dry-run an earlier push ended; a file reload may", () => {
  const m = new ConfigManager(parseConfig(FILE), silentLogger(), "file");
  assert.deepEqual(m.applied.policy.dryRunScopes, ["payments"]);
  const end = m.applyPushed(
    JSON.stringify({ routes: [{ ...PAY, enforcement: "enforce" }, ADMIN] }),
    "configure",
    "end",
  );
  assert.equal(end.ok, true, end.ok ? "" : end.error);
  assert.deepEqual(m.applied.policy.dryRunScopes, []);

  // An unrelated allowlist-only push: merged over the file, payments would be dry-run again.
  const r = m.applyPushed(JSON.stringify({ allowlist: { exact: ["spiffe://example.org/api"] } }), "configure", "later");
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.field, 'routes["payments"].enforcement');
  assert.match(!r.ok ? r.error : "", /dry-run would restart where the config in force enforces/);
  assert.equal(m.applied.version, "end");
  assert.deepEqual(m.applied.policy.dryRunScopes, []);

  // Saying enforce again keeps it ended, and the allowlist change goes through.
  const again = m.applyPushed(
    JSON.stringify({
      allowlist: { exact: ["spiffe://example.org/api"] },
      routes: [{ ...PAY, enforcement: "enforce" }, ADMIN],
    }),
    "configure",
    "later2",
  );
  assert.equal(again.ok, true, again.ok ? "" : again.error);
  assert.deepEqual(m.applied.policy.dryRunScopes, []);
  assert.deepEqual(m.applied.config.allowlist.exact, ["spiffe://example.org/api"]);

  // Only the file turns dry-run back on.
  const path = join(mkdtempSync(join(tmpdir(), "cfg-inforce-")), "c.yaml");
  writeFileSync(path, JSON.stringify(FILE));
  const back = m.reloadFile(path);
  assert.equal(back.ok, true, back.ok ? "" : back.error);
  assert.deepEqual(m.applied.policy.dryRunScopes, ["payments"]);
});

test("applyPushed: the top level's dry-run ended by a push stays ended for the pushes after it", () => {
  const m = new ConfigManager(
    parseConfig({ ...FILE, enforcement: "dry-run", routes: [PAY, ADMIN] }),
    silentLogger(),
    "file",
  );
  assert.deepEqual(m.applied.policy.dryRunScopes, ["(top-level)", "payments", "admin"]);
  assert.equal(m.applyPushed(JSON.stringify({ enforcement: "enforce" }), "configure", "end").ok, true);
  const r = m.applyPushed(
    JSON.stringify({ routes: [PAY, { ...ADMIN, allowlist: { exact: ["spiffe://example.org/x"] } }] }),
    "handshake",
  );
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.field, 'enforcement, routes["payments"].enforcement, routes["admin"].enforcement');
  assert.equal(m.applied.version, "end");
  // While the dry-run is still in force, a push that keeps it is no restart.
  const m2 = new ConfigManager(parseConfig(FILE), silentLogger(), "file");
  const kept = m2.applyPushed(JSON.stringify({ allowlist: { exact: ["spiffe://example.org/api"] } }), "configure");
  assert.equal(kept.ok, true, kept.ok ? "" : kept.error);
  assert.deepEqual(m2.applied.policy.dryRunScopes, ["payments"]);
});

// A file cut off mid-write loses its last routes and still parses. A dropped route's requests are then decided by
// whatever else matches them, the top level at least: where that allowlist is empty they are open to every
// verified ID, as surely as if the route's own allowlist had been emptied.
test("openedAllowlists: a route with entries dropped where its requests would fall to an empty allowlist", () => {
  const cfg = (c: object) => parseConfig(c);
  const pay = { name: "pay", match: { "path-prefix": "/pay" }, allowlist: { exact: ["spiffe://example.org/pay"] } };
  const authOnly = cfg({ routes: [pay] }); // the top level authenticates only
  assert.deepEqual(openedAllowlists(authOnly, cfg({})), ['routes["pay"].allowlist']);
  // The top level has entries: the route's requests are decided by those (other entries, as a reload may change).
  const web = { exact: ["spiffe://example.org/web"] };
  assert.deepEqual(openedAllowlists(cfg({ allowlist: web, routes: [pay] }), cfg({ allowlist: web })), []);
  // ... unless another route with an empty allowlist of its own may now take them.
  const open = { name: "open", match: { "path-prefix": "/" }, allowlist: {} };
  assert.deepEqual(
    openedAllowlists(cfg({ allowlist: web, routes: [pay, open] }), cfg({ allowlist: web, routes: [open] })),
    ['routes["pay"].allowlist'],
  );
  // A route only a proxy names: a request naming it is then an unknown route (403), not a fall-through.
  const named = { name: "named", allowlist: { exact: ["spiffe://example.org/n"] } };
  assert.deepEqual(openedAllowlists(cfg({ routes: [named] }), cfg({})), []);
  // A route that had no entries opens nothing by going.
  assert.deepEqual(openedAllowlists(cfg({ routes: [{ ...pay, allowlist: {} }] }), cfg({})), []);
});

test("reload: a file cut off before its routes is refused where the top level authenticates only", () => {
  const text =
    "tls:\n  require-mtls: true\nroutes:\n  - name: pay\n    match: { path-prefix: /pay }\n    allowlist: { exact: [spiffe://example.org/pay] }\n";
  const path = join(mkdtempSync(join(tmpdir(), "cfg-inforce-")), "c.yaml");
  writeFileSync(path, text);
  const m = new ConfigManager(parseConfig({ routes: [PAY_WITH_ENTRIES] }), silentLogger(), "file");
  assert.equal(m.reloadFile(path).ok, true);
  const before = m.applied;
  writeFileSync(path, text.slice(0, text.indexOf("routes:")));
  assert.deepEqual(m.reloadFile(path), {
    ok: false,
    error:
      'config: routes["pay"].allowlist would become empty (every verified SPIFFE ID allowed); refused on reload, restart to apply',
  });
  assert.equal(m.applied, before);
  assert.equal(selectRoute(m.applied.policy, { path: "/pay/charge", method: "POST" }).route?.name, "pay");
});

test("applyPushed: a later push may not drop a route an earlier push added where its requests would fall to an empty allowlist", () => {
  const m = new ConfigManager(parseConfig({ zentinel: { "accept-configure": true } }), silentLogger(), "file");
  const added = m.applyPushed(JSON.stringify({ routes: [PAY_WITH_ENTRIES] }), "configure", "added");
  assert.equal(added.ok, true, added.ok ? "" : added.error);
  // Leaving routes out gives the file's (none): /pay would fall to the empty top level.
  const r = m.applyPushed(JSON.stringify({ audit: { "log-success": true } }), "configure", "dropped");
  assert.deepEqual(r, {
    ok: false,
    error:
      'config: routes["pay"].allowlist: would become empty (every verified SPIFFE ID allowed); the config in force has entries',
    field: 'routes["pay"].allowlist',
  });
  assert.equal(m.applied.version, "added");
  // With an allowlist of its own for the top level, the same push goes through.
  const top = JSON.stringify({ audit: { "log-success": true }, allowlist: { exact: ["spiffe://example.org/web"] } });
  assert.equal(m.applyPushed(top, "configure", "top").ok, true);
});
