// The whole Check path (Envoy door → engine → decide) with real certificates from the dev CA:
//  - real requests in every legitimate encoding are allowed (so the properties below can fail);
//  - the same requests with their certificate bytes mutated (DER, PEM, base64, URL encoding, XFCC, the
//    protobuf wire bytes, the bearer token) are never allowed with an identity they do not really carry,
//    and never at all when the DER itself changed;
//  - random requests always get a well-formed CheckResponse with a reason from the closed set.
import assert from "node:assert/strict";
import fc from "fast-check";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CheckRequestSchema,
  CheckResponseSchema,
  type CheckRequest,
} from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { DevCertificateAuthority, DevJwtAuthority, type DevX509Svid } from "../../../src/dev-ca/index.js";
import { parseConfig } from "../../../src/config/load.js";
import type { ConfigInput } from "../../../src/config/schema.js";
import { compilePolicy, type Policy } from "../../../src/policy/index.js";
import { BundleSet } from "../../../src/spiffe/index.js";
import { assertAnswer, EnvoyHarness, type CheckResult } from "../envoy-harness.js";
import {
  applyByteEdits,
  applyStringEdits,
  byteEdits,
  bytesEqual,
  defineProperty,
  stringEdits,
  toPem,
  urlEncode,
  type FuzzProperty,
  type FuzzSuite,
} from "../harness.js";
import { createHash } from "node:crypto";

const XFCC = "x-forwarded-client-cert";
const AUDIENCE = "spiffe-authz";
const sha256 = (der: Uint8Array) => createHash("sha256").update(der).digest("hex");

/** How a legitimate request may carry a certificate; every one of these must be allowed. */
interface Encoding {
  via: "source" | "xfcc-cert" | "xfcc-chain" | "xfcc-both";
  width: number;
  crlf: boolean;
  /** Text before the first PEM block (openssl's `subject=` lines); never contains "-----BEGIN". */
  lead: string;
  mask: Uint8Array;
  upperHex: boolean;
  quote: boolean;
  keyCase: number;
  ows: string;
  /** Elements of farther proxies before ours (the last element is the one we trust). */
  before: string[];
  extraPairs: string[];
  headerMap: boolean;
  headers: Record<string, string>;
  method: string;
  path: string;
}

interface Pieces {
  /** DER of leaf then intermediates, as presented. */
  chain: Uint8Array[];
  pemLeaf: string;
  pemChain: string;
}

function pieces(chain: readonly Uint8Array[], e: Pick<Encoding, "width" | "crlf" | "lead">): Pieces {
  return {
    chain: [...chain],
    pemLeaf: e.lead + toPem(chain[0] as Uint8Array, e.width, e.crlf),
    pemChain: e.lead + chain.map((d) => toPem(d, e.width, e.crlf)).join(""),
  };
}

function caseKey(key: string, bits: number): string {
  return [...key].map((c, i) => ((bits >> i) & 1 ? c.toUpperCase() : c.toLowerCase())).join("");
}

function xfccValue(urlEncoded: string, quote: boolean): string {
  return quote ? `"${urlEncoded}"` : urlEncoded;
}

/** The XFCC header (or source certificate) for these PEM texts, in this encoding. */
function credential(p: Pieces, e: Encoding): { source?: string; xfcc?: string } {
  const enc = (s: string) => urlEncode(s, e.mask, e.upperHex);
  if (e.via === "source") return { source: enc(p.chain.length > 1 ? p.pemChain : p.pemLeaf) };
  const pairs = [`${caseKey("by", e.keyCase)}=spiffe://example.org/envoy`, ...e.extraPairs];
  if (e.via === "xfcc-cert" || e.via === "xfcc-both")
    pairs.push(`${caseKey("cert", e.keyCase >> 2)}${e.ows}=${xfccValue(enc(p.pemLeaf), e.quote)}`);
  if (e.via === "xfcc-chain" || e.via === "xfcc-both")
    pairs.push(`${caseKey("chain", e.keyCase >> 6)}=${xfccValue(enc(p.pemChain), !e.quote)}`);
  pairs.push("URI=spiffe://example.org/ignored");
  const own = pairs.join(`;${e.ows}`);
  return { xfcc: [...e.before, own].join(`,${e.ows}`) };
}

