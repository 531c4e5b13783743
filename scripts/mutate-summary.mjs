#!/usr/bin/env node
// Summarises Stryker JSON reports (reports/mutation/FOLDER.json, written by `npm run mutate`): one table row
// per folder, Stryker's score (killed + timeout over everything but errors and ignored), and with --survivors
// every survived or uncovered mutant as file:line, mutator and replacement, for bench/mutation-survivors.md.
// Usage: node scripts/mutate-summary.mjs [--survivors] [reports/mutation/policy.json ...]
import { readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";

const args = process.argv.slice(2);
const survivors = args.includes("--survivors");
let files = args.filter((a) => !a.startsWith("--"));
if (files.length === 0) {
  const dir = "reports/mutation";
  files = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => join(dir, f));
}

const statuses = ["Killed", "Timeout", "Survived", "NoCoverage", "RuntimeError", "CompileError", "Ignored"];
console.log("| folder | mutants | killed | timeout | survived | no coverage | error | score |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
const open = [];
for (const file of files) {
  const report = JSON.parse(readFileSync(file, "utf8"));
  const n = Object.fromEntries(statuses.map((s) => [s, 0]));
  for (const [path, f] of Object.entries(report.files)) {
    for (const m of f.mutants) {
      n[m.status] = (n[m.status] ?? 0) + 1;
      if (m.status === "Survived" || m.status === "NoCoverage") {
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
  const detected = n.Killed + n.Timeout;
  const valid = detected + n.Survived + n.NoCoverage;
  const total = Object.values(n).reduce((a, b) => a + b, 0);
  const score = valid === 0 ? "n/a" : `${((100 * detected) / valid).toFixed(1)} %`;
  console.log(
    `| ${basename(file, ".json")} | ${total} | ${n.Killed} | ${n.Timeout} | ${n.Survived} | ${n.NoCoverage} | ${n.RuntimeError + n.CompileError} | ${score} |`,
  );
}
if (survivors) {
  console.log("\n| where | mutator | status | replacement |\n|---|---|---|---|");
  for (const s of open.sort((a, b) => a.path.localeCompare(b.path) || a.line - b.line)) {
    const repl = (s.replacement ?? "").replace(/\s+/g, " ").replace(/\|/g, "\\|").slice(0, 80);
    console.log(`| ${s.path}:${s.line} | ${s.mutator} | ${s.status} | \`${repl}\` |`);
  }
}
