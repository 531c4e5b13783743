// decide() with client certificates handed over in each tls.client-cert-format, made here by the dev CA and
// encoded as each proxy encodes them: RFC 9440 byte sequences (Cloudflare, or any hop that follows the RFC),
// URL-encoded PEM as AWS ALB's mTLS passthrough sends it (leaf and chain; `+`, `=` and `/` left as they are)
// and as nginx's $ssl_client_escaped_cert does (the leaf only; everything outside [A-Za-z0-9-._~] escaped).
// The trust rules are those of XFCC: the chain must reach a root of the ID's own trust domain.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decide } from "../../src/engine/decide.js";
import { ChainCache } from "../../src/engine/chain-cache.js";
import type { AuthzRequest, Decision } from "../../src/engine/contract.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { DevCertificateAuthority, type DevX509Svid } from "../../src/dev-ca/index.js";
import { NOW, policyOf, snapshotOf } from "../helpers/engine.js";

const WEB = "spiffe://example.org/web";

const b64 = (der: Uint8Array) => Buffer.from(der).toString("base64");
const sf = (der: Uint8Array) => `:${b64(der)}:`;
/** As AWS ALB writes X-Amzn-Mtls-Clientcert: percent-encoding with `+`, `=` and `/` kept as they are. */
const albEncode = (pem: string) =>
  encodeURIComponent(pem).replace(/%2B/g, "+").replace(/%3D/g, "=").replace(/%2F/g, "/");
/** As nginx writes $ssl_client_escaped_cert: every byte outside the unreserved set escaped. */
const nginxEncode = (pem: string) =>
  encodeURIComponent(pem).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function request(headers: Record<string, string>, sourceCertificate?: string): AuthzRequest {
  return {
    transport: "envoy",
    headers: new Map(Object.entries(headers)),
    method: "GET",
    path: "/",
    ...(sourceCertificate !== undefined ? { sourceCertificate } : {}),
  };
}

const setup = (async () => {
  const root = await DevCertificateAuthority.createRoot("example.org");
  const intermediate = await root.createIntermediate();
  const other = await DevCertificateAuthority.createRoot("other.org");
  return {
    root,
    intermediate,
    other,
    /** web's SVID under an intermediate: verifiable only with the chain. */
    web: await intermediate.issueX509Svid("/web"),
    /** web's SVID straight from the root (nginx sends no chain). */
    webDirect: await root.issueX509Svid("/web"),
    intruder: await root.issueX509Svid("/intruder"),
    /** spiffe://example.org/web signed by other.org's root: a valid chain, to the wrong trust domain. */
    crossSigned: await other.issueX509Svid(WEB),
    snapshot: snapshotOf([root.x509Bundle(), other.x509Bundle()]),
  };
})();

function decideWith(tls: ConfigInput["tls"], req: AuthzRequest, cache?: ChainCache): Promise<Decision> {
  return (async () => {
    const { snapshot } = await setup;
    const policy = policyOf({ tls, allowlist: { exact: [WEB] } });
    return decide(req, policy, snapshot, NOW, cache);
  })();
}

const RFC9440 = { "client-cert-format": "rfc9440" } as const;
const chainOf = (svid: DevX509Svid) => svid.chain.slice(1).map(sf).join(", ");

test("rfc9440: Client-Cert + Client-Cert-Chain → allowed as web; without the chain → untrusted", async () => {
  const { web } = await setup;
  assert.equal(web.chain.length, 2, "the leaf needs its intermediate");
  const ok = await decideWith(RFC9440, request({ "client-cert": sf(web.der), "client-cert-chain": chainOf(web) }));
  assert.equal(ok.reason, "ok", ok.detail);
  assert.equal(ok.identity?.spiffeId, WEB);
  assert.equal(ok.credentialSource, "rfc9440", "the audit line names the format");
  assert.deepEqual(
    ok.headersToSet.find((h) => h.name === "X-SPIFFE-Id"),
    { name: "X-SPIFFE-Id", value: WEB },
  );
  const bare = await decideWith(RFC9440, request({ "client-cert": sf(web.der) }));
  assert.equal(bare.reason, "untrusted", bare.detail);
  assert.equal(bare.httpStatus, 401);
});

