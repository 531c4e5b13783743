// JWT-SVID verification (src/spiffe/jwt-svid.ts) down to the detail of each refusal, and every time rule at
// its boundary, to the millisecond. jwt-svid.test.ts covers the attacks by reason; under the spiffe-jwt
// mutants (session 6) many rules could be dropped or loosened there without a reason changing, because a
// later rule refused the same token for another cause. Tokens are signed by a real dev JWT authority, raw
// bytes where a token must be malformed in a way no JSON encoder writes (invalid UTF-8, 1e999).
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { before, describe, test } from "node:test";
import { DevJwtAuthority } from "../../src/dev-ca/index.js";
import { BundleSet, parseJwtBundle, verifyJwtSvid, type JwtBundleSource } from "../../src/spiffe/index.js";
import { DEFAULT_MAX_TOKEN_BYTES } from "../../src/spiffe/jwt-svid.js";
import { SvidError } from "../../src/spiffe/errors.js";

const TD = "example.org";
const SUB = `spiffe://${TD}/ns/default/sa/web`;
const AUD = "spiffe://example.org/api";
const T0 = 1_900_000_000; // seconds: every token here is made and verified around this instant

let authority: DevJwtAuthority;
let set: BundleSet;
before(async () => {
  authority = await DevJwtAuthority.create(TD, { keyId: "key-a" });
  set = new BundleSet([authority.jwtBundle()]);
});

const b64 = (v: Uint8Array | string) => Buffer.from(v).toString("base64url");
const json = (v: unknown) => b64(JSON.stringify(v));
const HEADER = { alg: "ES256", kid: "key-a", typ: "JWT" };
const HEADER_OF = (a: DevJwtAuthority) => ({ alg: a.alg, kid: a.keyId, typ: "JWT" });
const claims = (extra: Record<string, unknown> = {}) => ({ sub: SUB, aud: AUD, iat: T0, exp: T0 + 300, ...extra });

/** header.payload as given (base64url of these exact bytes), signed with the authority's key. */
async function signBytes(header: Uint8Array | string, payload: Uint8Array | string): Promise<string> {
  const input = `${b64(header)}.${b64(payload)}`;
  const sig = await webcrypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    authority.keys.privateKey,
    Buffer.from(input),
  );
  return `${input}.${b64(new Uint8Array(sig))}`;
}
const signed = (payload: Record<string, unknown>, header: Record<string, unknown> = HEADER) =>
  signBytes(JSON.stringify(header), JSON.stringify(payload));

/** "ok <id>" or "reason: detail"; anything but an SvidError fails the test. */
async function verdict(
  token: string,
  opts: { at?: number; audiences?: string[]; leewaySeconds?: number; maxTokenBytes?: number } = {},
  source: JwtBundleSource = set,
): Promise<string> {
  try {
    const svid = await verifyJwtSvid(token, source, {
      audiences: opts.audiences ?? [AUD],
      now: new Date(opts.at ?? T0 * 1000),
      ...(opts.leewaySeconds === undefined ? {} : { leewaySeconds: opts.leewaySeconds }),
      ...(opts.maxTokenBytes === undefined ? {} : { maxTokenBytes: opts.maxTokenBytes }),
    });
    return `ok ${svid.id.toString()}`;
  } catch (err) {
    if (err instanceof SvidError) return `${err.reason}: ${err.detail}`;
    throw err;
  }
}

