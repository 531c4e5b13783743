// The bundle set and the X.509 bundle parsers (src/spiffe/bundle-set.ts, x509-bundle.ts, bundle-input.ts) by exact
// message and at their limits: which bundle a trust domain gets (each part of a SPIFFE bundle under its own trust
// domain; two of a kind refused; with/without), what is not a bundle, the PEM/DER parsers' refusals, and the JSON
// input bounds. bundles.test.ts asserts "a BundleError" only; written for the spiffe-bundle mutants (session 6).
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { DevCertificateAuthority, DevJwtAuthority, spiffeBundleJson } from "../../src/dev-ca/index.js";
import { parseJsonObject } from "../../src/spiffe/bundle-input.js";
import { extension, octets, withExtensions } from "../helpers/der-build.js";
import { bundleErrorMessage } from "../helpers/spiffe.js";
import {
  BundleSet,
  DEFAULT_BUNDLE_LIMITS,
  X509Bundle,
  parseSpiffeBundle,
  parseTrustDomain,
  parseX509BundleDer,
  parseX509BundlePem,
  type AnyBundle,
} from "../../src/spiffe/index.js";

const TD = "example.org";
let ca1: DevCertificateAuthority;
let ca2: DevCertificateAuthority;
let jwtA: DevJwtAuthority;
let jwtOther: DevJwtAuthority;
before(async () => {
  ca1 = await DevCertificateAuthority.createRoot(TD);
  ca2 = await DevCertificateAuthority.createRoot("other.org");
  jwtA = await DevJwtAuthority.create(TD, { keyId: "a" });
  jwtOther = await DevJwtAuthority.create("other.org", { keyId: "o" });
});

const message = bundleErrorMessage;

describe("BundleSet", () => {
  test("each part of a SPIFFE bundle is filed under its own trust domain", () => {
    // A SPIFFE bundle object whose parts disagree: the JWT part is other.org's.
    const mixed = { x509: ca1.x509Bundle(), jwt: jwtOther.jwtBundle() } as unknown as AnyBundle;
    const set = new BundleSet([mixed]);
    assert.ok(set.x509Bundle(TD)?.authorities[0]?.equals(ca1.certificate));
    assert.equal(set.jwtBundle(TD), undefined);
    assert.equal(set.jwtBundle("other.org")?.findAuthority("o")?.keyId, "o");
    assert.equal(set.x509Bundle("other.org"), undefined);
    assert.equal(set.getJwtBundleForTrustDomain(parseTrustDomain(TD)), undefined);
    assert.deepEqual(
      set.trustDomains().map((t) => t.name),
      ["example.org", "other.org"],
    );
    assert.equal(set.size, 2);
  });

  test("two of a kind for one trust domain are refused by name; with() replaces; without() removes both kinds", () => {
    const again = X509Bundle.fromCertificates(TD, [ca2.certificate]);
    assert.equal(
      message(() => new BundleSet([ca1.x509Bundle(), again])),
      "two X.509 bundles for trust domain example.org",
    );
    assert.equal(
      message(() => new BundleSet([jwtA.jwtBundle(), jwtA.jwtBundle()])),
      "two JWT bundles for trust domain example.org",
    );
    const spiffe = parseSpiffeBundle(TD, spiffeBundleJson(TD, { x509: [ca1], jwt: [jwtA] }));
    assert.equal(
      message(() => new BundleSet([again, spiffe])),
      "two X.509 bundles for trust domain example.org",
    );
    assert.equal(
      message(() => new BundleSet([jwtA.jwtBundle(), spiffe])),
      "two JWT bundles for trust domain example.org",
    );
    const set = new BundleSet([ca2.x509Bundle(), ca1.x509Bundle(), jwtA.jwtBundle(), jwtOther.jwtBundle()]);
    // Sorted by name, whatever the order the bundles came in.
    assert.deepEqual(
      set.trustDomains().map((t) => t.name),
      ["example.org", "other.org"],
    );
    const replaced = set.with(again, jwtA.jwtBundle());
    // with() and without() copy every other bundle of both kinds.
    assert.ok(replaced.x509Bundle("other.org")?.authorities[0]?.equals(ca2.certificate));
    assert.equal(replaced.jwtBundle("other.org")?.size, 1);
    assert.ok(replaced.x509Bundle(TD)?.authorities[0]?.equals(ca2.certificate));
    assert.ok(set.x509Bundle(TD)?.authorities[0]?.equals(ca1.certificate));
    const removed = set.without(TD);
    assert.equal(removed.x509Bundle(TD), undefined);
    assert.equal(removed.jwtBundle(TD), undefined);
    assert.ok(removed.jwtBundle("other.org"));
    assert.ok(removed.x509Bundle("other.org")?.authorities[0]?.equals(ca2.certificate));
    assert.ok(!removed.has(TD));
    assert.ok(removed.has("spiffe://other.org"));
    assert.equal(removed.size, 1);
    assert.ok(set.has(TD), "the original set is unchanged");
    // A name that is not a trust domain finds nothing, even where a lenient reading would.
    for (const name of ["Example.org", "spiffe://example.org/x", "", "example.org/"]) {
      assert.equal(set.x509Bundle(name), undefined, name);
      assert.equal(set.jwtBundle(name), undefined, name);
      assert.equal(set.has(name), false, name);
    }
  });

  test("what is not a bundle", () => {
    for (const b of [
      null,
      undefined,
      5,
      "example.org",
      {},
      { x509: ca1.x509Bundle() },
      { jwt: jwtA.jwtBundle() },
      { x509: {}, jwt: jwtA.jwtBundle() },
      { x509: ca1.x509Bundle(), jwt: {} },
    ]) {
      assert.equal(
        message(() => new BundleSet([b as unknown as AnyBundle])),
        "not a bundle",
        JSON.stringify(b),
      );
    }
  });
});

