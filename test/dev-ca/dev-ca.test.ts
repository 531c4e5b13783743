// The in-memory dev CA: outputs are usable by the SPIFFE core and by OpenSSL, and a rotation works the
// way the dev Workload API server will do it.
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { describe, test } from "node:test";
import {
  DevCertificateAuthority,
  DevJwtAuthority,
  KEY_TYPES,
  spiffeBundleJson,
  x509BundleOf,
} from "../../src/dev-ca/index.js";
import {
  BundleSet,
  parseJwtBundle,
  parsePemCertificates,
  parseSpiffeBundle,
  parseX509BundlePem,
  verifyJwtSvid,
  verifyX509Svid,
} from "../../src/spiffe/index.js";
import { reasonOf } from "../helpers/spiffe.js";

describe("dev CA", () => {
  test("PEM/DER exports and the private key match", async () => {
    const root = await DevCertificateAuthority.createRoot("example.org");
    const int = await root.createIntermediate();
    const svid = await int.issueX509Svid("/ns/default/sa/web", { dnsNames: ["web.example.org"] });
    assert.equal(svid.id, "spiffe://example.org/ns/default/sa/web");
    assert.equal(svid.chain.length, 2);
    assert.deepEqual(
      parsePemCertificates(svid.chainPem).map((d) => Buffer.from(d)),
      svid.chain.map((d) => Buffer.from(d)),
    );
    const key = createPrivateKey(await svid.privateKeyPem());
    const x = new X509Certificate(svid.pem);
    assert.ok(x.checkPrivateKey(key));
    assert.ok(x.verify(new X509Certificate(int.pem).publicKey));
    assert.equal(parseX509BundlePem("example.org", root.pem).authorities.length, 1);
    assert.ok(root.root() === root && int.root() === root);
    assert.deepEqual(int.intermediates(), [int.der]);
    assert.deepEqual(root.intermediates(), []);
  });

  test("every key type issues verifiable SVIDs", async () => {
    for (const keyType of KEY_TYPES) {
      const root = await DevCertificateAuthority.createRoot("example.org", { keyType });
      const svid = await root.issueX509Svid("/w", { keyType });
      assert.equal(
        reasonOf(() => verifyX509Svid(svid.chain, new BundleSet([root.x509Bundle()]), new Date())),
        "ok",
        keyType,
      );
      assert.equal(root.keyType, keyType);
    }
  });

  test("rotation: a new root, both roots in the bundle, old and new SVIDs verify; then the old root is dropped", async () => {
    const oldRoot = await DevCertificateAuthority.createRoot("example.org");
    const oldSvid = await oldRoot.issueX509Svid("/w");
    const newRoot = await DevCertificateAuthority.createRoot("example.org");
    const newSvid = await newRoot.issueX509Svid("/w");
    const during = new BundleSet([x509BundleOf("example.org", [oldRoot, newRoot])]);
    assert.equal(
      reasonOf(() => verifyX509Svid(oldSvid.chain, during, new Date())),
      "ok",
    );
    assert.equal(
      reasonOf(() => verifyX509Svid(newSvid.chain, during, new Date())),
      "ok",
    );
    const after = during.with(newRoot.x509Bundle());
    assert.equal(
      reasonOf(() => verifyX509Svid(oldSvid.chain, after, new Date())),
      "untrusted",
    );
    assert.equal(
      reasonOf(() => verifyX509Svid(newSvid.chain, after, new Date())),
      "ok",
    );
  });

  test("JWT authority: JWKS, bundle, SPIFFE bundle", async () => {
    const jwt = await DevJwtAuthority.create("example.org", { alg: "ES384", keyId: "k1" });
    const jwks = JSON.parse(jwt.jwks()) as { keys: Array<Record<string, unknown>> };
    assert.equal(jwks.keys[0]?.["kid"], "k1");
    assert.equal(jwks.keys[0]?.["crv"], "P-384");
    assert.ok(createPublicKey({ key: jwks.keys[0] as never, format: "jwk" }));
    const bundle = parseJwtBundle("example.org", jwt.jwks());
    const token = await jwt.issue({ subject: "/w", audience: ["a", "b"], ttlSeconds: 60 });
    const svid = await verifyJwtSvid(token, new BundleSet([bundle]), { audiences: ["b"], now: new Date() });
    assert.equal(svid.id.toString(), "spiffe://example.org/w");
    assert.equal(svid.algorithm, "ES384");
    const root = await DevCertificateAuthority.createRoot("example.org");
    const sb = parseSpiffeBundle(
      "example.org",
      spiffeBundleJson("example.org", { x509: [root], jwt: [jwt], refreshHintSeconds: 60 }),
    );
    assert.equal(sb.jwt.findAuthority("k1")?.jwk.kty, "EC");
    assert.equal(sb.x509.authorities.length, 1);
    assert.equal(sb.refreshHintSeconds, 60);
  });
});
