// Bundle parsers: PEM, concatenated DER, JWKS, SPIFFE bundle JSON, the bundle set; malformed variants
// are BundleErrors and nothing else.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { DevCertificateAuthority, DevJwtAuthority, spiffeBundleJson } from "../../src/dev-ca/index.js";
import {
  BundleError,
  BundleSet,
  X509Bundle,
  formatSpiffeBundle,
  parseDerCertificates,
  parseJwtBundle,
  parsePemCertificates,
  parseSpiffeBundle,
  parseTrustDomain,
  parseX509BundleDer,
  parseX509BundlePem,
  verifyJwtSvid,
  verifyX509Svid,
} from "../../src/spiffe/index.js";
import { isBundleError, reasonOf } from "../helpers/spiffe.js";

const TD = "example.org";
let ca1: DevCertificateAuthority;
let ca2: DevCertificateAuthority;
let jwtA: DevJwtAuthority;
let jwtRsa: DevJwtAuthority;

before(async () => {
  ca1 = await DevCertificateAuthority.createRoot(TD);
  ca2 = await DevCertificateAuthority.createRoot(TD, { keyType: "rsa-2048" });
  jwtA = await DevJwtAuthority.create(TD, { keyId: "a" });
  jwtRsa = await DevJwtAuthority.create(TD, { keyId: "r", alg: "RS256" });
});

const td = () => parseTrustDomain(TD);

describe("X.509 bundles from PEM", () => {
  test("one and several certificates, text between blocks ignored", () => {
    const b = parseX509BundlePem(TD, `subject=CN=x\n${ca1.pem}\nissuer=...\n${ca2.pem}`);
    assert.equal(b.trustDomain.name, TD);
    assert.equal(b.authorities.length, 2);
    assert.ok(b.authorities[0]?.equals(ca1.certificate));
    assert.equal(parseX509BundlePem(TD, b.toPem()).authorities.length, 2);
  });
  test("CRLF line endings", () => {
    assert.equal(parseX509BundlePem(TD, ca1.pem.replace(/\n/g, "\r\n")).authorities.length, 1);
  });
  test("duplicates are dropped", () => {
    assert.equal(parseX509BundlePem(TD, ca1.pem + ca1.pem).authorities.length, 1);
  });
  test("empty input is an empty bundle (trusts nothing)", () => {
    assert.equal(parseX509BundlePem(TD, "").authorities.length, 0);
    assert.equal(parseX509BundlePem(TD, " \n").authorities.length, 0);
  });
  test("accepts spiffe://td as the trust domain", () => {
    assert.equal(parseX509BundlePem(`spiffe://${TD}`, ca1.pem).trustDomain.name, TD);
  });
  const body = () => ca1.pem.split("\n").slice(1, -2).join("\n");
  const malformed: Array<[string, () => string]> = [
    ["text without any block", () => "hello"],
    ["unterminated block", () => ca1.pem.replace("-----END CERTIFICATE-----", "")],
    ["mismatched END type", () => ca1.pem.replace("END CERTIFICATE", "END X509 CRL")],
    ["private key block", () => `-----BEGIN PRIVATE KEY-----\n${body()}\n-----END PRIVATE KEY-----\n`],
    ["bad base64", () => `-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n`],
    [
      "PEM headers",
      () => `-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n${body()}\n-----END CERTIFICATE-----\n`,
    ],
    ["empty block", () => "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"],
    [
      "valid base64 that is not a certificate",
      () => `-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n`,
    ],
    [
      "truncated certificate",
      () =>
        `-----BEGIN CERTIFICATE-----\n${Buffer.from(ca1.der.subarray(0, 100)).toString("base64")}\n-----END CERTIFICATE-----\n`,
    ],
  ];
  for (const [name, input] of malformed)
    test(`rejects ${name}`, () => assert.ok(isBundleError(() => parseX509BundlePem(TD, input()))));
  test("rejects a bad trust domain", () => assert.ok(isBundleError(() => parseX509BundlePem("Example.org", ca1.pem))));
  test("rejects more certificates than the limit", () => {
    assert.ok(isBundleError(() => parseX509BundlePem(TD, ca1.pem + ca2.pem, { maxCertificates: 1 })));
  });
  test("rejects certificates over the size limit", () => {
    assert.ok(isBundleError(() => parseX509BundlePem(TD, ca1.pem, { maxCertificateBytes: 100 })));
  });
});

