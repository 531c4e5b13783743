import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decide } from "../../src/engine/decide.js";
import { ChainCache } from "../../src/engine/chain-cache.js";
import type { Decision, Reason } from "../../src/engine/contract.js";
import { REASONS } from "../../src/engine/contract.js";
import { DevCertificateAuthority, DevJwtAuthority } from "../../src/dev-ca/index.js";
import {
  NOW,
  bareRequest,
  policyOf,
  sharedCas,
  snapshotOf,
  sourceCertRequest,
  xfccRequest,
} from "../helpers/engine.js";

// The five default names in every -/_ spelling (an upstream may fold x_spiffe_id onto X-SPIFFE-Id): 4+8+8+4+4.
const ALL_IDENTITY_HEADERS = policyOf({}).identityHeaderNames.slice().sort();
assert.equal(ALL_IDENTITY_HEADERS.length, 28);
const SPOOF = { "x-spiffe-id": "spiffe://example.org/admin", "x-auth-method": "spiffe" };
const covered = new Set<Reason>();

function expectDecision(d: Decision, want: { allow: boolean; reason: Reason; status: 200 | 401 | 403 | 503 }): void {
  covered.add(d.reason);
  assert.equal(d.reason, want.reason, d.detail);
  assert.equal(d.allow, want.allow);
  assert.equal(d.httpStatus, want.status);
  assert.equal(d.grpcCode, { 200: 0, 401: 16, 403: 7, 503: 14 }[want.status]);
  // every decision strips every identity header it does not set itself
  const set = d.headersToSet.map((h) => h.name.toLowerCase());
  assert.deepEqual([...d.headersToRemove, ...set].sort(), ALL_IDENTITY_HEADERS);
  if (want.reason !== "ok") {
    assert.deepEqual(d.headersToSet, []);
    assert.deepEqual([...d.headersToRemove].sort(), ALL_IDENTITY_HEADERS);
  }
}

test("ok: verified X.509-SVID via XFCC Cert → identity headers as the seed documents", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/frontend");
  const policy = policyOf({ allowlist: { exact: ["spiffe://example.org/frontend"] } });
  const d = await decide(xfccRequest(svid.pem, { headers: SPOOF }), policy, snapshotOf([example.x509Bundle()]), NOW);
  expectDecision(d, { allow: true, reason: "ok", status: 200 });
  assert.deepEqual(d.identity, {
    spiffeId: "spiffe://example.org/frontend",
    trustDomain: "example.org",
    path: "/frontend",
    method: "spiffe",
  });
  assert.deepEqual(d.headersToSet, [
    { name: "X-SPIFFE-Id", value: "spiffe://example.org/frontend" },
    { name: "X-SPIFFE-Trust-Domain", value: "example.org" },
    { name: "X-SPIFFE-Workload-Id", value: "/frontend" },
    { name: "X-Auth-Method", value: "spiffe" },
    { name: "X-Auth-Timestamp", value: String(Math.floor(NOW.getTime() / 1000)) },
  ]);
  // the spoofed x-spiffe-id is overwritten (set); what is left to remove are the other spellings
  assert.ok(!d.headersToRemove.includes("x-spiffe-id") && d.headersToRemove.includes("x_spiffe_id"));
  assert.equal(d.headersToRemove.length, 23);
  assert.equal(d.certInfo, undefined);
});

test("ok: chain through an intermediate via XFCC Chain and via source certificate", async () => {
  const { example } = await sharedCas();
  const inter = await example.createIntermediate();
  const svid = await inter.issueX509Svid("/db");
  const policy = policyOf({ allowlist: { "trust-domains": ["example.org"] } });
  const snap = snapshotOf([example.x509Bundle()]);
  expectDecision(await decide(xfccRequest(svid.chainPem, { chain: true }), policy, snap, NOW), {
    allow: true,
    reason: "ok",
    status: 200,
  });
  expectDecision(await decide(sourceCertRequest(svid.chainPem), policy, snap, NOW), {
    allow: true,
    reason: "ok",
    status: 200,
  });
  // the leaf alone cannot reach the root
  expectDecision(await decide(xfccRequest(svid.pem), policy, snap, NOW), {
    allow: false,
    reason: "untrusted",
    status: 401,
  });
});

