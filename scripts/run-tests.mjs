#!/usr/bin/env node
// Node 20's test runner neither expands globs nor finds .ts files, so we list them here.
// Usage: npm test [-- [--verbose] <substring filter>...]. Prints the failures and a summary; --verbose (or
// TEST_VERBOSE=1) prints every test.
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const verbose = args.includes("--verbose") || process.env.TEST_VERBOSE === "1";
const filters = args.filter((a) => a !== "--verbose");
let files = walk("test").sort();
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error("run-tests: no test files matched");
  process.exit(1);
}
// The same one-line warning the CLI gives on an unsupported Node.js, said once here instead of by every CLI
// the tests start (their stderr is asserted).
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  console.error(
    `npm test: warning: Node.js ${process.version} is unsupported (past end of life or below engines >=22.15.0); use Node.js 24 LTS (\`bash scripts/peers.sh node\` installs one)`,
  );
}
const reporter = verbose ? ["--test-reporter=spec"] : ["--test-reporter=./scripts/test-reporter.mjs"];
console.log(
  `npm test: ${files.length} test files${verbose ? "" : "; failures and the summary only (--verbose: every test)"}`,
);
// The tests make their directories (configs, sockets, certificates) under os.tmpdir() and many leave them: a
// directory of this run's own, removed after it, keeps a CI machine's /tmp from filling run after run. Short,
// because unix socket paths inside it must stay under 108 bytes.
const tmp = mkdtempSync(join(tmpdir(), "sa-test-"));
const res = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=120000", ...reporter, ...files],
  { stdio: "inherit", env: { ...process.env, SPIFFE_AUTHZ_NODE_WARNED: "1", TMPDIR: tmp } },
);
rmSync(tmp, { recursive: true, force: true });
process.exit(res.status ?? 1);
