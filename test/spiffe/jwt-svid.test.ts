// JWT-SVID verification: good tokens and every classic JWT attack, each with its exact reason.
import assert from "node:assert/strict";
import { createHmac, createPublicKey } from "node:crypto";
import { before, describe, test } from "node:test";
import { DevJwtAuthority, jwtBundleOf } from "../../src/dev-ca/index.js";
import { BundleSet, verifyJwtSvid, type JwtBundleSource, type JwtSvidAlgorithm } from "../../src/spiffe/index.js";
import { reasonOfAsync } from "../helpers/spiffe.js";

const TD = "example.org";
const OTHER = "other.org";
const SUB = `spiffe://${TD}/ns/default/sa/web`;
const AUD = "spiffe://example.org/api";

let authority: DevJwtAuthority;
let otherAuthority: DevJwtAuthority;
let set: BundleSet;

before(async () => {
  authority = await DevJwtAuthority.create(TD, { keyId: "key-a" });
  otherAuthority = await DevJwtAuthority.create(OTHER, { keyId: "key-other" });
  set = new BundleSet([authority.jwtBundle(), otherAuthority.jwtBundle()]);
});

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const now = () => new Date();
const verify = (token: string, source: JwtBundleSource = set, audiences = [AUD], at = now()) =>
  verifyJwtSvid(token, source, { audiences, now: at });
const reason = (token: string, source?: JwtBundleSource, audiences?: string[], at?: Date) =>
  reasonOfAsync(() => verify(token, source, audiences, at));

/** Re-signs header.payload with HMAC-SHA256 under `secret`: the alg-confusion attack. */
function hmacToken(header: object, payload: object, secret: Buffer | string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const t = Math.floor(Date.now() / 1000);
  return { sub: SUB, aud: AUD, iat: t, exp: t + 300, ...extra };
}

describe("verifyJwtSvid accepts", () => {
  test("a good token", async () => {
    const token = await authority.issue({ subject: SUB, audience: AUD });
    const svid = await verify(token);
    assert.equal(svid.id.toString(), SUB);
    assert.equal(svid.claims["sub"], SUB);
    assert.deepEqual(svid.audience, [AUD]);
    assert.equal(svid.keyId, "key-a");
    assert.equal(svid.algorithm, "ES256");
    assert.ok(svid.expiresAt.getTime() > Date.now());
  });

  test("an audience list that intersects ours", async () => {
    const token = await authority.issue({ subject: SUB, audience: ["someone-else", AUD] });
    assert.equal(await reason(token, set, ["x", AUD]), "ok");
  });

  test("typ JOSE and no typ", async () => {
    assert.equal(await reason(await authority.issue({ subject: SUB, audience: AUD, header: { typ: "JOSE" } })), "ok");
    assert.equal(
      await reason(await authority.issue({ subject: SUB, audience: AUD, header: { typ: undefined } })),
      "ok",
    );
  });

  test("exp just past, within the leeway", async () => {
    const token = await authority.issue({ subject: SUB, audience: AUD, expiresAt: new Date(Date.now() - 10_000) });
    assert.equal(await reason(token), "ok");
  });

  const algs: JwtSvidAlgorithm[] = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"];
  for (const alg of algs) {
    test(`alg ${alg}`, async () => {
      const a = await DevJwtAuthority.create(TD, { alg, keyId: `k-${alg}` });
      const token = await a.issue({ subject: SUB, audience: AUD });
      assert.equal(await reason(token, new BundleSet([a.jwtBundle()])), "ok");
    });
  }
});

