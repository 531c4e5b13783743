import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { extractCredentials, MAX_JWT_BYTES, MAX_SOURCE_CERTIFICATE_BYTES } from "../../src/engine/credentials.js";
import { CredentialError } from "../../src/formats/errors.js";
import type { AuthzRequest } from "../../src/engine/contract.js";

function pem(tag: number): string {
  const b64 = Buffer.from(new Uint8Array(48).fill(tag)).toString("base64");
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}
function req(headers: Record<string, string>, sourceCertificate?: string): AuthzRequest {
  return {
    transport: "envoy",
    headers: new Map(Object.entries(headers)),
    method: "GET",
    path: "/",
    ...(sourceCertificate !== undefined ? { sourceCertificate } : {}),
  };
}
const jwtCfg = parseConfig({ jwt: { enabled: true, audiences: ["a"] } });
const plain = parseConfig({});
const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzcGlmZmU6Ly90ZC9hIn0.c2ln";

function der(c: ReturnType<typeof extractCredentials>): number[] {
  assert.equal(c.kind, "x509");
  return c.kind === "x509" ? c.der.map((d) => d[0]!) : [];
}

test("source certificate (URL-encoded PEM, may be a chain) wins over XFCC", () => {
  const c = extractCredentials(
    req({ "x-forwarded-client-cert": `Cert="${encodeURIComponent(pem(9))}"` }, encodeURIComponent(pem(1) + pem(2))),
    plain,
  );
  assert.equal(c.kind === "x509" && c.from, "source-certificate");
  assert.deepEqual(der(c), [1, 2]);
});

test('empty source certificate (Envoy sends "" without mTLS) falls through to XFCC', () => {
  const c = extractCredentials(req({ "x-forwarded-client-cert": `Cert="${encodeURIComponent(pem(9))}"` }, ""), plain);
  assert.equal(c.kind === "x509" && c.from, "header");
  assert.deepEqual(der(c), [9]);
});

test("the XFCC header name comes from config, looked up lower-cased; element choice honoured", () => {
  const cfg = parseConfig({ tls: { "client-cert-header": "X-Client-Cert", "xfcc-element": "first" } });
  const h = `Cert="${encodeURIComponent(pem(3))}",Cert="${encodeURIComponent(pem(4))}"`;
  assert.deepEqual(der(extractCredentials(req({ "x-client-cert": h }), cfg)), [3]);
  assert.equal(extractCredentials(req({ "x-forwarded-client-cert": h }), cfg).kind, "none");
});

test("nothing presented → none; blank header → none", () => {
  assert.equal(extractCredentials(req({}), plain).kind, "none");
  assert.equal(extractCredentials(req({ "x-forwarded-client-cert": "  " }), plain).kind, "none");
});

test("malformed source certificate or XFCC → CredentialError, never a fallback to JWT", () => {
  assert.throws(() => extractCredentials(req({ authorization: `Bearer ${TOKEN}` }, "%%%"), jwtCfg), CredentialError);
  assert.throws(
    () => extractCredentials(req({ authorization: `Bearer ${TOKEN}`, "x-forwarded-client-cert": "Hash=1" }), jwtCfg),
    CredentialError,
  );
  assert.throws(
    () => extractCredentials(req({}, "x".repeat(MAX_SOURCE_CERTIFICATE_BYTES + 1)), plain),
    CredentialError,
  );
});

test("JWT only when enabled, and only without an X.509 credential", () => {
  assert.equal(extractCredentials(req({ authorization: `Bearer ${TOKEN}` }), plain).kind, "none");
  assert.deepEqual(extractCredentials(req({ authorization: `Bearer ${TOKEN}` }), jwtCfg), {
    kind: "jwt",
    token: TOKEN,
  });
  assert.deepEqual(extractCredentials(req({ authorization: `bEaReR   ${TOKEN} ` }), jwtCfg), {
    kind: "jwt",
    token: TOKEN,
  });
  const both = extractCredentials(
    req({ authorization: `Bearer ${TOKEN}`, "x-forwarded-client-cert": `Cert="${encodeURIComponent(pem(5))}"` }),
    jwtCfg,
  );
  assert.equal(both.kind, "x509");
  const custom = parseConfig({ jwt: { enabled: true, header: "X-JWT-SVID" } });
  assert.equal(extractCredentials(req({ "x-jwt-svid": `Bearer ${TOKEN}` }), custom).kind, "jwt");
});

test("other auth schemes are not our credential; broken bearer tokens are malformed", () => {
  assert.equal(extractCredentials(req({ authorization: "Basic dXNlcjpwYXNz" }), jwtCfg).kind, "none");
  // A large token of another scheme (Kerberos via Negotiate easily passes 16 KiB) is not ours either.
  assert.equal(
    extractCredentials(req({ authorization: `Negotiate ${"Y".repeat(MAX_JWT_BYTES * 2)}` }), jwtCfg).kind,
    "none",
  );
  for (const v of [
    "Bearer",
    "Bearer ",
    "Bearer a.b",
    "Bearer a.b.c.d",
    "Bearer a b c",
    `Bearer ${TOKEN},Bearer ${TOKEN}`,
    "Bearer a.b.c!",
  ]) {
    assert.throws(() => extractCredentials(req({ authorization: v }), jwtCfg), CredentialError, v);
  }
});

test("limit: bearer token size", () => {
  const big = "a".repeat(MAX_JWT_BYTES) + ".b.c";
  assert.throws(() => extractCredentials(req({ authorization: `Bearer ${big}` }), jwtCfg), CredentialError);
  const ok = "a".repeat(MAX_JWT_BYTES - 4) + ".b.c";
  assert.equal(extractCredentials(req({ authorization: `Bearer ${ok}` }), jwtCfg).kind, "jwt");
});
