// Public keys (src/spiffe/public-key.ts): SubjectPublicKeyInfo read strictly (real keys of every kind, and
// hand-made encodings each wrong in one way, with the exact error), which keys an X.509 path may hold (RSA
// 2048-4096 bits with e = 65537, P-256, P-384, Ed25519: each bound at its edge, each exponent octet), and the
// import into node:crypto. Written for the spiffe-alg mutation run (session 6).
import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { describe, test } from "node:test";
import { readTlv } from "../../src/spiffe/der.js";
import {
  certificatePublicKeyProblem,
  importPublicKey,
  parsePublicKeyInfo,
  type PublicKeyInfo,
} from "../../src/spiffe/public-key.js";
import { NULL, derError, int, oid, seq, tlv } from "../helpers/der-build.js";
import { fakeRsaSpki } from "../helpers/hostile-keys.js";

const EC = "1.2.840.10045.2.1";
const RSA = "1.2.840.113549.1.1.1";
const ED25519 = "1.3.101.112";
const P256 = "1.2.840.10045.3.1.7";

const parse = (der: Uint8Array) => parsePublicKeyInfo(der, readTlv(der, 0, der.length));
const spkiOf = (k: KeyObject) => new Uint8Array(k.export({ type: "spki", format: "der" }));
/** A SubjectPublicKeyInfo from its algorithm fields and key bytes (no unused bits). */
const spki = (alg: Uint8Array[], key: Uint8Array | number[]) => seq(seq(...alg), tlv(0x03, [0x00], key));

const ec256 = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
const ec384 = generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey;
const ec521 = generateKeyPairSync("ec", { namedCurve: "P-521" }).publicKey;
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
const ed = generateKeyPairSync("ed25519").publicKey;

