// SPIFFE ID and trust domain parsing: every rule of SPIFFE-ID.md §2.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  SpiffeId,
  SpiffeIdError,
  parseSpiffeId,
  parseTrustDomain,
  tryParseSpiffeId,
  validatePath,
} from "../../src/spiffe/index.js";

function idError(value: string): string {
  try {
    parseSpiffeId(value);
  } catch (err) {
    if (err instanceof SpiffeIdError) return err.message;
    throw err;
  }
  return "accepted";
}

describe("parseSpiffeId accepts", () => {
  const good: Array<[string, string, string]> = [
    ["spiffe://example.org", "example.org", ""],
    ["spiffe://example.org/workload", "example.org", "/workload"],
    ["spiffe://example.org/ns/default/sa/web", "example.org", "/ns/default/sa/web"],
    ["spiffe://trust_domain-1.example/Path_With-Mixed.Case", "trust_domain-1.example", "/Path_With-Mixed.Case"],
    ["spiffe://192.168.1.1/ip-looking-trust-domain", "192.168.1.1", "/ip-looking-trust-domain"],
    ["spiffe://a/b", "a", "/b"],
    ["spiffe://example.org/.../..a/a..", "example.org", "/.../..a/a.."],
    [
      "spiffe://example.org/9eebccd2-12bf-40a6-b262-65fe0487d453",
      "example.org",
      "/9eebccd2-12bf-40a6-b262-65fe0487d453",
    ],
  ];
  for (const [input, td, path] of good) {
    test(input, () => {
      const id = parseSpiffeId(input);
      assert.equal(id.trustDomain.name, td);
      assert.equal(id.path, path);
      assert.equal(id.toString(), input);
      assert.equal(JSON.stringify(id), JSON.stringify(input));
    });
  }
});

describe("parseSpiffeId rejects", () => {
  const bad: Array<[string, string, RegExp]> = [
    ["empty", "", /empty/],
    ["no scheme", "example.org/workload", /scheme/],
    ["uppercase scheme", "SPIFFE://example.org/workload", /scheme/],
    ["mixed-case scheme", "Spiffe://example.org/workload", /scheme/],
    ["wrong scheme", "https://example.org/workload", /scheme/],
    ["scheme with one slash", "spiffe:/example.org/workload", /scheme/],
    ["scheme without slashes", "spiffe:example.org", /scheme/],
    ["missing trust domain", "spiffe:///workload", /trust domain is missing/],
    ["only the scheme", "spiffe://", /trust domain is missing/],
    ["uppercase trust domain", "spiffe://Example.org/workload", /lowercase/],
    // 'A' and 'Z' bound the uppercase range of trustDomainCharProblem; '@' and '[' sit just outside it.
    ["uppercase A (range start)", "spiffe://Aexample.org/w", /^trust domain must be lowercase$/],
    ["uppercase Z (range end)", "spiffe://Zexample.org/w", /^trust domain must be lowercase$/],
    ["bracket after Z", "spiffe://[example.org/w", /^trust domain characters are limited/],
    ["port", "spiffe://example.org:8080/workload", /port/],
    ["userinfo", "spiffe://user@example.org/workload", /userinfo/],
    ["userinfo with password", "spiffe://user:pw@example.org/workload", /port|userinfo/],
    ["percent-encoded trust domain", "spiffe://exa%6Dple.org/workload", /percent/],
    ["IPv6 trust domain", "spiffe://[::1]/workload", /trust domain characters/],
    ["space in trust domain", "spiffe://exa mple.org/w", /trust domain characters/],
    ["non-ASCII trust domain", "spiffe://exämple.org/w", /trust domain characters/],
    ["query", "spiffe://example.org/workload?x=1", /query/],
    ["query on the trust domain", "spiffe://example.org?x=1", /query/],
    ["fragment", "spiffe://example.org/workload#frag", /fragment/],
    ["fragment on the trust domain", "spiffe://example.org#frag", /fragment/],
    ["percent-encoded path", "spiffe://example.org/work%20load", /percent/],
    ["percent-encoded slash", "spiffe://example.org/a%2Fb", /percent/],
    ["trailing slash", "spiffe://example.org/workload/", /trailing/],
    ["trust domain with trailing slash", "spiffe://example.org/", /trailing/],
    ["empty segment", "spiffe://example.org/a//b", /empty segments/],
    ["leading empty segment", "spiffe://example.org//a", /empty segments/],
    ["dot segment", "spiffe://example.org/a/./b", /dot segments/],
    ["dot-dot segment", "spiffe://example.org/a/../b", /dot segments/],
    ["final dot segment", "spiffe://example.org/a/.", /dot segments/],
    ["final dot-dot segment", "spiffe://example.org/..", /dot segments/],
    ["space in path", "spiffe://example.org/a b", /path segment characters/],
    ["non-ASCII path", "spiffe://example.org/caf\u00e9", /path segment characters/],
    ["plus in path", "spiffe://example.org/a+b", /path segment characters/],
    ["colon in path", "spiffe://example.org/a:b", /path segment characters/],
    ["tilde in path", "spiffe://example.org/~a", /path segment characters/],
    ["backslash in path", "spiffe://example.org/a\\b", /path segment characters/],
    ["NUL in path", "spiffe://example.org/a\u0000b", /path segment characters/],
    ["newline in path", "spiffe://example.org/a\nb", /path segment characters/],
  ];
  for (const [name, input, why] of bad) {
    test(name, () => assert.match(idError(input), why));
  }

  test("non-string input is a SpiffeIdError, not a TypeError", () => {
    assert.throws(() => parseSpiffeId(undefined as unknown as string), SpiffeIdError);
    assert.throws(() => parseSpiffeId(42 as unknown as string), {
      name: "SpiffeIdError",
      message: "SPIFFE ID must be a string",
    });
  });
});

