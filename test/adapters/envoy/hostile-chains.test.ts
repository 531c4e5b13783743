// What a presented chain may cost, end to end through the real server (dev Workload API → trust store →
// engine → Envoy door, real gRPC on loopback): keys we refuse (leaf, intermediates, a bundle root), the
// signature budget, and failing credentials remembered — with the same answer as a fresh verification, not
// past the moment a not-yet-valid certificate becomes valid, and forgotten when the bundles change.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevCertificateAuthority } from "../../../src/dev-ca/index.js";
import { DEFAULT_MAX_SIGNATURE_CHECKS } from "../../../src/spiffe/index.js";
import { checkRequest, unary, type CheckResponseObj } from "../../helpers/clients.js";
import { poll, startStack, WEB, type Stack } from "../../helpers/server-harness.js";
import { E_2_32_MINUS_1, fakeRsaKeys, p521Keys } from "../../helpers/hostile-keys.js";
import { status as grpcStatus } from "@grpc/grpc-js";

interface Answer {
  code: number;
  http: string;
  reason: string;
  detail: string;
}

let stack: Stack;
let dir: string;
/** partner.org's bundle file holds a P-521 root (refused at use) and a good one. */
let oddPartner: DevCertificateAuthority;
let partner: DevCertificateAuthority;
/** later.org's bundle file starts with an unrelated root; `later` is trusted only once the file changes. */
let later: DevCertificateAuthority;
let forger: DevCertificateAuthority;

const writeAtomically = (path: string, text: string) => {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "hostile-chains-"));
  oddPartner = await DevCertificateAuthority.createRoot("partner.org", {
    keys: await p521Keys(),
    name: "odd partner root",
  });
  partner = await DevCertificateAuthority.createRoot("partner.org");
  later = await DevCertificateAuthority.createRoot("later.org");
  forger = await DevCertificateAuthority.createRoot("example.org", { name: "forger" });
  writeFileSync(join(dir, "partner.pem"), oddPartner.pem + partner.pem);
  writeFileSync(join(dir, "later.pem"), (await DevCertificateAuthority.createRoot("later.org")).pem);
  stack = await startStack({
    failure: "fail_closed",
    config: {
      allowlist: { exact: [WEB], "trust-domains": ["partner.org", "later.org"] },
      "trust-bundles": [
        { "trust-domain": "partner.org", path: join(dir, "partner.pem") },
        { "trust-domain": "later.org", path: join(dir, "later.pem") },
      ],
    },
  });
});

after(async () => {
  await stack.close();
});

async function check(certPem: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await unary<CheckResponseObj>(stack.envoy, "Check", checkRequest({ certPem, headers }));
  if (res.status.code === grpcStatus.OK) return { code: 0, http: "OK", reason: "ok", detail: "" };
  const body = JSON.parse(res.denied_response?.body ?? "{}") as { reason: string; detail: string };
  return {
    code: res.status.code,
    http: res.denied_response?.status.code ?? "",
    reason: body.reason,
    detail: body.detail,
  };
}

const failures = () => stack.server.engine.cache!.failureStats();

test("leaf + 7 CAs with 8192-bit RSA keys and e = 2^32-1 under the trusted root: 401 untrusted naming the leaf's key", async () => {
  const keys = await fakeRsaKeys(8192, E_2_32_MINUS_1);
  let ca = await stack.api.root.createIntermediate({ keys });
  for (let i = 0; i < 6; i++) ca = await ca.createIntermediate({ keys, signingKey: forger.keys.privateKey });
  const svid = await ca.issueX509Svid(WEB, { keys, signingKey: forger.keys.privateKey });
  assert.equal(svid.chain.length, 8);
  assert.deepEqual(await check(svid.chainPem), {
    code: 16,
    http: "Unauthorized",
    reason: "untrusted",
    detail: `leaf (subject "O=SPIRE,C=US") has a key we do not accept: RSA key of 8192 bits (allowed: 2048–4096)`,
  });
});

test("a P-256 leaf under an intermediate with e = 2^32-1: 401 untrusted naming the intermediate's exponent", async () => {
  const int = await stack.api.root.createIntermediate({
    keys: await fakeRsaKeys(2048, E_2_32_MINUS_1),
    name: "odd exponent",
  });
  const svid = await int.issueX509Svid(WEB, { signingKey: forger.keys.privateKey });
  const got = await check(svid.chainPem);
  assert.equal(got.reason, "untrusted");
  assert.equal(
    got.detail,
    `presented certificate 2 of 2 (subject "CN=odd exponent,O=SPIFFE dev CA,C=US") has a key we do not accept: RSA key with public exponent 4294967295 (only 65537 is allowed)`,
  );
});