test("custom header names are used for setting and removal", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/a");
  const policy = policyOf({ headers: { "spiffe-id": "X-Caller", "auth-method": "X-How" } });
  const d = await decide(xfccRequest(svid.pem), policy, snapshotOf([example.x509Bundle()]), NOW);
  assert.equal(d.headersToSet[0]!.name, "X-Caller");
  const none = await decide(bareRequest(), policy, snapshotOf([]), NOW);
  assert.ok(none.headersToRemove.includes("x-caller") && none.headersToRemove.includes("x-how"));
  assert.ok(!none.headersToRemove.includes("x-spiffe-id"));
});

test("no_certificate: 401 when mTLS is required; allowed without identity (and spoof removed) when not", async () => {
  const snap = snapshotOf([]);
  expectDecision(await decide(bareRequest(SPOOF), policyOf(), snap, NOW), {
    allow: false,
    reason: "no_certificate",
    status: 401,
  });
  const d = await decide(bareRequest(SPOOF), policyOf({ tls: { "require-mtls": false } }), snap, NOW);
  expectDecision(d, { allow: true, reason: "no_certificate", status: 200 });
  assert.equal(d.identity, undefined);
  assert.ok(d.headersToRemove.includes("x-spiffe-id"));
});

test("malformed_certificate: garbage XFCC, non-certificate DER, garbage source certificate", async () => {
  const policy = policyOf();
  const snap = snapshotOf([]);
  const bad = [
    bareRequest({ "x-forwarded-client-cert": 'Cert="unterminated' }),
    bareRequest({
      "x-forwarded-client-cert": `Cert="${encodeURIComponent("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}"`,
    }),
    sourceCertRequest("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----"),
  ];
  for (const r of bad) {
    const d = await decide(r, policy, snap, NOW);
    expectDecision(d, { allow: false, reason: "malformed_certificate", status: 401 });
    assert.ok(d.detail.length < 200);
  }
});

test("no_spiffe_id, expired, not_a_leaf, untrusted (other CA, forged signature)", async () => {
  const { example } = await sharedCas();
  const impostor = await DevCertificateAuthority.createRoot("example.org");
  const policy = policyOf();
  const snap = snapshotOf([example.x509Bundle()]);
  const cases: [Promise<{ pem: string }>, Reason][] = [
    [example.issueX509Svid("/a", { uris: [] }), "no_spiffe_id"],
    [example.issueX509Svid("/a", { uris: ["https://example.org/a"] }), "no_spiffe_id"],
    [
      example.issueX509Svid("/a", {
        notBefore: new Date(NOW.getTime() - 7200_000),
        notAfter: new Date(NOW.getTime() - 3600_000),
      }),
      "expired",
    ],
    [example.issueX509Svid("/a", { isCA: true }), "not_a_leaf"],
    [impostor.issueX509Svid("/a"), "untrusted"],
    [example.issueX509Svid("/a", { signingKey: impostor.keys.privateKey }), "untrusted"],
  ];
  for (const [svid, reason] of cases) {
    const d = await decide(xfccRequest((await svid).pem), policy, snap, NOW);
    expectDecision(d, { allow: false, reason, status: 401 });
    assert.equal(d.identity, undefined);
  }
});

test("unknown_trust_domain: 401 while SPIRE is available", async () => {
  const { other, example } = await sharedCas();
  const svid = await other.issueX509Svid("/a");
  const d = await decide(xfccRequest(svid.pem), policyOf(), snapshotOf([example.x509Bundle()]), NOW);
  expectDecision(d, { allow: false, reason: "unknown_trust_domain", status: 401 });
});

