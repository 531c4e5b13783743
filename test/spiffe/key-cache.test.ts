// PublicKeyCache on its own (src/spiffe/key-cache.ts): least-recently-used eviction at exactly maxEntries for
// keys and for remembered CA signatures apart, reads that refresh, the length-prefixed link key (no two
// pairs of SPKI and certificate hash spell the same entry), the hit count, clear. Through verifyX509Svid
// (x509-svid.test.ts "verified-CA key cache") only what verified paths leave is seen, never an eviction.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import { PublicKeyCache, sharedPublicKeyCache } from "../../src/spiffe/index.js";

const keys = Array.from({ length: 4 }, () => generateKeyPairSync("ed25519").publicKey);

test("keys: the least recently used goes first, exactly past maxEntries; get refreshes, has does not", () => {
  const cache = new PublicKeyCache(2);
  cache.set("a", keys[0]!);
  cache.set("b", keys[1]!);
  assert.equal(cache.size, 2);
  assert.equal(cache.get("a"), keys[0]);
  cache.set("c", keys[2]!);
  assert.equal(cache.size, 2);
  assert.deepEqual(
    ["a", "b", "c"].map((k) => cache.has(k)),
    [true, false, true],
  );
  assert.equal(cache.get("b"), undefined);
  // has() is no use: "a" was read by has only, so it is now the oldest.
  assert.ok(cache.has("a"));
  cache.set("d", keys[3]!);
  assert.deepEqual(
    ["a", "c", "d"].map((k) => cache.has(k)),
    [false, true, true],
  );
  // Setting a key again refreshes it without growing.
  cache.set("c", keys[2]!);
  cache.set("a", keys[0]!);
  assert.deepEqual(
    ["a", "c", "d"].map((k) => cache.has(k)),
    [true, true, false],
  );
  assert.equal(cache.size, 2);
  assert.equal(cache.signatureCount, 0);
});

test("signatures: remembered apart from keys, evicted least recently used, counted when answered", () => {
  const cache = new PublicKeyCache(2);
  cache.set("k", keys[0]!);
  cache.addSigned("spkiA", "hash1");
  cache.addSigned("spkiB", "hash2");
  assert.equal(cache.signatureCount, 2);
  assert.equal(cache.size, 1);
  assert.equal(cache.signed("spkiA", "hash1"), true);
  assert.equal(cache.signatureHits, 1);
  assert.equal(cache.signed("spkiA", "hash2"), false);
  assert.equal(cache.signed("spkiB", "hash1"), false);
  assert.equal(cache.signatureHits, 1);
  // spkiA/hash1 was just used: the third link pushes out spkiB/hash2.
  cache.addSigned("spkiC", "hash3");
  assert.equal(cache.signatureCount, 2);
  assert.equal(cache.signed("spkiB", "hash2"), false);
  assert.equal(cache.signed("spkiA", "hash1"), true);
  assert.equal(cache.signed("spkiC", "hash3"), true);
  assert.equal(cache.signatureHits, 3);
  assert.ok(cache.has("k"), "keys are not evicted by signatures");
  cache.clear();
  assert.equal(cache.size, 0);
  assert.equal(cache.signatureCount, 0);
  assert.equal(cache.signed("spkiA", "hash1"), false);
});

test("the link key is length-prefixed: a different split of the same characters is another link", () => {
  const cache = new PublicKeyCache(8);
  cache.addSigned("ab", "cd");
  assert.equal(cache.signed("a", "bcd"), false);
  assert.equal(cache.signed("abc", "d"), false);
  assert.equal(cache.signed("", "abcd"), false);
  assert.equal(cache.signed("2:ab", "cd"), false);
  assert.equal(cache.signed("ab", "cd"), true);
  // Digits in the SPKI string cannot forge the prefix either.
  cache.addSigned("1:x", "y");
  assert.equal(cache.signed("1", "x1:xy"), false);
  assert.equal(cache.signed("1:", "xy"), false);
});

test("the default capacity is 1024, the shared cache's too", () => {
  const cache = new PublicKeyCache();
  assert.equal(cache.maxEntries, 1024);
  assert.equal(sharedPublicKeyCache.maxEntries, 1024);
  for (let i = 0; i < 1025; i++) cache.addSigned(`s${i}`, "h");
  assert.equal(cache.signatureCount, 1024);
  assert.equal(cache.signed("s0", "h"), false);
  assert.equal(cache.signed("s1", "h"), true);
  const zero = new PublicKeyCache(0);
  zero.set("a", keys[0]!);
  zero.addSigned("a", "h");
  assert.equal(zero.size, 0);
  assert.equal(zero.signatureCount, 0);
});
