// What a presented chain may cost us: which keys an X.509 path may hold, how many signature checks and
// candidate issuers one verification may spend, the root-down order of signature checks, and the time window
// a failure is reported stable for (what the engine's failure cache relies on).
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { certificatePublicKeyProblem, type PublicKeyInfo } from "../../src/spiffe/public-key.js";
import {
  ANY_TIME,
  BundleSet,
  DEFAULT_MAX_ISSUER_TRIES,
  DEFAULT_MAX_SIGNATURE_CHECKS,
  X509Bundle,
  parseCertificate,
  verifyX509Svid,
} from "../../src/spiffe/index.js";
import { E_2_32_MINUS_1, E_3, fakeRsaKeys, p521Keys, rsaKeys } from "../helpers/hostile-keys.js";
import { HOUR_MS, reasonOf, svidErrorOf } from "../helpers/spiffe.js";

const TD = "a.example";
const ID = `spiffe://${TD}/web`;

let root: DevCertificateAuthority;
let set: BundleSet;
/** A throwaway key that signs what a fake-key CA cannot (its "signatures" are never checked). */
let forger: DevCertificateAuthority;

before(async () => {
  root = await DevCertificateAuthority.createRoot(TD);
  set = new BundleSet([root.x509Bundle()]);
  forger = await DevCertificateAuthority.createRoot(TD, { name: "forger" });
});

/** An RSA PublicKeyInfo as the parser returns it (modulus content only matters by its bit length). */
const rsa = (bits: number, e: number[]): PublicKeyInfo => ({
  kind: "rsa",
  n: new Uint8Array(Math.ceil(bits / 8)).fill(0xff),
  e: new Uint8Array(e),
  bits,
});

describe("certificatePublicKeyProblem", () => {
  test("allows RSA 2048–4096 with e = 65537, P-256, P-384 and Ed25519; names the problem otherwise", async () => {
    const ok = await Promise.all([
      DevCertificateAuthority.createRoot(TD, { keyType: "ec-p256" }),
      DevCertificateAuthority.createRoot(TD, { keyType: "ec-p384" }),
      DevCertificateAuthority.createRoot(TD, { keyType: "ed25519" }),
      DevCertificateAuthority.createRoot(TD, { keyType: "rsa-2048" }),
    ]);
    for (const ca of ok) assert.equal(certificatePublicKeyProblem(ca.certificate.publicKeyInfo), undefined, ca.keyType);
    const p521 = await DevCertificateAuthority.createRoot(TD, { keys: await p521Keys() });
    assert.equal(
      certificatePublicKeyProblem(p521.certificate.publicKeyInfo),
      "ECDSA P-521 key (allowed curves: P-256, P-384)",
    );
    // Parsed from a real certificate: size and exponent as the DER says.
    const big = await root.issueX509Svid(ID, { keys: await fakeRsaKeys(8192, E_2_32_MINUS_1) });
    assert.equal(
      certificatePublicKeyProblem(big.certificate.publicKeyInfo),
      "RSA key of 8192 bits (allowed: 2048–4096)",
    );
    const e3 = await root.issueX509Svid(ID, { keys: await fakeRsaKeys(2048, E_3) });
    assert.equal(
      certificatePublicKeyProblem(e3.certificate.publicKeyInfo),
      "RSA key with public exponent 3 (only 65537 is allowed)",
    );

    const cases: Array<[PublicKeyInfo, string | undefined]> = [
      [rsa(2048, [1, 0, 1]), undefined],
      [rsa(4096, [1, 0, 1]), undefined],
      [rsa(4097, [1, 0, 1]), "RSA key of 4097 bits (allowed: 2048–4096)"],
      [rsa(2047, [1, 0, 1]), "RSA key of 2047 bits (allowed: 2048–4096)"],
      [rsa(2048, [0xff, 0xff, 0xff, 0xff]), "RSA key with public exponent 4294967295 (only 65537 is allowed)"],
      [rsa(2048, [1, 0, 0, 0, 1]), "RSA key with public exponent 4294967297 (only 65537 is allowed)"],
      [rsa(2048, [1, 0, 3]), "RSA key with public exponent 65539 (only 65537 is allowed)"],
      [
        rsa(
          2048,
          Array.from({ length: 64 }, () => 0xff),
        ),
        "RSA key with a 512-bit public exponent (only 65537 is allowed)",
      ],
      [{ kind: "unsupported", name: "1.2.840.10040.4.1" }, "unsupported public key algorithm 1.2.840.10040.4.1"],
    ];
    for (const [info, want] of cases)
      assert.equal(
        certificatePublicKeyProblem(info),
        want,
        JSON.stringify(info.kind === "rsa" ? [info.bits, [...info.e]] : info),
      );
  });
});

