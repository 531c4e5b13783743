// Registers a suite's properties as node:test tests with their short, fixed-seed runs.
import { describe, test } from "node:test";
import { assertShort, seedFor, shortRuns, type FuzzSuite } from "./harness.js";

export async function registerSuite(suite: FuzzSuite): Promise<void> {
  const properties = await suite.properties();
  describe(`fuzz: ${suite.name}`, () => {
    for (const p of properties) {
      test(`${p.name} (${shortRuns(p)} cases, seed ${seedFor(p.name)})`, () => assertShort(p));
    }
  });
}