describe("the compact form and its segments", () => {
  test("exactly three base64url segments, within the size limit", async () => {
    const good = await signed(claims());
    assert.equal(await verdict(good), `ok ${SUB}`);
    const [h, p, s] = good.split(".") as [string, string, string];
    for (const t of ["a.b.c.d", `${good}.x`, `x.${good}`, `${h}.${p}`, `${h}.${p}.${s}=`, `${h}.${p}.${s}\n`]) {
      assert.equal(await verdict(t), "malformed_certificate: token is not a compact JWS", JSON.stringify(t));
    }
    assert.equal(await verdict(""), "malformed_certificate: empty token");
    assert.equal(await verdict(good, { maxTokenBytes: good.length }), `ok ${SUB}`);
    assert.equal(
      await verdict(good, { maxTokenBytes: good.length - 1 }),
      `malformed_certificate: token larger than ${good.length - 1} bytes`,
    );
    assert.equal(DEFAULT_MAX_TOKEN_BYTES, 16 * 1024);
    const padded = await signed(claims({ pad: "x".repeat(DEFAULT_MAX_TOKEN_BYTES) }));
    assert.equal(await verdict(padded), `malformed_certificate: token larger than ${DEFAULT_MAX_TOKEN_BYTES} bytes`);
  });

  test("each segment: base64url of a UTF-8 JSON object", async () => {
    const good = await signed(claims());
    const [h, p, s] = good.split(".") as [string, string, string];
    const cases: Array<[string, string]> = [
      [`A.${p}.${s}`, "token header is not base64url"],
      [`${h}.A.${s}`, "token payload is not base64url"],
      [`${json("x").slice(0, -1)}.${p}.${s}`, "token header is not base64url-encoded JSON"],
      [`${b64('{"alg":')}.${p}.${s}`, "token header is not base64url-encoded JSON"],
      [`${json([1, 2])}.${p}.${s}`, "token header is not a JSON object"],
      [`${json(5)}.${p}.${s}`, "token header is not a JSON object"],
      [`${json(null)}.${p}.${s}`, "token header is not a JSON object"],
      [`${json("ES256")}.${p}.${s}`, "token header is not a JSON object"],
      [`${h}.${json(null)}.${s}`, "token payload is not a JSON object"],
      [`${h}.${json(true)}.${s}`, "token payload is not a JSON object"],
      [`${h}.${b64("{")}.${s}`, "token payload is not base64url-encoded JSON"],
    ];
    for (const [token, detail] of cases) {
      assert.equal(await verdict(token), `malformed_certificate: ${detail}`, token.slice(0, 40));
    }
    // Header and payload length 1 mod 4 after a valid prefix: no base64url input has that length.
    const h5 = `${h}${"A".repeat((((1 - h.length) % 4) + 4) % 4)}`;
    assert.equal(h5.length % 4, 1);
    assert.equal(await verdict(`${h5}.${p}.${s}`), "malformed_certificate: token header is not base64url");
  });

  test("invalid UTF-8 is refused, not read with replacement characters", async () => {
    // kid "key-a" + 0xff: read leniently it would be "key-a\uFFFD", a key ID a bundle could hold.
    const header = Buffer.concat([
      Buffer.from('{"alg":"ES256","typ":"JWT","kid":"key-a'),
      Buffer.from([0xff, 0x22, 0x7d]),
    ]);
    const lenient = await DevJwtAuthority.create(TD, { keyId: "key-a\ufffd" });
    const token = await (async () => {
      const input = `${b64(header)}.${json(claims())}`;
      const sig = await webcrypto.subtle.sign(
        { name: "ECDSA", hash: "SHA-256" },
        lenient.keys.privateKey,
        Buffer.from(input),
      );
      return `${input}.${b64(new Uint8Array(sig))}`;
    })();
    assert.equal(
      await verdict(token, {}, new BundleSet([lenient.jwtBundle()])),
      "malformed_certificate: token header is not base64url-encoded JSON",
    );
    const payload = Buffer.concat([
      Buffer.from(`{"sub":"${SUB}`),
      Buffer.from([0xc3]),
      Buffer.from(`","aud":"${AUD}","exp":${T0 + 300}}`),
    ]);
    assert.equal(
      await verdict(await signBytes(JSON.stringify(HEADER), payload)),
      "malformed_certificate: token payload is not base64url-encoded JSON",
    );
  });
});

describe("the header", () => {
  test("alg from the JWT-SVID list, only alg/kid/typ, typ JWT or JOSE, a kid", async () => {
    const p = claims();
    assert.equal(
      await verdict(await signed(p, { ...HEADER, alg: "HS256" })),
      'untrusted: alg "HS256" is not allowed for a JWT-SVID',
    );
    assert.equal(
      await verdict(await signed(p, { kid: "key-a", typ: "JWT" })),
      "untrusted: alg undefined is not allowed for a JWT-SVID",
    );
    assert.equal(
      await verdict(await signed(p, { ...HEADER, cty: "JWT" })),
      'untrusted: header parameter "cty" is not allowed in a JWT-SVID',
    );
    for (const typ of ["jwt", "at+jwt", "", 1]) {
      assert.equal(
        await verdict(await signed(p, { ...HEADER, typ })),
        "untrusted: typ must be JWT or JOSE",
        String(typ),
      );
    }
    assert.equal(await verdict(await signed(p, { ...HEADER, typ: "JOSE" })), `ok ${SUB}`);
    assert.equal(await verdict(await signed(p, { alg: "ES256", kid: "key-a" })), `ok ${SUB}`);
    for (const kid of [undefined, "", 7]) {
      assert.equal(
        await verdict(await signed(p, { alg: "ES256", typ: "JWT", ...(kid === undefined ? {} : { kid }) })),
        "untrusted: token header has no kid",
      );
    }
    assert.equal(
      await verdict(await signed(p, { ...HEADER, kid: "key-b" })),
      `untrusted: no key "key-b" in the JWT bundle of ${TD}`,
    );
    assert.equal(
      await verdict(await signed(p, { ...HEADER, alg: "ES384" })),
      "untrusted: ES384 needs curve P-384, key key-a is P-256",
    );
  });
});

