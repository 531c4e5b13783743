// JWT bundles (src/spiffe/jwt-bundle.ts) by exact error: each refusal of a JWK at its boundary (RSA modulus
// 2048 and 8192 bits, exponent rules, EC coordinate lengths, base64url, every private member), what is skipped
// rather than refused, and the alg pin written back by toJwks. bundles.test.ts asserts only "a BundleError",
// so under the spiffe-jwt mutants (session 6) a check could go while another refused the same input.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, test } from "node:test";
import { BundleError, parseJwtBundle } from "../../src/spiffe/index.js";
import { bundleErrorMessage } from "../helpers/spiffe.js";

const TD = "example.org";
const ec = (crv: "P-256" | "P-384" | "P-521") =>
  ({ ...generateKeyPairSync("ec", { namedCurve: crv }).publicKey.export({ format: "jwk" }), kid: crv }) as Record<
    string,
    unknown
  >;
const P256 = ec("P-256");
const RSA = {
  ...generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" }),
  kid: "rsa",
} as Record<string, unknown>;
const b64u = (b: Buffer | number[]) => Buffer.from(b).toString("base64url");
/** An RSA modulus of exactly `bits` bits (top bit set, odd), base64url. */
const modulus = (bits: number) => {
  const n = Buffer.alloc(Math.ceil(bits / 8), 0xa5);
  n[0] = 1 << ((bits - 1) % 8);
  return b64u(n);
};

/** The BundleError message for a JWKS of these keys, or "ok <kids>". */
function outcome(...keys: Array<Record<string, unknown>>): string {
  try {
    return `ok ${parseJwtBundle(TD, JSON.stringify({ keys }))
      .authorities.map((a) => a.keyId)
      .join(",")}`;
  } catch (err) {
    if (err instanceof BundleError) return err.message;
    throw err;
  }
}

describe("parseJwtAuthority", () => {
  test("kty, private members, kid, alg", () => {
    assert.equal(outcome(P256, RSA), "ok P-256,rsa");
    assert.equal(outcome({ ...P256, kty: "" }), "JWKS key 0: kty missing");
    assert.equal(outcome(P256, { ...P256, kid: "x", kty: undefined }), "JWKS key 1: kty missing");
    for (const m of ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]) {
      assert.equal(outcome({ ...RSA, [m]: "AQAB" }), `JWKS key 0: contains private or secret key material (${m})`, m);
    }
    // Private members refuse even a key of a type we would skip.
    assert.equal(
      outcome({ kty: "oct", kid: "s", k: "AAAA" }),
      "JWKS key 0: contains private or secret key material (k)",
    );
    assert.equal(outcome({ kty: "oct", kid: "s" }), "ok ");
    assert.equal(outcome({ ...P256, kid: "" }), "JWKS key 0: kid is required for a JWT-SVID key");
    assert.equal(outcome({ ...P256, kid: 5 }), "JWKS key 0: kid is required for a JWT-SVID key");
    assert.equal(outcome({ ...P256, alg: "HS256" }), "JWKS key 0: alg HS256 is not a JWT-SVID algorithm");
    assert.equal(outcome({ ...P256, alg: "ES384" }), "JWKS key 0: ES384 needs curve P-384, key P-256 is P-256");
    assert.equal(outcome({ ...P256, alg: "RS256" }), "JWKS key 0: RS256 needs an RSA key, key P-256 is EC");
    assert.equal(outcome({ ...P256, alg: "ES256" }, { ...RSA, alg: "PS384" }), "ok P-256,rsa");
    assert.equal(outcome(P256, { ...P256 }), 'duplicate key ID "P-256"');
  });

  test("EC: known curves only (others skipped), full-length base64url coordinates", () => {
    assert.equal(outcome(ec("P-384"), ec("P-521")), "ok P-384,P-521");
    for (const crv of ["secp256k1", ["P-256"], 256, undefined]) {
      assert.equal(outcome({ ...P256, crv }), "ok ", JSON.stringify(crv));
    }
    const x = Buffer.from(P256["x"] as string, "base64url");
    assert.equal(outcome({ ...P256, x: b64u(x.subarray(1)) }), "JWKS key 0: EC coordinates have the wrong length");
    assert.equal(
      outcome({ ...P256, y: b64u(Buffer.concat([Buffer.from([0]), x])) }),
      "JWKS key 0: EC coordinates have the wrong length",
    );
    for (const bad of [`${P256["x"] as string}=`, `!${P256["x"] as string}`, `${P256["x"] as string}!`, "A", 5, ""]) {
      assert.equal(outcome({ ...P256, x: bad }), "JWKS key 0: x is not base64url", String(bad));
    }
    assert.equal(outcome({ ...P256, y: "A" }), "JWKS key 0: y is not base64url");
    assert.equal(outcome({ ...P256, y: b64u(Buffer.alloc(32, 1)) }), "JWKS key 0: key rejected by the crypto library");
  });

  test("RSA: a modulus of 2048 to 8192 bits without a leading zero octet; an odd exponent of 3 to 32 bits", () => {
    const rsa = (n: string, e = "AQAB") => outcome({ kty: "RSA", kid: "r", n, e });
    assert.equal(rsa(modulus(2048)), "ok r");
    assert.equal(rsa(modulus(8192)), "ok r");
    assert.equal(rsa(modulus(2047)), "JWKS key 0: RSA modulus size not allowed");
    assert.equal(rsa(modulus(8193)), "JWKS key 0: RSA modulus size not allowed");
    assert.equal(
      rsa(b64u(Buffer.concat([Buffer.from([0]), Buffer.from(modulus(2048), "base64url")]))),
      "JWKS key 0: RSA modulus size not allowed",
    );
    assert.equal(rsa(modulus(2048), b64u([3])), "ok r");
    assert.equal(rsa(modulus(2048), b64u([0xff, 0xff, 0xff, 0xff])), "ok r");
    for (const e of [[1], [2], [0, 1, 0, 1], [1, 0, 0, 0, 1], [1, 0, 0]]) {
      assert.equal(rsa(modulus(2048), b64u(e)), "JWKS key 0: RSA exponent not allowed", JSON.stringify(e));
    }
    assert.equal(rsa(modulus(2048), "A"), "JWKS key 0: e is not base64url");
    assert.equal(rsa("A"), "JWKS key 0: n is not base64url");
  });
});

