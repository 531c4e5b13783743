#!/usr/bin/env node
// Score of whole Stryker runs after some of their mutants were re-run (`--mutate FILE:lines` after a new test):
// each mutant takes the status of its latest re-run, matched by file, position, mutator and replacement.
// Usage: node scripts/mutate-merge.mjs BASE.json... -- RERUN.json...   (re-runs in the order they were made)
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const cut = args.indexOf("--");
if (cut < 1 || cut === args.length - 1) {
  console.error("usage: node scripts/mutate-merge.mjs BASE.json... -- RERUN.json...");
  process.exit(2);
}
const files = (f) => JSON.parse(readFileSync(f, "utf8")).files;
const key = (path, m) =>
  `${path}:${m.location.start.line}:${m.location.start.column}:${m.mutatorName}:${m.replacement}`;
const latest = new Map();
for (const f of args.slice(cut + 1)) {
  for (const [path, file] of Object.entries(files(f))) for (const m of file.mutants) latest.set(key(path, m), m.status);
}
function tally(statusOf) {
  const n = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0 };
  let rerun = 0;
  for (const f of args.slice(0, cut)) {
    for (const [path, file] of Object.entries(files(f))) {
      for (const m of file.mutants) {
        const s = statusOf(path, m);
        if (latest.has(key(path, m))) rerun++;
        n[s] = (n[s] ?? 0) + 1;
      }
    }
  }
  const detected = n.Killed + n.Timeout;
  const score = (100 * detected) / (detected + n.Survived + n.NoCoverage);
  return { ...n, score: `${score.toFixed(1)} %`, rerun };
}
console.log("as measured:     ", JSON.stringify(tally((_p, m) => m.status)));
console.log("with the re-runs:", JSON.stringify(tally((p, m) => latest.get(key(p, m)) ?? m.status)));