function checkRequest(
  cred: { source?: string | undefined; xfcc?: string | undefined; bearer?: string | undefined },
  e: Pick<Encoding, "headerMap" | "headers" | "method" | "path">,
): CheckRequest {
  const headers: Record<string, string> = {
    ...e.headers,
    ":method": e.method,
    ":path": e.path,
    "x-request-id": "fuzz",
  };
  const raw: Array<{ key: string; value: string }> = [];
  if (cred.xfcc !== undefined) {
    if (e.headerMap) raw.push({ key: XFCC, value: cred.xfcc });
    else headers[XFCC] = cred.xfcc;
  }
  if (cred.bearer !== undefined) headers["authorization"] = cred.bearer;
  return create(CheckRequestSchema, {
    attributes: {
      source: { certificate: cred.source ?? "" },
      request: {
        http: {
          id: "1",
          method: e.method,
          path: e.path,
          host: "backend.example.org",
          headers,
          ...(raw.length > 0
            ? { headerMap: { headers: raw.map((h) => ({ key: h.key, rawValue: new TextEncoder().encode(h.value) })) } }
            : {}),
        },
      },
    },
  });
}

const headerValue = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom("spiffe://example.org/admin", "example.org", "/admin", "spiffe-jwt", "0"),
);
const spoofHeaders = fc.dictionary(
  fc.constantFrom(
    "x-spiffe-id",
    "X-SPIFFE-Id",
    "x-spiffe-trust-domain",
    "x-spiffe-workload-id",
    "x-auth-method",
    "x-auth-timestamp",
    "authorization",
    "x-other",
    "__proto__",
    "constructor",
  ),
  headerValue,
  { maxKeys: 4 },
);

/** `forged`: an XFCC element of a farther proxy carrying a certificate we must not trust (ignored: not last). */
function encodingArb(chained: boolean, forged: string): fc.Arbitrary<Encoding> {
  return fc.record({
    // A leaf under an intermediate needs the intermediate: Cert alone is not enough.
    via: chained
      ? fc.constantFrom("source" as const, "xfcc-chain" as const, "xfcc-both" as const)
      : fc.constantFrom("source" as const, "xfcc-cert" as const, "xfcc-chain" as const, "xfcc-both" as const),
    width: fc.oneof(fc.constant(64), fc.integer({ min: 0, max: 120 })),
    crlf: fc.boolean(),
    lead: fc.constantFrom("", "subject=/O=SPIRE\n", "issuer=CN=x\r\n\r\n", "  "),
    mask: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 1, maxLength: 32 })),
    upperHex: fc.boolean(),
    quote: fc.boolean(),
    keyCase: fc.nat({ max: 0x7ff }),
    ows: fc.constantFrom("", " ", "\t"),
    before: fc.array(
      fc.constantFrom(
        "By=spiffe://far/proxy;Hash=00",
        'By="spiffe://far, away";Subject="CN=a;b"',
        "Hash=1;URI=spiffe://example.org/services/admin",
        forged,
      ),
      { maxLength: 3 },
    ),
    extraPairs: fc.uniqueArray(
      fc.constantFrom(
        "Hash=468ed33be7",
        'Subject="/C=US/CN=x, y"',
        "DNS=web.example.org",
        "URI=spiffe://example.org/services/admin",
        "X-Foo=bar",
      ),
      { maxLength: 3 },
    ),
    headerMap: fc.boolean(),
    headers: spoofHeaders,
    method: fc.constantFrom("GET", "POST", "delete"),
    path: fc.constantFrom("/", "/api/orders?x=1", "/services/x", "//a/./b"),
  });
}

