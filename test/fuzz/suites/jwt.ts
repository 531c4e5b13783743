// JWT-SVID parsing and verification (src/spiffe/jwt-svid.ts): mutated real tokens never verify unless the
// signed bytes are unchanged; really signed tokens with random headers and claims are accepted exactly when
// an independent reading of JWT-SVID.md says so; everything rejects with SvidError only.
import assert from "node:assert/strict";
import fc from "fast-check";
import { DevJwtAuthority } from "../../../src/dev-ca/index.js";
import { BundleSet, SvidError, verifyJwtSvid } from "../../../src/spiffe/index.js";
import {
  applyStringEdits,
  defineProperty,
  outcomeAsync,
  stringEdits,
  type FuzzProperty,
  type FuzzSuite,
} from "../harness.js";

const LEEWAY_S = 30;
const AUDIENCES = ["spiffe-authz"];

function isNumericDate(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && Math.abs(v) <= 8.64e12;
}

/** JWT-SVID.md plus the documented local rules (kid required, leeway 30 s, typ JWT|JOSE), written out flat. */
function shouldAccept(header: unknown, payload: unknown, nowS: number): boolean {
  if (typeof header !== "object" || header === null || Array.isArray(header)) return false;
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return false;
  const h = header as Record<string, unknown>;
  const p = payload as Record<string, unknown>;
  if (h["alg"] !== "ES256" || h["kid"] !== "k") return false;
  if (!Object.keys(h).every((k) => k === "alg" || k === "kid" || k === "typ")) return false;
  if (h["typ"] !== undefined && h["typ"] !== "JWT" && h["typ"] !== "JOSE") return false;
  const sub = p["sub"];
  if (typeof sub !== "string") return false;
  const m = /^spiffe:\/\/example\.org((?:\/[A-Za-z0-9._-]+)+)$/.exec(sub);
  if (!m || sub.length > 2048 || (m[1] as string).split("/").some((s) => s === "." || s === "..")) return false;
  const aud = p["aud"];
  const auds =
    typeof aud === "string"
      ? [aud]
      : Array.isArray(aud) && aud.every((a) => typeof a === "string")
        ? (aud as string[])
        : [];
  if (!auds.some((a) => AUDIENCES.includes(a))) return false;
  for (const name of ["exp", "nbf", "iat"]) if (p[name] !== undefined && !isNumericDate(p[name])) return false;
  const exp = p["exp"];
  if (!isNumericDate(exp) || nowS * 1000 > exp * 1000 + LEEWAY_S * 1000) return false;
  const nbf = p["nbf"];
  if (isNumericDate(nbf) && nowS * 1000 + LEEWAY_S * 1000 < nbf * 1000) return false;
  const iat = p["iat"];
  if (isNumericDate(iat) && nowS * 1000 + LEEWAY_S * 1000 < iat * 1000) return false;
  return true;
}

const b64urlAlphabet = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("A", "B", "Q", "g", "w", "_", "-", "0", "9", "z") },
  { weight: 1, arbitrary: fc.constantFrom(".", "=", "+", "/", " ", "..", "eyJ") },
);