describe("keys in a presented chain", () => {
  test("leaf with an RSA-8192 key, e = 2^32-1, under 7 such CAs: untrusted before any signature check, naming the leaf's key", async () => {
    const keys = await fakeRsaKeys(8192, E_2_32_MINUS_1);
    let ca = await root.createIntermediate({ keys });
    for (let i = 0; i < 6; i++) ca = await ca.createIntermediate({ keys, signingKey: forger.keys.privateKey });
    const svid = await ca.issueX509Svid(ID, { keys, signingKey: forger.keys.privateKey });
    assert.equal(svid.chain.length, 8);
    const err = svidErrorOf(() => verifyX509Svid(svid.chain, set, new Date()));
    assert.equal(err.reason, "untrusted");
    assert.equal(
      err.detail,
      `leaf (subject "O=SPIRE,C=US") has a key we do not accept: RSA key of 8192 bits (allowed: 2048–4096)`,
    );
    assert.deepEqual(err.stableFor, ANY_TIME, "a key problem does not depend on the time");
  });

  test("an intermediate with e = 3 (not used on any path) refuses the chain, naming its position", async () => {
    const int = await root.createIntermediate();
    const svid = await int.issueX509Svid(ID);
    const odd = await root.createIntermediate({ keys: await fakeRsaKeys(2048, E_3), name: "odd" });
    const err = svidErrorOf(() => verifyX509Svid([...svid.chain, odd.der], set, new Date()));
    assert.equal(err.reason, "untrusted");
    assert.match(
      err.detail,
      /^presented certificate 3 of 3 \(subject "CN=odd,O=SPIFFE dev CA,C=US"\) has a key we do not accept: RSA key with public exponent 3/,
    );
  });

  test("a P-521 intermediate that really signed the leaf: untrusted", async () => {
    const int = await root.createIntermediate({ keys: await p521Keys() });
    const svid = await int.issueX509Svid(ID);
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, set, new Date())),
      "untrusted",
    );
    assert.match(svidErrorOf(() => verifyX509Svid(svid.chain, set, new Date())).detail, /P-521/);
  });

  test("RSA-4096 with e = 65537 along the whole path verifies", async () => {
    const keys = await rsaKeys(4096);
    const r = await DevCertificateAuthority.createRoot(TD, { keys });
    const svid = await r.issueX509Svid(ID, { keys: await rsaKeys(2048) });
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, new BundleSet([r.x509Bundle()]), new Date())),
      "ok",
    );
  });

  test("a bundle root with a key we refuse is refused at use, naming the root; the bundle's other roots keep working", async () => {
    const bad = await DevCertificateAuthority.createRoot(TD, { keys: await p521Keys(), name: "odd root" });
    const bundle = new BundleSet([X509Bundle.fromCertificates(TD, [bad.certificate, root.certificate])]);
    const viaBad = await bad.issueX509Svid(ID);
    const e2 = svidErrorOf(() => verifyX509Svid(viaBad.chain, bundle, new Date()));
    assert.equal(e2.reason, "untrusted");
    assert.equal(
      e2.detail,
      `root (subject "CN=odd root,O=SPIFFE dev CA,C=US") has a key we do not accept: ECDSA P-521 key (allowed curves: P-256, P-384)`,
    );
    const good = await root.issueX509Svid(ID);
    assert.equal(
      reasonOf(() => verifyX509Svid(good.chain, bundle, new Date())),
      "ok",
    );
  });
});

