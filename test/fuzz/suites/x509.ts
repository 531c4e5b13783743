// X.509 differential (issue 15): our X509-SVID verifier against OpenSSL on generated chains (x509-chains.ts):
// whenever we accept, `openssl verify` accepts the same chain with the same trust anchors at the same second
// and node:crypto confirms every link; where we refuse what OpenSSL accepts, the refusal is one of the
// SPIFFE rules in x509-oracles.ts. Each case spawns one openssl process (~10–50 ms), so the short run is small.
import assert from "node:assert/strict";
import fc from "fast-check";
import { defineProperty, type FuzzProperty, type FuzzSuite } from "../harness.js";
import { buildCase, keyPool, scenarioArb } from "../x509-chains.js";
import { judge } from "../x509-oracles.js";

export const x509Suite: FuzzSuite = {
  name: "x509",
  async properties(): Promise<FuzzProperty[]> {
    const pool = await keyPool();
    return [
      defineProperty(
        "x509/never-looser-than-openssl",
        40,
        5_000,
        fc.asyncProperty(scenarioArb, async (scenario) => {
          const c = await buildCase(scenario, pool);
          const { result } = await judge(c);
          if (!result.agree && result.rule === undefined)
            assert.fail(`${result.problem}\nscenario: ${JSON.stringify(scenario)}`);
        }),
      ),
    ];
  },
};
