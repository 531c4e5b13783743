// decide() with a ChainCache: failing credentials are remembered, and a remembered failure gives exactly the
// decision a fresh verification gives (status, reason, detail, route, headers, cert info), under whatever
// policy is in force. Time-dependent failures are not remembered past the moment they would change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decide } from "../../src/engine/decide.js";
import { ChainCache } from "../../src/engine/chain-cache.js";
import type { AuthzRequest, Decision } from "../../src/engine/contract.js";
import type { TrustSnapshot } from "../../src/trust/snapshot.js";
import type { Policy } from "../../src/policy/index.js";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { NOW, policyOf, sharedCas, snapshotOf, sourceCertRequest, xfccRequest } from "../helpers/engine.js";

const WEB = "spiffe://example.org/web";

/** decide() with a fresh cache vs. decide() twice with one cache: all three decisions must be deep-equal, and the third must be a remembered one. */
async function sameFreshAndRemembered(
  req: AuthzRequest,
  policy: Policy,
  snapshot: TrustSnapshot,
  now = NOW,
): Promise<Decision> {
  const fresh = await decide(req, policy, snapshot, now);
  const cache = new ChainCache();
  const first = await decide(req, policy, snapshot, now, cache);
  const before = cache.failureStats().hits;
  const again = await decide(req, policy, snapshot, now, cache);
  assert.equal(cache.failureStats().hits, before + 1, `remembered: ${fresh.reason} ${fresh.detail}`);
  assert.deepEqual(first, fresh);
  assert.deepEqual(again, fresh);
  return fresh;
}

test("every kind of X.509 failure: remembered, and the remembered decision equals the fresh one", async () => {
  const { example, other } = await sharedCas();
  const snap = snapshotOf([example.x509Bundle()]);
  const policy = policyOf({
    allowlist: { exact: [WEB] },
    routes: [{ name: "r", match: { "path-prefix": "/" }, allowlist: { exact: [WEB] } }],
  });
  const forged = await example.issueX509Svid("/web", { signingKey: other.keys.privateKey });
  const expired = await example.issueX509Svid("/web", {
    notBefore: new Date(NOW.getTime() - 7200_000),
    notAfter: new Date(NOW.getTime() - 3600_000),
  });
  const noId = await example.issueX509Svid("/web", { uris: [] });
  const ca = await example.issueX509Svid("/web", { isCA: true });
  const foreign = await other.issueX509Svid("/web");
  const cases: Array<[string, AuthzRequest]> = [
    ["malformed_certificate", xfccRequest("not a certificate")],
    [
      "malformed_certificate",
      {
        transport: "envoy",
        headers: new Map([["x-forwarded-client-cert", 'Cert="unterminated']]),
        method: "GET",
        path: "/",
      },
    ],
    ["malformed_certificate", sourceCertRequest("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n")],
    ["untrusted", xfccRequest(forged.pem)],
    ["expired", sourceCertRequest(expired.pem)],
    ["no_spiffe_id", xfccRequest(noId.pem)],
    ["not_a_leaf", xfccRequest(ca.pem)],
    ["unknown_trust_domain", xfccRequest(foreign.pem)],
  ];
  for (const [reason, req] of cases) {
    const d = await sameFreshAndRemembered(req, policy, snap);
    assert.equal(d.reason, reason);
    assert.equal(d.httpStatus, 401);
    assert.equal(d.route, "r");
  }
});

test("the decision is derived at use: spire_unavailable / fail_open, log_and_allow, and a policy change between two requests", async () => {
  const { example, other } = await sharedCas();
  const foreign = await other.issueX509Svid("/web");
  const down = snapshotOf([example.x509Bundle()], { spireAvailable: false });
  assert.equal((await sameFreshAndRemembered(xfccRequest(foreign.pem), policyOf(), down)).reason, "spire_unavailable");
  assert.equal(
    (
      await sameFreshAndRemembered(
        xfccRequest(foreign.pem),
        policyOf({ failure: { "spire-unavailable": "fail_open" } }),
        down,
      )
    ).reason,
    "fail_open",
  );
  const forged = await example.issueX509Svid("/web", { signingKey: other.keys.privateKey });
  const lax = policyOf({ failure: { "validation-failure": "log_and_allow" } });
  assert.equal(
    (await sameFreshAndRemembered(xfccRequest(forged.pem), lax, snapshotOf([example.x509Bundle()]))).reason,
    "log_and_allow",
  );

  // Remembered under one policy, used under another: as a fresh verification under the new one would decide.
  const cache = new ChainCache();
  const snap = snapshotOf([example.x509Bundle()]);
  const strict = policyOf();
  await decide(xfccRequest(forged.pem), lax, snap, NOW, cache);
  const hits = cache.failureStats().hits;
  assert.deepEqual(
    await decide(xfccRequest(forged.pem), strict, snap, NOW, cache),
    await decide(xfccRequest(forged.pem), strict, snap, NOW),
  );
  assert.equal(cache.failureStats().hits, hits + 1);
});