describe("X.509 bundles from concatenated DER (Workload API)", () => {
  test("splits back-to-back certificates", () => {
    const b = parseX509BundleDer(TD, Buffer.concat([ca1.der, ca2.der]));
    assert.equal(b.authorities.length, 2);
    assert.deepEqual(Buffer.from(b.toDer()), Buffer.concat([ca1.der, ca2.der]));
  });
  test("empty input is an empty bundle", () =>
    assert.equal(parseX509BundleDer(TD, new Uint8Array()).authorities.length, 0));
  const malformed: Array<[string, () => Uint8Array]> = [
    ["truncated", () => ca1.der.subarray(0, ca1.der.length - 1)],
    ["trailing garbage", () => Buffer.concat([ca1.der, Buffer.from([0x30])])],
    ["padding between certificates", () => Buffer.concat([ca1.der, Buffer.from([0]), ca2.der])],
    ["not a SEQUENCE", () => Buffer.from([0x04, 0x01, 0x00])],
    ["indefinite length", () => Buffer.from([0x30, 0x80, 0x00, 0x00])],
    ["non-minimal length", () => Buffer.from([0x30, 0x81, 0x03, 0x02, 0x01, 0x01])],
    ["a SEQUENCE that is not a certificate", () => Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])],
    ["huge declared length", () => Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff])],
  ];
  for (const [name, input] of malformed)
    test(`rejects ${name}`, () => assert.ok(isBundleError(() => parseX509BundleDer(TD, input()))));
  test("limits", () => {
    assert.ok(isBundleError(() => parseX509BundleDer(TD, Buffer.concat([ca1.der, ca2.der]), { maxCertificates: 1 })));
    assert.ok(isBundleError(() => parseX509BundleDer(TD, ca1.der, { maxCertificateBytes: 64 })));
  });
  test("non-bytes input", () => assert.ok(isBundleError(() => parseX509BundleDer(TD, "x" as unknown as Uint8Array))));
});

describe("presented chains (parsePemCertificates / parseDerCertificates)", () => {
  test("PEM and DER round trip", async () => {
    const svid = await (await ca1.createIntermediate()).issueX509Svid("/w");
    assert.equal(parsePemCertificates(svid.chainPem).length, 2);
    assert.equal(parseDerCertificates(Buffer.concat(svid.chain)).length, 2);
  });
  test("malformed → SvidError malformed_certificate", () => {
    assert.equal(
      reasonOf(() => parsePemCertificates("")),
      "malformed_certificate",
    );
    assert.equal(
      reasonOf(() => parsePemCertificates("junk")),
      "malformed_certificate",
    );
    assert.equal(
      reasonOf(() => parsePemCertificates(ca1.pem.repeat(9))),
      "malformed_certificate",
    );
    assert.equal(
      reasonOf(() => parsePemCertificates(ca1.pem, { maxCertificateBytes: 10 })),
      "malformed_certificate",
    );
    assert.equal(
      reasonOf(() => parseDerCertificates(new Uint8Array())),
      "malformed_certificate",
    );
    assert.equal(
      reasonOf(() => parseDerCertificates(new Uint8Array([1, 2, 3]))),
      "malformed_certificate",
    );
  });
});

