// Mutation-testing survivors in src/policy/allowlist.ts (bench/mutation-survivors.md): which kind of entry
// allowed an ID was never asserted, so every kind could have been returned as "" (still "allowed") unnoticed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { compilePolicy } from "../../src/policy/index.js";

function idOf(s: string) {
  const m = /^spiffe:\/\/([^/]+)(.*)$/.exec(s);
  if (!m) throw new Error(s);
  return { spiffeId: s, trustDomain: m[1]!, path: m[2]! };
}
const kindOf = (allowlist: object, id: string) => compilePolicy(parseConfig({ allowlist })).allowlist.match(idOf(id));

test("the allowlist names the kind of entry that allowed an ID, and nothing when none did", () => {
  assert.equal(kindOf({}, "spiffe://example.org/a"), "empty");
  assert.equal(kindOf({ exact: ["spiffe://example.org/a"] }, "spiffe://example.org/a"), "exact");
  assert.equal(kindOf({ prefix: ["spiffe://example.org"] }, "spiffe://example.org/a/b"), "prefix");
  assert.equal(kindOf({ prefix: ["spiffe://example.org/"] }, "spiffe://example.org/a"), "prefix");
  assert.equal(kindOf({ prefix: ["spiffe://example.org/a"] }, "spiffe://example.org/a"), "prefix");
  assert.equal(kindOf({ prefix: ["spiffe://example.org/a"] }, "spiffe://example.org/a/b"), "prefix");
  assert.equal(kindOf({ "trust-domains": ["example.org"] }, "spiffe://example.org/a"), "trust-domain");
  assert.equal(kindOf({ patterns: ["spiffe://example\\.org/a/[0-9]+"] }, "spiffe://example.org/a/7"), "pattern");
  // The first matching kind in the order exact, prefix, trust domain, pattern.
  const all = {
    exact: ["spiffe://example.org/a"],
    prefix: ["spiffe://example.org/a"],
    "trust-domains": ["example.org"],
    patterns: ["spiffe://example\\.org/.*"],
  };
  assert.equal(kindOf(all, "spiffe://example.org/a"), "exact");
  assert.equal(kindOf(all, "spiffe://example.org/a/b"), "prefix");
  assert.equal(kindOf(all, "spiffe://example.org/b"), "trust-domain");
  assert.equal(kindOf({ prefix: ["spiffe://example.org/"] }, "spiffe://other.org/a"), undefined);
});
