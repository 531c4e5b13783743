// Path building (src/spiffe/chain.ts): the detail of a refusal names which certificate had no issuer and in what
// role, so an operator can tell a missing intermediate from a foreign CA. The mutation run found these details
// unasserted (only the reason code was).
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { BundleSet, verifyX509Svid } from "../../src/spiffe/index.js";
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