test("include-cert-info: leaf details remembered when asked for; a failure remembered without them is verified afresh when an audit wants them", async () => {
  const { example, other } = await sharedCas();
  const forged = await example.issueX509Svid("/web", { signingKey: other.keys.privateKey });
  const snap = snapshotOf([example.x509Bundle()]);
  const withCert = policyOf({ audit: { "include-cert-info": true } });
  const d = await sameFreshAndRemembered(xfccRequest(forged.pem), withCert, snap);
  assert.equal(d.certInfo?.serial, forged.certificate.serialNumberHex);

  const cache = new ChainCache();
  await decide(xfccRequest(forged.pem), policyOf(), snap, NOW, cache);
  const misses = cache.failureStats().misses;
  const fresh = await decide(xfccRequest(forged.pem), withCert, snap, NOW, cache);
  assert.equal(cache.failureStats().misses, misses + 1, "not used: it lacks the leaf details");
  assert.deepEqual(fresh, await decide(xfccRequest(forged.pem), withCert, snap, NOW));
  assert.deepEqual(
    await decide(xfccRequest(forged.pem), withCert, snap, NOW, cache),
    fresh,
    "and remembered with them now",
  );
});

test("a not-yet-valid certificate is remembered only until its notBefore: at that instant it is allowed", async () => {
  const { example } = await sharedCas();
  const nb = new Date(Math.floor(NOW.getTime() / 1000) * 1000 + 60_000);
  const early = await example.issueX509Svid("/web", { notBefore: nb, notAfter: new Date(nb.getTime() + 3600_000) });
  const req = sourceCertRequest(early.pem);
  const snap = snapshotOf([example.x509Bundle()]);
  const policy = policyOf({ allowlist: { exact: [WEB] } });
  const cache = new ChainCache();
  assert.equal((await decide(req, policy, snap, NOW, cache)).reason, "expired");
  assert.equal((await decide(req, policy, snap, new Date(nb.getTime() - 1), cache)).reason, "expired");
  assert.equal(cache.failureStats().hits, 1, "remembered within its window");
  assert.equal((await decide(req, policy, snap, nb, cache)).reason, "ok");
  // And the other way: an expired one is not remembered for a clock that went back to when it was valid.
  const old = await DevCertificateAuthority.createRoot("example.org", {
    notBefore: new Date(NOW.getTime() - 86400_000),
  });
  const na = new Date(Math.floor(NOW.getTime() / 1000) * 1000 - 60_000);
  const late = await old.issueX509Svid("/web", { notBefore: new Date(na.getTime() - 3600_000), notAfter: na });
  const oldSnap = snapshotOf([old.x509Bundle()]);
  assert.equal((await decide(sourceCertRequest(late.pem), policy, oldSnap, NOW, cache)).reason, "expired");
  assert.equal((await decide(sourceCertRequest(late.pem), policy, oldSnap, na, cache)).reason, "ok");
});

test("a bundle change (new generation) forgets failures: the same bytes verify once their root is trusted", async () => {
  const partner = await DevCertificateAuthority.createRoot("partner.org");
  const { example } = await sharedCas();
  const svid = await partner.issueX509Svid("/api");
  const req = xfccRequest(svid.pem);
  const policy = policyOf({ allowlist: { "trust-domains": ["partner.org"] } });
  const cache = new ChainCache();
  assert.equal(
    (await decide(req, policy, snapshotOf([example.x509Bundle()], { generation: 1 }), NOW, cache)).reason,
    "unknown_trust_domain",
  );
  assert.equal(cache.failureStats().size, 1);
  assert.equal(
    (await decide(req, policy, snapshotOf([example.x509Bundle(), partner.x509Bundle()], { generation: 2 }), NOW, cache))
      .reason,
    "ok",
  );
  assert.equal(cache.failureStats().size, 0);
});

test("the warm path is untouched: a cached success never looks at the failures", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/web");
  const policy = policyOf({ allowlist: { exact: [WEB] } });
  const snap = snapshotOf([example.x509Bundle()]);
  const cache = new ChainCache();
  await decide(xfccRequest(svid.pem), policy, snap, NOW, cache); // miss: one failure lookup, then verified
  const { hits, misses } = cache.failureStats();
  for (let i = 0; i < 5; i++)
    assert.equal((await decide(xfccRequest(svid.pem), policy, snap, NOW, cache)).reason, "ok");
  assert.deepEqual(cache.failureStats(), { hits, misses, size: 0 });
  assert.equal(cache.stats().hits, 5);
});

test("JWT-SVID failures and an unusable clock are not remembered", async () => {
  const { example } = await sharedCas();
  const cache = new ChainCache();
  const policy = policyOf({ jwt: { enabled: true, audiences: ["api"] } });
  const jwt = {
    transport: "envoy" as const,
    headers: new Map([["authorization", "Bearer a.b.c"]]),
    method: "GET",
    path: "/",
  };
  await decide(jwt, policy, snapshotOf([example.x509Bundle()]), NOW, cache);
  const svid = await example.issueX509Svid("/web");
  await decide(xfccRequest(svid.pem), policy, snapshotOf([example.x509Bundle()]), new Date(NaN), cache);
  assert.equal(cache.failureStats().size, 0);
});