describe("JWT bundles (JWKS)", () => {
  test("parses keys by kid", () => {
    const jwks = JSON.stringify({ keys: [jwtA.jwk(), jwtRsa.jwk()] });
    const b = parseJwtBundle(TD, jwks);
    assert.equal(b.size, 2);
    assert.equal(b.findAuthority("a")?.jwk.kty, "EC");
    assert.equal(b.findAuthority("r")?.jwk.kty, "RSA");
    assert.equal(b.findAuthority("nope"), undefined);
    assert.equal(parseJwtBundle(TD, Buffer.from(jwks)).size, 2);
    assert.equal(parseJwtBundle(TD, JSON.stringify(b.toJwks())).size, 2);
  });
  test("skips keys of unknown type, unknown curve, or another use", () => {
    const jwks = {
      keys: [
        jwtA.jwk(),
        { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: "ed" },
        { kty: "EC", crv: "secp256k1", x: "AA", y: "AA", kid: "k1" },
        { kty: "oct", kid: "sym" },
        { kty: "future-kty", kid: "f" },
        { ...jwtRsa.jwk(), use: "enc" },
        { ...jwtRsa.jwk(), use: "x509-svid", kid: undefined },
      ],
    };
    const b = parseJwtBundle(TD, JSON.stringify(jwks));
    assert.deepEqual(
      b.authorities.map((a) => a.keyId),
      ["a"],
    );
  });
  test("an empty key list is an empty bundle", () => assert.equal(parseJwtBundle(TD, '{"keys":[]}').size, 0));
  const k = () => jwtA.jwk();
  const malformed: Array<[string, () => string]> = [
    ["not JSON", () => "{keys:"],
    ["JSON array", () => "[]"],
    ["JSON null", () => "null"],
    ["no keys member", () => "{}"],
    ["keys not an array", () => '{"keys":{}}'],
    ["key not an object", () => '{"keys":[1]}'],
    ["missing kid", () => JSON.stringify({ keys: [{ ...k(), kid: undefined }] })],
    ["empty kid", () => JSON.stringify({ keys: [{ ...k(), kid: "" }] })],
    ["duplicate kid", () => JSON.stringify({ keys: [k(), k()] })],
    ["missing kty", () => JSON.stringify({ keys: [{ ...k(), kty: undefined }] })],
    ["private key material", () => JSON.stringify({ keys: [{ ...k(), d: "AAAA" }] })],
    ["bad base64url coordinate", () => JSON.stringify({ keys: [{ ...k(), x: "!!" }] })],
    ["short coordinate", () => JSON.stringify({ keys: [{ ...k(), x: "AAAA" }] })],
    [
      "point not on the curve",
      () => JSON.stringify({ keys: [{ ...k(), y: Buffer.alloc(32, 1).toString("base64url") }] }),
    ],
    [
      "small RSA modulus",
      () =>
        JSON.stringify({
          keys: [{ kty: "RSA", kid: "s", n: Buffer.alloc(64, 0xff).toString("base64url"), e: "AQAB" }],
        }),
    ],
    ["even RSA exponent", () => JSON.stringify({ keys: [{ ...jwtRsa.jwk(), e: "AQAA" }] })],
    ["alg outside the JWT-SVID list", () => JSON.stringify({ keys: [{ ...k(), alg: "HS256" }] })],
    ["alg that does not fit the key", () => JSON.stringify({ keys: [{ ...k(), alg: "RS256" }] })],
    ["invalid UTF-8", () => "\uD800"],
  ];
  for (const [name, input] of malformed)
    test(`rejects ${name}`, () => assert.ok(isBundleError(() => parseJwtBundle(TD, input()))));
  test("rejects invalid UTF-8 bytes and oversized input", () => {
    assert.ok(isBundleError(() => parseJwtBundle(TD, new Uint8Array([0x7b, 0xff, 0x7d]))));
    assert.ok(isBundleError(() => parseJwtBundle(TD, '{"keys":[]}', { maxBytes: 5 })));
    assert.ok(isBundleError(() => parseJwtBundle(TD, JSON.stringify({ keys: [k(), jwtRsa.jwk()] }), { maxKeys: 1 })));
  });
});

