// `npm test` prints the failures and the summary, not a line per passing test (scripts/test-reporter.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

function run(reporter: string) {
  // Without the parent runner's NODE_TEST_CONTEXT, the child reports as `npm test` does, not to this runner.
  const env = { ...process.env };
  delete env["NODE_TEST_CONTEXT"];
  return spawnSync(
    process.execPath,
    ["--import", "tsx", "--test", `--test-reporter=${reporter}`, "test/scripts/reporter-fixture.ts"],
    { cwd: root, env, encoding: "utf8", timeout: 60_000 },
  );
}

test("the failure with its diff and location, then the summary; passing tests print nothing", () => {
  const r = run("./scripts/test-reporter.mjs");
  assert.equal(r.status, 1, "a failing test fails the run");
  const out = r.stdout;
  assert.match(out, /✖ a failing test inside it/);
  assert.match(out, /spiffe:\/\/td\/b/, "the diff names both sides");
  assert.match(out, /test at test\/scripts\/reporter-fixture\.ts:\d+:\d+/);
  assert.match(out, /ℹ tests 4\b/);
  assert.match(out, /ℹ pass 2\b/);
  assert.match(out, /ℹ fail 1\b/);
  assert.match(out, /ℹ skipped 1\b/);
  assert.doesNotMatch(out, /a passing (test inside it|top-level test)/);
  assert.doesNotMatch(out, /stdout of a passing test/);
  assert.doesNotMatch(out, /a note of a passing test/);
  assert.doesNotMatch(out, /✖ a suite/, "the suite fails only because its child did: not reported again");
});

test("the spec reporter (npm test -- --verbose) still lists every test", () => {
  const r = run("spec");
  assert.equal(r.status, 1);
  assert.match(r.stdout, /✔ a passing test inside it/);
  assert.match(r.stdout, /✔ a passing top-level test/);
});
