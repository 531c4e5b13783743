// The Zentinel door when the engine fails (a bug: bad input is a Decision, never a throw), through a real
// GrpcHost: an engine that throws synchronously, one that rejects, and a decision the door cannot translate.
// Each is answered with a 500 block for that event alone, on ProcessStream and ProcessEvent alike, so the request
// stays stopped whatever the route's failure-mode says (it applies only when the agent does not answer).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type { Decider, Decision, HeaderToSet } from "../../../src/engine/contract.js";
import {
  blockOf,
  connectAsProxy,
  headersEvent,
  startStubDoor,
  stubAllow,
  type Msg,
  type StubDoor,
} from "../../helpers/zentinel.js";
import { unary, type Client } from "../../helpers/clients.js";
import { until } from "../../helpers/log-capture.js";

const WEB = "spiffe://example.org/web";

const ALLOW: Decision = { ...stubAllow([{ name: "X-SPIFFE-Id", value: WEB }]), headersToRemove: ["x-spiffe-id"] };

/** A decision whose headers cannot be read: toAgentResponse throws on it. */
function untranslatable(): Decision {
  return Object.defineProperty({ ...ALLOW }, "headersToSet", {
    enumerable: true,
    get(): HeaderToSet[] {
      throw new Error("untranslatable decision");
    },
  });
}

/** Correlation id → how the engine fails for it; any other id is allowed. */
const FAILURES: Record<string, { make: Decider["decide"]; error: string }> = {
  sync: {
    make: () => {
      throw new Error("engine bug (sync)");
    },
    error: "engine bug (sync)",
  },
  async: { make: () => Promise.reject(new Error("engine bug (async)")), error: "engine bug (async)" },
  untranslatable: { make: () => untranslatable(), error: "untranslatable decision" },
};

let door: StubDoor;
let client: Client;
let lines: () => Array<Record<string, unknown>>;

before(async () => {
  door = await startStubDoor({ decide: (req) => FAILURES[req.correlationId ?? ""]?.make(req) ?? ALLOW });
  ({ client, lines } = door);
});

after(() => door.stop());

/** The door's failure answer, whole. */
function assertFailureBlock(r: Record<string, unknown>, cid: string): void {
  assert.equal(r["correlation_id"], cid);
  assert.equal(r["decision"], "block", cid);
  const b = blockOf(r);
  assert.equal(b.status, 500, cid);
  assert.deepEqual(JSON.parse(b.body), { reason: "internal_error", detail: "authorization failed" });
  assert.deepEqual(b.headers, [{ name: "content-type", value: "application/json" }]);
  assert.deepEqual(r["request_headers"], [], "no header operations on a block");
}

/** One error line per failed event, naming it and carrying the error that happened. */
function assertLogged(from: number, cids: string[]): void {
  const errors = lines()
    .slice(from)
    .filter((l) => l["level"] === 50);
  assert.deepEqual(
    errors.map((l) => [l["msg"], l["correlationId"], (l["err"] as { message?: string } | undefined)?.message]),
    cids.map((cid) => ["Zentinel decision failed", cid, FAILURES[cid]!.error]),
  );
}

test("ProcessStream: an engine that throws, rejects or returns what cannot be translated: a 500 block for that event alone", async () => {
  const from = lines().length;
  const s = await connectAsProxy(client);
  const cids = ["sync", "async", "untranslatable"];
  for (const cid of [...cids, "fine"]) s.call.write(headersEvent(cid, undefined));
  await until(() => s.responses().length === 4, 3000, "four answers");
  for (const cid of cids)
    assertFailureBlock(
      s.responses().find((r) => r["correlation_id"] === cid)!,
      cid,
    );
  assert.equal(s.responses().find((r) => r["correlation_id"] === "fine")!["decision"], "allow");
  assertLogged(from, cids);
  // The stream is still open and deciding.
  s.call.write(headersEvent("after", undefined));
  await until(() => s.responses().length === 5, 3000, "an answer after the failures");
  assert.equal(s.responses()[4]!["decision"], "allow");
  assert.equal(s.status(), undefined, "the stream was not ended");
  s.call.end();
});

test("ProcessEvent: the same failures are the same 500 blocks, not gRPC errors", async () => {
  for (const cid of ["sync", "async", "untranslatable"]) {
    const from = lines().length;
    const res = await new Promise<Msg>((resolve, reject) =>
      (client["ProcessEvent"] as (...a: unknown[]) => void).call(
        client,
        headersEvent(cid, undefined),
        new grpc.Metadata(),
        { deadline: Date.now() + 2000 },
        (err: grpc.ServiceError | null, m: Msg) => (err ? reject(err) : resolve(m)),
      ),
    );
    assert.equal(res.message, "response", cid);
    assertFailureBlock(res["response"] as Record<string, unknown>, cid);
    assertLogged(from, [cid]);
  }
});

/** A door that takes pushed config, whose deps.applyConfig throws `message` (a bug outside the engine). */
function brokenConfigDoor(message: string): Promise<StubDoor> {
  return startStubDoor({
    decide: () => ALLOW,
    settings: { acceptConfigure: true, handshakeTimeoutMs: 10_000, maxStreams: 1024 },
    applyConfig: () => {
      throw new Error(message);
    },
  });
}

test("ProcessEvent: a failure outside the engine (deps.applyConfig throwing) is INTERNAL, logged with its error", async () => {
  const broken = await brokenConfigDoor("applyConfig bug");
  try {
    await assert.rejects(
      unary(broken.client, "ProcessEvent", { configure: { config_json: '{"allowlist":{}}' } }),
      (e: grpc.ServiceError) => e.code === grpc.status.INTERNAL && e.details === "internal error",
    );
    const logged = broken.lines().filter((l) => l["msg"] === "Zentinel ProcessEvent failed");
    assert.deepEqual(
      logged.map((l) => [l["level"], (l["err"] as { message?: string } | undefined)?.message]),
      [[50, "applyConfig bug"]],
    );
    // Bad input stays INVALID_ARGUMENT and is not logged as a failure.
    await assert.rejects(unary(broken.client, "ProcessEvent", {}), (e: grpc.ServiceError) => e.code === 3);
    assert.equal(broken.lines().filter((l) => l["msg"] === "Zentinel ProcessEvent failed").length, 1);
  } finally {
    await broken.stop();
  }
});

test("ProcessStream: a failure outside the engine (deps.applyConfig throwing on a Configure) ends that stream INTERNAL, logged; the door keeps serving", async () => {
  const broken = await brokenConfigDoor("applyConfig bug (stream)");
  try {
    const s = await connectAsProxy(broken.client);
    s.call.write({ configure: { config_json: '{"allowlist":{}}' } });
    await until(() => s.status() !== undefined, 3000, "the stream's end");
    assert.equal(s.status()!.code, grpc.status.INTERNAL);
    assert.equal(s.status()!.details, "internal error");
    const logged = broken.lines().filter((l) => l["msg"] === "Zentinel stream failed");
    assert.deepEqual(
      logged.map((l) => [l["level"], (l["err"] as { message?: string } | undefined)?.message]),
      [[50, "applyConfig bug (stream)"]],
    );
    // A new stream on the same door is served.
    const next = await connectAsProxy(broken.client);
    next.call.write(headersEvent("after", undefined));
    await until(() => next.responses().length === 1, 3000, "an answer on a new stream");
    assert.equal(next.responses()[0]!["decision"], "allow");
    next.call.end();
  } finally {
    await broken.stop();
  }
});
