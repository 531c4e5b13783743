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

test("bundle map keys: only a spiffe:// key may carry the trailing slash; a bare name with one is not a trust domain", () => {
  assert.throws(() => bundleKeyTrustDomain("example.org/"));
  assert.equal(bundleKeyTrustDomain("spiffe://example.org/"), "example.org");
});

test("problems: a bad key is named (cut at 300 characters) with why; one domain under two keys is reported, the later entry used", async () => {
  const a = await DevCertificateAuthority.createRoot("example.org");
  const b = await DevCertificateAuthority.createRoot("example.org");
  const at300 = `x${"/".repeat(299)}`;
  const at301 = `y${"/".repeat(300)}`;
  const bad = decodeBundleMap("x509", { [at300]: a.der, [at301]: a.der }, new Map());
  assert.equal(bad.bundles.size, 0);
  assert.deepEqual(
    bad.problems.map((p) => [p.key, p.trustDomain, p.keptPrevious]),
    [
      [at300, undefined, false],
      [`${at301.slice(0, 300)}…`, undefined, false],
    ],
  );
  for (const p of bad.problems) assert.match(p.error, /^key is not a trust domain: \S/);

  const twice = decodeBundleMap("x509", { "spiffe://example.org": a.der, "example.org": b.der }, new Map());
  assert.ok(twice.bundles.get("example.org")?.authorities[0]?.equals(b.certificate), "the later entry");
  assert.deepEqual(twice.problems, [
    {
      key: "example.org",
      trustDomain: "example.org",
      error: "trust domain sent twice under different keys; the later entry is used",
      keptPrevious: false,
    },
  ]);
  // The later entry is broken and there is no previous bundle: the domain is not trusted at all (not the earlier
  // entry's roots, which the sender itself replaced).
  const garbage = new Uint8Array([0x30, 0x03, 0x02, 0x01]);
  const broken = decodeBundleMap("x509", { "spiffe://example.org": a.der, "example.org": garbage }, new Map());
  assert.equal(broken.bundles.has("example.org"), false);
  assert.deepEqual(
    broken.problems.map((p) => [p.trustDomain, p.keptPrevious]),
    [
      ["example.org", false],
      ["example.org", false],
    ],
  );
});
