import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  parseXfcc,
  selectXfccElement,
  xfccCertificates,
  XfccError,
  XFCC_MAX_ELEMENTS,
  XFCC_MAX_HEADER_BYTES,
  XFCC_MAX_PAIRS_PER_ELEMENT,
} from "../../src/formats/xfcc.js";
import { CredentialError } from "../../src/formats/errors.js";
import { MAX_CERT_DER_BYTES, MAX_CHAIN_CERTS, splitPemCertificates } from "../../src/formats/client-pem.js";

// The grammar does not care what the DER says, so fixed byte strings stand in for certificates here;
// real certificates go through the same code in decide.test.ts.
function fakeDer(tag: number, size = 64): Uint8Array {
  return new Uint8Array(size).fill(tag);
}
function pem(der: Uint8Array): string {
  const b64 = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n");
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}
const enc = encodeURIComponent;

test("single element with the Envoy documentation's shape", () => {
  const h =
    "By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;" +
    'Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=spiffe://lyft.com/test';
  const els = parseXfcc(h);
  assert.equal(els.length, 1);
  const el = els[0]!;
  assert.deepEqual(el.by, ["http://frontend.lyft.com"]);
  assert.equal(el.hash, "468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688");
  assert.equal(el.subject, "/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client");
  assert.deepEqual(el.uri, ["spiffe://lyft.com/test"]);
});

test("quoted values keep commas, semicolons, equals and escaped quotes", () => {
  const els = parseXfcc('Subject="CN=a,O=\\"b;c\\",OU=d=e";URI=spiffe://td/x,By=spiffe://td/proxy');
  assert.equal(els.length, 2);
  assert.equal(els[0]!.subject, 'CN=a,O="b;c",OU=d=e');
  assert.deepEqual(els[0]!.uri, ["spiffe://td/x"]);
  assert.deepEqual(els[1]!.by, ["spiffe://td/proxy"]);
});

test("backslash escapes any character inside quotes", () => {
  assert.equal(parseXfcc('Subject="a\\\\b\\c"')[0]!.subject, "a\\bc");
});

test("keys are case-insensitive; repeated DNS/URI collect; unknown keys are ignored", () => {
  const el = parseXfcc("hash=abc;dNs=a.example;DNS=b.example;uri=spiffe://td/a;FUTURE=1;cErT=x")[0]!;
  assert.equal(el.hash, "abc");
  assert.deepEqual(el.dns, ["a.example", "b.example"]);
  assert.deepEqual(el.uri, ["spiffe://td/a"]);
  assert.equal(el.cert, "x");
});

test("empty values, quoted or not, are values", () => {
  const el = parseXfcc('Subject="";URI=;Hash=h')[0]!;
  assert.equal(el.subject, "");
  assert.deepEqual(el.uri, [""]);
});

test("whitespace around elements and pairs (headers joined with ', ') is tolerated", () => {
  const els = parseXfcc("Hash=a ; URI=spiffe://td/a , Hash=b");
  assert.equal(els.length, 2);
  assert.equal(els[0]!.hash, "a");
  assert.deepEqual(els[0]!.uri, ["spiffe://td/a"]);
  assert.equal(els[1]!.hash, "b");
});

test("element selection: last is the nearest proxy (default), first is the client's", () => {
  const els = parseXfcc("Hash=one,Hash=two,Hash=three");
  assert.equal(selectXfccElement(els, "last").hash, "three");
  assert.equal(selectXfccElement(els, "first").hash, "one");
});

test("Cert is URL-encoded PEM; + in base64 is not a space", () => {
  // 0xfb bytes base64 to '+' characters
  const der = new Uint8Array(48).fill(0xfb);
  assert.ok(Buffer.from(der).toString("base64").includes("+"));
  const res = xfccCertificates(`Hash=x;Cert="${enc(pem(der))}"`);
  assert.equal(res.from, "cert");
  assert.deepEqual(res.der, [der]);
});

test("Chain (leaf + intermediates) is preferred over Cert", () => {
  const leaf = fakeDer(1);
  const inter = fakeDer(2);
  const h = `Cert="${enc(pem(leaf))}";Chain="${enc(pem(leaf) + pem(inter))}"`;
  const res = xfccCertificates(h);
  assert.equal(res.from, "chain");
  assert.deepEqual(res.der, [leaf, inter]);
});

test("Chain whose first certificate is not Cert is rejected", () => {
  const h = `Cert="${enc(pem(fakeDer(1)))}";Chain="${enc(pem(fakeDer(3)) + pem(fakeDer(2)))}"`;
  assert.throws(() => xfccCertificates(h), XfccError);
});

test("the selected element decides which certificate is used", () => {
  const a = fakeDer(0xa);
  const b = fakeDer(0xb);
  const h = `Cert="${enc(pem(a))}",Cert="${enc(pem(b))}"`;
  assert.deepEqual(xfccCertificates(h, "first").der, [a]);
  assert.deepEqual(xfccCertificates(h, "last").der, [b]);
  assert.deepEqual(xfccCertificates(h).der, [b]);
});

test("an element without Cert or Chain is malformed", () => {
  assert.throws(() => xfccCertificates("Hash=abc;URI=spiffe://td/a"), XfccError);
});

test("garbage is malformed, never a crash", () => {
  const bad = [
    "",
    "   ",
    ",",
    "Hash",
    "Hash=a;",
    "Hash=a,",
    ";Hash=a",
    "=a",
    "Ha sh=a",
    'Subject="unterminated',
    'Subject="a"b',
    'Subject=a"b"',
    'Subject="a\\',
    "Hash=a;Hash=b",
    "Cert=a;cert=b",
    'Cert="%E0%A4%A"', // broken percent escape → surfaces via xfccCertificates
  ];
  for (const h of bad) {
    assert.throws(
      () => xfccCertificates(h),
      (e: unknown) => e instanceof CredentialError && e.reason === "malformed_certificate",
      JSON.stringify(h),
    );
  }
});