describe("the key the kid names", () => {
  test("its own alg pin, its key type and curve decide which alg a token may use", async () => {
    const rsa = await DevJwtAuthority.create(TD, { alg: "RS256", keyId: "rsa" });
    const pinned = (alg: string) =>
      new BundleSet([parseJwtBundle(TD, JSON.stringify({ keys: [{ ...rsa.jwk(), alg }, authority.jwk()] }))]);
    const rs256 = await rsa.signRaw(HEADER_OF(rsa), claims());
    assert.equal(await verdict(rs256, {}, pinned("RS256")), `ok ${SUB}`);
    // The same RSA key, the same signature: refused because the bundle pins the key to PS256.
    assert.equal(await verdict(rs256, {}, pinned("PS256")), "untrusted: key rsa is pinned to PS256");
    const unpinned = new BundleSet([parseJwtBundle(TD, JSON.stringify({ keys: [rsa.jwk(), authority.jwk()] }))]);
    assert.equal(await verdict(rs256, {}, unpinned), `ok ${SUB}`);
    const [, p, s] = rs256.split(".") as [string, string, string];
    assert.equal(
      await verdict(`${json({ alg: "ES256", kid: "rsa" })}.${p}.${s}`, {}, unpinned),
      "untrusted: ES256 needs an EC key, key rsa is RSA",
    );
    assert.equal(
      await verdict(`${json({ alg: "PS256", kid: "key-a" })}.${p}.${s}`, {}, unpinned),
      "untrusted: PS256 needs an RSA key, key key-a is EC",
    );
  });
});

