#!/usr/bin/env node
// The e2e tier: spiffe-authz between real peers (SPIRE, Envoy, Zentinel from `npm run peers`).
// Usage: npm run test:e2e [-- <substring filter>...]. A missing peer fails at once with one line naming it.
// Scenario files run one at a time: each starts its own SPIRE, proxies and spiffe-authz, and two cores are
// not enough to run two such stacks without timing out each other's start-up.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";

const started = Date.now();
const root = new URL("..", import.meta.url).pathname;
process.chdir(root);

// The same check the scenarios make, before anything is built or started.
const peers = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "-e",
    "import('./e2e/lib/peers.ts').then((m) => { const x = m.missingPeer(['spire', 'envoy', 'zentinel']); if (x) { console.error(x); process.exit(1); } })",
  ],
  { stdio: "inherit" },
);
if (peers.status !== 0) process.exit(1);

// Scenarios run the built CLI (bin/spiffe-authz.js → dist/), as users do: rebuild when src/ is newer.
function newest(dir) {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}
let built = 0;
try {
  built = statSync("dist/spiffe-authz.mjs").mtimeMs;
} catch {
  built = 0;
}
if (built < newest("src")) {
  console.log("e2e: building (dist/ is missing or older than src/)");
  const b = spawnSync("npm", ["run", "--silent", "build"], { stdio: "inherit" });
  if (b.status !== 0) process.exit(1);
}

const filters = process.argv.slice(2);
let files = readdirSync("e2e")
  .filter((f) => f.endsWith(".test.ts"))
  .map((f) => join("e2e", f))
  .sort();
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error("e2e: no scenario files matched");
  process.exit(1);
}

const out = mkdtempSync(join(tmpdir(), "spiffe-authz-e2e-run-"));
const tap = join(out, "results.tap");
// The scenarios' own directories (peer configs, sockets, logs) go into one of this run's, removed after it, as
// `npm test` does (scripts/run-tests.mjs). Short, for the unix socket paths inside it.
const tmp = mkdtempSync(join(tmpdir(), "sa-e2e-"));
const res = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=1",
    "--test-timeout=240000",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=tap",
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { stdio: "inherit", env: { ...process.env, TMPDIR: tmp } },
);
rmSync(tmp, { recursive: true, force: true });
const text = readFileSync(tap, "utf8");
const count = (k) => Number(new RegExp(`^# ${k} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
const passed = count("pass");
const failed = count("fail") + (count("cancelled") || 0);
rmSync(out, { recursive: true, force: true });
const secs = Math.round((Date.now() - started) / 1000);
console.log(`e2e: node ${process.version}, ${files.length} files, ${secs} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(res.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