test("SPIRE unavailable: fail_closed and cache → 503 spire_unavailable; fail_open → allow without identity", async () => {
  const { other } = await sharedCas();
  const svid = await other.issueX509Svid("/a");
  const snap = snapshotOf([], { spireAvailable: false });
  for (const mode of ["fail_closed", "cache"] as const) {
    const d = await decide(xfccRequest(svid.pem), policyOf({ failure: { "spire-unavailable": mode } }), snap, NOW);
    expectDecision(d, { allow: false, reason: "spire_unavailable", status: 503 });
  }
  const d = await decide(
    xfccRequest(svid.pem, { headers: SPOOF }),
    policyOf({ failure: { "spire-unavailable": "fail_open" } }),
    snap,
    NOW,
  );
  expectDecision(d, { allow: true, reason: "fail_open", status: 200 });
  assert.equal(d.identity, undefined);
  assert.ok(d.headersToRemove.includes("x-spiffe-id"));
  // 503 is not a validation failure: log_and_allow leaves it alone
  const both = policyOf({ failure: { "spire-unavailable": "fail_closed", "validation-failure": "log_and_allow" } });
  expectDecision(await decide(xfccRequest(svid.pem), both, snap, NOW), {
    allow: false,
    reason: "spire_unavailable",
    status: 503,
  });
});

test("SPIRE unavailable does not excuse other failures: a known trust domain still verifies", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/a");
  const snap = snapshotOf([example.x509Bundle()], { spireAvailable: false });
  const policy = policyOf({ failure: { "spire-unavailable": "fail_open" } });
  expectDecision(await decide(xfccRequest(svid.pem), policy, snap, NOW), { allow: true, reason: "ok", status: 200 });
  const expired = await example.issueX509Svid("/a", {
    notBefore: new Date(NOW.getTime() - 7200_000),
    notAfter: new Date(NOW.getTime() - 3600_000),
  });
  expectDecision(await decide(xfccRequest(expired.pem), policy, snap, NOW), {
    allow: false,
    reason: "expired",
    status: 401,
  });
});

test("log_and_allow: every authentication failure becomes allow without identity; 403 stays 403", async () => {
  const { example, other } = await sharedCas();
  const policy = policyOf({
    allowlist: { exact: ["spiffe://example.org/ok"] },
    failure: { "validation-failure": "log_and_allow" },
  });
  const snap = snapshotOf([example.x509Bundle()]);
  const expired = await example.issueX509Svid("/ok", {
    notBefore: new Date(NOW.getTime() - 7200_000),
    notAfter: new Date(NOW.getTime() - 3600_000),
  });
  const inputs: [ReturnType<typeof bareRequest>, Reason][] = [
    [bareRequest(SPOOF), "no_certificate"],
    [bareRequest({ ...SPOOF, "x-forwarded-client-cert": "garbage" }), "malformed_certificate"],
    [xfccRequest(expired.pem, { headers: SPOOF }), "expired"],
    [xfccRequest((await other.issueX509Svid("/ok")).pem, { headers: SPOOF }), "unknown_trust_domain"],
    [xfccRequest((await example.issueX509Svid("/ok", { uris: [] })).pem, { headers: SPOOF }), "no_spiffe_id"],
    [xfccRequest((await example.issueX509Svid("/ok", { isCA: true })).pem, { headers: SPOOF }), "not_a_leaf"],
  ];
  for (const [r, original] of inputs) {
    const d = await decide(r, policy, snap, NOW);
    expectDecision(d, { allow: true, reason: "log_and_allow", status: 200 });
    assert.equal(d.identity, undefined);
    assert.ok(d.detail.startsWith(`${original}: `), d.detail);
    assert.ok(d.headersToRemove.includes("x-spiffe-id"));
  }
  const notAllowed = await example.issueX509Svid("/other");
  expectDecision(await decide(xfccRequest(notAllowed.pem), policy, snap, NOW), {
    allow: false,
    reason: "not_allowed",
    status: 403,
  });
});