describe("parseJwtBundle", () => {
  const err = bundleErrorMessage;
  test("the document: keys an array of objects, at most 100 of them by default, 1 MiB; use jwt-svid or sig", () => {
    const doc = (keys: unknown) => JSON.stringify({ keys });
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ ...P256, kid: `k${i}` }));
    assert.equal(parseJwtBundle(TD, doc(many(100))).size, 100);
    assert.equal(
      err(() => parseJwtBundle(TD, doc(many(101)))),
      "JWKS: more than 100 keys",
    );
    assert.equal(parseJwtBundle(TD, doc(many(3)), { maxKeys: 3 }).size, 3);
    assert.equal(
      err(() => parseJwtBundle(TD, doc(many(4)), { maxKeys: 3 })),
      "JWKS: more than 3 keys",
    );
    assert.equal(
      err(() => parseJwtBundle(TD, "{}")),
      'JWKS: "keys" must be present and an array',
    );
    assert.equal(
      err(() => parseJwtBundle(TD, doc({}))),
      'JWKS: "keys" must be present and an array',
    );
    assert.equal(
      err(() => parseJwtBundle(TD, doc([P256, 1]))),
      "JWKS: key 1 is not a JSON object",
    );
    assert.equal(
      err(() => parseJwtBundle(TD, doc([null]))),
      "JWKS: key 0 is not a JSON object",
    );
    const padTo = (n: number) => {
      const base = doc([]);
      return `${base.slice(0, -1)},"pad":"${"x".repeat(n - base.length - 9)}"}`;
    };
    assert.equal(padTo(1024 * 1024).length, 1024 * 1024);
    assert.equal(parseJwtBundle(TD, padTo(1024 * 1024)).size, 0);
    assert.equal(
      err(() => parseJwtBundle(TD, padTo(1024 * 1024 + 1))),
      "JWKS larger than 1048576 bytes",
    );
    const uses = ["jwt-svid", "sig", "enc", "x509-svid", ""].map((use, i) => ({ ...P256, kid: `u${i}`, use }));
    assert.deepEqual(
      parseJwtBundle(TD, doc(uses)).authorities.map((a) => a.keyId),
      ["u0", "u1"],
    );
  });
});

describe("JwtBundle", () => {
  test("toJwks writes back the public members, the kid and a pinned alg", () => {
    const b = parseJwtBundle(TD, JSON.stringify({ keys: [{ ...P256, alg: "ES256", use: "sig" }, RSA] }));
    const { kty, crv, x, y } = P256;
    const { n, e } = RSA;
    assert.deepEqual(b.toJwks(), {
      keys: [
        { kty, crv, x, y, kid: "P-256", alg: "ES256" },
        { kty: "RSA", n, e, kid: "rsa" },
      ],
    });
    assert.equal(b.findAuthority("P-256")?.alg, "ES256");
    assert.equal(b.findAuthority("rsa")?.alg, undefined);
  });
});
