import { test } from "node:test";
import assert from "node:assert/strict";
import { DevCertificateAuthority, DevJwtAuthority } from "../../src/dev-ca/index.js";
import { TrustStore } from "../../src/trust/store.js";

test("losing only the JWT stream drops SPIRE's JWT keys under fail_closed, keeps them for cache-ttl under cache", async () => {
  const ca = await DevCertificateAuthority.createRoot("example.org");
  const jwt = await DevJwtAuthority.create("example.org");
  let now = 1_000_000;
  for (const [policy, keptAfterLoss] of [
    ["fail_closed", false],
    ["cache", true],
  ] as const) {
    const store = new TrustStore(policy, 60, true, () => now);
    store.setSpireX509([ca.x509Bundle()]);
    store.setSpireJwt([jwt.jwtBundle()]);
    assert.ok(store.current().bundles.jwtBundle("example.org"));
    store.setSpireJwtConnected(false);
    assert.equal(store.current().bundles.jwtBundle("example.org") !== undefined, keptAfterLoss, policy);
    assert.ok(store.current().bundles.x509Bundle("example.org"), "X.509 stream still up: its bundle stays");
    assert.equal(store.current().spireAvailable, true);
    now += 61_000;
    store.setSpireX509([ca.x509Bundle()]); // any rebuild re-evaluates the ttl
    assert.equal(store.current().bundles.jwtBundle("example.org"), undefined, `${policy} after cache-ttl`);
    store.close();
  }
});

test("a very long cache-ttl does not overflow the expiry timer into a rebuild loop", async () => {
  const ca = await DevCertificateAuthority.createRoot("example.org");
  const store = new TrustStore("cache", 31_536_000);
  store.setSpireX509([ca.x509Bundle()]);
  store.setSpireConnected(false);
  const gen = store.current().generation;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(store.current().generation, gen, "no rebuilds while waiting for a year-long ttl");
  assert.ok(store.current().bundles.x509Bundle("example.org"));
  store.close();
});

// ---- failure policy, merge, generations, readiness (injected clock) ------------------------------------------

async function fixtures() {
  const spireRoot = await DevCertificateAuthority.createRoot("example.org");
  const fileRoot = await DevCertificateAuthority.createRoot("example.org");
  const partner = await DevCertificateAuthority.createRoot("partner.org");
  return { spireRoot, fileRoot, partner };
}

test("before SPIRE's first bundle: spireAvailable=false; ready only under fail_open or with a static bundle; an empty map counts as delivered", async () => {
  const { partner } = await fixtures();
  for (const policy of ["fail_closed", "cache", "fail_open"] as const) {
    const store = new TrustStore(policy, 60);
    assert.equal(store.current().spireAvailable, false, policy);
    assert.equal(store.ready(), policy === "fail_open", policy);
    store.setSpireX509([]);
    assert.equal(store.ready(), true, `${policy}: empty map is a delivery`);
    assert.equal(store.current().spireAvailable, true);
    store.close();
  }
  const withFile = new TrustStore("fail_closed", 60);
  withFile.setStatic("file:0", [partner.x509Bundle()]);
  assert.equal(withFile.ready(), true);
  assert.equal(withFile.current().spireAvailable, false, "a static bundle does not make SPIRE available");
  withFile.close();
  const noSpire = new TrustStore("fail_closed", 60, false);
  assert.equal(noSpire.current().spireAvailable, true, "no Workload API configured: never 'unavailable'");
  noSpire.close();
});

test("fail_closed and fail_open: Workload API lost → SPIRE bundles stop counting at once, static ones still count", async () => {
  const { spireRoot, partner } = await fixtures();
  for (const policy of ["fail_closed", "fail_open"] as const) {
    const store = new TrustStore(policy, 3600);
    store.setStatic("file:0", [partner.x509Bundle()]);
    store.setSpireX509([spireRoot.x509Bundle()]);
    assert.ok(store.current().bundles.x509Bundle("example.org"));
    store.setSpireConnected(false);
    assert.equal(store.current().spireAvailable, false, policy);
    assert.equal(store.current().bundles.x509Bundle("example.org"), undefined, policy);
    assert.ok(store.current().bundles.x509Bundle("partner.org"), `${policy}: static bundle kept`);
    assert.equal(store.ready(), true, "decisions still possible; health shows degraded");
    assert.equal(store.workloadApiConnected, false);
    store.setSpireX509([spireRoot.x509Bundle()]);
    assert.equal(store.current().spireAvailable, true, "a message after reconnecting restores it");
    store.close();
  }
});

test("cache: the last SPIRE bundles serve for cache-ttl after the loss (spireAvailable stays true), then as fail_closed", async () => {
  const { spireRoot } = await fixtures();
  let now = 5_000_000;
  const store = new TrustStore("cache", 10, true, () => now);
  store.setSpireX509([spireRoot.x509Bundle()]);
  store.setSpireConnected(false);
  now += 9_999;
  store.refresh();
  assert.equal(store.current().spireAvailable, true);
  assert.ok(store.current().bundles.x509Bundle("example.org"));
  now += 1;
  store.refresh();
  assert.equal(store.current().spireAvailable, false);
  assert.equal(store.current().bundles.x509Bundle("example.org"), undefined);
  // Switching policy at run time re-evaluates at once.
  const live = new TrustStore("cache", 3600, true, () => now);
  live.setSpireX509([spireRoot.x509Bundle()]);
  live.setSpireConnected(false);
  assert.equal(live.current().spireAvailable, true);
  live.setFailurePolicy("fail_closed", 3600);
  assert.equal(live.current().spireAvailable, false);
  store.close();
  live.close();
});

