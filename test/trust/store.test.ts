import { test } from "node:test";
import assert from "node:assert/strict";
import { DevCertificateAuthority, DevJwtAuthority } from "../../src/dev-ca/index.js";
import { TrustStore } from "../../src/trust/store.js";

test("losing only the JWT stream drops SPIRE's JWT keys under fail_closed, keeps them for cache-ttl under cache", async () => {
  const ca = await DevCertificateAuthority.createRoot("example.org");
  const jwt = await DevJwtAuthority.create("example.org");
  let now = 1_000_000;
  for (const [policy, keptAfterLoss] of [["fail_closed", false], ["cache", true]] as const) {
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