describe("the claims", () => {
  test("sub: a SPIFFE ID with a path, the same before and after the signature check", async () => {
    for (const sub of [7, "", null]) {
      assert.equal(await verdict(await signed(claims({ sub }))), "no_spiffe_id: token has no sub claim", String(sub));
    }
    const { sub: _drop, ...noSub } = claims();
    assert.equal(await verdict(await signed(noSub)), "no_spiffe_id: token has no sub claim");
    assert.equal(
      await verdict(await signed(claims({ sub: "spiffe://example.org/a/" }))),
      "no_spiffe_id: sub is not a valid SPIFFE ID: path must not have a trailing slash",
    );
    assert.equal(
      await verdict(await signed(claims({ sub: "spiffe://example.org" }))),
      "no_spiffe_id: sub spiffe://example.org has no path",
    );
  });

  test("aud: a string or an array of strings that names one of ours", async () => {
    assert.equal(await verdict(await signed(claims({ aud: [5, AUD] }))), "untrusted: token has no aud claim");
    assert.equal(await verdict(await signed(claims({ aud: [AUD, null] }))), "untrusted: token has no aud claim");
    for (const aud of [undefined, [], {}, 5, null]) {
      assert.equal(await verdict(await signed(claims({ aud }))), "untrusted: token has no aud claim", String(aud));
    }
    assert.equal(
      await verdict(await signed(claims({ aud: ["a", "b"] }))),
      'untrusted: token audience ["a","b"] is not one of ours',
    );
    assert.equal(await verdict(await signed(claims({ aud: ["a", AUD] }))), `ok ${SUB}`);
    assert.equal(await verdict(await signed(claims({ aud: "a" })), { audiences: ["b", "a"] }), `ok ${SUB}`);
    assert.equal(
      await verdict(await signed(claims()), { audiences: [] }),
      `untrusted: token audience ["${AUD}"] is not one of ours`,
    );
  });

  test("NumericDates: finite numbers up to what a Date holds", async () => {
    assert.equal(await verdict(await signed(claims({ exp: 8.64e12 }))), `ok ${SUB}`);
    const svid = await verifyJwtSvid(await signed(claims({ exp: 8.64e12 })), set, {
      audiences: [AUD],
      now: new Date(T0 * 1000),
    });
    assert.equal(svid.expiresAt.getTime(), 8.64e15);
    for (const [name, value] of [
      ["exp", 8.64e12 + 1],
      ["exp", "1900000300"],
      ["exp", true],
      ["nbf", -8.64e12 - 1],
      ["nbf", "0"],
      ["iat", [T0]],
    ] as const) {
      assert.equal(
        await verdict(await signed(claims({ [name]: value }))),
        `malformed_certificate: ${name} is not a NumericDate`,
        `${name} ${JSON.stringify(value)}`,
      );
    }
    const { exp: _drop, ...noExp } = claims();
    assert.equal(await verdict(await signed(noExp)), "malformed_certificate: token has no exp claim");
    // 1e999 is JSON for Infinity.
    const inf = `{"sub":"${SUB}","aud":"${AUD}","exp":1e999}`;
    assert.equal(
      await verdict(await signBytes(JSON.stringify(HEADER), inf)),
      "malformed_certificate: exp is not a NumericDate",
    );
  });

  test("exp, nbf and iat at the leeway's edge, to the millisecond", async () => {
    const exp = T0 + 300;
    const t = await signed(claims({ exp, nbf: T0 - 10, iat: T0 - 10 }));
    const ms = (s: number) => s * 1000;
    assert.equal(await verdict(t, { at: ms(exp) + 30_000 }), `ok ${SUB}`);
    assert.equal(
      await verdict(t, { at: ms(exp) + 30_001 }),
      `expired: token expired at ${new Date(ms(exp)).toISOString()}`,
    );
    assert.equal(await verdict(t, { at: ms(exp) + 5_000, leewaySeconds: 5 }), `ok ${SUB}`);
    assert.equal(
      await verdict(t, { at: ms(exp) + 5_001, leewaySeconds: 5 }),
      `expired: token expired at ${new Date(ms(exp)).toISOString()}`,
    );
    assert.equal(await verdict(t, { at: ms(T0 - 10) - 30_000 }), `ok ${SUB}`);
    assert.equal(
      await verdict(t, { at: ms(T0 - 10) - 30_001 }),
      `expired: token is not yet valid (nbf ${new Date(ms(T0 - 10)).toISOString()})`,
    );
    const iatOnly = await signed(claims({ iat: T0 + 100 }));
    assert.equal(await verdict(iatOnly, { at: ms(T0 + 100) - 30_000 }), `ok ${SUB}`);
    assert.equal(
      await verdict(iatOnly, { at: ms(T0 + 100) - 30_001 }),
      `expired: token issued in the future (iat ${new Date(ms(T0 + 100)).toISOString()})`,
    );
    assert.equal(await verdict(iatOnly, { at: ms(T0 + 100), leewaySeconds: 0 }), `ok ${SUB}`);
    assert.equal(
      await verdict(iatOnly, { at: ms(T0 + 100) - 1, leewaySeconds: 0 }),
      `expired: token issued in the future (iat ${new Date(ms(T0 + 100)).toISOString()})`,
    );
  });

  test("the bundle: the subject's own trust domain's, even when the source hands over another", async () => {
    const other = await DevJwtAuthority.create("other.org", { keyId: "key-o" });
    const token = await other.signRaw(HEADER_OF(other), claims());
    // other.org's key signed a token for an example.org subject; a source that answers every trust domain with
    // other.org's bundle must not make that key count for example.org.
    const lying: JwtBundleSource = { getJwtBundleForTrustDomain: () => other.jwtBundle() };
    assert.equal(
      await verdict(token, {}, lying),
      `untrusted: bundle source returned the bundle of other.org for ${TD}`,
    );
    // Signed by other.org's key under example.org's kid: the signature check itself refuses it.
    const [, payload, sig] = token.split(".") as [string, string, string];
    assert.equal(await verdict(`${json(HEADER)}.${payload}.${sig}`), "untrusted: token signature does not verify");
    const honest = new BundleSet([authority.jwtBundle(), other.jwtBundle()]);
    assert.equal(await verdict(token, {}, honest), 'untrusted: no key "key-o" in the JWT bundle of example.org');
    assert.equal(
      await verdict(await signed(claims({ sub: "spiffe://unknown.org/web" }))),
      "unknown_trust_domain: no JWT bundle for trust domain unknown.org",
    );
    // exp is required before any bundle is looked up.
    const { exp: _drop, ...noExp } = claims({ sub: "spiffe://unknown.org/web" });
    assert.equal(await verdict(await signed(noExp)), "malformed_certificate: token has no exp claim");
  });

  test("what is not a token, and a bundle source that returns something that is not a bundle", async () => {
    for (const token of [5, undefined, null, ""]) {
      assert.equal(await verdict(token as unknown as string), "malformed_certificate: empty token", String(token));
    }
    const t = await signed(claims());
    const broken = { getJwtBundleForTrustDomain: () => ({}) } as unknown as JwtBundleSource;
    assert.equal(await verdict(t, {}, broken), "untrusted: internal error during JWT-SVID verification");
  });

  test("the verification time and leeway must be sound", async () => {
    const t = await signed(claims());
    for (const opts of [{ leewaySeconds: -1 }, { leewaySeconds: Number.NaN }, { leewaySeconds: Infinity }]) {
      assert.equal(await verdict(t, opts), "untrusted: invalid verification time or leeway", JSON.stringify(opts));
    }
    assert.equal(await verdict(t, { leewaySeconds: 0 }), `ok ${SUB}`);
    assert.equal(await verdict(t, { at: Number.NaN }), "untrusted: invalid verification time or leeway");
  });
});
