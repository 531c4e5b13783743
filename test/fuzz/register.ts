// Registers a suite's properties as node:test tests with their short, fixed-seed runs.
import { describe, test } from "node:test";
import { assertShort, seedFor, type FuzzSuite } from "./harness.js";

export async function registerSuite(suite: FuzzSuite): Promise<void> {
  const properties = await suite.properties();
  describe(`fuzz: ${suite.name}`, () => {
    for (const p of properties) {
      test(`${p.name} (${p.runs} cases, seed ${seedFor(p.name)})`, () => assertShort(p));
    }
  });
}