describe("parsePublicKeyInfo", () => {
  test("real keys of every kind, read as OpenSSL reads them", () => {
    for (const [key, curve, size] of [
      [ec256, "P-256", 32],
      [ec384, "P-384", 48],
      [ec521, "P-521", 66],
    ] as const) {
      const info = parse(spkiOf(key));
      const jwk = key.export({ format: "jwk" });
      assert.equal(info.kind, "ec");
      if (info.kind !== "ec") return;
      assert.equal(info.curve, curve);
      assert.equal(info.x.length, size);
      assert.equal(Buffer.from(info.x).toString("base64url"), jwk.x);
      assert.equal(Buffer.from(info.y).toString("base64url"), jwk.y);
    }
    const r = parse(spkiOf(rsa));
    const rj = rsa.export({ format: "jwk" });
    assert.equal(r.kind, "rsa");
    if (r.kind !== "rsa") return;
    assert.equal(r.bits, 2048);
    assert.equal(Buffer.from(r.n).toString("base64url"), rj.n);
    assert.deepEqual([...r.e], [1, 0, 1]);
    const e = parse(spkiOf(ed));
    assert.equal(e.kind, "ed25519");
    if (e.kind !== "ed25519") return;
    assert.equal(Buffer.from(e.key).toString("base64url"), ed.export({ format: "jwk" }).x);
  });

  test("RSA: parameters absent or NULL; leading zero octets are not bits", () => {
    const rsaKey = (n: number[], e: number[]) => seq(tlv(0x02, n), tlv(0x02, e));
    const n = [0x00, 0xc1, 0x02, 0x03];
    assert.deepEqual(parse(spki([oid(RSA), NULL], rsaKey(n, [0x03]))), {
      kind: "rsa",
      n: new Uint8Array([0xc1, 0x02, 0x03]),
      e: new Uint8Array([0x03]),
      bits: 24,
    });
    assert.equal((parse(spki([oid(RSA)], rsaKey([0x01, 0x00], [0x03]))) as { bits: number }).bits, 9);
    assert.equal((parse(spki([oid(RSA)], rsaKey([0x7f], [0x03]))) as { bits: number }).bits, 7);
    // An all-zero modulus keeps its last octet: n is [0], 0 bits (refused later as too small).
    assert.deepEqual(parse(spki([oid(RSA)], rsaKey([0x00], [0x03]))), {
      kind: "rsa",
      n: new Uint8Array([0]),
      e: new Uint8Array([3]),
      bits: 0,
    });
    const bad: Array<[Uint8Array, string]> = [
      [spki([oid(RSA), tlv(0x05, [0x00])], rsaKey(n, [3])), "RSA key: parameters must be NULL"],
      [spki([oid(RSA), int(0)], rsaKey(n, [3])), "RSA key: parameters must be NULL"],
      [spki([oid(RSA), tlv(0x04)], rsaKey(n, [3])), "RSA key: parameters must be NULL"],
      [spki([oid(RSA)], tlv(0x31, tlv(0x02, n), tlv(0x02, [3]))), "RSA key: expected SEQUENCE"],
      [spki([oid(RSA)], [...rsaKey(n, [3]), 0x05, 0x00]), "RSA key: expected SEQUENCE"],
      [spki([oid(RSA)], seq(tlv(0x02, n))), "RSA key: expected modulus and exponent"],
      [spki([oid(RSA)], seq(tlv(0x02, n), tlv(0x02, [3]), tlv(0x02, [3]))), "RSA key: expected modulus and exponent"],
      [spki([oid(RSA)], rsaKey([0x81, 0x02], [3])), "RSA key: negative value"],
      [spki([oid(RSA)], rsaKey(n, [0x80, 0x01])), "RSA key: negative value"],
    ];
    for (const [der, message] of bad)
      assert.equal(
        derError(() => parse(der)),
        message,
      );
  });

  test("EC: a named curve and an uncompressed point of its size", () => {
    const point = (size: number, first = 0x04) => [first, ...new Array<number>(2 * size).fill(0x11)];
    assert.deepEqual(parse(spki([oid(EC), oid(P256)], point(32))), {
      kind: "ec",
      curve: "P-256",
      x: new Uint8Array(32).fill(0x11),
      y: new Uint8Array(32).fill(0x11),
    });
    assert.deepEqual(parse(spki([oid(EC), oid("1.3.132.0.10")], point(32))), {
      kind: "unsupported",
      name: "EC curve 1.3.132.0.10",
    });
    const bad: Array<[Uint8Array, string]> = [
      [spki([oid(EC)], point(32)), "EC key: named curve required"],
      [spki([oid(EC), NULL], point(32)), "EC key: named curve required"],
      [spki([oid(EC), oid(P256)], point(32).slice(0, -1)), "EC key: invalid point encoding"],
      [spki([oid(EC), oid(P256)], [...point(32), 0x11]), "EC key: invalid point encoding"],
      [spki([oid(EC), oid(P256)], point(32, 0x03)), "EC key: invalid point encoding"],
      [spki([oid(EC), oid(P256)], [0x02, ...new Array<number>(32).fill(0x11)]), "EC key: invalid point encoding"],
    ];
    for (const [der, message] of bad)
      assert.equal(
        derError(() => parse(der)),
        message,
      );
  });

  test("Ed25519: no parameters, 32 octets; unknown algorithms come back unsupported", () => {
    const k = new Array<number>(32).fill(7);
    assert.deepEqual(parse(spki([oid(ED25519)], k)), { kind: "ed25519", key: new Uint8Array(k) });
    assert.equal(
      derError(() => parse(spki([oid(ED25519), NULL], k))),
      "Ed25519 key: parameters must be absent",
    );
    assert.equal(
      derError(() => parse(spki([oid(ED25519)], k.slice(1)))),
      "Ed25519 key: must be 32 bytes",
    );
    assert.equal(
      derError(() => parse(spki([oid(ED25519)], [...k, 7]))),
      "Ed25519 key: must be 32 bytes",
    );
    assert.deepEqual(parse(spki([oid("1.2.840.10040.4.1"), NULL], [0x02, 0x01, 0x05])), {
      kind: "unsupported",
      name: "1.2.840.10040.4.1",
    });
  });

  test("the SubjectPublicKeyInfo itself", () => {
    const k = new Array<number>(32).fill(7);
    const bad: Array<[Uint8Array, string]> = [
      [tlv(0x31, seq(oid(ED25519)), tlv(0x03, [0], k)), "SubjectPublicKeyInfo: expected SEQUENCE"],
      [seq(seq(oid(ED25519))), "SubjectPublicKeyInfo: bad field count"],
      [seq(seq(oid(ED25519)), tlv(0x03, [0], k), NULL), "SubjectPublicKeyInfo: bad field count"],
      [seq(seq(), tlv(0x03, [0], k)), "SubjectPublicKeyInfo: bad algorithm"],
      [seq(seq(oid(ED25519), NULL, NULL), tlv(0x03, [0], k)), "SubjectPublicKeyInfo: bad algorithm"],
      [seq(seq(oid(ED25519)), tlv(0x03, [1], [...k.slice(1), 6])), "SubjectPublicKeyInfo: key has unused bits"],
      [seq(seq(oid(ED25519)), tlv(0x04, k)), "expected BIT STRING"],
    ];
    for (const [der, message] of bad)
      assert.equal(
        derError(() => parse(der)),
        message,
      );
  });
});

