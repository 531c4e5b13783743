#!/usr/bin/env node
// Summarises Stryker JSON reports (reports/mutation/FOLDER.json, written by `npm run mutate`): one table row
// per report, or with --sum LABEL one row for all of them (a folder run in chunks, `--mutate` a few files at a
// time). Two scores: Stryker's (killed + timeout over killed, timeout, survived and no coverage) and ours, the
// headline, which counts a timeout as survived: on a shared machine a timeout is as often load as a kill.
// With --survivors every survived or uncovered mutant as file:line, mutator and replacement, for
// bench/mutation-survivors.md. With --latest (for --sum over parts in the order they ran) a source file counts
// only from the last report that mutated it, so a part re-run after new tests replaces the earlier one.
// Usage: node scripts/mutate-summary.mjs [--survivors] [--sum LABEL [--latest]] [reports/mutation/policy.json ...]
import { readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";

const args = process.argv.slice(2);
const survivors = args.includes("--survivors");
const sumAt = args.indexOf("--sum");
const sumLabel = sumAt >= 0 ? args[sumAt + 1] : undefined;
const latest = args.includes("--latest");
let files = args.filter((a, i) => !a.startsWith("--") && !(sumAt >= 0 && i === sumAt + 1));
if (files.length === 0) {
  const dir = "reports/mutation";
  files = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => join(dir, f));
}

const statuses = ["Killed", "Timeout", "Survived", "NoCoverage", "RuntimeError", "CompileError", "Ignored"];
console.log(
  "| folder | mutants | killed | timeout | survived | no coverage | error | score (timeouts as survived) | Stryker's score (timeouts as killed) |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
const open = [];
const pct = (a, b) => (b === 0 ? "n/a" : `${((100 * a) / b).toFixed(1)} %`);
function row(label, n) {
  const valid = n.Killed + n.Timeout + n.Survived + n.NoCoverage;
  const total = Object.values(n).reduce((a, b) => a + b, 0);
  console.log(
    `| ${label} | ${total} | ${n.Killed} | ${n.Timeout} | ${n.Survived} | ${n.NoCoverage} | ${n.RuntimeError + n.CompileError} | ${pct(n.Killed, valid)} | ${pct(n.Killed + n.Timeout, valid)} |`,
  );
}
const zero = () => Object.fromEntries(statuses.map((s) => [s, 0]));
const sum = zero();
const reports = files.map((file) => JSON.parse(readFileSync(file, "utf8")));
/** For --latest: the index of the last report that holds mutants of each source file. */
const owner = new Map();
reports.forEach((r, i) => {
  for (const [path, f] of Object.entries(r.files)) if (f.mutants.length > 0) owner.set(path, i);
});
for (const [i, file] of files.entries()) {
  const report = reports[i];
  const n = zero();
  for (const [path, f] of Object.entries(report.files)) {
    if (latest && owner.get(path) !== i) continue;
    for (const m of f.mutants) {
      n[m.status] = (n[m.status] ?? 0) + 1;
      sum[m.status] = (sum[m.status] ?? 0) + 1;
      if (m.status === "Survived" || m.status === "NoCoverage" || m.status === "Timeout") {
        open.push({
          path,
          line: m.location.start.line,
          mutator: m.mutatorName,
          status: m.status,
          replacement: m.replacement,
        });
      }
    }
  }
  if (sumLabel === undefined) row(basename(file, ".json"), n);
}
if (sumLabel !== undefined) row(sumLabel, sum);
if (survivors) {
  console.log("\n| where | mutator | status | replacement |\n|---|---|---|---|");
  for (const s of open.sort((a, b) => a.path.localeCompare(b.path) || a.line - b.line)) {
    const repl = (s.replacement ?? "").replace(/\s+/g, " ").replace(/\|/g, "\\|").slice(0, 80);
    console.log(`| ${s.path}:${s.line} | ${s.mutator} | ${s.status} | \`${repl}\` |`);
  }
}