describe("length limits", () => {
  const prefix = "spiffe://example.org/";
  test("exactly 2048 bytes is accepted", () => {
    const id = prefix + "a".repeat(2048 - prefix.length);
    assert.equal(id.length, 2048);
    assert.equal(parseSpiffeId(id).toString(), id);
  });
  test("2049 bytes is rejected", () => {
    assert.match(idError(prefix + "a".repeat(2049 - prefix.length)), /2048/);
  });
  test("a 255-byte trust domain is accepted, 256 is rejected", () => {
    assert.equal(parseSpiffeId(`spiffe://${"t".repeat(255)}/w`).trustDomain.name.length, 255);
    assert.match(idError(`spiffe://${"t".repeat(256)}/w`), /255/);
    assert.throws(() => parseTrustDomain("t".repeat(256)), SpiffeIdError);
  });
  test("SpiffeId.fromPath enforces the total length too", () => {
    const td = parseTrustDomain("example.org");
    assert.throws(() => SpiffeId.fromPath(td, `/${"a".repeat(2048)}`), {
      name: "SpiffeIdError",
      message: "SPIFFE ID is longer than 2048 bytes",
    });
  });
});

describe("parseTrustDomain", () => {
  test("accepts a bare name and a trust domain ID", () => {
    assert.equal(parseTrustDomain("example.org").name, "example.org");
    assert.equal(parseTrustDomain("spiffe://example.org").name, "example.org");
    assert.equal(parseTrustDomain("example.org").idString(), "spiffe://example.org");
    assert.equal(String(parseTrustDomain("example.org")), "example.org");
    assert.equal(JSON.stringify({ td: parseTrustDomain("example.org") }), '{"td":"example.org"}');
    assert.ok(parseTrustDomain("example.org").equals(parseTrustDomain("spiffe://example.org")));
  });
  // Each refusal with its own reason: a URI-looking value is read as a trust domain ID (so a wrong scheme is
  // "scheme", a path is "path"), anything else as a bare name.
  const bad: Array<[string, RegExp]> = [
    ["", /^trust domain is missing$/],
    ["Example.org", /^trust domain must be lowercase$/],
    ["example.org:443", /^trust domain must not contain a port$/],
    ["user@example.org", /^trust domain must not contain userinfo$/],
    ["exa%6Dple.org", /^trust domain must not contain percent-encoded characters$/],
    ["spiffe://example.org/workload", /^a trust domain ID must not have a path \(or a trailing slash\)$/],
    ["spiffe://example.org/", /^a trust domain ID must not have a path/],
    ["spiffe:///workload", /^a trust domain ID must not have a path/],
    ["SPIFFE://example.org", /^scheme is missing or invalid$/],
    ["https://example.org", /^scheme is missing or invalid$/],
    ["spiffe:/example.org", /^scheme is missing or invalid$/],
    ["spiffe:example.org", /^scheme is missing or invalid$/],
    ["spiffe://", /^trust domain is missing$/],
    ["example.org/path", /^trust domain characters are limited/],
    [" example.org", /^trust domain characters are limited/],
  ];
  for (const [input, why] of bad) {
    test(`rejects ${JSON.stringify(input)}`, () =>
      assert.throws(
        () => parseTrustDomain(input),
        (err: unknown) => err instanceof SpiffeIdError && why.test(err.message),
      ));
  }
  test("non-string input is a SpiffeIdError, not a TypeError", () => {
    assert.throws(() => parseTrustDomain(42 as unknown as string), {
      name: "SpiffeIdError",
      message: "trust domain must be a string",
    });
  });
});

