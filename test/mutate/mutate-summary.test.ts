// scripts/mutate-summary.mjs on report files made here: per report, summed, and summed with --latest, where a source
// file counts only from the last report that mutated it (a part re-run after new tests replaces the earlier run).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = join(import.meta.dirname, "../../scripts/mutate-summary.mjs");

function report(files: Record<string, string[]>): string {
  const mutant = (status: string, i: number) => ({
    status,
    mutatorName: "StringLiteral",
    replacement: `"${i}"`,
    location: { start: { line: i + 1, column: 0 }, end: { line: i + 1, column: 1 } },
  });
  return JSON.stringify({
    files: Object.fromEntries(Object.entries(files).map(([p, st]) => [p, { mutants: st.map(mutant) }])),
  });
}

function summary(...args: string[]): string[] {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| folder"));
}

test("--sum adds every report; --latest counts each source file from its last report only", () => {
  const dir = mkdtempSync(join(tmpdir(), "mutate-summary-"));
  try {
    const first = join(dir, "first.json");
    const rerun = join(dir, "rerun.json");
    // a.ts: 2 survived, then re-run with both killed; b.ts only in the first report (1 killed, 1 timeout).
    writeFileSync(first, report({ "src/a.ts": ["Survived", "Survived"], "src/b.ts": ["Killed", "Timeout"] }));
    writeFileSync(rerun, report({ "src/a.ts": ["Killed", "Killed"], "src/c.ts": [] }));
    assert.deepEqual(summary(first, rerun), [
      "| first | 4 | 1 | 1 | 2 | 0 | 0 | 25.0 % | 50.0 % |",
      "| rerun | 2 | 2 | 0 | 0 | 0 | 0 | 100.0 % | 100.0 % |",
    ]);
    assert.deepEqual(summary("--sum", "all", first, rerun), ["| all | 6 | 3 | 1 | 2 | 0 | 0 | 50.0 % | 66.7 % |"]);
    assert.deepEqual(summary("--sum", "all", "--latest", first, rerun), [
      "| all | 4 | 3 | 1 | 0 | 0 | 0 | 75.0 % | 100.0 % |",
    ]);
    // Order matters: the report named last wins.
    assert.deepEqual(summary("--sum", "all", "--latest", rerun, first), [
      "| all | 4 | 1 | 1 | 2 | 0 | 0 | 25.0 % | 50.0 % |",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