describe("SPIFFE bundle JSON", () => {
  test("produces both an X.509 and a JWT bundle, with sequence and refresh hint", async () => {
    const json = spiffeBundleJson(TD, {
      x509: [ca1, ca2],
      jwt: [jwtA, jwtRsa],
      sequenceNumber: 7,
      refreshHintSeconds: 300,
    });
    const b = parseSpiffeBundle(TD, json);
    assert.equal(b.trustDomain.name, TD);
    assert.equal(b.x509.authorities.length, 2);
    assert.equal(b.jwt.size, 2);
    assert.equal(b.sequenceNumber, 7);
    assert.equal(b.refreshHintSeconds, 300);
    // Usable for verification, through a BundleSet.
    const set = new BundleSet([b]);
    const svid = await ca2.issueX509Svid("/w");
    assert.equal(verifyX509Svid(svid.chain, set, new Date()).id.toString(), `spiffe://${TD}/w`);
    const token = await jwtRsa.issue({ subject: "/w", audience: "x" });
    assert.equal((await verifyJwtSvid(token, set, { audiences: ["x"], now: new Date() })).id.path, "/w");
    // Round trip through formatSpiffeBundle.
    const again = parseSpiffeBundle(TD, formatSpiffeBundle({ x509: b.x509, jwt: b.jwt, sequenceNumber: 8 }));
    assert.equal(again.x509.authorities.length, 2);
    assert.equal(again.jwt.size, 2);
    assert.equal(again.sequenceNumber, 8);
    assert.equal(again.refreshHintSeconds, undefined);
  });

  test("Ed25519 and P-384 roots", async () => {
    const ed = await DevCertificateAuthority.createRoot(TD, { keyType: "ed25519" });
    const p384 = await DevCertificateAuthority.createRoot(TD, { keyType: "ec-p384" });
    assert.equal(parseSpiffeBundle(TD, spiffeBundleJson(TD, { x509: [ed, p384] })).x509.authorities.length, 2);
  });

  const doc = () =>
    JSON.parse(spiffeBundleJson(TD, { x509: [ca1], jwt: [jwtA] })) as { keys: Array<Record<string, unknown>> };
  const withKeys = (keys: unknown[]) => JSON.stringify({ keys });
  const x5cEntry = () => doc().keys[0] as Record<string, unknown>;
  const jwtEntry = () => doc().keys[1] as Record<string, unknown>;

  test("ignores entries the spec says to ignore", () => {
    const b = parseSpiffeBundle(
      TD,
      withKeys([
        { ...x5cEntry(), use: undefined },
        { ...x5cEntry(), use: "wit-svid" },
        { ...x5cEntry(), use: "X509-SVID" },
        { ...x5cEntry(), x5c: undefined },
        { ...x5cEntry(), x5c: [] },
        { ...x5cEntry(), kty: "future" },
        { ...jwtEntry(), kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
      ]),
    );
    assert.equal(b.x509.authorities.length, 0);
    assert.equal(b.jwt.size, 0);
  });
  test("uses only the first x5c value", () => {
    const b = parseSpiffeBundle(
      TD,
      withKeys([{ ...x5cEntry(), x5c: [(x5cEntry()["x5c"] as string[])[0], "not even base64!"] }]),
    );
    assert.equal(b.x509.authorities.length, 1);
  });
  test("an empty key list is valid (the domain revoked everything)", () => {
    const b = parseSpiffeBundle(TD, '{"keys":[]}');
    assert.equal(b.x509.authorities.length + b.jwt.size, 0);
  });

  const malformed: Array<[string, () => string]> = [
    ["not JSON", () => "nope"],
    ["no keys", () => '{"spiffe_sequence":1}'],
    ["keys not an array", () => '{"keys":"x"}'],
    ["entry not an object", () => '{"keys":[null]}'],
    ["negative sequence", () => '{"keys":[],"spiffe_sequence":-1}'],
    ["fractional sequence", () => '{"keys":[],"spiffe_sequence":1.5}'],
    ["string sequence", () => '{"keys":[],"spiffe_sequence":"1"}'],
    ["negative refresh hint", () => '{"keys":[],"spiffe_refresh_hint":-5}'],
    ["string refresh hint", () => '{"keys":[],"spiffe_refresh_hint":"300"}'],
    ["x5c not an array", () => withKeys([{ ...x5cEntry(), x5c: "abc" }])],
    ["x5c value not base64", () => withKeys([{ ...x5cEntry(), x5c: ["!!!"] }])],
    [
      "x5c value base64url instead of base64",
      () => withKeys([{ ...x5cEntry(), x5c: [Buffer.from(ca1.der).toString("base64url")] }]),
    ],
    ["x5c value not a certificate", () => withKeys([{ ...x5cEntry(), x5c: ["MAMCAQE="] }])],
    ["x5c key members of another key", () => withKeys([{ ...x5cEntry(), x: jwtEntry()["x"], y: jwtEntry()["y"] }])],
    ["x5c without key members", () => withKeys([{ use: "x509-svid", kty: "EC", x5c: x5cEntry()["x5c"] }])],
    ["x5c kty that does not match the certificate", () => withKeys([{ ...x5cEntry(), kty: "RSA" }])],
    ["x5c entry without kty", () => withKeys([{ ...x5cEntry(), kty: undefined }])],
    ["private key in an x509-svid entry", () => withKeys([{ ...x5cEntry(), d: "AAAA" }])],
    ["jwt-svid entry without kid", () => withKeys([{ ...jwtEntry(), kid: undefined }])],
    ["jwt-svid duplicate kid", () => withKeys([jwtEntry(), jwtEntry()])],
    ["jwt-svid bad key", () => withKeys([{ ...jwtEntry(), x: "AA" }])],
  ];
  for (const [name, input] of malformed)
    test(`rejects ${name}`, () => assert.ok(isBundleError(() => parseSpiffeBundle(TD, input()))));
  test("limits", () => {
    const json = spiffeBundleJson(TD, { x509: [ca1, ca2] });
    assert.ok(isBundleError(() => parseSpiffeBundle(TD, json, { maxKeys: 1 })));
    assert.ok(isBundleError(() => parseSpiffeBundle(TD, json, { maxBytes: 100 })));
    assert.ok(isBundleError(() => parseSpiffeBundle(TD, json, { maxCertificateBytes: 100 })));
  });
});

describe("BundleSet", () => {
  test("looks bundles up by trust domain, in both spellings", () => {
    const other = X509Bundle.fromCertificates("other.org", [ca2.certificate]);
    const set = new BundleSet([ca1.x509Bundle(), jwtA.jwtBundle(), other]);
    assert.ok(set.getX509BundleForTrustDomain(td()));
    assert.ok(set.getJwtBundleForTrustDomain(td()));
    assert.ok(set.x509Bundle(TD));
    assert.ok(set.x509Bundle(`spiffe://${TD}`));
    assert.ok(set.jwtBundle(`spiffe://${TD}`));
    assert.equal(set.jwtBundle("other.org"), undefined);
    assert.equal(set.x509Bundle("Not A Domain"), undefined);
    assert.ok(set.has("other.org"));
    assert.ok(!set.has("missing.org"));
    assert.deepEqual(
      set.trustDomains().map((t) => t.name),
      ["example.org", "other.org"],
    );
    assert.equal(set.size, 2);
  });
  test("is immutable: with/without return new sets", () => {
    const set = new BundleSet([ca1.x509Bundle()]);
    const replaced = set.with(X509Bundle.fromCertificates(TD, [ca2.certificate]));
    assert.ok(set.x509Bundle(TD)?.authorities[0]?.equals(ca1.certificate));
    assert.ok(replaced.x509Bundle(TD)?.authorities[0]?.equals(ca2.certificate));
    const removed = replaced.without(`spiffe://${TD}`);
    assert.equal(removed.size, 0);
    assert.equal(replaced.size, 1);
    assert.equal(BundleSet.empty.size, 0);
  });
  test("two bundles of one kind for one trust domain are an error", () => {
    assert.ok(isBundleError(() => new BundleSet([ca1.x509Bundle(), ca2.x509Bundle()])));
    assert.ok(isBundleError(() => new BundleSet([{} as never])));
    assert.ok(isBundleError(() => new BundleSet([{ trustDomain: td(), x509: {}, jwt: {} } as never])));
  });
  test("a SPIFFE bundle contributes both parts", () => {
    const b = parseSpiffeBundle(TD, spiffeBundleJson(TD, { x509: [ca1], jwt: [jwtA] }));
    const set = new BundleSet([b]);
    assert.equal(set.x509Bundle(TD)?.authorities.length, 1);
    assert.equal(set.jwtBundle(TD)?.size, 1);
  });
  test("X509Bundle.fromCertificates rejects non-certificates", () => {
    assert.ok(isBundleError(() => X509Bundle.fromCertificates(TD, [ca1.der as never])));
    assert.ok(isBundleError(() => X509Bundle.fromCertificates("bad td", [])));
    assert.ok(BundleError);
  });
});
