// The hot path: a cached chain remembers its last decision. It must only ever be reused for the same policy
// object, route, clock second and trust generation, and nobody may change it once shared.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decide } from "../../src/engine/decide.js";
import { ChainCache } from "../../src/engine/chain-cache.js";
import type { Decision } from "../../src/engine/contract.js";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { policyOf, sharedCas, snapshotOf, sourceCertRequest, xfccRequest } from "../helpers/engine.js";

// 100 ms into a whole second, a little after the certificates below are issued (they are valid from "now").
const T0 = new Date((Math.floor(Date.now() / 1000) + 2) * 1000 + 100);
const sameSecond = new Date(T0.getTime() + 800);
const nextSecond = new Date(T0.getTime() + 1000);

/** decide() for an X.509 credential answers synchronously: no promise on the hot path. */
function decideSync(...args: Parameters<typeof decide>): Decision {
  const d = decide(...args);
  assert.ok(!(d instanceof Promise), "X.509 decisions are synchronous");
  return d;
}

test("a warm chain gets the same frozen decision back within one second, for the same policy and route", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/services/web");
  const policy = policyOf({ allowlist: { prefix: ["spiffe://example.org/services"] } });
  const snap = snapshotOf([example.x509Bundle()]);
  const cache = new ChainCache();
  const req = () => sourceCertRequest(svid.pem);

  const first = decideSync(req(), policy, snap, T0, cache); // miss: verified and cached, not memoized
  assert.equal(first.allow, true);
  const warm = decideSync(req(), policy, snap, T0, cache);
  assert.deepEqual(warm, first, "the memoized decision says the same as a full one");
  assert.ok(
    Object.isFrozen(warm) &&
      Object.isFrozen(warm.headersToSet) &&
      Object.isFrozen(warm.headersToRemove) &&
      Object.isFrozen(warm.headersToSet[0]),
  );
  assert.equal(decideSync(req(), policy, snap, sameSecond, cache), warm, "same second: the very same object");
  assert.throws(() => {
    (warm.headersToSet as Array<{ name: string; value: string }>).push({ name: "x", value: "y" });
  }, TypeError);

  const later = decideSync(req(), policy, snap, nextSecond, cache);
  assert.notEqual(later, warm);
  const ts = (d: Decision) => d.headersToSet.find((h) => h.name === "X-Auth-Timestamp")?.value;
  assert.equal(ts(later), String(Math.floor(nextSecond.getTime() / 1000)), "a new second carries a new auth timestamp");
});

test("a new policy object never sees the old policy's memoized answer, even for a warm chain", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/services/web");
  const snap = snapshotOf([example.x509Bundle()]);
  const cache = new ChainCache();
  const allowing = policyOf({ allowlist: { prefix: ["spiffe://example.org/services"] } });
  const denying = policyOf({ allowlist: { exact: ["spiffe://example.org/other"] } });
  for (let i = 0; i < 3; i++) assert.equal(decideSync(xfccRequest(svid.pem), allowing, snap, T0, cache).allow, true);
  const d = decideSync(xfccRequest(svid.pem), denying, snap, T0, cache);
  assert.equal(d.allow, false);
  assert.equal(d.reason, "not_allowed");
  assert.equal(cache.stats().hits >= 3, true, "the verification itself was reused");
  // and back: each policy gets its own answer
  assert.equal(decideSync(xfccRequest(svid.pem), allowing, snap, T0, cache).allow, true);
});

test("two routes with different allowlists give different answers for the same warm chain in the same second", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/services/web");
  const snap = snapshotOf([example.x509Bundle()]);
  const cache = new ChainCache();
  const policy = policyOf({
    allowlist: { exact: ["spiffe://example.org/nobody"] },
    routes: [
      { name: "open", match: { "path-prefix": "/open" }, allowlist: { prefix: ["spiffe://example.org/services"] } },
      { name: "closed", match: { "path-prefix": "/closed" }, allowlist: { exact: ["spiffe://example.org/admin"] } },
    ],
  });
  const at = (path: string) => decideSync(xfccRequest(svid.pem, { path }), policy, snap, T0, cache);
  for (let i = 0; i < 2; i++) {
    assert.deepEqual([at("/open/a").allow, at("/closed/a").allow, at("/other").allow], [true, false, false]);
    assert.equal(at("/open/b").route, "open");
    assert.equal(at("/closed/b").route, "closed");
  }
});

test("a trust rotation (new generation) drops the memo with the verification: the chain is verified again", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/services/web");
  const policy = policyOf({ allowlist: { prefix: ["spiffe://example.org/services"] } });
  const cache = new ChainCache();
  const before = snapshotOf([example.x509Bundle()], { generation: 1 });
  for (let i = 0; i < 3; i++) assert.equal(decideSync(xfccRequest(svid.pem), policy, before, T0, cache).allow, true);
  // example.org now trusts another root only: the old chain must fail, memo or not.
  const rotated = await DevCertificateAuthority.createRoot("example.org");
  const after = snapshotOf([rotated.x509Bundle()], { generation: 2 });
  const d = decideSync(xfccRequest(svid.pem), policy, after, T0, cache);
  assert.equal(d.allow, false);
  assert.equal(d.reason, "untrusted");
});
