import { test } from "node:test";
import assert from "node:assert/strict";
import { DevCertificateAuthority, DevJwtAuthority } from "../../../src/dev-ca/index.js";
import { bundleKeyTrustDomain, decodeBundleMap } from "../../../src/trust/workload-api/bundle-map.js";

test("bundle map keys: spiffe://td and bare td are both accepted; anything else is not a trust domain", () => {
  assert.equal(bundleKeyTrustDomain("spiffe://example.org"), "example.org");
  assert.equal(bundleKeyTrustDomain("example.org"), "example.org");
  assert.equal(bundleKeyTrustDomain("spiffe://example.org/"), "example.org");
  for (const bad of ["spiffe://example.org/workload", "https://example.org", "Example.org", "", "spiffe://"]) {
    assert.throws(() => bundleKeyTrustDomain(bad), bad);
  }
});

test("X.509 bundle map: concatenated DER per domain; malformed entry keeps the previous bundle; bad key skipped", async () => {
  const a = await DevCertificateAuthority.createRoot("example.org");
  const a2 = await DevCertificateAuthority.createRoot("example.org");
  const p = await DevCertificateAuthority.createRoot("partner.org");
  const first = decodeBundleMap(
    "x509",
    { "spiffe://example.org": new Uint8Array(Buffer.concat([a.der, a2.der])), "partner.org": p.der },
    new Map(),
  );
  assert.deepEqual(first.problems, []);
  assert.equal(first.bundles.get("example.org")?.authorities.length, 2);
  assert.ok(first.bundles.get("partner.org")?.authorities[0]?.equals(p.certificate));

  const garbage = new Uint8Array([0x30, 0x03, 0x02, 0x01]);
  const next = decodeBundleMap(
    "x509",
    { "spiffe://example.org": garbage, "spiffe://new.org": garbage, "not a domain!": a.der },
    first.bundles,
  );
  assert.equal(next.bundles.get("example.org"), first.bundles.get("example.org"), "previous bundle kept");
  assert.equal(next.bundles.has("new.org"), false, "no previous bundle: nothing trusted");
  assert.equal(next.bundles.has("partner.org"), false, "absent from the message: gone");
  assert.deepEqual(
    next.problems.map((x) => [x.trustDomain, x.keptPrevious]),
    [
      ["example.org", true],
      ["new.org", false],
      [undefined, false],
    ],
  );

  const empty = decodeBundleMap("x509", {}, first.bundles);
  assert.equal(empty.bundles.size, 0, "an empty map is legal and means no bundles");
  assert.deepEqual(empty.problems, []);
});

test("JWT bundle map: JWKS JSON bytes; malformed JSON keeps the previous keys", async () => {
  const k = await DevJwtAuthority.create("example.org");
  const enc = (s: string) => new TextEncoder().encode(s);
  const first = decodeBundleMap("jwt", { "spiffe://example.org": enc(k.jwks()) }, new Map());
  assert.equal(first.bundles.get("example.org")?.findAuthority(k.keyId)?.keyId, k.keyId);
  const bad = decodeBundleMap("jwt", { "spiffe://example.org": enc("{not json") }, first.bundles);
  assert.equal(bad.bundles.get("example.org"), first.bundles.get("example.org"));
  assert.equal(bad.problems.length, 1);
  assert.match(bad.problems[0]!.error, /JSON/);
});
