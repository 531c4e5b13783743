// Path building (src/spiffe/chain.ts): the detail of a refusal names which certificate had no issuer and in what
// role, so an operator can tell a missing intermediate from a foreign CA. The mutation run found these details
// unasserted (only the reason code was).
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { BundleSet, verifyX509Svid, type Certificate } from "../../src/spiffe/index.js";
import { buildPath, type PathLimits, type PathResult } from "../../src/spiffe/chain.js";
import { svidErrorOf } from "../helpers/spiffe.js";

const TD = "a.example";
const ID = `spiffe://${TD}/ns/default/sa/web`;

let root: DevCertificateAuthority;
let bundles: BundleSet;
before(async () => {
  root = await DevCertificateAuthority.createRoot(TD);
  bundles = new BundleSet([root.x509Bundle()]);
});

test("a leaf from another root with the same name: its signature does not verify with the trusted root's key", async () => {
  const stranger = await DevCertificateAuthority.createRoot(TD);
  const svid = await stranger.issueX509Svid(ID);
  const err = svidErrorOf(() => verifyX509Svid(svid.chain, bundles, new Date()));
  assert.equal(err.reason, "untrusted");
  assert.equal(
    err.detail,
    `signature of leaf (subject "${svid.certificate.subject}") does not verify with the key of root (subject "${root.certificate.subject}")`,
  );
});

test("a leaf whose issuer was not sent: no issuer of the leaf, naming its subject and issuer", async () => {
  const int = await root.createIntermediate();
  const svid = await int.issueX509Svid(ID);
  const err = svidErrorOf(() => verifyX509Svid([svid.der], bundles, new Date()));
  assert.equal(err.reason, "untrusted");
  assert.equal(
    err.detail,
    `no issuer of leaf (subject "${svid.certificate.subject}") found (issuer "${svid.certificate.issuer}")`,
  );
});

test("a chain missing its middle intermediate: no issuer of the intermediate", async () => {
  const upper = await root.createIntermediate();
  const lower = await upper.createIntermediate();
  const svid = await lower.issueX509Svid(ID);
  const withoutUpper = [svid.der, lower.der];
  const err = svidErrorOf(() => verifyX509Svid(withoutUpper, bundles, new Date()));
  assert.equal(err.reason, "untrusted");
  assert.equal(
    err.detail,
    `no issuer of intermediate (subject "${lower.certificate.subject}") found (issuer "${lower.certificate.issuer}")`,
  );
  // With it, the same leaf verifies through both.
  assert.equal(verifyX509Svid([svid.der, lower.der, upper.der], bundles, new Date()).verifiedChain.length, 4);
});

test("an issuer that may not issue: the detail names its role and what it lacks", async () => {
  const notCa = await root.createIntermediate({ isCA: false });
  const svid = await notCa.issueX509Svid(ID);
  const err = svidErrorOf(() => verifyX509Svid([svid.der, notCa.der], bundles, new Date()));
  assert.equal(err.reason, "untrusted");
  assert.equal(
    err.detail,
    `intermediate (subject "${notCa.certificate.subject}") is not a CA (basicConstraints cA is not true)`,
  );
  const noCertSign = await DevCertificateAuthority.createRoot(TD, { keyUsage: ["digitalSignature"] });
  const leaf = await noCertSign.issueX509Svid(ID);
  const err2 = svidErrorOf(() => verifyX509Svid(leaf.chain, new BundleSet([noCertSign.x509Bundle()]), new Date()));
  assert.equal(err2.detail, `root (subject "${noCertSign.certificate.subject}") lacks keyCertSign key usage`);
});