test("not_allowed: verified but not in the allowlist → 403 with identity (for the audit)", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/intruder");
  const d = await decide(
    xfccRequest(svid.pem, { headers: SPOOF }),
    policyOf({ allowlist: { exact: ["spiffe://example.org/frontend"] } }),
    snapshotOf([example.x509Bundle()]),
    NOW,
  );
  expectDecision(d, { allow: false, reason: "not_allowed", status: 403 });
  assert.equal(d.identity?.spiffeId, "spiffe://example.org/intruder");
  assert.ok(!d.detail.includes("BEGIN"));
});

test("prefix segment-awareness end to end", async () => {
  const { example, evil } = await sharedCas();
  const policy = policyOf({ allowlist: { prefix: ["spiffe://example.org/services"] } });
  const snap = snapshotOf([example.x509Bundle(), evil.x509Bundle()]);
  const check = async (ca: DevCertificateAuthority, path: string) =>
    (await decide(xfccRequest((await ca.issueX509Svid(path)).pem), policy, snap, NOW)).reason;
  assert.equal(await check(example, "/services/a"), "ok");
  assert.equal(await check(example, "/servicesx"), "not_allowed");
  assert.equal(await check(evil, "/services/a"), "not_allowed");
});

test("a pattern does not match a longer ID that merely contains a match", async () => {
  const { example } = await sharedCas();
  const policy = policyOf({ allowlist: { patterns: ["spiffe://example\\.org/api"] } });
  const snap = snapshotOf([example.x509Bundle()]);
  assert.equal((await decide(xfccRequest((await example.issueX509Svid("/api")).pem), policy, snap, NOW)).reason, "ok");
  assert.equal(
    (await decide(xfccRequest((await example.issueX509Svid("/api/admin")).pem), policy, snap, NOW)).reason,
    "not_allowed",
  );
  assert.equal(
    (await decide(xfccRequest((await example.issueX509Svid("/x/api")).pem), policy, snap, NOW)).reason,
    "not_allowed",
  );
});

test("routes: two routes give different answers for the same certificate", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/frontend");
  const policy = policyOf({
    allowlist: { exact: ["spiffe://example.org/nobody"] },
    routes: [
      {
        name: "payments",
        match: { "path-prefix": "/payments", methods: ["POST"] },
        allowlist: { exact: ["spiffe://example.org/billing"] },
      },
      { name: "catalog", match: { "path-prefix": "/catalog" }, allowlist: { prefix: ["spiffe://example.org/"] } },
    ],
  });
  const snap = snapshotOf([example.x509Bundle()]);
  const run = (o: Parameters<typeof xfccRequest>[1]) => decide(xfccRequest(svid.pem, o), policy, snap, NOW);
  const pay = await run({ path: "/payments/1", method: "POST" });
  assert.equal(pay.reason, "not_allowed");
  assert.equal(pay.route, "payments");
  const cat = await run({ path: "/catalog/items" });
  assert.equal(cat.reason, "ok");
  assert.equal(cat.route, "catalog");
  // by name, whatever the path
  assert.equal((await run({ path: "/payments/1", method: "POST", routeName: "catalog" })).reason, "ok");
  // nothing matches → top-level allowlist
  const top = await run({ path: "/other" });
  assert.equal(top.reason, "not_allowed");
  assert.equal(top.route, undefined);
});

test("an empty allowlist allows every verified ID", async () => {
  const { example } = await sharedCas();
  const d = await decide(
    xfccRequest((await example.issueX509Svid("/anyone")).pem),
    policyOf(),
    snapshotOf([example.x509Bundle()]),
    NOW,
  );
  assert.equal(d.reason, "ok");
});