describe("certificatePublicKeyProblem", () => {
  /** An RSA key of exactly `bits` bits (top bit set, odd) with exponent octets `e`. */
  const rsaInfo = (bits: number, e: number[] = [1, 0, 1]) => {
    const n = new Array<number>(Math.ceil(bits / 8)).fill(0xa5);
    n[0] = 1 << ((bits - 1) % 8);
    const integer = (b: number[]) => tlv(0x02, (b[0] as number) & 0x80 ? [0, ...b] : b);
    const info = parse(spki([oid(RSA), NULL], seq(integer(n), integer(e))));
    assert.equal(info.kind === "rsa" && info.bits, bits);
    return info;
  };
  test("RSA: 2048 to 4096 bits", () => {
    assert.equal(certificatePublicKeyProblem(rsaInfo(2048)), undefined);
    assert.equal(certificatePublicKeyProblem(rsaInfo(4096)), undefined);
    assert.equal(certificatePublicKeyProblem(rsaInfo(3072)), undefined);
    assert.equal(certificatePublicKeyProblem(rsaInfo(2047)), "RSA key of 2047 bits (allowed: 2048–4096)");
    assert.equal(certificatePublicKeyProblem(rsaInfo(4097)), "RSA key of 4097 bits (allowed: 2048–4096)");
    assert.equal(certificatePublicKeyProblem(parse(spkiOf(rsa))), undefined);
  });

  test("RSA: e = 65537 only, every octet checked; the exponent named in decimal up to 48 bits", () => {
    const problem = (e: number[]) => certificatePublicKeyProblem(rsaInfo(2048, e));
    assert.equal(problem([0x01, 0x00, 0x01]), undefined);
    // Random moduli of each size, as hostile-keys.ts makes them for the server-level tests.
    assert.equal(certificatePublicKeyProblem(parse(fakeRsaSpki(4096, new Uint8Array([1, 0, 1])))), undefined);
    const refused: Array<[number[], string]> = [
      [[0x03], "public exponent 3"],
      [[0x01, 0x01], "public exponent 257"],
      [[0x03, 0x00, 0x01], "public exponent 196609"],
      [[0x01, 0x02, 0x01], "public exponent 66049"],
      [[0x01, 0x00, 0x03], "public exponent 65539"],
      [[0x01, 0x00, 0x00, 0x01], "public exponent 16777217"],
      [[0x01, 0x00, 0x01, 0x01], "public exponent 16777473"],
      [[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff], "public exponent 140737488355327"],
      [[0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01], "a 49-bit public exponent"],
      [[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "a 63-bit public exponent"],
    ];
    for (const [e, named] of refused) {
      assert.equal(problem(e), `RSA key with ${named} (only 65537 is allowed)`);
    }
  });

  test("EC: P-256 and P-384; Ed25519; nothing unsupported", () => {
    assert.equal(certificatePublicKeyProblem(parse(spkiOf(ec256))), undefined);
    assert.equal(certificatePublicKeyProblem(parse(spkiOf(ec384))), undefined);
    assert.equal(certificatePublicKeyProblem(parse(spkiOf(ec521))), "ECDSA P-521 key (allowed curves: P-256, P-384)");
    assert.equal(certificatePublicKeyProblem(parse(spkiOf(ed))), undefined);
    assert.equal(
      certificatePublicKeyProblem({ kind: "unsupported", name: "EC curve 1.3.132.0.10" }),
      "unsupported public key algorithm EC curve 1.3.132.0.10",
    );
  });
});

describe("importPublicKey", () => {
  test("each kind becomes the same key OpenSSL reads from the SPKI; unsupported keys are not imported", () => {
    for (const key of [ec256, ec384, ec521, rsa, ed]) {
      const imported = importPublicKey(parse(spkiOf(key)));
      assert.ok(imported.equals(key), key.asymmetricKeyType);
    }
    const unsupported: PublicKeyInfo = { kind: "unsupported", name: "1.2.840.10040.4.1" };
    assert.throws(() => importPublicKey(unsupported), { message: "cannot import 1.2.840.10040.4.1" });
  });
});