// A signature algorithm the issuer's key cannot make is refused by name before any signature check, so the
// operator reads "ECDSA over an RSA key", not a bare "does not verify".
test("a certificate whose signature algorithm its issuer's key type cannot make: refused, the detail names the pair", async () => {
  const rsaRoot = await DevCertificateAuthority.createRoot(TD, { keyType: "rsa-2048" });
  const ecForger = await DevCertificateAuthority.createRoot(TD, { keyType: "ec-p256" });
  // ecdsa-with-SHA256 declared, issuer key RSA.
  const ecdsaOverRsa = await rsaRoot.issueX509Svid(ID, { signingKey: ecForger.keys.privateKey });
  assert.equal(ecdsaOverRsa.certificate.signatureAlgorithm.name, "ECDSA-SHA256");
  const err = svidErrorOf(() => verifyX509Svid(ecdsaOverRsa.chain, new BundleSet([rsaRoot.x509Bundle()]), new Date()));
  assert.equal(err.reason, "untrusted");
  assert.equal(
    err.detail,
    `leaf (subject "${ecdsaOverRsa.certificate.subject}"): signature algorithm ECDSA-SHA256 does not match a rsa key`,
  );

  // The reverse, one link up: an intermediate declaring sha256WithRSAEncryption under an ECDSA root.
  const rsaForger = await DevCertificateAuthority.createRoot(TD, { keyType: "rsa-2048" });
  const int = await root.createIntermediate({ signingKey: rsaForger.keys.privateKey });
  assert.equal(int.certificate.signatureAlgorithm.name, "RSA-PKCS1-SHA256");
  const svid = await int.issueX509Svid(ID);
  const err2 = svidErrorOf(() => verifyX509Svid(svid.chain, bundles, new Date()));
  assert.equal(err2.reason, "untrusted");
  assert.equal(
    err2.detail,
    `intermediate (subject "${int.certificate.subject}"): signature algorithm RSA-PKCS1-SHA256 does not match a ec key`,
  );
});

// Loops: a certificate of a CA already on the path (same subject AND same key; Go's path builder draws the same
// line) is never a new issuer. Without that rule a cross-signed pair sent ahead of the real intermediate would
// be walked round and round, branching at every re-issued copy, until the candidate-issuer budget ran out and
// the good chain beside it was refused.
test("a cross-signed loop sent before the real intermediate does not use up the search: the chain verifies, the loop alone is refused", async () => {
  const real = await root.createIntermediate({ name: "A" });
  const svid = await real.issueX509Svid(ID);
  // CAs X (named A, like the real one, with its own key) and Y (named B) certify each other, twice each.
  const x = await DevCertificateAuthority.createRoot(TD, { name: "A" });
  const y = await DevCertificateAuthority.createRoot(TD, { name: "B" });
  const xByY = await Promise.all([0, 1].map(() => y.createIntermediate({ name: "A", keys: x.keys })));
  const yByX = await Promise.all([0, 1].map(() => x.createIntermediate({ name: "B", keys: y.keys })));
  const loop = [...xByY, ...yByX].map((c) => c.der);
  assert.equal(xByY[0]?.certificate.subjectKey, real.certificate.subjectKey, "the loop answers to the leaf's issuer");

  const ok = verifyX509Svid([svid.der, ...loop, real.der], bundles, new Date());
  assert.deepEqual(
    ok.verifiedChain.map((c) => c.sha256Hex()),
    [svid.certificate, real.certificate, root.certificate].map((c) => c.sha256Hex()),
  );

  const err = svidErrorOf(() => verifyX509Svid([svid.der, ...loop], bundles, new Date()));
  assert.equal(err.reason, "untrusted");
  const b = yByX[0]?.certificate as Certificate;
  assert.equal(err.detail, `no issuer of intermediate (subject "${b.subject}") found (issuer "${b.issuer}")`);
});