test("rfc9440: verified but not on the allowlist → 403; A's ID signed by B's root → 401 untrusted", async () => {
  const { intruder, crossSigned } = await setup;
  const denied = await decideWith(RFC9440, request({ "client-cert": sf(intruder.der) }));
  assert.equal(denied.reason, "not_allowed");
  assert.equal(denied.httpStatus, 403);
  const cross = await decideWith(RFC9440, request({ "client-cert": sf(crossSigned.der) }));
  assert.equal(cross.reason, "untrusted", cross.detail);
  assert.equal(cross.httpStatus, 401);
});

test("rfc9440: malformed headers → 401 malformed_certificate; a chain header with no Client-Cert is malformed too", async () => {
  const { web } = await setup;
  for (const headers of <Array<Record<string, string>>>[
    { "client-cert": b64(web.der) },
    { "client-cert": `${sf(web.der)};x=1` },
    { "client-cert": `:${Buffer.from(web.der).toString("base64url")}:` },
    { "client-cert": sf(web.der), "client-cert-chain": `(${chainOf(web)})` },
    { "client-cert-chain": chainOf(web) },
  ]) {
    // require-mtls false too: a broken credential is never read as no credential.
    for (const requireMtls of [true, false]) {
      const d = await decideWith({ ...RFC9440, "require-mtls": requireMtls }, request(headers));
      assert.equal(d.reason, "malformed_certificate", `${JSON.stringify(headers).slice(0, 80)}: ${d.detail}`);
      assert.equal(d.credentialSource, "rfc9440");
      assert.equal(d.httpStatus, 401);
    }
  }
});

test("rfc9440: Envoy's source certificate wins over Client-Cert, as it wins over XFCC", async () => {
  const { web, intruder } = await setup;
  const d = await decideWith(RFC9440, request({ "client-cert": sf(web.der) }, encodeURIComponent(intruder.pem)));
  assert.equal(d.reason, "not_allowed");
  assert.equal(d.identity?.spiffeId, "spiffe://example.org/intruder");
  assert.equal(d.credentialSource, "peer_certificate");
});

test("pem-url: ALB's X-Amzn-Mtls-Clientcert (leaf + chain, +=/ unescaped) and nginx's escaped leaf → allowed as web", async () => {
  const { web, webDirect } = await setup;
  const alb = albEncode(web.chainPem);
  assert.match(alb, /^-----BEGIN%20CERTIFICATE-----%0A/, "ALB's shape");
  assert.ok(/[+/=]/.test(alb) && !/%2B|%2F|%3D/.test(alb), "ALB leaves + / = as they are");
  const tls = { "client-cert-format": "pem-url", "client-cert-header": "X-Amzn-Mtls-Clientcert" } as const;
  const a = await decideWith(tls, request({ "x-amzn-mtls-clientcert": alb }));
  assert.equal(a.reason, "ok", a.detail);
  assert.equal(a.identity?.spiffeId, WEB);
  assert.equal(a.credentialSource, "pem_url");

  const nginx = nginxEncode(webDirect.pem);
  assert.ok(!/[+/=]/.test(nginx), "nginx escapes + / =");
  const n = await decideWith(
    { "client-cert-format": "pem-url", "client-cert-header": "ssl-client-cert" },
    request({ "ssl-client-cert": nginx }),
  );
  assert.equal(n.reason, "ok", n.detail);
  assert.equal(n.identity?.spiffeId, WEB);
});

test("pem-url: bad escapes, no PEM, or a form-encoded space (+) → 401 malformed_certificate", async () => {
  const { webDirect } = await setup;
  const tls = { "client-cert-format": "pem-url", "client-cert-header": "X-Client-Cert" } as const;
  for (const value of [
    "%E0%A4%A",
    "not a certificate",
    encodeURIComponent(webDirect.pem).replace(/%20/g, "+"),
    albEncode(webDirect.pem).slice(0, 200),
  ]) {
    const d = await decideWith(tls, request({ "x-client-cert": value }));
    assert.equal(d.reason, "malformed_certificate", `${value.slice(0, 40)}: ${d.detail}`);
  }
});

