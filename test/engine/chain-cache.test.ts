import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ChainCache, type CachedFailure, type CachedVerification } from "../../src/engine/chain-cache.js";

const T0 = Date.parse("2030-01-01T00:00:00Z");
function entry(notAfterMs = T0 + 3600_000, notBeforeMs = T0 - 60_000): CachedVerification {
  return {
    identity: { spiffeId: "spiffe://td/a", trustDomain: "td", path: "/a", method: "spiffe" },
    notBeforeMs,
    notAfterMs,
    certInfo: { serial: "01", issuer: "CN=ca", notAfter: new Date(notAfterMs).toISOString(), sha256: "00" },
  };
}

test("keyFor: length-prefixed, so splitting the bytes differently gives another key", () => {
  const a = ChainCache.keyFor([new Uint8Array([1, 2]), new Uint8Array([3])]);
  const b = ChainCache.keyFor([new Uint8Array([1]), new Uint8Array([2, 3])]);
  const c = ChainCache.keyFor([new Uint8Array([1, 2]), new Uint8Array([3])]);
  assert.notEqual(a, b);
  assert.equal(a, c);
  assert.match(a, /^[0-9a-f]{64}$/);
});

test("keyForRaw: SHA-256 of context and text, the same whether remembered or not, never shared across contexts", () => {
  const sha = (context: string, raw: string) => createHash("sha256").update(`${context}\n${raw}`).digest("base64");
  const c = new ChainCache();
  const raw = "-----BEGIN%20CERTIFICATE-----%0AMIIB" + "x".repeat(1500);
  const xfccBy = "header\nxfcc\nBy\n0:";
  const xfccHash = "header\nxfcc\nHash\n0:";
  // First sight (computed), repeat (remembered), a fresh cache (computed again): one key.
  assert.equal(c.keyForRaw(raw, "source-certificate"), sha("source-certificate", raw));
  assert.equal(c.keyForRaw(raw, "source-certificate"), sha("source-certificate", raw));
  assert.equal(new ChainCache().keyForRaw(raw, "source-certificate"), sha("source-certificate", raw));
  // The same text in another context (another credential kind, a reload that switches the XFCC element) gets
  // that context's key, also when the other context's key is the one remembered, and back again.
  assert.equal(c.keyForRaw(raw, xfccBy), sha(xfccBy, raw));
  assert.equal(c.keyForRaw(raw, xfccHash), sha(xfccHash, raw));
  assert.equal(c.keyForRaw(raw, "source-certificate"), sha("source-certificate", raw));
  assert.notEqual(sha(xfccBy, raw), sha(xfccHash, raw));
  // A text that differs in one character (same length) is never answered with the remembered key.
  const other = raw.slice(0, -1) + "y";
  assert.equal(c.keyForRaw(other, "source-certificate"), sha("source-certificate", other));
  assert.notEqual(c.keyForRaw(other, "source-certificate"), c.keyForRaw(raw, "source-certificate"));
});

test("keyForRaw: past its entry and size bounds it still answers correctly (only the remembering stops)", () => {
  const sha = (raw: string) => createHash("sha256").update(`source-certificate\n${raw}`).digest("base64");
  const c = new ChainCache();
  const texts = Array.from({ length: 1500 }, (_, i) => `cert-${i}-` + "z".repeat(2000));
  for (const t of texts) assert.equal(c.keyForRaw(t, "source-certificate"), sha(t));
  for (const t of texts) assert.equal(c.keyForRaw(t, "source-certificate"), sha(t));
  const huge = "h".repeat(3 * 1024 * 1024);
  assert.equal(c.keyForRaw(huge, "source-certificate"), sha(huge));
  assert.equal(c.keyForRaw(huge, "source-certificate"), sha(huge));
});

test("hit after set, counted; miss counted; onLookup told", () => {
  const seen: boolean[] = [];
  const c = new ChainCache({ onLookup: (h) => seen.push(h) });
  const now = new Date(T0);
  assert.equal(c.get("k", 1, now), undefined);
  c.set("k", 1, entry(), now);
  assert.equal(c.get("k", 1, now)?.identity.spiffeId, "spiffe://td/a");
  assert.deepEqual(c.stats(), { hits: 1, misses: 1, size: 1, generation: 1 });
  assert.deepEqual(seen, [false, true]);
});

test("a newer generation clears; an older one neither reads nor writes", () => {
  const c = new ChainCache();
  const now = new Date(T0);
  c.set("k", 5, entry(), now);
  assert.ok(c.get("k", 5, now));
  assert.equal(c.get("k", 4, now), undefined);
  c.set("old", 4, entry(), now);
  assert.equal(c.stats().size, 1);
  assert.equal(c.get("k", 6, now), undefined);
  assert.equal(c.stats().size, 0);
  assert.equal(c.get("k", 5, now), undefined);
});

test("an entry is not used after the chain's notAfter (or before its notBefore)", () => {
  const c = new ChainCache();
  c.set("k", 1, entry(T0 + 1000), new Date(T0));
  assert.ok(c.get("k", 1, new Date(T0 + 1000)));
  assert.equal(c.get("k", 1, new Date(T0 + 1001)), undefined);
  assert.equal(c.stats().size, 0);
  c.set("k2", 1, entry(T0 + 5000, T0 - 10), new Date(T0));
  assert.equal(c.get("k2", 1, new Date(T0 - 11)), undefined);
  assert.ok(c.get("k2", 1, new Date(T0)));
});