test("a bundle root with a P-521 key is loaded but refused at use, naming it; the bundle's good root keeps working", async () => {
  const viaOdd = await oddPartner.issueX509Svid("spiffe://partner.org/api");
  assert.deepEqual(await check(viaOdd.pem), {
    code: 16,
    http: "Unauthorized",
    reason: "untrusted",
    detail: `root (subject "CN=odd partner root,O=SPIFFE dev CA,C=US") has a key we do not accept: ECDSA P-521 key (allowed curves: P-256, P-384)`,
  });
  assert.equal((await check((await partner.issueX509Svid("spiffe://partner.org/api")).pem)).reason, "ok");
});

test(`signature budget: same-named intermediates under the trusted root that need more than ${DEFAULT_MAX_SIGNATURE_CHECKS} checks → 401 untrusted, "gave up"`, async () => {
  const root = stack.api.root;
  const as = await Promise.all([0, 1, 2].map(() => root.createIntermediate({ name: "A" })));
  const bs = await Promise.all([0, 1, 2, 3].map(() => as[0]!.createIntermediate({ name: "B" })));
  const leaf = await bs[0]!.issueX509Svid(WEB, { signingKey: forger.keys.privateKey });
  const pem = [leaf.pem, ...bs.map((b) => b.pem), ...as.map((a) => a.pem)].join("");
  assert.deepEqual(await check(pem), {
    code: 16,
    http: "Unauthorized",
    reason: "untrusted",
    detail: `path search gave up after ${DEFAULT_MAX_SIGNATURE_CHECKS} signature checks`,
  });
  // The server keeps deciding as usual.
  assert.equal((await check((await stack.api.issueX509Svid(WEB)).pem)).reason, "ok");
});

test("a forged chain of the client's own CAs naming the trusted root is refused at its top link (checked with the root's key)", async () => {
  const fake = await DevCertificateAuthority.createRoot("example.org", {
    keyType: "ec-p384",
    subject: stack.api.root.subjectDn,
  });
  let ca = fake;
  for (let i = 0; i < 6; i++) ca = await ca.createIntermediate({ keyType: "ec-p384" });
  const svid = await ca.issueX509Svid(WEB, { keyType: "ec-p384" });
  const got = await check(svid.chainPem);
  assert.equal(got.reason, "untrusted");
  assert.match(got.detail, /^signature of intermediate \(subject "[^"]+"\) does not verify with the key of root/);
});

test("failing credentials are remembered: replays get the identical answer without a new verification", async () => {
  const forgedLeaf = await stack.api.root.issueX509Svid(WEB, { signingKey: forger.keys.privateKey });
  const expired = await stack.api.ca.issueX509Svid(WEB, {
    notBefore: new Date(Date.now() - 7200_000),
    notAfter: new Date(Date.now() - 3600_000),
  });
  const garbage = { "x-forwarded-client-cert": 'By=spiffe://example.org/envoy;Cert="%ZZ"' };
  for (const [what, send] of [
    ["forged", () => check(forgedLeaf.pem)],
    ["expired", () => check(expired.pem)],
    ["malformed XFCC", () => check("", garbage)],
  ] as const) {
    const first = await send();
    assert.notEqual(first.code, 0, what);
    const hits = failures().hits;
    for (let i = 0; i < 3; i++) assert.deepEqual(await send(), first, what);
    assert.equal(failures().hits, hits + 3, `${what}: remembered`);
  }
});

test("a not-yet-valid certificate: 401 expired, remembered, and allowed as soon as its notBefore has come", async () => {
  const nb = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
  const svid = await stack.api.ca.issueX509Svid(WEB, { notBefore: nb, notAfter: new Date(nb.getTime() + 3600_000) });
  const first = await check(svid.pem);
  assert.equal(first.reason, "expired");
  assert.match(first.detail, /not yet valid/);
  const hits = failures().hits;
  assert.deepEqual(await check(svid.pem), first);
  if (Date.now() < nb.getTime() - 50) assert.equal(failures().hits, hits + 1, "remembered before its notBefore");
  const { value, ms } = await poll(
    () => check(svid.pem),
    (a) => a.reason !== "expired",
    5000,
    "the certificate to become valid",
  );
  assert.equal(value.reason, "ok");
  assert.ok(Date.now() >= nb.getTime(), `allowed ${ms} ms later, not before notBefore`);
});

test("a bundle change forgets failures: the same bytes are allowed once the file trusts their root", async () => {
  const svid = await later.issueX509Svid("spiffe://later.org/api");
  const first = await check(svid.pem);
  assert.equal(first.reason, "untrusted");
  assert.deepEqual(await check(svid.pem), first);
  assert.ok(failures().size > 0);
  const generation = stack.server.store.current().generation;
  writeAtomically(join(dir, "later.pem"), later.pem);
  await poll(
    async () => stack.server.store.current().generation,
    (g) => g > generation,
    5000,
    "the bundle file reloaded",
  );
  assert.equal((await check(svid.pem)).reason, "ok");
});