export const checkSuite: FuzzSuite = {
  name: "check",
  async properties(): Promise<FuzzProperty[]> {
    const now = new Date();
    const example = await DevCertificateAuthority.createRoot("example.org");
    const inter = await example.createIntermediate();
    const other = await DevCertificateAuthority.createRoot("other.org");
    const unknown = await DevCertificateAuthority.createRoot("unknown.org");
    const evil = await DevCertificateAuthority.createRoot("example.org", { name: "evil" });
    const jwtCa = await DevJwtAuthority.create("example.org", { keyId: "k1" });

    const direct = await example.issueX509Svid("/services/web");
    const chained = await inter.issueX509Svid("/services/api");
    const foreign = await other.issueX509Svid("/services/web");
    const strangers: DevX509Svid[] = [
      await unknown.issueX509Svid("/services/web"),
      await evil.issueX509Svid("/services/web"),
      await example.issueX509Svid("/services/old", { notBefore: new Date(now.getTime() - 7200_000), ttlSeconds: 3600 }),
      await example.issueX509Svid("/services/ca", { isCA: true, keyUsage: ["keyCertSign", "digitalSignature"] }),
      await example.issueX509Svid("/services/none", { uris: [] }),
      await example.issueX509Svid("/services/two", {
        uris: ["spiffe://example.org/services/a", "spiffe://example.org/services/b"],
      }),
    ];
    const token = await jwtCa.issue({ subject: "/services/web", audience: AUDIENCE, now, ttlSeconds: 3600 });
    // One trust domain's ID signed by the other's CA (both bundles held, each with its own root).
    const otherInter = await other.createIntermediate();
    const crossSigned = {
      "example.org ID by other.org's root": await other.issueX509Svid("spiffe://example.org/services/web"),
      "example.org ID by other.org's intermediate": await otherInter.issueX509Svid("spiffe://example.org/services/api"),
      "other.org ID by example.org's root": await example.issueX509Svid("spiffe://other.org/services/web"),
      "other.org ID by example.org's intermediate": await inter.issueX509Svid("spiffe://other.org/services/api"),
    };

    // Leaves that verify, and the one ID each was issued for; nothing else may ever come out as "ok".
    const known = new Map([direct, chained, foreign].map((s) => [sha256(s.der), s.id]));
    const jwtSubjects = new Set(["spiffe://example.org/services/web"]);

    const base: ConfigInput = {
      allowlist: { prefix: ["spiffe://example.org/services"] },
      routes: [
        {
          name: "admin",
          match: { "path-prefix": "/admin" },
          allowlist: { exact: ["spiffe://example.org/services/admin"] },
        },
      ],
      jwt: { enabled: true, audiences: [AUDIENCE] },
      audit: { "include-cert-info": true },
    };
    const strictPolicy = compilePolicy(parseConfig(base));
    const bundles = new BundleSet([example.x509Bundle(), other.x509Bundle(), jwtCa.jwtBundle()]);
    const strict = new EnvoyHarness(strictPolicy, { generation: 1, bundles, spireAvailable: true }, now);
    // Other failure modes, for the random requests: every reason in the closed set becomes reachable.
    const lenient = new EnvoyHarness(
      compilePolicy(
        parseConfig({
          ...base,
          tls: { "require-mtls": false },
          failure: { "validation-failure": "log_and_allow", "spire-unavailable": "fail_open" },
        }),
      ),
      { generation: 2, bundles: new BundleSet([example.x509Bundle(), jwtCa.jwtBundle()]), spireAvailable: false },
      now,
    );
    const down = new EnvoyHarness(
      compilePolicy(parseConfig({ ...base, tls: { "xfcc-element": "first" } })),
      { generation: 3, bundles: new BundleSet([example.x509Bundle()]), spireAvailable: false },
      now,
    );
    // For the cache property: credentials in several encodings (same certificate, different raw keys), the
    // policies and trust states a running server moves between.
    type Cred = { source?: string; xfcc?: string };
    const credentials: Cred[] = [
      { source: encodeURIComponent(direct.pem) },
      { source: urlEncode(direct.pem, Uint8Array.of(0x55)) },
      { xfcc: `By=x;Cert="${encodeURIComponent(direct.pem)}"` },
      { xfcc: `Chain="${encodeURIComponent(chained.chainPem)}"` },
      { source: encodeURIComponent(chained.pem) },
      { source: encodeURIComponent(foreign.pem) },
      { source: encodeURIComponent((strangers[0] as DevX509Svid).pem) },
      { xfcc: `By=x;Cert="${encodeURIComponent((strangers[1] as DevX509Svid).pem)}"` },
      { source: "%" },
    ];
    const policies: Policy[] = [
      strictPolicy,
      compilePolicy(parseConfig(base)),
      compilePolicy(
        parseConfig({
          ...base,
          allowlist: { exact: ["spiffe://example.org/services/api"] },
          headers: { "spiffe-id": "X-Caller" },
        }),
      ),
      compilePolicy(
        parseConfig({
          ...base,
          failure: { "validation-failure": "log_and_allow", "spire-unavailable": "fail_open" },
          audit: { "include-cert-info": false },
        }),
      ),
    ];
    const trusts = [
      { bundles, spireAvailable: true },
      { bundles: new BundleSet([other.x509Bundle()]), spireAvailable: true },
      { bundles: new BundleSet([other.x509Bundle()]), spireAvailable: false },
      { bundles: new BundleSet([example.x509Bundle(), other.x509Bundle()]), spireAvailable: true },
    ];
    const idHeaders = strictPolicy.identityHeaderNames;
    const answer = (r: CheckResult) => assertAnswer(r, known, jwtSubjects, idHeaders);

    const forged = `By=spiffe://far/proxy;Cert="${encodeURIComponent((strangers[1] as DevX509Svid).pem)}"`;
    // Names, not certificate objects, so that counterexamples stay readable.
    const svids = { direct, chained };
    for (const [n, sv] of Object.entries(svids))
      Object.defineProperty(sv, fc.toStringMethod, { value: () => `<${n} SVID ${sv.id}>` });
    const goodArb = fc
      .constantFrom("direct" as const, "chained" as const)
      .chain((name) => fc.tuple(fc.constant(name), encodingArb(name === "chained", forged)))
      .map(([name, e]) => [name, e, svids[name]] as const);

    const expectAllowed = (r: CheckResult, svid: DevX509Svid, what: string) => {
      answer(r);
      assert.equal(r.decision.reason, "ok", `${what}: ${r.decision.reason} (${r.decision.detail})`);
      assert.equal(r.decision.identity?.spiffeId, svid.id);
      assert.equal(r.decision.certInfo?.sha256, sha256(svid.der));
    };
    /**
     * Oracle for text-level mutations, which may or may not change the DER: an allow must be the original
     * leaf's identity. Under the strict policy every allow is an "ok"; the others may also allow without
     * identity (log_and_allow, fail_open, no_certificate), which answer() checks.
     */
    const expectNoFalseAllow = (r: CheckResult, svid: DevX509Svid, what: string, h: EnvoyHarness = strict) => {
      answer(r);
      if (h === strict && r.decision.allow) assert.equal(r.decision.reason, "ok");
      if (r.decision.reason === "ok") {
        assert.equal(r.decision.certInfo?.sha256, sha256(svid.der), `${what}: allowed with another leaf`);
        assert.equal(r.decision.identity?.spiffeId, svid.id);
      }
    };

    const pemAlphabet = fc.oneof(
      fc.constantFrom(
        "A",
        "/",
        "+",
        "=",
        "\n",
        " ",
        "-",
        "-----",
        "-----BEGIN CERTIFICATE-----",
        "-----END CERTIFICATE-----",
        "M",
      ),
      fc.string({ maxLength: 2 }),
    );
    const urlAlphabet = fc.constantFrom(
      "%",
      "%2",
      "%0A",
      "%2B",
      "%2b",
      "+",
      "%41",
      "%ZZ",
      "%C3",
      "%E9%80",
      "A",
      "=",
      "-",
      "%2D",
    );
    const xfccAlphabet = fc.oneof(
      fc.constantFrom(",", ";", "=", '"', "\\", " ", "Cert=", "Chain=", "By=", "%", "%2D", ",Cert=", ';Chain=""'),
      fc.string({ maxLength: 2 }),
    );

    return [
      defineProperty(
        "check/real-requests-allowed",
        120,
        40_000,
        fc.asyncProperty(goodArb, async ([, e, svid]) => {
          const req = checkRequest(credential(pieces(svid.chain, e), e), e);
          expectAllowed(await strict.check(req), svid, `encoding ${JSON.stringify({ ...e, mask: [...e.mask] })}`);
        }),
      ),

      defineProperty(
        "check/der-mutations-denied",
        150,
        60_000,
        fc.asyncProperty(goodArb, fc.nat(), byteEdits, async ([, e, svid], which, edits) => {
          const k = which % svid.chain.length;
          const mutated = applyByteEdits(svid.chain[k] as Uint8Array, edits);
          fc.pre(!bytesEqual(mutated, svid.chain[k] as Uint8Array));
          const chain = svid.chain.map((d, i) => (i === k ? mutated : d));
          // Cert alone (xfcc-cert) presents only the leaf: an intermediate mutation would not be presented.
          fc.pre(k === 0 || e.via !== "xfcc-cert");
          const r = await strict.check(checkRequest(credential(pieces(chain, e), e), e));
          answer(r);
          assert.equal(r.decision.allow, false, `certificate ${k} mutated (${JSON.stringify(edits)}) was allowed`);
        }),
      ),

      defineProperty(
        "check/identity-swap-denied",
        100,
        30_000,
        fc.asyncProperty(goodArb, fc.stringMatching(/^[a-z0-9._-]{1,40}$/), async ([, e, svid], path) => {
          // The attack a byte flip stands for: the same certificate claiming another allowed ID of the same
          // length. It still parses and names an allowed ID; only the signature can refuse it.
          const at = Buffer.from(svid.der).indexOf(svid.id);
          const prefix = "spiffe://example.org/services/";
          const tail = path.padEnd(svid.id.length - prefix.length, "x").slice(0, svid.id.length - prefix.length);
          const swapped = prefix + tail;
          fc.pre(swapped !== svid.id);
          const der = Uint8Array.from(svid.der);
          der.set(Buffer.from(swapped), at);
          const r = await strict.check(checkRequest(credential(pieces([der, ...svid.chain.slice(1)], e), e), e));
          answer(r);
          const valid = !/(^|\/)\.\.?(\/|$)/.test(tail);
          assert.equal(r.decision.reason, valid ? "untrusted" : "no_spiffe_id", `${swapped}: ${r.decision.detail}`);
        }),
      ),

      defineProperty(
        "check/cross-domain-signer-denied",
        80,
        30_000,
        fc.asyncProperty(
          fc
            .constantFrom(...(Object.keys(crossSigned) as Array<keyof typeof crossSigned>))
            .chain((name) => fc.tuple(fc.constant(name), encodingArb(name.endsWith("intermediate"), forged))),
          fc.boolean(),
          async ([name, e], withRoot) => {
            // Appending the signer's own root to the presented chain must not help either.
            const svid = crossSigned[name];
            const signerRoot = name.startsWith("example.org") ? other.der : example.der;
            const r = await strict.check(
              checkRequest(credential(pieces(withRoot ? [...svid.chain, signerRoot] : svid.chain, e), e), e),
            );
            answer(r);
            assert.equal(r.decision.reason, "untrusted", `${name}: ${r.decision.reason} (${r.decision.detail})`);
          },
        ),
      ),

      defineProperty(
        "check/base64-symbol-change-denied",
        120,
        40_000,
        fc.asyncProperty(goodArb, fc.nat(), fc.nat({ max: 63 }), async ([, e, svid], pos, sym) => {
          const p = pieces(svid.chain, e);
          // One base64 symbol of the leaf block that carries whole bytes (not the last one before padding).
          const start = p.pemChain.indexOf("-----BEGIN CERTIFICATE-----") + 28;
          const body = Buffer.from(svid.der).toString("base64").replace(/=+$/, "");
          const symbols: number[] = [];
          for (let i = start; symbols.length < body.length - 1; i++)
            if (/[A-Za-z0-9+/]/.test(p.pemChain[i] as string)) symbols.push(i);
          const at = symbols[pos % symbols.length] as number;
          const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
          const old = p.pemChain[at] as string;
          const ch = alphabet[sym] === old ? (alphabet[(sym + 1) % 64] as string) : (alphabet[sym] as string);
          const swap = (s: string) => s.slice(0, at) + ch + s.slice(at + 1);
          // The leaf block starts at the same offset in both texts.
          const mutated: Pieces = { chain: p.chain, pemLeaf: swap(p.pemLeaf), pemChain: swap(p.pemChain) };
          const r = await strict.check(checkRequest(credential(mutated, e), e));
          answer(r);
          assert.equal(r.decision.allow, false, `leaf with base64 symbol ${at - start} changed was allowed`);
        }),
      ),

      defineProperty(
        "check/pem-text-mutations",
        150,
        50_000,
        fc.asyncProperty(goodArb, stringEdits(pemAlphabet), fc.boolean(), async ([, e, svid], edits, both) => {
          const p = pieces(svid.chain, e);
          const mutated: Pieces = {
            chain: p.chain,
            pemLeaf: applyStringEdits(p.pemLeaf, edits),
            pemChain: both ? applyStringEdits(p.pemChain, edits) : p.pemChain,
          };
          expectNoFalseAllow(await strict.check(checkRequest(credential(mutated, e), e)), svid, "PEM mutation");
        }),
      ),

      defineProperty(
        "check/url-and-xfcc-mutations",
        200,
        60_000,
        fc.asyncProperty(
          goodArb,
          fc.oneof(stringEdits(urlAlphabet), stringEdits(xfccAlphabet)),
          async ([, e, svid], edits) => {
            const cred = credential(pieces(svid.chain, e), e);
            const mutated =
              cred.source !== undefined
                ? { source: applyStringEdits(cred.source, edits) }
                : { xfcc: applyStringEdits(cred.xfcc ?? "", edits) };
            expectNoFalseAllow(await strict.check(checkRequest(mutated, e)), svid, "URL/XFCC mutation");
          },
        ),
      ),

      defineProperty(
        "check/wire-mutations",
        200,
        50_000,
        fc.asyncProperty(goodArb, byteEdits, async ([, e, svid], edits) => {
          const bytes = toBinary(CheckRequestSchema, checkRequest(credential(pieces(svid.chain, e), e), e));
          let req: CheckRequest;
          try {
            req = fromBinary(CheckRequestSchema, applyByteEdits(bytes, edits));
          } catch {
            return; // grpc-js would refuse to deserialise it; the door never sees it
          }
          for (const h of [strict, lenient, down]) expectNoFalseAllow(await h.check(req), svid, "wire mutation", h);
        }),
      ),

      defineProperty(
        "check/jwt-mutations",
        150,
        40_000,
        fc.asyncProperty(
          fc.option(stringEdits(fc.constantFrom("A", "_", "-", ".", "0", "eyJ", " ", "=")), { freq: 5 }),
          fc.constantFrom("Bearer ", "bearer ", "BEARER\t", "Bearer  "),
          spoofHeaders,
          async (edits, scheme, headers) => {
            const t = edits ? applyStringEdits(token, edits) : token;
            const { authorization: _ignored, ...rest } = headers;
            const r = await strict.check(
              checkRequest({ bearer: scheme + t }, { headerMap: false, headers: rest, method: "GET", path: "/" }),
            );
            answer(r);
            if (!edits) assert.equal(r.decision.reason, "ok", `real token: ${r.decision.detail}`);
            if (r.decision.allow) {
              const [h, p, s] = t.split(".") as [string, string, string];
              const [h0, p0, s0] = token.split(".") as [string, string, string];
              assert.ok(
                h === h0 && p === p0 && Buffer.from(s, "base64url").equals(Buffer.from(s0, "base64url")),
                `mutated token allowed: ${t}`,
              );
            }
          },
        ),
      ),

      defineProperty(
        "check/cache-never-changes-a-decision",
        60,
        15_000,
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              {
                weight: 8,
                arbitrary: fc.record({
                  step: fc.constant("request" as const),
                  cred: fc.nat({ max: credentials.length - 1 }),
                  path: fc.constantFrom("/", "/admin", "/admin/x", "/x/../admin", "/api"),
                  route: fc.constantFrom(undefined, "admin", "nope"),
                  method: fc.constantFrom("GET", "POST"),
                }),
              },
              {
                weight: 1,
                arbitrary: fc.record({
                  step: fc.constant("policy" as const),
                  which: fc.nat({ max: policies.length - 1 }),
                }),
              },
              {
                weight: 1,
                arbitrary: fc.record({
                  step: fc.constant("trust" as const),
                  which: fc.nat({ max: trusts.length - 1 }),
                }),
              },
              {
                weight: 2,
                arbitrary: fc.record({
                  step: fc.constant("clock" as const),
                  ms: fc.constantFrom(0, 300, 1000, 59 * 60_000, 2 * 3600_000),
                }),
              },
            ),
            { minLength: 1, maxLength: 12 },
          ),
          async (steps) => {
            // Two engines see the same requests, policies, bundles and clock; only one has the chain cache
            // (and with it the remembered decisions). Every answer must be the same, byte for byte.
            let clock = now.getTime();
            let generation = 1;
            let trust = trusts[0] as (typeof trusts)[number];
            let snapshot = { generation, bundles: trust.bundles, spireAvailable: trust.spireAvailable };
            const cached = new EnvoyHarness(
              policies[0] as Policy,
              () => snapshot,
              () => new Date(clock),
            );
            const fresh = new EnvoyHarness(
              policies[0] as Policy,
              () => snapshot,
              () => new Date(clock),
              { cache: false },
            );
            for (const s of steps) {
              if (s.step === "policy") for (const h of [cached, fresh]) h.engine.setPolicy(policies[s.which] as Policy);
              else if (s.step === "trust") {
                trust = trusts[s.which] as (typeof trusts)[number];
                snapshot = { generation: ++generation, bundles: trust.bundles, spireAvailable: trust.spireAvailable };
              } else if (s.step === "clock") clock += s.ms;
              else {
                const e = { headerMap: false, headers: {}, method: s.method, path: s.path };
                const req = () => {
                  const r = checkRequest(credentials[s.cred] as Cred, e);
                  if (s.route !== undefined) r.attributes!.contextExtensions["route"] = s.route;
                  return r;
                };
                const a = await cached.check(req());
                const b = await fresh.check(req());
                assert.deepEqual({ ...a.decision }, { ...b.decision }, `step ${JSON.stringify(s)}`);
                assert.deepEqual(toBinary(CheckResponseSchema, a.response), toBinary(CheckResponseSchema, b.response));
              }
            }
          },
        ),
      ),

      defineProperty(
        "check/random-requests",
        300,
        60_000,
        fc.asyncProperty(
          fc.record({
            source: fc.oneof(
              fc.constant(undefined),
              fc.string({ maxLength: 40 }),
              fc.constantFrom(...[direct, chained, foreign, ...strangers].map((s) => encodeURIComponent(s.chainPem))),
              fc.constantFrom(
                ...strangers.map((s) => s.pem),
                "%",
                "%E0%A4%A",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                " ".repeat(3),
              ),
            ),
            xfcc: fc.oneof(
              fc.constant(undefined),
              fc.string({ maxLength: 40 }),
              fc
                .array(
                  fc.constantFrom(
                    ...[direct, chained, foreign, ...strangers].map((s) => `Chain="${encodeURIComponent(s.chainPem)}"`),
                    "Cert=",
                    "By=x",
                    ",",
                    ";",
                  ),
                  { maxLength: 4 },
                )
                .map((a) => a.join(";")),
            ),
            bearer: fc.oneof(
              fc.constant(undefined),
              fc.constantFrom(`Bearer ${token}`, "Bearer", "Basic abc", "Bearer a.b.c", `Bearer ${token}x`),
              fc.string({ maxLength: 20 }),
            ),
            headers: spoofHeaders,
            headerMap: fc.boolean(),
            method: fc.oneof(fc.constantFrom("GET", "POST", ""), fc.string({ maxLength: 5 })),
            path: fc.oneof(
              fc.constantFrom("/admin", "/admin/x", "/%61dmin", "/x/../admin", "", "?"),
              fc.string({ maxLength: 10 }),
            ),
            route: fc.oneof(fc.constant(undefined), fc.constantFrom("admin", "nope", "")),
          }),
          async (r) => {
            const req = checkRequest(r, r);
            if (r.route !== undefined) req.attributes!.contextExtensions["route"] = r.route;
            for (const h of [strict, lenient, down]) answer(await h.check(req));
          },
        ),
      ),
    ];
  },
};