test("an already-expired verification is not stored", () => {
  const c = new ChainCache();
  c.set("k", 1, entry(T0 - 1), new Date(T0));
  assert.equal(c.stats().size, 0);
});

test("bounded in entries (LRU)", () => {
  const c = new ChainCache({ maxEntries: 2 });
  const now = new Date(T0);
  c.set("a", 1, entry(), now);
  c.set("b", 1, entry(), now);
  assert.ok(c.get("a", 1, now));
  c.set("c", 1, entry(), now);
  assert.equal(c.stats().size, 2);
  assert.equal(c.get("b", 1, now), undefined);
  assert.ok(c.get("a", 1, now));
  assert.throws(() => new ChainCache({ maxEntries: 0 }), RangeError);
});

test("the TTL given to the LRU never outlives the certificate (real clock)", async () => {
  const c = new ChainCache();
  const real = new Date();
  c.set("k", 1, entry(real.getTime() + 30, real.getTime() - 1000), real);
  await new Promise((r) => setTimeout(r, 60));
  // even with a lying clock that still says `real`, the LRU itself has dropped the entry
  assert.equal(c.get("k", 1, real), undefined);
});

// ---- failures ---------------------------------------------------------------------------------------------

function failure(fromMs = -Infinity, toMs = Infinity): CachedFailure {
  return {
    reason: "untrusted",
    detail: "no issuer",
    window: { fromMs, toMs },
    certInfo: undefined,
    certInfoKnown: true,
  };
}

test("failures: remembered under their own LRU, counted apart from the success cache's hits and misses", () => {
  const c = new ChainCache();
  const now = new Date(T0);
  assert.equal(c.getFailure("k", 1, now), undefined);
  c.setFailure("k", 1, failure(), now);
  assert.equal(c.getFailure("k", 1, now)?.detail, "no issuer");
  assert.equal(c.get("k", 1, now), undefined, "a failure is never a verified chain");
  assert.deepEqual(c.failureStats(), { hits: 1, misses: 1, size: 1 });
  assert.deepEqual(c.stats(), { hits: 0, misses: 1, size: 0, generation: 1 });
});

test("failures: a newer generation clears them with the successes; an older one neither reads nor writes", () => {
  const c = new ChainCache();
  const now = new Date(T0);
  c.setFailure("f", 5, failure(), now);
  c.set("s", 5, entry(), now);
  assert.equal(c.getFailure("f", 4, now), undefined);
  c.setFailure("old", 4, failure(), now);
  assert.equal(c.failureStats().size, 1);
  assert.equal(c.getFailure("f", 6, now), undefined);
  assert.deepEqual([c.failureStats().size, c.stats().size], [0, 0]);
});

test("failures: used only inside their time window, never stored outside it", () => {
  const c = new ChainCache();
  c.setFailure("k", 1, failure(T0 - 1000, T0 + 1000), new Date(T0));
  assert.ok(c.getFailure("k", 1, new Date(T0 + 1000)));
  assert.equal(c.getFailure("k", 1, new Date(T0 - 1001)), undefined, "a clock that went back: not used, kept");
  assert.ok(c.getFailure("k", 1, new Date(T0)));
  assert.equal(c.getFailure("k", 1, new Date(T0 + 1001)), undefined);
  assert.equal(c.failureStats().size, 0, "past its window: dropped");
  c.setFailure("late", 1, failure(T0 + 1, T0 + 5000), new Date(T0));
  c.setFailure("gone", 1, failure(T0 - 5000, T0 - 1), new Date(T0));
  assert.equal(c.failureStats().size, 0);
});

test("failures: the LRU's own TTL ends with the window (real clock)", async () => {
  const c = new ChainCache();
  const real = new Date();
  c.setFailure("k", 1, failure(-Infinity, real.getTime() + 30), real);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(c.getFailure("k", 1, real), undefined);
});

test("failures: bounded in entries and bytes, separately from the successes; maxFailureEntries 0 remembers none", () => {
  const c = new ChainCache({ maxEntries: 2, maxFailureEntries: 2 });
  const now = new Date(T0);
  c.set("s", 1, entry(), now);
  for (const k of ["a", "b", "c"]) c.setFailure(k, 1, failure(), now);
  assert.equal(c.failureStats().size, 2);
  assert.equal(c.getFailure("a", 1, now), undefined);
  assert.ok(c.get("s", 1, now), "failures never evict a verified chain");
  c.setFailure("huge", 1, { ...failure(), detail: "x".repeat(100_000) }, now);
  assert.equal(c.getFailure("huge", 1, now), undefined, "an entry over 64 KiB is not kept");
  const none = new ChainCache({ maxFailureEntries: 0 });
  none.setFailure("k", 1, failure(), now);
  assert.equal(none.getFailure("k", 1, now), undefined);
  assert.throws(() => new ChainCache({ maxFailureEntries: -1 }), RangeError);
});
