// The Envoy door's own code (src/adapters/envoy/service.ts) through a real GrpcHost and an independent client,
// over stand-in Deciders: what it answers when the engine, or the encoding of its decision, fails; and that it
// re-sends encoded bytes only for a shared decision. Every call carries a deadline, so a door that never
// answers fails here in seconds (DEADLINE_EXCEEDED) instead of hanging the file.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CheckRequestSchema, CheckResponseSchema } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { GrpcHost } from "../../../src/grpc/host.js";
import { envoyAuthorizationService } from "../../../src/adapters/envoy/service.js";
import { parseListenAddress } from "../../../src/grpc/address.js";
import {
  ALLOWED,
  PERMISSION_DENIED,
  type Decider,
  type Decision,
  type HeaderToSet,
} from "../../../src/engine/contract.js";
import { silentLogger } from "../../../src/log.js";
import { checkRequest, envoyClient, type CheckResponseObj, type Client } from "../../helpers/clients.js";
import { capturedLogger } from "../../helpers/log-capture.js";
import { grpcFrame, rawGrpcCall } from "../../helpers/raw-grpc.js";

const WEB = "spiffe://example.org/web";

let decide: Decider["decide"] = () => {
  throw new Error("no decider set");
};
let host: GrpcHost;
let target: string;
let client: Client;
/** Sends gzip-compressed requests, which the raw path leaves to grpc-js (grpc/raw-unary.ts): the door's other way in. */
let gzClient: Client;
let lines: () => Array<Record<string, unknown>>;

before(async () => {
  const captured = capturedLogger();
  lines = captured.lines;
  host = new GrpcHost([envoyAuthorizationService({ decide: (req) => decide(req) }, captured.log)], silentLogger());
  target = (await host.bind([parseListenAddress("127.0.0.1:0", "t")]))[0]!;
  client = envoyClient(target);
  gzClient = envoyClient(target, grpc.credentials.createInsecure(), {
    "grpc.default_compression_algorithm": grpc.compressionAlgorithms.gzip,
  });
  // The channel is open before any deadline below counts, and a door that answers nothing fails every test here
  // at once (one deadline, not one per test).
  decide = () => allowOf(WEB);
  assert.equal((await check()).status.code, grpc.status.OK);
});

after(async () => {
  client.close();
  gzClient.close();
  await host.drain(500);
});

/** One Check, failing with the call's error (a transport error, or DEADLINE_EXCEEDED after 2 s of silence). */
function check(via: Client = client): Promise<CheckResponseObj> {
  return new Promise((resolve, reject) => {
    (via["Check"] as (...a: unknown[]) => void).call(
      via,
      checkRequest({}),
      new grpc.Metadata(),
      { deadline: Date.now() + 2000 },
      (err: grpc.ServiceError | null, res: CheckResponseObj) => (err ? reject(err) : resolve(res)),
    );
  });
}

function allowOf(id: string): Decision {
  return {
    ...ALLOWED,
    allow: true,
    reason: "ok",
    detail: "",
    identity: { spiffeId: id, trustDomain: "example.org", path: new URL(id).pathname, method: "spiffe" },
    headersToSet: [{ name: "X-SPIFFE-Id", value: id }],
    headersToRemove: ["x-spiffe-id"],
  };
}

/** A decision whose headers cannot be read: toCheckResponse throws on it (a bug the door must still deny on). */
function unencodable(): Decision {
  const d = allowOf(WEB) as Omit<Decision, "headersToSet">;
  return Object.defineProperty(d, "headersToSet", {
    enumerable: true,
    get(): HeaderToSet[] {
      throw new Error("unencodable decision");
    },
  }) as Decision;
}

