// SessionRegistry.admit's own contract, on the registry alone: at zentinel.max-streams it refuses the call
// (RESOURCE_EXHAUSTED emitted on it) *and says so*, so that neither door builds a session for it. Through a
// real server the difference is only transient (a session built for the refused call is counted until
// grpc-js reports that call's end, a few ticks later), which no server-level test can see reliably; that is
// why mutating the refusal's `return false` survived every run (bench/mutation-survivors.md, sessions.ts:43).
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { SessionRegistry } from "../../../src/adapters/zentinel/sessions.js";
import type { Session } from "../../../src/adapters/zentinel/deps.js";
import { capturedLogger } from "../../helpers/log-capture.js";

/** A stand-in server call: the registry only asks for the peer and emits the refusal on it. */
function stubCall(peer: string) {
  const emitted: Array<[string, unknown]> = [];
  const call = {
    getPeer: () => peer,
    emit: (event: string, arg: unknown) => {
      emitted.push([event, arg]);
      return true;
    },
  };
  return { call: call as unknown as grpc.ServerDuplexStream<unknown, unknown>, emitted };
}

const session: Session = { inFlight: 0, reportHealth: () => {}, end: () => {} };

test("admit says false for a call it refuses at the cap, true below it, and warns once per episode", () => {
  const { log, lines } = capturedLogger();
  let max = 1;
  const registry = new SessionRegistry(log, 1000, () => max);

  const first = stubCall("ipv4:127.0.0.1:1001");
  assert.equal(registry.admit(first.call), true);
  assert.deepEqual(first.emitted, []);
  registry.sessions.add(session);

  const refused = stubCall("ipv4:127.0.0.1:1002");
  assert.equal(registry.admit(refused.call), false);
  assert.deepEqual(refused.emitted, [
    [
      "error",
      {
        code: grpc.status.RESOURCE_EXHAUSTED,
        details:
          "spiffe-authz serves at most 1 Zentinel streams at once (zentinel.max-streams); retry later or on another instance",
      },
    ],
  ]);
  const again = stubCall("ipv4:127.0.0.1:1003");
  assert.equal(registry.admit(again.call), false);
  assert.equal(again.emitted.length, 1);
  const warns = () => lines().filter((l) => l["level"] === 40);
  assert.deepEqual(
    warns().map((l) => [l["streams"], l["maxStreams"], l["peer"]]),
    [[1, 1, "ipv4:127.0.0.1:1002"]],
  );

  // Room again (the cap raised by a reload): admitted, and the next episode at the cap is said again.
  max = 2;
  assert.equal(registry.admit(stubCall("ipv4:127.0.0.1:1004").call), true);
  registry.sessions.add({ ...session });
  assert.equal(registry.admit(stubCall("ipv4:127.0.0.1:1005").call), false);
  assert.deepEqual(
    warns().map((l) => [l["streams"], l["maxStreams"], l["peer"]]),
    [
      [1, 1, "ipv4:127.0.0.1:1002"],
      [2, 2, "ipv4:127.0.0.1:1005"],
    ],
  );
});
