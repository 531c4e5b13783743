// Mutation testing (StrykerJS) over the security-critical folders. `npm run mutate` runs every folder;
// `npm run mutate -- spiffe policy` runs some (scripts/mutate.mjs passes the choice in SPIFFE_AUTHZ_MUTATE).
// Folders are globs, not file lists, so renames and splits inside them need no change here.
import { globSync } from "node:fs";
import { folders } from "./scripts/mutate-folders.mjs";

// Each property suite's short run capped at this many cases per property (test/fuzz/harness.ts, shortRuns):
// a mutant re-runs every covering test file, and at full length the property files dominate. Stryker's test
// processes inherit it from here; nothing else sets it, so `npm test` and `npm run fuzz` run full length.
process.env.SPIFFE_AUTHZ_MUTATE_FUZZ_RUNS ??= "40";

/**
 * The test globs expanded in the order listed (each glob's matches sorted), duplicates dropped. Stryker runs a
 * mutant's covering files in this order and stops at the first that fails, so listing the fast unit files
 * before the server-level and property files makes most kills cheap (the tap runner's own glob call keeps
 * literal paths in the order given).
 */
function orderedTestFiles(globs) {
  return [...new Set(globs.flatMap((g) => globSync(g).sort()))];
}

const chosen = (process.env.SPIFFE_AUTHZ_MUTATE ?? Object.keys(folders).join(","))
  .split(",")
  .filter((f) => f.length > 0);
for (const f of chosen) {
  if (!(f in folders))
    throw new Error(`stryker.config: unknown folder ${f} (known: ${Object.keys(folders).join(", ")})`);
}
const label = chosen.length === Object.keys(folders).length ? "all" : chosen.join("+");

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: "npm",
  testRunner: "tap",
  plugins: ["@stryker-mutator/tap-runner"],
  mutate: chosen.flatMap((f) => folders[f].mutate),
  tap: {
    // SPIFFE_AUTHZ_MUTATE_TESTS (comma-separated globs, in the order to run) narrows a quick run, e.g. one
    // source file (--mutate) against the one test file written for it. Commas inside {a,b} stay in the glob.
    testFiles: orderedTestFiles(
      process.env.SPIFFE_AUTHZ_MUTATE_TESTS
        ? process.env.SPIFFE_AUTHZ_MUTATE_TESTS.split(/,(?![^{]*\})/)
        : chosen.flatMap((f) => folders[f].tests),
    ),
    // Our tests are node:test files written in TypeScript: tsx loads them (and the mutated sources), and the
    // TAP reporter must be named because Node 23+ prints the spec reporter even into a pipe, which the tap
    // runner cannot parse (every test file then reads as neither passed nor failed). Stryker's hook goes
    // first so that its global namespace exists before any instrumented module runs. --test-force-exit ends a
    // file once its tests are done: a mutant that leaves a stream open (a Zentinel session that never ends)
    // fails its assertions within seconds, but the open connection would keep the process alive until
    // Stryker's timeout, a "timeout" instead of a kill (and a file that passes but hangs is then a survivor,
    // which is what it is). The exit handlers (coverage file, children, TMPDIR) still run.
    nodeArgs: [
      "-r",
      "{{hookFile}}",
      "-r",
      "./scripts/mutate-hook.cjs",
      "--import",
      "tsx",
      "--test-force-exit",
      "--test-reporter=tap",
      "{{testFile}}",
    ],
  },
  // The tap runner records coverage per test file (one process each), so each mutant runs only against the
  // test files that executed its code.
  coverageAnalysis: "perTest",
  concurrency: 2,
  // Real servers, real certificates and a shared 2-core machine: a slow file must not read as a kill.
  timeoutMS: 10000,
  timeoutFactor: 1.5,
  ignorePatterns: ["dist", ".bench-out", "coverage", "reports", ".git", ".stryker-tmp*"],
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
  // `npm run mutate -- FOLDER --incremental` re-tests only mutants whose code or covering tests changed since
  // that folder's last run (the habit after adding a test for a survivor).
  incrementalFile: `reports/mutation/${label}.incremental.json`,
  reporters: ["clear-text", "progress", "json", "html"],
  jsonReporter: { fileName: `reports/mutation/${label}.json` },
  htmlReporter: { fileName: `reports/mutation/${label}.html` },
  thresholds: { high: 90, low: 85, break: null },
};