export const jwtSuite: FuzzSuite = {
  name: "jwt",
  async properties(): Promise<FuzzProperty[]> {
    const now = new Date();
    const nowS = Math.floor(now.getTime() / 1000);
    const authority = await DevJwtAuthority.create("example.org", { keyId: "k" });
    const otherTd = await DevJwtAuthority.create("other.org", { keyId: "k" });
    const bundles = new BundleSet([authority.jwtBundle(), otherTd.jwtBundle()]);
    const token = await authority.issue({ subject: "/services/web", audience: AUDIENCES, now });
    const [h0, p0, s0] = token.split(".") as [string, string, string];
    const sigBytes = Buffer.from(s0, "base64url");
    const verify = (t: string) =>
      outcomeAsync([SvidError], () => verifyJwtSvid(t, bundles, { audiences: AUDIENCES, now }));
    // Not vacuous: the real token verifies.
    const clean = await verify(token);
    assert.ok(clean.ok && clean.value.id.toString() === "spiffe://example.org/services/web");

    const time = fc.oneof(
      fc.constantFrom(
        nowS,
        nowS + 300,
        nowS - 29,
        nowS - 31,
        nowS + 29,
        nowS + 31,
        nowS - 86_400,
        8.64e12,
        8.64e12 + 1,
        -8.64e12 - 1,
        1e300,
        0,
      ),
      fc.integer({ min: nowS - 100, max: nowS + 100 }),
      fc.double(),
      fc.constantFrom("1", null, true, [], {}),
    );
    const claimsArb = fc.record(
      {
        sub: fc.oneof(
          fc.constantFrom(
            "spiffe://example.org/services/web",
            "spiffe://example.org",
            "spiffe://other.org/x",
            "spiffe://example.org/a/../b",
            "spiffe://EXAMPLE.org/x",
            "/x",
            "",
          ),
          fc.stringMatching(/^spiffe:\/\/example\.org(\/[A-Za-z0-9._%-]{0,6}){0,3}$/),
          fc.constantFrom(1, null, ["spiffe://example.org/x"]),
        ),
        aud: fc.oneof(
          fc.constantFrom("spiffe-authz", "other", ""),
          fc.array(fc.constantFrom("spiffe-authz", "other", 1, null), { maxLength: 3 }),
        ),
        exp: time,
        nbf: time,
        iat: time,
        jti: fc.string({ maxLength: 4 }),
      },
      { requiredKeys: [] },
    );
    const headerArb = fc.record(
      {
        alg: fc.constantFrom("ES256", "ES256", "ES256", "ES384", "RS256", "HS256", "none", "es256", 1),
        kid: fc.constantFrom("k", "k", "k", "", "K", "other", 0),
        typ: fc.constantFrom("JWT", "JOSE", "jwt", "at+jwt", null),
        crit: fc.constant(["exp"]),
        b64: fc.constant(false),
        jku: fc.constant("https://evil.example/jwks"),
      },
      { requiredKeys: [] },
    );

    return [
      defineProperty(
        "jwt/mutated-token-never-verifies",
        1500,
        60_000,
        fc.asyncProperty(stringEdits(b64urlAlphabet), async (edits) => {
          const mutated = applyStringEdits(token, edits);
          const got = await verify(mutated);
          if (got.ok) {
            // base64url's last symbol may carry unused bits; only then may different text mean the same bytes.
            const [h, p, s] = mutated.split(".") as [string, string, string];
            assert.ok(
              h === h0 && p === p0 && Buffer.from(s, "base64url").equals(sigBytes),
              `mutated token verified: ${mutated}`,
            );
          }
        }),
      ),

      defineProperty(
        "jwt/signed-random-claims-match-spec",
        600,
        30_000,
        fc.asyncProperty(headerArb, claimsArb, fc.boolean(), async (header, claims, otherKey) => {
          const signer = otherKey ? otherTd : authority;
          const t = await signer.signRaw(header, claims);
          const got = await verify(t);
          // What was signed is the JSON text; the oracle reads that, not the JS values (NaN → null, etc.).
          const want =
            !otherKey && shouldAccept(JSON.parse(JSON.stringify(header)), JSON.parse(JSON.stringify(claims)), nowS);
          assert.equal(
            got.ok,
            want,
            `${JSON.stringify(header)} ${JSON.stringify(claims)} → ${got.ok ? "accepted" : got.error.message}`,
          );
        }),
      ),

      defineProperty(
        "jwt/random-segments",
        1500,
        60_000,
        fc.asyncProperty(
          fc.oneof(
            fc.string({ maxLength: 60 }),
            fc
              .tuple(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }), fc.uint8Array({ maxLength: 72 }))
              .map(
                ([h, p, s]) =>
                  `${Buffer.from(JSON.stringify(h) ?? "").toString("base64url")}.${Buffer.from(JSON.stringify(p) ?? "").toString("base64url")}.${Buffer.from(s).toString("base64url")}`,
              ),
            fc
              .tuple(headerArb, claimsArb, fc.uint8Array({ maxLength: 72 }))
              .map(
                ([h, p, s]) =>
                  `${Buffer.from(JSON.stringify(h)).toString("base64url")}.${Buffer.from(JSON.stringify(p)).toString("base64url")}.${Buffer.from(s).toString("base64url")}`,
              ),
            fc
              .tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }))
              .map(([h, p]) => `${Buffer.from(h).toString("base64url")}.${Buffer.from(p).toString("base64url")}.${s0}`),
          ),
          async (t) => {
            const got = await verify(t);
            assert.equal(got.ok, false, `forged token verified: ${t}`);
          },
        ),
      ),
    ];
  },
};