test("certInfo is filled only when audit.include-cert-info is on", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/a", { serialNumber: "0123abcd" });
  const snap = snapshotOf([example.x509Bundle()]);
  const d = await decide(xfccRequest(svid.pem), policyOf({ audit: { "include-cert-info": true } }), snap, NOW);
  assert.deepEqual(d.certInfo, {
    serial: "0123abcd",
    issuer: svid.certificate.issuer,
    notAfter: svid.certificate.notAfter.toISOString(),
    sha256: svid.certificate.sha256Hex(),
  });
  assert.match(d.certInfo!.sha256, /^[0-9a-f]{64}$/);
  // also on failures whose leaf parses
  const expired = await example.issueX509Svid("/a", {
    notBefore: new Date(NOW.getTime() - 7200_000),
    notAfter: new Date(NOW.getTime() - 3600_000),
  });
  const e = await decide(xfccRequest(expired.pem), policyOf({ audit: { "include-cert-info": true } }), snap, NOW);
  assert.equal(e.certInfo?.sha256, expired.certificate.sha256Hex());
  assert.equal((await decide(xfccRequest(svid.pem), policyOf(), snap, NOW)).certInfo, undefined);
});

test("a cached verification made without leaf details is verified afresh once a reloaded policy audits them", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/a", { serialNumber: "0badc0de" });
  const snap = snapshotOf([example.x509Bundle()]);
  const cache = new ChainCache();
  const plain = await decide(xfccRequest(svid.pem), policyOf(), snap, NOW, cache);
  assert.equal(plain.certInfo, undefined);
  assert.equal(cache.stats().size, 1);
  const withCert = policyOf({ audit: { "include-cert-info": true } });
  const d = await decide(xfccRequest(svid.pem), withCert, snap, NOW, cache);
  assert.equal(d.certInfo?.serial, "0badc0de");
  assert.equal(d.certInfo?.sha256, svid.certificate.sha256Hex());
  // ...and the entry now holds them: a later hit under either policy answers from the cache.
  const misses = cache.stats().misses;
  assert.equal((await decide(xfccRequest(svid.pem), withCert, snap, NOW, cache)).certInfo?.serial, "0badc0de");
  assert.equal((await decide(xfccRequest(svid.pem), policyOf(), snap, NOW, cache)).certInfo, undefined);
  assert.equal(cache.stats().misses, misses);
});

test("JWT-SVID: ok with auth-method spiffe-jwt; audience, expiry, unknown trust domain; X.509 wins", async () => {
  const { example } = await sharedCas();
  const iss = await DevJwtAuthority.create("example.org");
  const mint = (c: { sub: string; aud: string | string[]; exp?: number }) =>
    iss.issue({
      subject: c.sub,
      audience: c.aud,
      now: NOW,
      ...(c.exp !== undefined ? { expiresAt: new Date(c.exp * 1000) } : {}),
    });
  const policy = policyOf({
    jwt: { enabled: true, audiences: ["orders"] },
    allowlist: { "trust-domains": ["example.org"] },
  });
  const snap = snapshotOf([example.x509Bundle(), iss.jwtBundle()]);
  const bearer = (t: string) => bareRequest({ authorization: `Bearer ${t}`, ...SPOOF });

  const ok = await decide(
    bearer(await mint({ sub: "spiffe://example.org/web", aud: ["x", "orders"] })),
    policy,
    snap,
    NOW,
  );
  expectDecision(ok, { allow: true, reason: "ok", status: 200 });
  assert.equal(ok.identity?.method, "spiffe-jwt");
  assert.deepEqual(
    ok.headersToSet.find((h) => h.name === "X-Auth-Method"),
    { name: "X-Auth-Method", value: "spiffe-jwt" },
  );
  assert.deepEqual(
    ok.headersToSet.find((h) => h.name === "X-SPIFFE-Workload-Id"),
    { name: "X-SPIFFE-Workload-Id", value: "/web" },
  );

  const wrongAud = await decide(
    bearer(await mint({ sub: "spiffe://example.org/web", aud: "billing" })),
    policy,
    snap,
    NOW,
  );
  expectDecision(wrongAud, { allow: false, reason: "untrusted", status: 401 });
  const expired = await decide(
    bearer(
      await mint({ sub: "spiffe://example.org/web", aud: "orders", exp: Math.floor(NOW.getTime() / 1000) - 3600 }),
    ),
    policy,
    snap,
    NOW,
  );
  expectDecision(expired, { allow: false, reason: "expired", status: 401 });
  const otherTd = await decide(bearer(await mint({ sub: "spiffe://other.org/web", aud: "orders" })), policy, snap, NOW);
  expectDecision(otherTd, { allow: false, reason: "unknown_trust_domain", status: 401 });
  const forged = await DevJwtAuthority.create("example.org", { keyId: iss.keyId });
  expectDecision(
    await decide(
      bearer(await forged.issue({ subject: "spiffe://example.org/web", audience: "orders", now: NOW })),
      policy,
      snap,
      NOW,
    ),
    { allow: false, reason: "untrusted", status: 401 },
  );
  const unknownKey = await DevJwtAuthority.create("example.org");
  expectDecision(
    await decide(
      bearer(await unknownKey.issue({ subject: "spiffe://example.org/web", audience: "orders", now: NOW })),
      policy,
      snap,
      NOW,
    ),
    { allow: false, reason: "untrusted", status: 401 },
  );

  // with both, X.509 is used
  const svid = await example.issueX509Svid("/from-cert");
  const both = await decide(
    xfccRequest(svid.pem, {
      headers: { authorization: `Bearer ${await mint({ sub: "spiffe://example.org/web", aud: "orders" })}` },
    }),
    policy,
    snap,
    NOW,
  );
  assert.equal(both.identity?.spiffeId, "spiffe://example.org/from-cert");
  assert.equal(both.identity?.method, "spiffe");
  // JWT disabled: the bearer token is not a credential at all
  expectDecision(
    await decide(bearer(await mint({ sub: "spiffe://example.org/web", aud: "orders" })), policyOf(), snap, NOW),
    { allow: false, reason: "no_certificate", status: 401 },
  );
});

