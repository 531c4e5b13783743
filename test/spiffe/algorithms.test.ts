// Signature algorithms (src/spiffe/algorithms.ts): which AlgorithmIdentifiers we read as what (parameters
// included: RSASSA-PSS only with SHA-2, MGF1 of the same hash, salt = hash length, trailer 1, as Go), which key
// each algorithm needs, and signature checks with real keys of every kind we accept, including signatures
// that must not verify (another hash, another encoding, another salt length, another key). Written for the
// spiffe-alg mutation run (session 6).
import assert from "node:assert/strict";
import { constants, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { describe, test } from "node:test";
import {
  algorithmKeyMismatch,
  parseSignatureAlgorithm,
  verifySignature,
  type SignatureAlgorithm,
} from "../../src/spiffe/algorithms.js";
import { readTlv } from "../../src/spiffe/der.js";
import type { PublicKeyInfo } from "../../src/spiffe/public-key.js";
import { NULL, derError, int, oid, seq, tlv } from "../helpers/der-build.js";

const read = (der: Uint8Array) => parseSignatureAlgorithm(der, readTlv(der, 0, der.length));

const ECDSA = { sha256: "1.2.840.10045.4.3.2", sha384: "1.2.840.10045.4.3.3", sha512: "1.2.840.10045.4.3.4" };
const RSA = { sha256: "1.2.840.113549.1.1.11", sha384: "1.2.840.113549.1.1.12", sha512: "1.2.840.113549.1.1.13" };
const HASH = { sha256: "2.16.840.1.101.3.4.2.1", sha384: "2.16.840.1.101.3.4.2.2", sha512: "2.16.840.1.101.3.4.2.3" };
const PSS = "1.2.840.113549.1.1.10";
const MGF1 = "1.2.840.113549.1.1.8";
const ED25519 = "1.3.101.112";

/** RSASSA-PSS AlgorithmIdentifier from its parameter fields. */
const pss = (...fields: Uint8Array[]) => seq(oid(PSS), seq(...fields));
const hashAlg = (h: string, ...params: Uint8Array[]) => seq(oid(h), ...params);
const pssParams = (h: keyof typeof HASH, salt: number, mgfHash: string = HASH[h]) => [
  tlv(0xa0, hashAlg(HASH[h], NULL)),
  tlv(0xa1, seq(oid(MGF1), hashAlg(mgfHash, NULL))),
  tlv(0xa2, int(salt)),
];
const PSS_UNSUPPORTED = { kind: "unsupported", name: "RSASSA-PSS with unsupported parameters" };

describe("parseSignatureAlgorithm", () => {
  test("ECDSA, RSA PKCS#1 v1.5 and Ed25519 with SHA-2, and the parameters each may have", () => {
    for (const [h, o] of Object.entries(ECDSA)) {
      assert.deepEqual(read(seq(oid(o))), { kind: "ecdsa", hash: h, name: `ECDSA-${h.toUpperCase()}` });
      assert.deepEqual(read(seq(oid(o), NULL)), { kind: "unsupported", name: `${o} with parameters` });
    }
    for (const [h, o] of Object.entries(RSA)) {
      const want = { kind: "rsa-pkcs1", hash: h, name: `RSA-PKCS1-${h.toUpperCase()}` };
      assert.deepEqual(read(seq(oid(o))), want);
      assert.deepEqual(read(seq(oid(o), NULL)), want);
      assert.deepEqual(read(seq(oid(o), tlv(0x05, [0x00]))), { kind: "unsupported", name: `${o} with parameters` });
      assert.deepEqual(read(seq(oid(o), int(0))), { kind: "unsupported", name: `${o} with parameters` });
      // Empty, but not NULL.
      assert.deepEqual(read(seq(oid(o), tlv(0x04))), { kind: "unsupported", name: `${o} with parameters` });
    }
    assert.deepEqual(read(seq(oid(ED25519))), { kind: "ed25519", name: "Ed25519" });
    assert.deepEqual(read(seq(oid(ED25519), NULL)), { kind: "unsupported", name: "Ed25519 with parameters" });
    // SHA-1 and DSA parse, as unsupported.
    for (const o of ["1.2.840.113549.1.1.5", "1.2.840.10045.4.1", "1.2.840.10040.4.3"]) {
      assert.deepEqual(read(seq(oid(o))), { kind: "unsupported", name: o });
    }
  });

  test("the AlgorithmIdentifier itself: a SEQUENCE of an OID and at most one parameter", () => {
    assert.equal(
      derError(() => read(tlv(0x31, oid(ECDSA.sha256)))),
      "AlgorithmIdentifier: expected SEQUENCE",
    );
    assert.equal(
      derError(() => read(seq())),
      "AlgorithmIdentifier: bad field count",
    );
    assert.equal(
      derError(() => read(seq(oid(RSA.sha256), NULL, NULL))),
      "AlgorithmIdentifier: bad field count",
    );
    assert.equal(
      derError(() => read(seq(int(1)))),
      "expected OBJECT IDENTIFIER",
    );
  });

  test("RSASSA-PSS: SHA-2, MGF1 with the same hash, salt the hash length, trailer 1", () => {
    for (const [h, salt] of [
      ["sha256", 32],
      ["sha384", 48],
      ["sha512", 64],
    ] as const) {
      const want = { kind: "rsa-pss", hash: h, saltLength: salt, name: `RSASSA-PSS-${h.toUpperCase()}` };
      assert.deepEqual(read(pss(...pssParams(h, salt))), want);
      assert.deepEqual(read(pss(...pssParams(h, salt), tlv(0xa3, int(1)))), want);
      assert.deepEqual(read(pss(...pssParams(h, salt + 1))), PSS_UNSUPPORTED);
      assert.deepEqual(read(pss(...pssParams(h, salt - 1))), PSS_UNSUPPORTED);
    }
    // Hash parameters may be absent as well as NULL.
    const [, mgf, salt] = pssParams("sha256", 32);
    assert.equal(read(pss(tlv(0xa0, hashAlg(HASH.sha256)), mgf!, salt!)).kind, "rsa-pss");
    const unsupported: Array<[string, Uint8Array]> = [
      ["no parameters", seq(oid(PSS))],
      ["NULL parameters", seq(oid(PSS), NULL)],
      ["the SHA-1 defaults", pss()],
      ["salt left at its default of 20", pss(...pssParams("sha256", 32).slice(0, 2))],
      ["no hash", pss(...pssParams("sha256", 32).slice(1))],
      ["no MGF", pss(pssParams("sha256", 32)[0]!, salt!)],
      ["MGF1 over another hash", pss(...pssParams("sha256", 32, HASH.sha384))],
      ["MGF1 over SHA-1", pss(...pssParams("sha256", 32, "1.3.14.3.2.26"))],
      [
        "another MGF",
        pss(tlv(0xa0, hashAlg(HASH.sha256)), tlv(0xa1, seq(oid("1.2.3.4"), hashAlg(HASH.sha256))), salt!),
      ],
      ["MGF1 without its hash", pss(tlv(0xa0, hashAlg(HASH.sha256)), tlv(0xa1, seq(oid(MGF1))), salt!)],
      ["trailer 2", pss(...pssParams("sha256", 32), tlv(0xa3, int(2)))],
      ["an unknown field", pss(...pssParams("sha256", 32), tlv(0xa4, int(1)))],
      ["trailing bytes in a field", pss(tlv(0xa0, hashAlg(HASH.sha256), NULL), mgf!, salt!)],
      ["hash parameters that are not NULL", pss(tlv(0xa0, hashAlg(HASH.sha256, int(0))), mgf!, salt!)],
      ["hash parameters empty but not NULL", pss(tlv(0xa0, hashAlg(HASH.sha256, tlv(0x04))), mgf!, salt!)],
      ["hash NULL with content", pss(tlv(0xa0, hashAlg(HASH.sha256, tlv(0x05, [0]))), mgf!, salt!)],
      ["hash with two parameters", pss(tlv(0xa0, hashAlg(HASH.sha256, NULL, NULL)), mgf!, salt!)],
      ["an empty hash AlgorithmIdentifier", pss(tlv(0xa0, seq()), mgf!, salt!)],
      ["SHA-1", pss(tlv(0xa0, hashAlg("1.3.14.3.2.26")), tlv(0xa1, seq(oid(MGF1), hashAlg("1.3.14.3.2.26"))))],
    ];
    for (const [what, der] of unsupported) assert.deepEqual(read(der), PSS_UNSUPPORTED, what);
  });
});

describe("algorithmKeyMismatch", () => {
  const key = (kind: "ec" | "rsa" | "ed25519" | "unsupported") => ({ kind }) as unknown as PublicKeyInfo;
  const alg = (der: Uint8Array) => read(der);
  test("each algorithm needs its own kind of key", () => {
    const ecdsa = alg(seq(oid(ECDSA.sha384)));
    const pkcs1 = alg(seq(oid(RSA.sha256), NULL));
    const rsaPss = alg(pss(...pssParams("sha256", 32)));
    const ed = alg(seq(oid(ED25519)));
    assert.equal(algorithmKeyMismatch(ecdsa, key("ec")), undefined);
    assert.equal(algorithmKeyMismatch(pkcs1, key("rsa")), undefined);
    assert.equal(algorithmKeyMismatch(rsaPss, key("rsa")), undefined);
    assert.equal(algorithmKeyMismatch(ed, key("ed25519")), undefined);
    assert.equal(algorithmKeyMismatch(ecdsa, key("rsa")), "signature algorithm ECDSA-SHA384 does not match a rsa key");
    assert.equal(
      algorithmKeyMismatch(ecdsa, key("ed25519")),
      "signature algorithm ECDSA-SHA384 does not match a ed25519 key",
    );
    assert.equal(
      algorithmKeyMismatch(pkcs1, key("ec")),
      "signature algorithm RSA-PKCS1-SHA256 does not match a ec key",
    );
    assert.equal(
      algorithmKeyMismatch(rsaPss, key("ed25519")),
      "signature algorithm RSASSA-PSS-SHA256 does not match a ed25519 key",
    );
    assert.equal(algorithmKeyMismatch(ed, key("ec")), "signature algorithm Ed25519 does not match a ec key");
    assert.equal(
      algorithmKeyMismatch(ed, key("unsupported")),
      "signature algorithm Ed25519 does not match a unsupported key",
    );
    assert.equal(
      algorithmKeyMismatch(alg(seq(oid("1.2.840.113549.1.1.5"))), key("rsa")),
      "unsupported signature algorithm 1.2.840.113549.1.1.5",
    );
  });
});

describe("verifySignature with real keys", () => {
  const data = Buffer.from("the TBSCertificate bytes");
  const other = Buffer.from("the TBSCertificate bytez");
  const ec256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ec384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ed = generateKeyPairSync("ed25519");
  const alg = (der: Uint8Array): SignatureAlgorithm => read(der);
  const check = (a: SignatureAlgorithm, sig: Uint8Array, key: KeyObject, d: Uint8Array = data) =>
    verifySignature(a, d, sig, key);

  test("ECDSA: DER signatures with the named hash", () => {
    const sig = sign("sha256", data, { key: ec256.privateKey, dsaEncoding: "der" });
    assert.equal(check(alg(seq(oid(ECDSA.sha256))), sig, ec256.publicKey), true);
    assert.equal(check(alg(seq(oid(ECDSA.sha256))), sig, ec256.publicKey, other), false);
    assert.equal(check(alg(seq(oid(ECDSA.sha384))), sig, ec256.publicKey), false);
    assert.equal(check(alg(seq(oid(ECDSA.sha256))), sig, ec384.publicKey), false);
    const p1363 = sign("sha256", data, { key: ec256.privateKey, dsaEncoding: "ieee-p1363" });
    assert.equal(check(alg(seq(oid(ECDSA.sha256))), p1363, ec256.publicKey), false);
    const sig384 = sign("sha384", data, { key: ec384.privateKey, dsaEncoding: "der" });
    assert.equal(check(alg(seq(oid(ECDSA.sha384))), sig384, ec384.publicKey), true);
    // Keys of another kind (algorithmKeyMismatch keeps them from chain.ts; this is the backstop): an RSA key
    // makes OpenSSL say no, an Ed25519 key makes it throw (ERR_OSSL_INVALID_DIGEST), and a throw is a no.
    assert.equal(check(alg(seq(oid(ECDSA.sha256))), sig, rsa.publicKey), false);
    assert.equal(check(alg(seq(oid(ECDSA.sha256))), sig, ed.publicKey), false);
    assert.equal(check(alg(seq(oid(RSA.sha256), NULL)), sig, ed.publicKey), false);
    assert.equal(check(alg(pss(...pssParams("sha256", 32))), sig, ed.publicKey), false);
  });

  test("RSA PKCS#1 v1.5 and RSASSA-PSS are told apart, and the PSS salt length is the declared one", () => {
    const pkcs1 = sign("sha256", data, rsa.privateKey);
    const pssSig = (saltLength: number, h = "sha256") =>
      sign(h, data, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
    const pkcs1Alg = alg(seq(oid(RSA.sha256), NULL));
    const pssAlg = alg(pss(...pssParams("sha256", 32)));
    assert.equal(check(pkcs1Alg, pkcs1, rsa.publicKey), true);
    assert.equal(check(pkcs1Alg, pkcs1, rsa.publicKey, other), false);
    assert.equal(check(alg(seq(oid(RSA.sha384))), pkcs1, rsa.publicKey), false);
    assert.equal(check(pssAlg, pkcs1, rsa.publicKey), false);
    assert.equal(check(pssAlg, pssSig(32), rsa.publicKey), true);
    assert.equal(check(pkcs1Alg, pssSig(32), rsa.publicKey), false);
    assert.equal(check(pssAlg, pssSig(20), rsa.publicKey), false);
    assert.equal(check(pssAlg, pssSig(32), rsa.publicKey, other), false);
    assert.equal(check(alg(pss(...pssParams("sha384", 48))), pssSig(48, "sha384"), rsa.publicKey), true);
    assert.equal(check(alg(pss(...pssParams("sha384", 48))), pssSig(32, "sha384"), rsa.publicKey), false);
  });

  test("Ed25519; unsupported algorithms never verify", () => {
    const sig = sign(null, data, ed.privateKey);
    assert.equal(check(alg(seq(oid(ED25519))), sig, ed.publicKey), true);
    assert.equal(check(alg(seq(oid(ED25519))), sig, ed.publicKey, other), false);
    assert.equal(check(alg(seq(oid(ED25519))), sig, ec256.publicKey), false);
    const sha1 = sign("sha1", data, rsa.privateKey);
    assert.equal(check(alg(seq(oid("1.2.840.113549.1.1.5"), NULL)), sha1, rsa.publicKey), false);
    assert.equal(
      check(alg(seq(oid(ECDSA.sha256), NULL)), sign("sha256", data, ec256.privateKey), ec256.publicKey),
      false,
    );
  });
});