test("Cert that is not PEM, or not base64, is malformed", () => {
  for (const v of [
    "hello",
    enc("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----"),
    enc("-----BEGIN CERTIFICATE-----\nAAAA"),
  ]) {
    assert.throws(() => xfccCertificates(`Cert="${v}"`), CredentialError, v);
  }
});

test("limit: header bytes", () => {
  const ok = "Hash=" + "a".repeat(XFCC_MAX_HEADER_BYTES - 5);
  assert.equal(parseXfcc(ok).length, 1);
  assert.throws(() => parseXfcc(ok + "a"), XfccError);
  // multi-byte characters count as their UTF-8 length
  const multi = "Hash=" + "é".repeat(Math.ceil(XFCC_MAX_HEADER_BYTES / 2));
  assert.ok(multi.length < XFCC_MAX_HEADER_BYTES);
  assert.throws(() => parseXfcc(multi), XfccError);
});

test("limit: number of elements", () => {
  const els = (n: number) => Array.from({ length: n }, (_, k) => `Hash=${k}`).join(",");
  assert.equal(parseXfcc(els(XFCC_MAX_ELEMENTS)).length, XFCC_MAX_ELEMENTS);
  assert.throws(() => parseXfcc(els(XFCC_MAX_ELEMENTS + 1)), XfccError);
});

test("limit: pairs per element", () => {
  const pairs = (n: number) => Array.from({ length: n }, (_, k) => `DNS=d${k}.example`).join(";");
  assert.equal(parseXfcc(pairs(XFCC_MAX_PAIRS_PER_ELEMENT))[0]!.dns.length, XFCC_MAX_PAIRS_PER_ELEMENT);
  assert.throws(() => parseXfcc(pairs(XFCC_MAX_PAIRS_PER_ELEMENT + 1)), XfccError);
});

test("limit: chain length", () => {
  const chain = (n: number) => Array.from({ length: n }, (_, k) => pem(fakeDer(k + 1))).join("");
  assert.equal(xfccCertificates(`Chain="${enc(chain(MAX_CHAIN_CERTS))}"`).der.length, MAX_CHAIN_CERTS);
  assert.throws(() => xfccCertificates(`Chain="${enc(chain(MAX_CHAIN_CERTS + 1))}"`), CredentialError);
});

test("limit: one certificate's size", () => {
  assert.equal(splitPemCertificates(pem(fakeDer(1, MAX_CERT_DER_BYTES)))[0]!.length, MAX_CERT_DER_BYTES);
  assert.throws(() => splitPemCertificates(pem(fakeDer(1, MAX_CERT_DER_BYTES + 1))), CredentialError);
});

test("property: parseXfcc and xfccCertificates only ever throw the typed error", () => {
  const alphabet = fc.constantFrom(...'=;,"\\ \tabcCERThinURIy%0A-', "Cert=", "Chain=", 'Subject="', "%2", "é");
  const headerish = fc.array(alphabet, { maxLength: 200 }).map((a) => a.join(""));
  fc.assert(
    fc.property(
      fc.oneof(headerish, fc.string({ maxLength: 300 }), fc.string({ unit: "grapheme", maxLength: 100 })),
      fc.boolean(),
      (h, first) => {
        try {
          parseXfcc(h);
        } catch (e) {
          if (!(e instanceof XfccError)) throw e;
        }
        try {
          xfccCertificates(h, first ? "first" : "last");
        } catch (e) {
          if (!(e instanceof CredentialError) || e.reason !== "malformed_certificate") throw e;
        }
      },
    ),
    { seed: 20240611, numRuns: 2000 },
  );
});

test("property: well-formed headers with hostile Cert/Chain values only ever throw the typed error", () => {
  const pemish = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => pem(b)),
    fc.uint8Array({ maxLength: 64 }).map((b) => pem(b).slice(0, 40)),
    fc.constantFrom(
      "-----BEGIN CERTIFICATE-----",
      "-----END CERTIFICATE-----",
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
      "%",
      "%zz",
      "\u0000",
    ),
    fc.string({ maxLength: 40 }),
  );
  const value = fc.array(pemish, { maxLength: 4 }).map((parts) => parts.join(""));
  const pair = fc
    .tuple(fc.constantFrom("Cert", "Chain", "cert", "URI", "Hash"), value, fc.boolean())
    .map(([k, v, enc]) => {
      const vv = enc ? encodeURIComponent(v) : v;
      return `${k}="${vv.replace(/[\\"]/g, (c) => "\\" + c)}"`;
    });
  const element = fc.array(pair, { minLength: 1, maxLength: 4 }).map((p) => p.join(";"));
  const header = fc.array(element, { minLength: 1, maxLength: 3 }).map((e) => e.join(","));
  fc.assert(
    fc.property(header, fc.boolean(), (h, first) => {
      try {
        const res = xfccCertificates(h, first ? "first" : "last");
        assert.ok(res.der.length >= 1 && res.der.length <= MAX_CHAIN_CERTS);
      } catch (e) {
        if (!(e instanceof CredentialError) || e.reason !== "malformed_certificate") throw e;
      }
    }),
    { seed: 4242, numRuns: 1000 },
  );
});

test("property: quoted round trip of arbitrary subjects", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 100 }), (subject) => {
      const quoted = '"' + subject.replace(/[\\"]/g, (c) => "\\" + c) + '"';
      const els = parseXfcc(`Subject=${quoted};Hash=x,Hash=y`);
      assert.equal(els.length, 2);
      assert.equal(els[0]!.subject, subject);
    }),
    { seed: 7, numRuns: 500 },
  );
});
