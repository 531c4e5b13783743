// Run by test/scripts/test-reporter.test.ts, not by `npm test` (no .test.ts suffix): one of each kind of outcome.
import { describe, test } from "node:test";
import assert from "node:assert/strict";

describe("a suite", () => {
  test("a passing test inside it", () => {});
  test("a failing test inside it", () => {
    assert.deepEqual({ allow: true, ids: ["spiffe://td/a"] }, { allow: true, ids: ["spiffe://td/b"] });
  });
});
test("a passing top-level test", (t) => {
  console.log("stdout of a passing test");
  t.diagnostic("a note of a passing test");
});
test("a skipped test", { skip: "fixture" }, () => {});