describe("SpiffeId methods", () => {
  const id = (s: string) => parseSpiffeId(s);
  test("memberOf compares trust domains exactly", () => {
    assert.ok(id("spiffe://example.org/a").memberOf(parseTrustDomain("example.org")));
    assert.ok(!id("spiffe://example.org/a").memberOf(parseTrustDomain("example.org.evil")));
    assert.ok(!id("spiffe://sub.example.org/a").memberOf(parseTrustDomain("example.org")));
  });
  test("equals compares trust domain and path (jwt-svid.ts compares the verified subject with it)", () => {
    assert.ok(id("spiffe://td/a").equals(id("spiffe://td/a")));
    assert.ok(!id("spiffe://td/a").equals(id("spiffe://td2/a")));
    assert.ok(!id("spiffe://td/a").equals(id("spiffe://td/a/b")));
  });
  test("isUnder is segment-aware", () => {
    assert.ok(id("spiffe://td/a").isUnder(id("spiffe://td/a")));
    assert.ok(id("spiffe://td/a/b").isUnder(id("spiffe://td/a")));
    assert.ok(id("spiffe://td/a/b/c").isUnder(id("spiffe://td/a")));
    assert.ok(!id("spiffe://td/ab").isUnder(id("spiffe://td/a")));
    assert.ok(!id("spiffe://td/a").isUnder(id("spiffe://td/a/b")));
    assert.ok(!id("spiffe://td2/a/b").isUnder(id("spiffe://td/a")));
    assert.ok(!id("spiffe://td.evil/a").isUnder(id("spiffe://td/a")));
    assert.ok(id("spiffe://td/anything").isUnder(id("spiffe://td")));
    assert.ok(id("spiffe://td").isUnder(id("spiffe://td")));
    assert.ok(!id("spiffe://td").isUnder(id("spiffe://td/a")));
    assert.ok(!id("spiffe://td/A").isUnder(id("spiffe://td/a")), "paths are case-sensitive");
  });
  test("equals and isTrustDomainId", () => {
    assert.ok(id("spiffe://td/a").equals(id("spiffe://td/a")));
    assert.ok(!id("spiffe://td/a").equals(id("spiffe://td/A")));
    assert.ok(id("spiffe://td").isTrustDomainId());
    assert.ok(!id("spiffe://td/a").isTrustDomainId());
  });
  test("fromPath validates the path", () => {
    const td = parseTrustDomain("td");
    assert.equal(SpiffeId.fromPath(td, "/a/b").toString(), "spiffe://td/a/b");
    assert.equal(SpiffeId.fromPath(td, "").toString(), "spiffe://td");
    for (const p of ["a", "/a/", "/a//b", "/./a", "/%41"]) assert.throws(() => SpiffeId.fromPath(td, p), SpiffeIdError);
    assert.throws(() => validatePath("a/b"), { name: "SpiffeIdError", message: "path must have a leading slash" });
  });
  test("validatePath and tryParseSpiffeId", () => {
    validatePath("/ok/path");
    assert.throws(() => validatePath("/bad/"), SpiffeIdError);
    assert.equal(tryParseSpiffeId("nope"), undefined);
    assert.equal(tryParseSpiffeId("spiffe://td/x")?.path, "/x");
  });
});