function headerMap(res: CheckResponseObj): Record<string, string> {
  return Object.fromEntries((res.ok_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
}

/** The door's failure answer, whole: a denial Envoy enforces even under failure_mode_allow. */
function assertInternalDenial(res: CheckResponseObj, what = ""): void {
  assert.equal(res.status.code, grpc.status.INTERNAL, what);
  assert.equal(res.status.message, "internal_error");
  assert.equal(res.http_response, "denied_response");
  assert.equal(res.denied_response?.status.code, "InternalServerError");
  assert.deepEqual(JSON.parse(res.denied_response!.body), { reason: "internal_error" });
  assert.equal(res.ok_response, undefined);
}

/** The error lines logged since `from`: exactly one, "envoy Check failed", carrying the error that happened. */
function assertLoggedFailure(from: number, message: string): void {
  const failures = lines()
    .slice(from)
    .filter((l) => l["level"] === 50);
  assert.equal(failures.length, 1, JSON.stringify(failures));
  assert.equal(failures[0]!["msg"], "envoy Check failed");
  assert.equal((failures[0]!["err"] as { message?: string } | undefined)?.message, message);
}

/**
 * Each decider of `cases` through both ways in (the raw path, and grpc-js for a compressed request): the door's
 * failure answer, and exactly one "envoy Check failed" line carrying `message`.
 */
async function assertDeniedBothWays(
  cases: ReadonlyArray<readonly [string, Decider["decide"]]>,
  message: string,
): Promise<void> {
  for (const [what, make] of cases) {
    decide = make;
    for (const [door, via] of [
      ["raw path", client],
      ["grpc-js", gzClient],
    ] as const) {
      const from = lines().length;
      assertInternalDenial(await check(via), `${what}, ${door}`);
      assertLoggedFailure(from, message);
    }
  }
}

test("an engine that throws (synchronously): a denial with INTERNAL and HTTP 500, and the engine's error logged (both ways in)", async () => {
  const fails = () => {
    throw new Error("engine bug (sync)");
  };
  await assertDeniedBothWays([["sync", fails]], "engine bug (sync)");
});

test("an engine that rejects: a denial with INTERNAL and HTTP 500, and the rejection logged", async () => {
  await assertDeniedBothWays([["async", () => Promise.reject(new Error("engine bug (async)"))]], "engine bug (async)");
});

test("a decision the door cannot encode (sync, async, shared): a denial with INTERNAL and HTTP 500, never a transport error", async () => {
  await assertDeniedBothWays(
    [
      ["sync", () => unencodable()],
      ["async", () => Promise.resolve(unencodable())],
      ["shared", () => Object.freeze(unencodable())],
    ],
    "unencodable decision",
  );
});

test("an answer that builds but does not encode (sync, async): a denial with INTERNAL and HTTP 500 both ways in, never a transport error", async () => {
  // A status code past int32: toCheckResponse builds the message, only its encoding throws.
  const badBytes = (): Decision => ({ ...allowOf(WEB), grpcCode: 2 ** 40 });
  await assertDeniedBothWays(
    [
      ["sync", () => badBytes()],
      ["async", () => Promise.resolve(badBytes())],
    ],
    "cannot encode field google.rpc.Status.code to binary: invalid int32: 1099511627776",
  );
});

test("a CheckRequest that does not decode (a string that is not UTF-8): a denial with INTERNAL and HTTP 500 both ways in, never a failed call", async () => {
  let decided = 0;
  decide = () => {
    decided++;
    return allowOf(WEB);
  };
  const good = toBinary(
    CheckRequestSchema,
    create(CheckRequestSchema, { attributes: { tlsSession: { sni: "ZZZZ.example" } } }),
  );
  const bad = Buffer.from(good);
  bad[bad.indexOf("ZZZZ")] = 0xff;
  assert.throws(() => fromBinary(CheckRequestSchema, bad), /utf-8/i, "the bytes really do not decode");
  for (const [door, body, headers] of [
    ["raw path", grpcFrame(bad), {}],
    ["grpc-js", grpcFrame(gzipSync(bad), 1), { "grpc-encoding": "gzip" }],
  ] as const) {
    const from = lines().length;
    const a = await rawGrpcCall(target, "/envoy.service.auth.v3.Authorization/Check", body, { headers });
    assert.equal(a.grpcStatus, grpc.status.OK, `${door}: an answer, not a failed call (${a.grpcMessage})`);
    const res = fromBinary(CheckResponseSchema, a.data.subarray(5));
    assert.equal(res.status?.code, grpc.status.INTERNAL, door);
    assert.equal(res.httpResponse.case, "deniedResponse", door);
    assert.equal(res.httpResponse.value?.status?.code, 500, door);
    const warned = lines()
      .slice(from)
      .filter((l) => l["msg"] === "envoy CheckRequest does not decode: denied");
    assert.equal(warned.length, 1, door);
  }
  assert.equal(decided, 0, "nothing reached the engine");
});

test("a shared decision is encoded once: later Checks get the same answer without reading the decision again", async () => {
  let reads = 0;
  const d = allowOf(WEB);
  const shared = Object.freeze(
    Object.defineProperty(d, "reason", {
      enumerable: true,
      get: () => {
        reads++;
        return "ok";
      },
    }),
  );
  decide = () => shared;
  const first = await check();
  assert.equal(first.status.code, grpc.status.OK);
  assert.equal(headerMap(first)["X-SPIFFE-Id"], WEB);
  const readsForOne = reads;
  assert.ok(readsForOne > 0);
  for (let i = 0; i < 3; i++) assert.deepEqual(await check(), first);
  assert.equal(reads, readsForOne, "the answer's bytes were re-sent, not rebuilt from the decision");
});

test("a decision that is not shared is encoded afresh: the same object handed back changed is answered as it is now", async () => {
  // Only a SharedDecision is stable in identity (engine/contract.ts); any other Decider answer may be reused and
  // changed, and a door that cached it by identity would send a stale answer (here: an allow after a deny).
  const d = allowOf(WEB);
  decide = () => d;
  const allowed = await check();
  assert.equal(allowed.status.code, grpc.status.OK);
  assert.equal(headerMap(allowed)["X-SPIFFE-Id"], WEB);
  Object.assign(d, { ...PERMISSION_DENIED, allow: false, reason: "not_allowed", detail: "not on the allowlist" });
  d.headersToSet = [];
  const denied = await check();
  assert.equal(denied.status.code, grpc.status.PERMISSION_DENIED);
  assert.equal(denied.http_response, "denied_response");
  assert.equal(denied.denied_response?.status.code, "Forbidden");
  assert.deepEqual(JSON.parse(denied.denied_response!.body), { reason: "not_allowed", detail: "not on the allowlist" });
});