test("pem-url: two headers joined by ',' (a hop that appended) and text around the PEM are malformed, never read as their first certificate", async () => {
  const { web, intruder } = await setup;
  const tls = { "client-cert-format": "pem-url", "client-cert-header": "X-Amzn-Mtls-Clientcert" } as const;
  // The client's own header first, the hop's after it, as a repeated header reaches us joined.
  const joined = `${albEncode(intruder.pem)},${albEncode(web.chainPem)}`;
  const d = await decideWith(tls, request({ "x-amzn-mtls-clientcert": joined }));
  assert.equal(d.reason, "malformed_certificate", d.detail);
  assert.match(d.detail, /repeated header/);
  for (const value of [`hello${albEncode(web.chainPem)}`, `${albEncode(web.chainPem)}%0Atrailer`]) {
    const t = await decideWith(tls, request({ "x-amzn-mtls-clientcert": value }));
    assert.equal(t.reason, "malformed_certificate", t.detail);
    assert.match(t.detail, /text outside the PEM certificate blocks/);
  }
});

test("a header of only non-HTTP whitespace (U+00A0, U+FEFF) is a credential sent, refused as malformed, never 'no certificate'", async () => {
  const { web } = await setup;
  const open = { "require-mtls": false } as const;
  for (const blank of ["\u00a0", "\ufeff", " \u2028 "]) {
    const cc = await decideWith({ ...open, "client-cert-format": "rfc9440" }, request({ "client-cert": blank }));
    assert.equal(cc.reason, "malformed_certificate", JSON.stringify(blank));
    const chain = await decideWith(
      { ...open, "client-cert-format": "rfc9440" },
      request({ "client-cert": sf(web.der), "client-cert-chain": blank }),
    );
    assert.equal(chain.reason, "malformed_certificate", `chain ${JSON.stringify(blank)}`);
    const x = await decideWith(open, request({ "x-forwarded-client-cert": blank }));
    assert.equal(x.reason, "malformed_certificate", `xfcc ${JSON.stringify(blank)}`);
  }
  // Spaces and tabs are HTTP's own whitespace: still no credential.
  const none = await decideWith({ ...open, "client-cert-format": "rfc9440" }, request({ "client-cert": " \t " }));
  assert.equal(none.reason, "no_certificate");
});

test("rfc9440: a 64 KiB chain of parameters or inner lists is refused by its shape, before the field parser", async () => {
  const { web } = await setup;
  const tls = { "client-cert-format": "rfc9440" } as const;
  for (const chain of [`:AAAA:${";a=1".repeat(16_000)}`, `(${":AAAA: ".repeat(9_000)})`]) {
    const d = await decideWith(tls, request({ "client-cert": sf(web.der), "client-cert-chain": chain }));
    assert.equal(d.reason, "malformed_certificate");
    assert.match(d.detail, /expected a list of byte sequences/);
  }
});

test("the chain cache keeps formats apart: the same header bytes read as another format, or another chain header, are decided afresh", async () => {
  const { web, webDirect, other } = await setup;
  const cache = new ChainCache();
  // One header, X-Client-Cert, read first as pem-url (web allowed), then as xfcc: the same bytes are no XFCC.
  const pemUrl = { "client-cert-format": "pem-url", "client-cert-header": "X-Client-Cert" } as const;
  const xfcc = { "client-cert-header": "X-Client-Cert" } as const;
  const sameBytes = request({ "x-client-cert": nginxEncode(webDirect.pem) });
  for (let i = 0; i < 2; i++) assert.equal((await decideWith(pemUrl, sameBytes, cache)).reason, "ok");
  assert.ok(cache.stats().hits >= 1, "the second pem-url request was a cache hit");
  const asXfcc = await decideWith(xfcc, sameBytes, cache);
  assert.equal(asXfcc.reason, "malformed_certificate", asXfcc.detail);
  assert.equal((await decideWith(pemUrl, sameBytes, cache)).reason, "ok");

  // The same Client-Cert with another chain: the intermediate it needs, then another CA's root in its place.
  const good = request({ "client-cert": sf(web.der), "client-cert-chain": chainOf(web) });
  const wrongChain = request({ "client-cert": sf(web.der), "client-cert-chain": sf(other.der) });
  for (let i = 0; i < 2; i++) assert.equal((await decideWith(RFC9440, good, cache)).reason, "ok");
  const wrong = await decideWith(RFC9440, wrongChain, cache);
  assert.equal(wrong.reason, "untrusted", wrong.detail);
});
