// A certificate for trust domain A signed by trust domain B's CA is never accepted, even when the server holds
// B's bundle (federation) and A's bundle with a different root, and even when A's IDs are allowed: a chain is
// verified only against the bundle of the trust domain its SPIFFE ID names. Through a real server (startServer,
// dev Workload API with a federated trust domain, Envoy Check over gRPC on loopback).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { DevCertificateAuthority } from "../../../src/dev-ca/index.js";
import { poll, startStack, WEB, type Outcome, type Stack } from "../../helpers/server-harness.js";

const PARTNER_WEB = "spiffe://partner.org/web";
let stack: Stack;
/** partner.org's CA, whose bundle the server receives beside example.org's. */
let partner: DevCertificateAuthority;

before(async () => {
  // Allowlist (harness default): exact example.org/web, and the whole of partner.org.
  stack = await startStack({ failure: "fail_closed" });
  partner = await stack.api.addFederatedDomain("partner.org");
  const own = (await partner.issueX509Svid(PARTNER_WEB)).pem;
  await poll(
    () => stack.check({ certPem: own }),
    (o) => o.code === 0,
    5000,
    "partner.org's bundle reaches the server",
  );
});

after(async () => {
  await stack.close();
});

/** Both ways a certificate reaches the door: Envoy's source certificate, and an XFCC Chain the proxy forwards. */
async function bothWays(chainPem: string): Promise<Outcome[]> {
  return [
    await stack.check({ certPem: chainPem }),
    await stack.check({
      headers: { "x-forwarded-client-cert": `By=spiffe://example.org/envoy;Chain="${encodeURIComponent(chainPem)}"` },
    }),
  ];
}

test("baseline: each trust domain's own CA is accepted for its own IDs, both ways", async () => {
  for (const o of await bothWays((await stack.api.issueX509Svid(WEB)).pem))
    assert.deepEqual(o, { code: 0, http: 200, reason: "ok", spiffeId: WEB });
  for (const o of await bothWays((await partner.issueX509Svid(PARTNER_WEB)).pem))
    assert.deepEqual(o, { code: 0, http: 200, reason: "ok", spiffeId: PARTNER_WEB });
});

test("an example.org ID signed by partner.org's root, intermediate, or with partner's root appended is refused 401 untrusted", async () => {
  const inter = await partner.createIntermediate();
  const viaInter = await inter.issueX509Svid(WEB);
  const direct = await partner.issueX509Svid(WEB);
  const cases = {
    "signed by partner.org's root": direct.pem,
    "signed by partner.org's intermediate, chain presented": viaInter.chainPem,
    "partner.org's root appended to the chain": viaInter.chainPem + partner.pem,
  };
  for (const [what, pem] of Object.entries(cases)) {
    for (const o of await bothWays(pem))
      assert.deepEqual(o, { code: 16, http: 401, reason: "untrusted", spiffeId: undefined }, what);
  }
});

test("a partner.org ID signed by example.org's current CA (whose IDs are allowed) is refused 401 untrusted", async () => {
  const forged = await stack.api.ca.issueX509Svid(PARTNER_WEB);
  for (const o of await bothWays(forged.chainPem))
    assert.deepEqual(o, { code: 16, http: 401, reason: "untrusted", spiffeId: undefined });
  // And example.org's CA signing an ID of a domain nobody federates: not trusted either, whatever the allowlist.
  const stray = await stack.api.ca.issueX509Svid("spiffe://nowhere.org/web");
  for (const o of await bothWays(stray.chainPem)) assert.equal(o.code, 16, o.reason);
});