describe("path search budget", () => {
  test(`defaults: ${DEFAULT_MAX_SIGNATURE_CHECKS} signature checks, ${DEFAULT_MAX_ISSUER_TRIES} candidate issuers; the longest chain we accept (leaf + 7 intermediates) fits`, async () => {
    assert.equal(DEFAULT_MAX_SIGNATURE_CHECKS, 16);
    assert.equal(DEFAULT_MAX_ISSUER_TRIES, 32);
    let ca = root;
    for (let i = 0; i < 7; i++) ca = await ca.createIntermediate();
    const svid = await ca.issueX509Svid(ID);
    assert.equal(svid.chain.length, 8);
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, set, new Date())),
      "ok",
    );
    // 8 links, 8 checks: one fewer is not enough.
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, set, new Date(), { maxSignatureChecks: 8 })),
      "ok",
    );
    assert.match(
      svidErrorOf(() => verifyX509Svid(svid.chain, set, new Date(), { maxSignatureChecks: 7 })).detail,
      /gave up after 7 signature checks/,
    );
  });

  test("links are checked from the root down: a forged chain of 7 own CAs that names the trusted root costs one check", async () => {
    const fake = await DevCertificateAuthority.createRoot(TD, { name: `${TD} root`, keyType: "ec-p384" });
    assert.equal(fake.certificate.subjectKey, root.certificate.subjectKey);
    let ca = fake;
    for (let i = 0; i < 7; i++) ca = await ca.createIntermediate({ keyType: "ec-p384" });
    const svid = await ca.issueX509Svid(ID, { keyType: "ec-p384" });
    // With a budget of one signature the search still reaches its real answer: the top link, checked with the
    // root's key, is forged. (Checked from the leaf up, 7 checks with the client's keys would come first.)
    const err = svidErrorOf(() => verifyX509Svid(svid.chain, set, new Date(), { maxSignatureChecks: 1 }));
    assert.equal(err.reason, "untrusted");
    assert.match(
      err.detail,
      /^signature of intermediate \(subject "CN=a\.example intermediate [0-9a-f]+,O=SPIFFE dev CA,C=US"\) does not verify with the key of root \(subject "CN=a\.example root/,
    );
  });

  test("legit same-named intermediates beyond the signature budget: untrusted with a clear detail", async () => {
    // Three intermediates named A under the root, four named B under the first A, a leaf that names B but is
    // signed by none of them: every (B, A) and (A, root) pair gets checked, 19 in all.
    const as = await Promise.all([0, 1, 2].map(() => root.createIntermediate({ name: "A" })));
    const a0 = as[0] as DevCertificateAuthority;
    const bs = await Promise.all([0, 1, 2, 3].map(() => a0.createIntermediate({ name: "B" })));
    const leaf = await (bs[0] as DevCertificateAuthority).issueX509Svid(ID, { signingKey: forger.keys.privateKey });
    const chain = [leaf.der, ...bs.map((b) => b.der), ...as.map((a) => a.der)];
    const err = svidErrorOf(() => verifyX509Svid(chain, set, new Date()));
    assert.equal(err.reason, "untrusted");
    assert.equal(err.detail, `path search gave up after ${DEFAULT_MAX_SIGNATURE_CHECKS} signature checks`);
    // With room for all 19, the real problem comes out.
    assert.match(
      svidErrorOf(() => verifyX509Svid(chain, set, new Date(), { maxSignatureChecks: 19 })).detail,
      /^signature of leaf/,
    );
  });

  test("a web of same-named self-issued CAs with no way to a root stops at the candidate-issuer budget, quickly", async () => {
    const cas = await Promise.all(
      Array.from({ length: 7 }, () => DevCertificateAuthority.createRoot(TD, { name: "S" })),
    );
    const web = await Promise.all(
      cas.map((c, i) =>
        (cas[(i + 1) % cas.length] as DevCertificateAuthority).createIntermediate({ name: "S", keys: c.keys }),
      ),
    );
    const leaf = await (cas[0] as DevCertificateAuthority).issueX509Svid(ID);
    const start = performance.now();
    const err = svidErrorOf(() => verifyX509Svid([leaf.der, ...web.map((w) => w.der)], set, new Date()));
    assert.equal(err.reason, "untrusted");
    assert.equal(err.detail, `path search gave up after ${DEFAULT_MAX_ISSUER_TRIES} candidate issuers`);
    assert.ok(performance.now() - start < 200);
  });
});

