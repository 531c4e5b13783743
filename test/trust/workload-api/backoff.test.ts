import { test } from "node:test";
import assert from "node:assert/strict";
import { Backoff } from "../../../src/trust/workload-api/backoff.js";

test("backoff: full jitter under a doubling ceiling, capped, reset to the start", () => {
  const top = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.9999 });
  assert.deepEqual(
    Array.from({ length: 6 }, () => top.next()),
    [100, 200, 400, 800, 1000, 1000],
  );
  top.reset();
  assert.equal(top.next(), 100);
  const low = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
  assert.equal(low.next(), 0, "full jitter may retry at once, the ceiling still grows");
  assert.equal(low.currentCeilingMs, 200);
  const real = new Backoff({ initialMs: 200, maxMs: 30_000 });
  for (let i = 0; i < 50; i++) {
    const d = real.next();
    assert.ok(d >= 0 && d <= 30_000, String(d));
  }
});

test("backoff: a refusal waits at least the floor, at most the cap, and later retries stay on the cap", () => {
  for (const r of [0, 0.5, 0.9999]) {
    const b = new Backoff({ initialMs: 200, maxMs: 30_000, random: () => r });
    const d = b.slow(5000);
    assert.ok(d >= 5000 && d <= 30_000, `${r}: ${d}`);
    assert.equal(b.currentCeilingMs, 30_000);
  }
  // A floor above the cap (tests use a small cap) still holds.
  const b = new Backoff({ initialMs: 50, maxMs: 200, random: () => 0.5 });
  assert.equal(b.slow(1000), 1000);
});