test("cache: hit after the first verify; miss after a generation change", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/hot");
  const cache = new ChainCache();
  const policy = policyOf();
  const snap1 = snapshotOf([example.x509Bundle()], { generation: 1 });
  for (let k = 0; k < 3; k++)
    assert.equal((await decide(xfccRequest(svid.pem), policy, snap1, NOW, cache)).reason, "ok");
  assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 2, misses: 1 });
  const snap2 = snapshotOf([example.x509Bundle()], { generation: 2 });
  assert.equal((await decide(xfccRequest(svid.pem), policy, snap2, NOW, cache)).reason, "ok");
  assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 2, misses: 2 });
  // entries are keyed by the unparsed input (so a hit skips parsing): the same chain through another source
  // (source certificate vs XFCC) is verified once more, then hits too
  assert.equal((await decide(sourceCertRequest(svid.pem), policy, snap2, NOW, cache)).reason, "ok");
  assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 2, misses: 3 });
  assert.equal((await decide(sourceCertRequest(svid.pem), policy, snap2, NOW, cache)).reason, "ok");
  assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 3, misses: 3 });
});

test("cache: an entry is not used after the leaf's notAfter", async () => {
  const { example } = await sharedCas();
  const notAfter = new Date(NOW.getTime() + 60_000);
  const svid = await example.issueX509Svid("/short", { notBefore: new Date(NOW.getTime() - 60_000), notAfter });
  const cache = new ChainCache();
  const policy = policyOf();
  const snap = snapshotOf([example.x509Bundle()]);
  assert.equal((await decide(xfccRequest(svid.pem), policy, snap, NOW, cache)).reason, "ok");
  const later = new Date(notAfter.getTime() + 1000);
  const d = await decide(xfccRequest(svid.pem), policy, snap, later, cache);
  assert.equal(d.reason, "expired");
  assert.equal(cache.hits, 0);
});