describe("stableFor: the times a failure holds for", () => {
  test("not yet valid: until just before notBefore; expired: from just after notAfter", async () => {
    const nb = new Date(Math.floor(Date.now() / 1000) * 1000 + HOUR_MS);
    const early = await root.issueX509Svid(ID, { notBefore: nb, notAfter: new Date(nb.getTime() + HOUR_MS) });
    const now = new Date();
    const e1 = svidErrorOf(() => verifyX509Svid(early.chain, set, now));
    assert.equal(e1.reason, "expired");
    assert.equal(e1.stableFor?.toMs, nb.getTime() - 1);
    assert.ok((e1.stableFor?.fromMs ?? Infinity) <= now.getTime());
    assert.equal(
      reasonOf(() => verifyX509Svid(early.chain, set, nb)),
      "ok",
    );

    const na = new Date(Math.floor(Date.now() / 1000) * 1000 - HOUR_MS);
    const late = await root.issueX509Svid(ID, { notBefore: new Date(na.getTime() - HOUR_MS), notAfter: na });
    const e2 = svidErrorOf(() => verifyX509Svid(late.chain, set, now));
    assert.equal(e2.reason, "expired");
    // From when every certificate involved was last in its present state: the leaf expired, the root began.
    assert.equal(e2.stableFor?.fromMs, Math.max(na.getTime() + 1, root.certificate.notBeforeMs));
    assert.equal(e2.stableFor?.toMs, root.certificate.notAfterMs, "until the next certificate changes state");
  });

  test("untrusted from the path search: bounded by the validity of every certificate involved; shape problems: any time; a broken clock: none", async () => {
    const other = await DevCertificateAuthority.createRoot(TD);
    const svid = await other.issueX509Svid(ID);
    const now = new Date();
    const e = svidErrorOf(() => verifyX509Svid(svid.chain, set, now));
    assert.equal(e.reason, "untrusted");
    assert.equal(e.stableFor?.fromMs, Math.max(svid.certificate.notBeforeMs, root.certificate.notBeforeMs));
    assert.equal(e.stableFor?.toMs, Math.min(svid.certificate.notAfterMs, root.certificate.notAfterMs));
    assert.deepEqual(svidErrorOf(() => verifyX509Svid([new Uint8Array([0x30, 0x00])], set, now)).stableFor, ANY_TIME);
    const noUri = await root.issueX509Svid(ID, { uris: [] });
    assert.deepEqual(svidErrorOf(() => verifyX509Svid(noUri.chain, set, now)).stableFor, ANY_TIME);
    assert.deepEqual(svidErrorOf(() => verifyX509Svid(svid.chain, new BundleSet(), now)).stableFor, ANY_TIME);
    assert.equal(svidErrorOf(() => verifyX509Svid(svid.chain, set, new Date(NaN))).stableFor, undefined);
    assert.ok(parseCertificate(svid.der));
  });
});