describe("X509Bundle", () => {
  test("parsed certificates only, duplicates dropped, in order; DER and PEM written back", () => {
    assert.equal(
      message(() => X509Bundle.fromCertificates(TD, [ca1.der as never])),
      "X.509 bundle authorities must be parsed certificates",
    );
    assert.equal(
      message(() => X509Bundle.fromCertificates("Bad.td", [])),
      "invalid trust domain: trust domain must be lowercase",
    );
    const b = X509Bundle.fromCertificates(`spiffe://${TD}`, [ca2.certificate, ca1.certificate, ca2.certificate]);
    assert.equal(b.trustDomain.name, TD);
    assert.equal(b.authorities.length, 2);
    assert.ok(b.authorities[0]?.equals(ca2.certificate));
    assert.deepEqual(Buffer.from(b.toDer()), Buffer.concat([ca2.der, ca1.der]));
    assert.equal(b.toPem(), ca2.pem + ca1.pem);
  });

  test("PEM: a string; blank is an empty bundle, text without a block is not; each certificate's own error", () => {
    assert.equal(parseX509BundlePem(TD, " \n\t").authorities.length, 0);
    assert.equal(
      message(() => parseX509BundlePem(TD, "hello")),
      "no PEM certificate found",
    );
    assert.equal(
      message(() => parseX509BundlePem(TD, 5 as never)),
      "PEM bundle must be a string",
    );
    const bad = `-----BEGIN CERTIFICATE-----\n${Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]).toString("base64")}\n-----END CERTIFICATE-----\n`;
    assert.equal(
      message(() => parseX509BundlePem(TD, ca1.pem + bad)),
      "certificate 1: cannot parse certificate: Certificate: expected 3 fields",
    );
    assert.equal(
      message(() => parseX509BundlePem(TD, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")),
      "unexpected PEM block type PRIVATE KEY",
    );
  });

  test("DER: concatenated certificates within the default limits (100 certificates, 16 KiB each)", () => {
    assert.deepEqual(DEFAULT_BUNDLE_LIMITS, { maxCertificateBytes: 16 * 1024, maxCertificates: 100 });
    assert.equal(parseX509BundleDer(TD, new Uint8Array()).authorities.length, 0);
    const hundred = Buffer.concat(Array.from({ length: 100 }, () => ca1.der));
    assert.equal(parseX509BundleDer(TD, hundred).authorities.length, 1, "100 copies of one root, deduplicated");
    assert.equal(
      message(() => parseX509BundleDer(TD, Buffer.concat([hundred, ca1.der]))),
      "more than 100 certificates",
    );
    assert.equal(
      message(() => parseX509BundleDer(TD, ca1.der, { maxCertificateBytes: ca1.der.length - 1 })),
      `certificate larger than ${ca1.der.length - 1} bytes`,
    );
    assert.equal(parseX509BundleDer(TD, ca1.der, { maxCertificateBytes: ca1.der.length }).authorities.length, 1);
    assert.equal(
      message(() => parseX509BundleDer(TD, new Uint8Array([0x04, 0x00]))),
      "bad DER at offset 0: expected a certificate SEQUENCE",
    );
    // A larger limit reaches the certificate parser too: a 17 KiB root is read under a 32 KiB limit.
    const big = withExtensions(ca1.der, [extension("1.2.3", undefined, octets(new Uint8Array(17 * 1024)))]);
    assert.equal(
      parseX509BundleDer(TD, big, { maxCertificateBytes: 32 * 1024 }).authorities[0]?.der.length,
      big.length,
    );
    assert.equal(
      message(() => parseX509BundleDer(TD, big)),
      "certificate larger than 16384 bytes",
    );
  });
});

describe("bundle JSON input", () => {
  test("size first (characters and UTF-8 bytes), strict UTF-8, a JSON object", () => {
    assert.deepEqual(parseJsonObject('{"a":1}', 7, "doc"), { a: 1 });
    assert.equal(
      message(() => parseJsonObject('{"a":1}', 6, "doc")),
      "doc larger than 6 bytes",
    );
    // Four characters, five UTF-8 bytes.
    assert.deepEqual(parseJsonObject('{"\u00e9"}'.replace("}", ":1}"), 8, "doc"), { "\u00e9": 1 });
    assert.equal(
      message(() => parseJsonObject('{"\u00e9":1}', 7, "doc")),
      "doc larger than 7 bytes",
    );
    assert.deepEqual(parseJsonObject(Buffer.from('{"a":1}'), 7, "doc"), { a: 1 });
    assert.equal(
      message(() => parseJsonObject(Buffer.from('{"a":1}'), 6, "doc")),
      "doc larger than 6 bytes",
    );
    assert.equal(
      message(() => parseJsonObject(new Uint8Array([0x7b, 0xff, 0x7d]), 10, "doc")),
      "doc is not valid UTF-8",
    );
    assert.equal(
      message(() => parseJsonObject(5 as never, 10, "doc")),
      "doc must be a string or bytes",
    );
    assert.equal(
      message(() => parseJsonObject("{", 10, "doc")),
      "doc is not valid JSON",
    );
    for (const v of ["[]", "null", "5", '"x"']) {
      assert.equal(
        message(() => parseJsonObject(v, 10, "doc")),
        "doc must be a JSON object",
        v,
      );
    }
  });
});
