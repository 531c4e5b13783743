// Registers a suite's properties as node:test tests with their short, fixed-seed runs.
import { describe, test } from "node:test";
import { assertShort, seedFor, shortRuns, type FuzzProperty, type FuzzSuite } from "./harness.js";

export async function registerSuite(suite: FuzzSuite): Promise<void> {
  let properties: FuzzProperty[];
  try {
    properties = await suite.properties();
  } catch (err) {
    // Fixtures that cannot be built (a verifier that refuses the suite's own good chains) are a failing test,
    // not a crashed file: a file that dies before any test reports no failure in TAP, and Stryker then counts
    // the mutant behind it as an error instead of a kill.
    describe(`fuzz: ${suite.name}`, () => {
      test("fixtures", () => {
        throw err;
      });
    });
    return;
  }
  describe(`fuzz: ${suite.name}`, () => {
    for (const p of properties) {
      test(`${p.name} (${shortRuns(p)} cases, seed ${seedFor(p.name)})`, () => assertShort(p));
    }
  });
}