test("a verified path holds each CA once: a cross-certificate of the real intermediate is not a way round to it", async () => {
  const real = await root.createIntermediate({ name: "A" });
  const svid = await real.issueX509Svid(ID);
  // B certifies A's key and A certifies B's: every link of leaf → A(by B) → B(by A) → A(by root) → root verifies.
  const b = await DevCertificateAuthority.createRoot(TD, { name: "B" });
  const aByB = await b.createIntermediate({ name: "A", keys: real.keys });
  const bByA = await real.createIntermediate({ name: "B", keys: b.keys });
  const r = verifyX509Svid([svid.der, aByB.der, bByA.der, real.der], bundles, new Date());
  assert.deepEqual(
    r.verifiedChain.map((c) => c.sha256Hex()),
    [svid.certificate, real.certificate, root.certificate].map((c) => c.sha256Hex()),
  );
});

test("only the same subject AND the same key is a loop: one key under two names, or one name with two keys, verifies", async () => {
  // A CA renamed with its key kept: I2 (key K) is certified by I1 (same key K, another name).
  const i1 = await root.createIntermediate({ name: "I1" });
  const i2 = await i1.createIntermediate({ name: "I2", keys: i1.keys });
  const renamed = await i2.issueX509Svid(ID);
  assert.equal(i1.certificate.spkiKey, i2.certificate.spkiKey);
  assert.equal(verifyX509Svid(renamed.chain, bundles, new Date()).verifiedChain.length, 4);

  // A root re-keyed under its own name: the old root (in the bundle) certifies the new key, which signs the leaf.
  const old = await DevCertificateAuthority.createRoot(TD, { name: "rekeyed" });
  const link = await old.createIntermediate({ name: "rekeyed" });
  assert.equal(link.certificate.subjectKey, old.certificate.subjectKey);
  const rekeyed = await link.issueX509Svid(ID);
  const r = verifyX509Svid(rekeyed.chain, new BundleSet([old.x509Bundle()]), new Date());
  assert.deepEqual(
    r.verifiedChain.map((c) => c.sha256Hex()),
    [rekeyed.certificate, link.certificate, old.certificate].map((c) => c.sha256Hex()),
  );
});

// The in-search bound, through buildPath itself: verifyX509Svid never reaches it (see the comment at the bound
// in chain.ts: with the loop check a path holds at most the certificates supplied, and those are capped first).
test("buildPath bounds each candidate path, leaf and root counted: a longer route is cut, a shorter one beside it is built", async () => {
  const limits = (maxPathLength: number): PathLimits => ({
    maxPathLength,
    maxSignatureChecks: 16,
    maxIssuerTries: 32,
    keyCache: undefined,
  });
  const upper = await root.createIntermediate();
  const lower = await upper.createIntermediate({ name: "L" });
  // The same CA (name and key) also certified by the root directly: a second, shorter route.
  const lowerDirect = await root.createIntermediate({ name: "L", keys: lower.keys });
  const leaf = (await lower.issueX509Svid(ID)).certificate;
  const now = Date.now();
  const hashes = (r: PathResult) => (r.ok ? r.path.map((c) => c.sha256Hex()) : r.detail);

  const long = [leaf, lower.certificate, upper.certificate, root.certificate];
  assert.deepEqual(
    hashes(buildPath(leaf, [lower.certificate, upper.certificate], [root.certificate], TD, now, limits(4))),
    long.map((c) => c.sha256Hex()),
  );
  assert.deepEqual(buildPath(leaf, [lower.certificate, upper.certificate], [root.certificate], TD, now, limits(3)), {
    ok: false,
    reason: "untrusted",
    detail: "path longer than 3 certificates",
  });

  // Both routes supplied, the long one first: it is taken when it fits, cut (and the short one built) when not.
  const both = [lower.certificate, upper.certificate, lowerDirect.certificate];
  assert.deepEqual(
    hashes(buildPath(leaf, both, [root.certificate], TD, now, limits(4))),
    long.map((c) => c.sha256Hex()),
  );
  assert.deepEqual(
    hashes(buildPath(leaf, both, [root.certificate], TD, now, limits(3))),
    [leaf, lowerDirect.certificate, root.certificate].map((c) => c.sha256Hex()),
  );
});