describe("verifyJwtSvid rejects", () => {
  test("alg none", async () => {
    const token = `${b64({ alg: "none", kid: "key-a", typ: "JWT" })}.${b64(claims())}.`;
    // A compact JWS with an empty signature is not even well formed for us; with a dummy one it is untrusted.
    assert.equal(await reason(token), "malformed_certificate");
    assert.equal(await reason(`${token}AAAA`), "untrusted");
  });

  test("HS256 keyed with the public key (PEM, DER and JWK bytes)", async () => {
    const jwk = authority.jwk();
    const key = createPublicKey({ key: jwk as never, format: "jwk" });
    const secrets = [
      key.export({ format: "pem", type: "spki" }) as string,
      key.export({ format: "der", type: "spki" }) as Buffer,
      JSON.stringify(jwk),
    ];
    for (const secret of secrets) {
      const token = hmacToken({ alg: "HS256", kid: "key-a", typ: "JWT" }, claims(), secret);
      assert.equal(await reason(token), "untrusted");
    }
  });

  test("other algorithms outside the allowlist", async () => {
    for (const alg of ["HS384", "HS512", "EdDSA", "ES256K", "RS1", "none", "NONE", "", 42, null]) {
      const token = `${b64({ alg, kid: "key-a" })}.${b64(claims())}.AAAA`;
      assert.equal(await reason(token), "untrusted", String(alg));
    }
  });

  test("wrong audience", async () => {
    const token = await authority.issue({ subject: SUB, audience: "spiffe://example.org/other" });
    assert.equal(await reason(token), "untrusted");
  });

  test("no audience claim, and an empty list of acceptable audiences", async () => {
    assert.equal(
      await reason(await authority.issue({ subject: SUB, audience: AUD, claims: { aud: undefined } })),
      "untrusted",
    );
    assert.equal(await reason(await authority.issue({ subject: SUB, audience: [] })), "untrusted");
    assert.equal(await reason(await authority.issue({ subject: SUB, audience: AUD }), set, []), "untrusted");
  });

  test("expired", async () => {
    const token = await authority.issue({ subject: SUB, audience: AUD, expiresAt: new Date(Date.now() - 120_000) });
    assert.equal(await reason(token), "expired");
  });

  test("not yet valid (nbf) and issued in the future (iat)", async () => {
    const later = new Date(Date.now() + 3600_000);
    assert.equal(
      await reason(await authority.issue({ subject: SUB, audience: AUD, notBefore: later, ttlSeconds: 7200 })),
      "expired",
    );
    assert.equal(await reason(await authority.issue({ subject: SUB, audience: AUD, now: later })), "expired");
  });

  test("missing exp", async () => {
    const token = await authority.issue({ subject: SUB, audience: AUD, expiresAt: null });
    assert.equal(await reason(token), "malformed_certificate");
  });

  test("non-numeric exp", async () => {
    const token = await authority.issue({ subject: SUB, audience: AUD, claims: { exp: "tomorrow" } });
    assert.equal(await reason(token), "malformed_certificate");
  });

  test("unknown kid", async () => {
    const token = await authority.issue({ subject: SUB, audience: AUD, header: { kid: "no-such-key" } });
    assert.equal(await reason(token), "untrusted");
  });

  test("missing kid", async () => {
    const token = await authority.issue({ subject: SUB, audience: AUD, header: { kid: undefined } });
    assert.equal(await reason(token), "untrusted");
  });

  test("kid present only in another trust domain's bundle", async () => {
    // Signed by other.org's key, claiming a subject in example.org: example.org's bundle has no such kid.
    const token = await otherAuthority.issue({ subject: SUB, audience: AUD });
    assert.equal(await reason(token), "untrusted");
  });

  test("same kid in two trust domains: only the subject's domain key counts", async () => {
    const impostor = await DevJwtAuthority.create(OTHER, { keyId: "key-a" });
    const both = new BundleSet([authority.jwtBundle(), impostor.jwtBundle()]);
    const token = await impostor.issue({ subject: SUB, audience: AUD });
    assert.equal(await reason(token, both), "untrusted");
  });

  test("no JWT bundle for the subject's trust domain", async () => {
    const token = await authority.issue({ subject: `spiffe://unknown.org/web`, audience: AUD });
    assert.equal(await reason(token), "unknown_trust_domain");
  });

  test("sub not a SPIFFE ID", async () => {
    for (const sub of [
      "web",
      "https://example.org/web",
      "spiffe://Example.org/web",
      "spiffe://example.org/a/",
      "spiffe://example.org",
    ]) {
      assert.equal(await reason(await authority.issue({ subject: sub, audience: AUD })), "no_spiffe_id", sub);
    }
    assert.equal(
      await reason(await authority.issue({ subject: SUB, audience: AUD, claims: { sub: 7 } })),
      "no_spiffe_id",
    );
    assert.equal(
      await reason(await authority.issue({ subject: SUB, audience: AUD, claims: { sub: undefined } })),
      "no_spiffe_id",
    );
  });

  test("bad signature (payload swapped after signing)", async () => {
    const token = await authority.issue({ subject: SUB, audience: AUD });
    const [h, , s] = token.split(".");
    const forged = `${h}.${b64(claims({ sub: `spiffe://${TD}/admin` }))}.${s}`;
    assert.equal(await reason(forged), "untrusted");
  });

  test("token signed by another key under the same kid", async () => {
    const rogue = await DevJwtAuthority.create(TD, { keyId: "key-a" });
    assert.equal(await reason(await rogue.issue({ subject: SUB, audience: AUD })), "untrusted");
  });

  test("header alg that does not fit the key", async () => {
    const rsa = await DevJwtAuthority.create(TD, { alg: "RS256", keyId: "rsa" });
    const bundles = new BundleSet([jwtBundleOf(TD, [rsa, authority])]);
    // ES384 against a P-256 key, RS256 against an EC key, ES256 against an RSA key.
    const p256Token = await authority.issue({ subject: SUB, audience: AUD });
    const [, p, s] = p256Token.split(".");
    assert.equal(await reason(`${b64({ alg: "ES384", kid: "key-a" })}.${p}.${s}`, bundles), "untrusted");
    assert.equal(await reason(`${b64({ alg: "RS256", kid: "key-a" })}.${p}.${s}`, bundles), "untrusted");
    assert.equal(await reason(`${b64({ alg: "ES256", kid: "rsa" })}.${p}.${s}`, bundles), "untrusted");
  });

  test("header parameters the JWT-SVID spec does not allow", async () => {
    for (const extra of [
      { jku: "https://evil.example/jwks" },
      { jwk: authority.jwk() },
      { x5u: "https://x" },
      { crit: ["exp"] },
      { b64: false },
      { cty: "JWT" },
    ]) {
      const token = await authority.signRaw({ alg: "ES256", kid: "key-a", typ: "JWT", ...extra }, claims());
      assert.equal(await reason(token), "untrusted", JSON.stringify(Object.keys(extra)));
    }
  });

  test("signRaw itself produces tokens we accept (so the rejections above are about the header)", async () => {
    assert.equal(await reason(await authority.signRaw({ alg: "ES256", kid: "key-a", typ: "JWT" }, claims())), "ok");
  });

  test("typ other than JWT or JOSE", async () => {
    assert.equal(
      await reason(await authority.issue({ subject: SUB, audience: AUD, header: { typ: "at+jwt" } })),
      "untrusted",
    );
  });

  test("malformed tokens", async () => {
    const good = await authority.issue({ subject: SUB, audience: AUD });
    const [h, p, s] = good.split(".") as [string, string, string];
    const bad = [
      "",
      "abc",
      "a.b",
      "a.b.c.d",
      "a.b.c.d.e",
      `${h}.${p}.${s}.`,
      `${h}..${s}`,
      `.${p}.${s}`,
      `${h}.${p}.${s}=`,
      `${h} .${p}.${s}`,
      `${b64("not json")}.${p}.${s}`,
      `${b64("[1,2]")}.${p}.${s}`,
      `${h}.${b64("not json")}.${s}`,
      `${h}.${b64("null")}.${s}`,
      `${h}.A.${s}`,
      "x".repeat(20_000),
    ];
    for (const token of bad) assert.equal(await reason(token), "malformed_certificate", token.slice(0, 60));
  });

  test("oversized token against a custom limit", async () => {
    const token = await authority.issue({ subject: SUB, audience: AUD });
    assert.equal(
      await reasonOfAsync(() => verifyJwtSvid(token, set, { audiences: [AUD], now: now(), maxTokenBytes: 100 })),
      "malformed_certificate",
    );
  });

  test("huge NumericDates do not crash", async () => {
    for (const extra of [{ exp: 1e300 }, { exp: -1e300 }, { nbf: 1e15 }, { iat: 1e15 }]) {
      const r = await reason(await authority.issue({ subject: SUB, audience: AUD, claims: extra }));
      assert.ok(["malformed_certificate", "expired"].includes(r), `${JSON.stringify(extra)} → ${r}`);
    }
  });

  test("a bundle source that throws or lies", async () => {
    const token = await authority.issue({ subject: SUB, audience: AUD });
    const throwing: JwtBundleSource = {
      getJwtBundleForTrustDomain: () => {
        throw new Error("boom");
      },
    };
    assert.equal(await reason(token, throwing), "unknown_trust_domain");
    const lying: JwtBundleSource = { getJwtBundleForTrustDomain: () => otherAuthority.jwtBundle() };
    assert.equal(await reason(token, lying), "untrusted");
  });
});
