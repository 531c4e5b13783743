// explainDecision's credential line for a request that reached no allowlist: "allowed without an identity" only
// when the policy allows it, not when dry-run merely lets a would-be deny through.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decide } from "../../src/engine/decide.js";
import { explainDecision } from "../../src/engine/explain.js";
import { NOW, bareRequest, policyOf, snapshotOf } from "../helpers/engine.js";

async function credentialLine(config: object): Promise<string | undefined> {
  const policy = policyOf(config);
  const req = bareRequest();
  return explainDecision(policy, req, await decide(req, policy, snapshotOf([]), NOW)).credential;
}

test("explain: a missing certificate under dry-run is a would-be deny that passes, not an allow without identity", async () => {
  assert.equal(
    await credentialLine({ enforcement: "dry-run" }),
    "no_certificate: no client certificate presented (would be denied; passes under dry-run)",
  );
  assert.equal(await credentialLine({}), "no_certificate: no client certificate presented");
});

test("explain: allowed without an identity when the policy allows it, enforced or under dry-run", async () => {
  const logAndAllow = { failure: { "validation-failure": "log_and_allow" } };
  for (const config of [logAndAllow, { ...logAndAllow, enforcement: "dry-run" }]) {
    assert.equal(
      await credentialLine(config),
      "log_and_allow: no_certificate: no client certificate presented (allowed without an identity)",
      JSON.stringify(config),
    );
  }
  assert.equal(
    await credentialLine({ tls: { "require-mtls": false } }),
    "no_certificate: no client certificate; mTLS not required (allowed without an identity)",
  );
});
