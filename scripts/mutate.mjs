#!/usr/bin/env node
// npm run mutate [-- FOLDER...]: StrykerJS over the security-critical folders (scripts/mutate-folders.mjs),
// one Stryker run per folder so each folder's score and report stand alone (reports/mutation/FOLDER.{json,html}).
// Extra Stryker flags pass through after the folder names, e.g. `npm run mutate -- policy --logLevel debug`.
import { spawnSync } from "node:child_process";
import { folders } from "./mutate-folders.mjs";

const args = process.argv.slice(2);
const chosen = args.filter((a) => a in folders);
const passThrough = args.filter((a) => !(a in folders));
const unknown = passThrough.filter((a, i) => !a.startsWith("-") && !(passThrough[i - 1] ?? "").startsWith("-"));
if (unknown.length > 0) {
  console.error(`mutate: unknown folder ${unknown.join(", ")} (known: ${Object.keys(folders).join(", ")})`);
  process.exit(2);
}
const run = chosen.length > 0 ? chosen : Object.keys(folders);
let failed = 0;
for (const folder of run) {
  console.log(`mutate: ${folder}`);
  const res = spawnSync("npx", ["stryker", "run", ...passThrough], {
    stdio: "inherit",
    env: { ...process.env, SPIFFE_AUTHZ_MUTATE: folder },
  });
  if (res.status !== 0) {
    console.error(`mutate: ${folder}: stryker exited ${res.status ?? res.signal}`);
    failed++;
  }
}
process.exit(failed > 0 ? 1 : 0);