test("cache-ttl expiry happens by itself (timer), and subscribers are told", async () => {
  const { spireRoot } = await fixtures();
  const store = new TrustStore("cache", 0.2);
  store.setSpireX509([spireRoot.x509Bundle()]);
  const seen: boolean[] = [];
  store.onChange((s) => seen.push(s.spireAvailable));
  store.setSpireConnected(false);
  assert.equal(store.current().spireAvailable, true);
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(store.current().spireAvailable, false);
  assert.deepEqual(seen, [false]);
  store.close();
});

test("same trust domain from SPIRE and a static file: union of roots; each source's removal leaves the other", async () => {
  const { spireRoot, fileRoot } = await fixtures();
  const store = new TrustStore("fail_closed", 60);
  store.setSpireX509([spireRoot.x509Bundle()]);
  store.setStatic("file:0", [fileRoot.x509Bundle()]);
  const roots = () => store.current().bundles.x509Bundle("example.org")?.authorities ?? [];
  assert.equal(roots().length, 2);
  assert.ok(
    roots().some((c) => c.equals(spireRoot.certificate)) && roots().some((c) => c.equals(fileRoot.certificate)),
  );
  store.setSpireX509([]);
  assert.deepEqual(
    roots().map((c) => c.sha256Hex()),
    [fileRoot.certificate.sha256Hex()],
  );
  store.setSpireX509([spireRoot.x509Bundle()]);
  store.removeStatic("file:0");
  assert.deepEqual(
    roots().map((c) => c.sha256Hex()),
    [spireRoot.certificate.sha256Hex()],
  );
  // The same root from both sources is one root.
  store.setStatic("file:0", [spireRoot.x509Bundle()]);
  assert.equal(roots().length, 1);
  store.close();
});

test("generation increases on every real change and only then; subscribers see each new snapshot", async () => {
  const { spireRoot, partner } = await fixtures();
  const store = new TrustStore("fail_closed", 60);
  const seen: number[] = [];
  store.onChange((s) => seen.push(s.generation));
  store.setSpireX509([spireRoot.x509Bundle()]);
  const g1 = store.current().generation;
  const snap = store.current();
  store.setSpireX509([spireRoot.x509Bundle()]); // re-sent (a resync): same content
  assert.equal(store.current(), snap, "identical message keeps the snapshot (and verified-chain caches)");
  store.setSpireX509([spireRoot.x509Bundle(), partner.x509Bundle()]);
  assert.equal(store.current().generation, g1 + 1);
  store.setSpireConnected(false);
  assert.equal(store.current().generation, g1 + 2);
  assert.deepEqual(seen, [g1, g1 + 1, g1 + 2]);
  assert.ok(Object.isFrozen(store.current()), "snapshots are immutable");
  store.close();
});

test("bundle ages: one entry per trust domain in the snapshot, dated by its freshest source", async () => {
  const { spireRoot, partner } = await fixtures();
  let now = 1_000_000;
  const store = new TrustStore("fail_closed", 60, true, () => now);
  store.setStatic("file:0", [partner.x509Bundle()]);
  now += 1000;
  store.setSpireX509([spireRoot.x509Bundle(), partner.x509Bundle()]);
  const ages = () => Object.fromEntries([...store.bundleAges()].map((a) => [a.trustDomain, a.updatedAt.getTime()]));
  assert.deepEqual(ages(), { "example.org": 1_001_000, "partner.org": 1_001_000 });
  now += 1000;
  store.setSpireX509([spireRoot.x509Bundle()]);
  assert.deepEqual(
    ages(),
    { "example.org": 1_002_000, "partner.org": 1_000_000 },
    "partner.org now only from the file",
  );
  store.setSpireConnected(false);
  assert.deepEqual(ages(), { "partner.org": 1_000_000 }, "dropped domains are not reported");
  store.close();
});

test("connectivity: workloadApiConnected follows each transition; the JWT stream counts once it delivered", async () => {
  const { spireRoot } = await fixtures();
  const jwt = await DevJwtAuthority.create("example.org");
  const store = new TrustStore("fail_closed", 60);
  const seen: boolean[] = [store.workloadApiConnected];
  store.setSpireX509([spireRoot.x509Bundle()]);
  seen.push(store.workloadApiConnected);
  assert.equal(store.workloadApiConnected, true, "an agent that never serves JWT bundles is still 'connected'");
  store.setSpireJwt([jwt.jwtBundle()]);
  store.setSpireJwtConnected(false);
  seen.push(store.workloadApiConnected);
  store.setSpireJwt([jwt.jwtBundle()]);
  seen.push(store.workloadApiConnected);
  store.setSpireConnected(false);
  seen.push(store.workloadApiConnected);
  assert.deepEqual(seen, [false, true, false, true, false]);
  // Both streams lost under fail_closed: still ready (the failure policy decides), SPIRE unavailable, no bundles.
  assert.equal(store.ready(), true);
  assert.equal(store.current().spireAvailable, false);
  assert.equal(store.current().bundles.size, 0);
  store.close();
});