test("cache: failures are never cached; allowlist changes apply to cached identities", async () => {
  const { example, other } = await sharedCas();
  const cache = new ChainCache();
  const snap = snapshotOf([example.x509Bundle()]);
  const bad = await other.issueX509Svid("/a");
  await decide(xfccRequest(bad.pem), policyOf(), snap, NOW, cache);
  await decide(xfccRequest(bad.pem), policyOf(), snap, NOW, cache);
  assert.equal(cache.stats().size, 0);
  const svid = await example.issueX509Svid("/a");
  assert.equal((await decide(xfccRequest(svid.pem), policyOf(), snap, NOW, cache)).reason, "ok");
  const stricter = policyOf({ allowlist: { exact: ["spiffe://example.org/b"] } });
  assert.equal((await decide(xfccRequest(svid.pem), stricter, snap, NOW, cache)).reason, "not_allowed");
  assert.equal(cache.hits, 1);
});

test("rotation: a cached chain from an old CA is rejected once the snapshot drops that root", async () => {
  const oldCa = await DevCertificateAuthority.createRoot("rotate.org");
  const newCa = await DevCertificateAuthority.createRoot("rotate.org");
  const svid = await oldCa.issueX509Svid("/svc");
  const cache = new ChainCache();
  const policy = policyOf();
  const before = snapshotOf([oldCa.x509Bundle()], { generation: 7 });
  assert.equal((await decide(xfccRequest(svid.pem), policy, before, NOW, cache)).reason, "ok");
  assert.equal((await decide(xfccRequest(svid.pem), policy, before, NOW, cache)).reason, "ok");
  assert.equal(cache.hits, 1);
  const after = snapshotOf([newCa.x509Bundle()], { generation: 8 });
  expectDecision(await decide(xfccRequest(svid.pem), policy, after, NOW, cache), {
    allow: false,
    reason: "untrusted",
    status: 401,
  });
  const fresh = await newCa.issueX509Svid("/svc");
  assert.equal((await decide(xfccRequest(fresh.pem), policy, after, NOW, cache)).reason, "ok");
});

test("property: decide() answers any XFCC/source-certificate garbage with a 401 decision, never an exception", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/a");
  const policy = policyOf();
  const snap = snapshotOf([example.x509Bundle()]);
  // real PEM, cut or corrupted at a random place, so that the DER parser sees near-certificates too
  const corrupted = fc
    .tuple(fc.nat(svid.pem.length), fc.string({ maxLength: 8 }))
    .map(([at, junk]) => svid.pem.slice(0, at) + junk + svid.pem.slice(at + junk.length));
  const raw = fc.oneof(corrupted, fc.string({ maxLength: 200 }));
  await fc.assert(
    fc.asyncProperty(raw, fc.boolean(), async (text, viaXfcc) => {
      const r = viaXfcc
        ? bareRequest({ "x-forwarded-client-cert": `Cert="${encodeURIComponent(text)}"` })
        : sourceCertRequest(text);
      const d = await decide(r, policy, snap, NOW);
      if (d.reason !== "ok") assert.equal(d.httpStatus, 401, d.reason);
    }),
    { seed: 99, numRuns: 300 },
  );
});

test("unknown_route: a route name the config lacks is 403 before any credential is looked at, never the top-level allowlist", async () => {
  const { example } = await sharedCas();
  const svid = await example.issueX509Svid("/frontend");
  const policy = policyOf({
    allowlist: { exact: ["spiffe://example.org/frontend"] },
    routes: [{ name: "payments", allowlist: { exact: ["spiffe://example.org/checkout"] } }],
  });
  const d = await decide(
    xfccRequest(svid.pem, { routeName: "payment" }),
    policy,
    snapshotOf([example.x509Bundle()]),
    NOW,
  );
  expectDecision(d, { allow: false, reason: "unknown_route", status: 403 });
  assert.match(d.detail, /"payment" is not defined/);
  const none = await decide(
    { ...bareRequest(), routeName: "payment" },
    policy,
    snapshotOf([example.x509Bundle()]),
    NOW,
  );
  expectDecision(none, { allow: false, reason: "unknown_route", status: 403 });
});

test("every reason code was produced above", () => {
  // runs last (node:test runs tests in order within a file)
  const missing = REASONS.filter((r) => !covered.has(r) && r !== "ok" && r !== "not_allowed");
  assert.deepEqual(missing, []);
});
