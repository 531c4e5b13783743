// bench/lib/stream-split.ts: spiffe-authz's own records (bench/lib/stream-split-hook.mjs) cut by the windows of the
// measured steps. Records outside every window (warm-up, the maximum, other chains' turns) must not count.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { splitByRate, splitTable } from "../../bench/lib/stream-split.js";

test("records are counted only inside their rate's windows, slow early streams are told apart", () => {
  const file = join(mkdtempSync(join(tmpdir(), "split-")), "split.json");
  const events = [
    ["s", 500, 99], // before any window: the warm-up
    ["s", 1_100, 8], // 1000/s, first window, 100 ms in: slow and early
    ["s", 1_900, 0.2],
    ["s", 2_000, 0.3],
    ["gap", 1_200, 12],
    ["gc", 1_300, 6, 4],
    ["s", 3_500, 40], // between windows: another chain's turn
    ["s", 5_900, 7], // 1000/s, second window, 900 ms in: slow, not early
    ["gap", 5_950, 20],
    ["s", 9_100, 1], // 500/s
  ];
  writeFileSync(file, JSON.stringify(events));
  const rows = splitByRate(file, [
    { rate: 1000, startMs: 1_000, endMs: 3_000 },
    { rate: 1000, startMs: 5_000, endMs: 7_000 },
    { rate: 500, startMs: 9_000, endMs: 10_000 },
  ]);
  assert.deepEqual(
    rows.map((r) => [r.rate, r.streams]),
    [
      [1000, 4],
      [500, 1],
    ],
  );
  const r = rows[0]!;
  assert.equal(r.maxMs, 8);
  assert.equal(r.p50Ms, 0.3);
  assert.equal(r.gaps, 2);
  assert.equal(r.gapMs, 32);
  assert.equal(r.gapMaxMs, 20);
  assert.equal(r.gcMs, 6);
  assert.equal(r.slowEarlyShare, 0.5);
  assert.equal(rows[1]!.slowEarlyShare, 0);
  assert.match(splitTable(rows), /^\| 1000 \| 4 \| 0\.30 \| 8\.00 \| 8\.00 \| 2, 32, 20\.0 \| 6, 6\.0 \| 50 % \|$/m);
});
