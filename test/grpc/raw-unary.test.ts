// grpc/raw-unary.ts through a real GrpcHost on loopback: which requests the raw path answers and which it leaves to
// grpc-js, how it answers bad framing, over-size messages and failing handlers, and that it never takes a port
// whose calls grpc-js must run interceptors for. The stand-in service answers the same method both ways with
// different bytes, so each answer says which path made it. Requests are sent by node:http2 directly where the
// test needs exact bytes, and by a grpc-js client (an independent one, @grpc/proto-loader) where it needs a
// real gRPC client's behaviour.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, constants, type ClientHttp2Session } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Authorization,
  CheckRequestSchema,
  CheckResponseSchema,
} from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { GrpcHost, GRPC_LIMITS, type HostedService } from "../../src/grpc/host.js";
import { serviceDefinition } from "../../src/grpc/service-definition.js";
import { parseListenAddress } from "../../src/grpc/address.js";
import type { RawUnaryMethod } from "../../src/grpc/raw-unary.js";
import { capturedLogger } from "../helpers/log-capture.js";
import { checkRequest, envoyClient, healthClient, unary, type CheckResponseObj } from "../helpers/clients.js";
import { grpcFrame, rawGrpcCall, type RawAnswer } from "../helpers/raw-grpc.js";

const CHECK = `/${Authorization.typeName}/Check`;
const GRPC_JS = 7; // status codes the two paths put in their CheckResponse, to tell them apart
const RAW = 3;

/** The raw handler's behaviour, set per test; by default it echoes the request's path into its answer. */
let rawHandle: RawUnaryMethod["handle"] = (bytes) => {
  const req = fromBinary(CheckRequestSchema, bytes);
  return toBinary(
    CheckResponseSchema,
    create(CheckResponseSchema, { status: { code: RAW, message: req.attributes?.request?.http?.path ?? "" } }),
  );
};

const defaultHandle = rawHandle;

/** Plaintext credentials with one server interceptor (as a SPIFFE mTLS port has its admission check), and the paths it saw. */
function interceptedCredentials(): { creds: grpc.ServerCredentials; seen: string[] } {
  const seen: string[] = [];
  const interceptor: grpc.ServerInterceptor = (method, call) => {
    seen.push(method.path);
    return new grpc.ServerInterceptingCall(call);
  };
  return {
    creds: grpc.experimental.createServerCredentialsWithInterceptors(grpc.ServerCredentials.createInsecure(), [
      interceptor,
    ]),
    seen,
  };
}

function service(): HostedService {
  return {
    name: Authorization.typeName,
    definition: serviceDefinition(Authorization),
    implementation: {
      Check: (
        call: grpc.ServerUnaryCall<{ attributes?: { request?: { http?: { path: string } } } }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) =>
        cb(
          null,
          create(CheckResponseSchema, {
            status: { code: GRPC_JS, message: call.request.attributes?.request?.http?.path ?? "" },
          }),
        ),
    },
    raw: [{ path: CHECK, handle: (b) => rawHandle(b) }],
  };
}

const hosts: GrpcHost[] = [];
const sessions: ClientHttp2Session[] = [];
after(async () => {
  for (const s of sessions) s.close();
  for (const h of hosts) await h.drain(500);
});

async function startHost(
  credentials?: grpc.ServerCredentials,
): Promise<{ host: GrpcHost; target: string; listening: Record<string, unknown> }> {
  const { log, lines } = capturedLogger();
  const host = new GrpcHost([service()], log);
  hosts.push(host);
  const [target] = await host.bind([parseListenAddress("127.0.0.1:0", "t")], credentials);
  host.setServing(true);
  const listening = lines().find((l) => l["msg"] === "gRPC listening");
  assert.ok(listening, "the bind is logged");
  return { host, target: target!, listening };
}

const plain = await startHost();

const requestBytes = (path: string) =>
  toBinary(CheckRequestSchema, create(CheckRequestSchema, { attributes: { request: { http: { path } } } }));

const frame = grpcFrame;

/** One Check with exactly `body` on the plaintext host (or `target`). */
function rawCall(
  body: Buffer | Buffer[],
  opts: { headers?: Record<string, string>; end?: boolean; target?: string } = {},
): Promise<RawAnswer> {
  return rawGrpcCall(opts.target ?? plain.target, CHECK, body, opts);
}

function decodeAnswer(a: RawAnswer) {
  assert.equal(a.grpcStatus, 0, a.grpcMessage);
  assert.equal(a.data[0], 0);
  assert.equal(a.data.readUInt32BE(1), a.data.length - 5, "one whole length-prefixed message");
  return fromBinary(CheckResponseSchema, a.data.subarray(5));
}

test("a plaintext port answers the raw method on the raw path, for a real gRPC client and for exact frames", async () => {
  assert.equal(plain.host.rawUnaryServers, 1);
  assert.deepEqual(plain.listening["fast_path"], [CHECK], "the log says which methods skip grpc-js");
  const client = envoyClient(plain.target);
  try {
    const res = await unary<CheckResponseObj>(client, "Check", checkRequest({ path: "/via-grpc-js-client" }));
    assert.equal(res.status.code, RAW);
    assert.equal(res.status.message, "/via-grpc-js-client");
  } finally {
    client.close();
  }
  const a = await rawCall(frame(requestBytes("/exact")));
  assert.equal(a.headers[":status"], 200);
  assert.equal(a.headers["content-type"], "application/grpc+proto");
  assert.equal(a.grpcMessage, "");
  assert.deepEqual(
    decodeAnswer(a).status,
    create(CheckResponseSchema, { status: { code: RAW, message: "/exact" } }).status,
  );
  // An empty message is a valid (all-defaults) request.
  assert.equal(decodeAnswer(await rawCall(frame(new Uint8Array()))).status?.code, RAW);
});

test("what the raw path does not take goes to grpc-js: compressed requests, other content types, other methods", async () => {
  const gz = envoyClient(plain.target, grpc.credentials.createInsecure(), {
    "grpc.default_compression_algorithm": grpc.compressionAlgorithms.gzip,
  });
  try {
    const res = await unary<CheckResponseObj>(gz, "Check", checkRequest({ path: "/gzip" }));
    assert.equal(res.status.code, GRPC_JS, "a gzip-compressed Check is grpc-js's");
    assert.equal(res.status.message, "/gzip");
  } finally {
    gz.close();
  }
  const identity = await rawCall(frame(requestBytes("/identity")), { headers: { "grpc-encoding": "identity" } });
  assert.equal(decodeAnswer(identity).status?.code, RAW, "grpc-encoding identity is no compression");
  const form = await rawCall(frame(requestBytes("/form")), { headers: { "content-type": "text/plain" } });
  assert.equal(form.headers[":status"], 415, "grpc-js's answer to a content type that is not gRPC");
  const health = healthClient(plain.target);
  try {
    const h = await unary<{ status: string }>(health, "Check", { service: "" });
    assert.equal(h.status, "SERVING");
  } finally {
    health.close();
  }
});

test("bad framing is a gRPC INTERNAL with its reason, and the port keeps answering", async () => {
  const msg = requestBytes("/x");
  const cases: Array<[string, Buffer, RegExp]> = [
    ["no message", Buffer.alloc(0), /no request message/],
    ["3 bytes", Buffer.from([0, 0, 0]), /incomplete length prefix/],
    ["declared longer than sent", frame(msg).subarray(0, 5 + msg.length - 1), /truncated/],
    ["two messages", Buffer.concat([frame(msg), frame(msg)]), /more than one request message/],
    ["compressed flag, no grpc-encoding", frame(msg, 1), /compressed request message without a grpc-encoding/],
    ["flag 7", frame(msg, 7), /invalid compression flag \(7\)/],
  ];
  for (const [what, body, reason] of cases) {
    const a = await rawCall(body);
    assert.equal(a.headers[":status"], 200, what);
    assert.equal(a.grpcStatus, grpc.status.INTERNAL, what);
    assert.match(a.grpcMessage, reason, what);
    assert.equal(a.data.length, 0, `${what}: no message, trailers only`);
  }
  assert.equal(decodeAnswer(await rawCall(frame(requestBytes("/after")))).status?.message, "/after");
});

test("an over-size message is refused RESOURCE_EXHAUSTED as soon as its length prefix arrives", async () => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(GRPC_LIMITS.maxReceiveMessageBytes + 1, 1);
  // The stream stays open (the rest of the message never comes): the answer must not wait for it.
  const a = await rawCall(head, { end: false });
  assert.equal(a.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(a.grpcMessage, new RegExp(`larger than max \\(${GRPC_LIMITS.maxReceiveMessageBytes + 1} vs\\.`));
  // Exactly the limit is not refused for its size (the handler sees it; here it is not a CheckRequest).
  rawHandle = (bytes) => toBinary(CheckResponseSchema, create(CheckResponseSchema, { status: { code: bytes.length } }));
  try {
    const big = await rawCall(frame(new Uint8Array(GRPC_LIMITS.maxReceiveMessageBytes)));
    assert.equal(decodeAnswer(big).status?.code, GRPC_LIMITS.maxReceiveMessageBytes);
  } finally {
    rawHandle = defaultHandle;
  }
});

test("a handler that throws, rejects, or answers over the send limit: gRPC INTERNAL / RESOURCE_EXHAUSTED, never a crash", async () => {
  const cases: Array<[string, RawUnaryMethod["handle"], number, RegExp]> = [
    [
      "throws",
      () => {
        throw new Error("handler bug (sync)");
      },
      grpc.status.INTERNAL,
      /handler bug \(sync\)/,
    ],
    ["rejects", () => Promise.reject(new Error("handler bug (async)")), grpc.status.INTERNAL, /handler bug \(async\)/],
    [
      "throws something that cannot be shown",
      () => {
        throw {
          toString: () => {
            throw new Error("no");
          },
        };
      },
      grpc.status.INTERNAL,
      /cannot be shown/,
    ],
    [
      "over the send limit",
      () => new Uint8Array(GRPC_LIMITS.maxSendMessageBytes + 1),
      grpc.status.RESOURCE_EXHAUSTED,
      /Sent message larger than max/,
    ],
  ];
  try {
    for (const [what, handle, code, reason] of cases) {
      rawHandle = handle;
      const a = await rawCall(frame(requestBytes("/x")));
      assert.equal(a.grpcStatus, code, what);
      assert.match(a.grpcMessage, reason, what);
    }
  } finally {
    rawHandle = defaultHandle;
  }
  assert.equal(decodeAnswer(await rawCall(frame(requestBytes("/after")))).status?.message, "/after");
});

test("a client that cancels before the answer: nothing is sent on the closed stream, and the port keeps answering", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let asked!: () => void;
  const arrived = new Promise<void>((r) => (asked = r));
  rawHandle = async (bytes) => {
    asked();
    await gate;
    return defaultHandle(bytes);
  };
  try {
    const session = connect(`http://${plain.target}`);
    sessions.push(session);
    const req = session.request({
      ":method": "POST",
      ":path": CHECK,
      "content-type": "application/grpc",
      te: "trailers",
    });
    req.on("error", () => undefined);
    const closed = new Promise<void>((r) => req.on("close", r));
    req.end(frame(requestBytes("/cancelled")));
    await arrived;
    req.close(constants.NGHTTP2_CANCEL);
    await closed;
    release();
    await new Promise((r) => setTimeout(r, 50));
    session.close();
  } finally {
    rawHandle = defaultHandle;
  }
  assert.equal(decodeAnswer(await rawCall(frame(requestBytes("/after")))).status?.message, "/after");
});

test("a port whose credentials carry interceptors never gets the raw path: every call runs them", async () => {
  const { creds, seen } = interceptedCredentials();
  const guarded = await startHost(creds);
  assert.equal(guarded.host.rawUnaryServers, 0);
  assert.deepEqual(guarded.listening["fast_path"], []);
  const a = await rawCall(frame(requestBytes("/guarded")), { target: guarded.target });
  assert.equal(decodeAnswer(a).status?.code, GRPC_JS);
  assert.deepEqual(seen, [CHECK]);
});

test("a unix socket port gets the raw path too", async () => {
  const dir = mkdtempSync(join(tmpdir(), "raw-unary-"));
  const { log } = capturedLogger();
  const host = new GrpcHost([service()], log);
  hosts.push(host);
  const [target] = await host.bind([parseListenAddress(`unix:${join(dir, "s.sock")}`, "t")]);
  assert.equal(host.rawUnaryServers, 1);
  const client = envoyClient(target!);
  try {
    const res = await unary<CheckResponseObj>(client, "Check", checkRequest({ path: "/unix" }));
    assert.equal(res.status.code, RAW);
  } finally {
    client.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a message written a byte at a time arrives whole; bytes past the declared message are refused at once", async () => {
  const body = frame(requestBytes("/one-byte-at-a-time/" + "x".repeat(3000)));
  const bytes = Array.from(body, (b) => Buffer.from([b]));
  const a = await rawCall(bytes);
  assert.equal(decodeAnswer(a).status?.message, "/one-byte-at-a-time/" + "x".repeat(3000));
  // A second message's first byte, on a stream left open: the answer does not wait for the end.
  const extra = await rawCall([frame(requestBytes("/x")), Buffer.from([0])], { end: false });
  assert.equal(extra.grpcStatus, grpc.status.INTERNAL);
  assert.match(extra.grpcMessage, /more than one request message/);
});

test("a handler error whose text is not well-formed UTF-16 still gets its INTERNAL answer (percent-encoded UTF-8)", async () => {
  rawHandle = () => {
    throw new Error("bad \uD800 text %");
  };
  try {
    const a = await rawCall(frame(requestBytes("/x")));
    assert.equal(a.grpcStatus, grpc.status.INTERNAL);
    assert.equal(a.grpcMessage, "request could not be handled: bad \uFFFD text %");
    assert.match(String(a.headers["grpc-message"]), /bad %EF%BF%BD text %25$/);
  } finally {
    rawHandle = defaultHandle;
  }
  assert.equal(decodeAnswer(await rawCall(frame(requestBytes("/after")))).status?.message, "/after");
});

test("binds that overlap: a port with interceptors never gets the raw path from a plaintext bind beside it", async () => {
  const { creds, seen } = interceptedCredentials();
  const { log } = capturedLogger();
  const host = new GrpcHost([service()], log);
  hosts.push(host);
  const [guarded, open] = await Promise.all([
    host.bind([parseListenAddress("127.0.0.1:0", "t")], creds),
    host.bind([parseListenAddress("127.0.0.1:0", "t")]),
  ]);
  assert.equal(host.rawUnaryServers, 1, "only the plaintext port");
  const g = await rawCall(frame(requestBytes("/guarded")), { target: guarded![0]! });
  assert.equal(decodeAnswer(g).status?.code, GRPC_JS);
  assert.deepEqual(seen, [CHECK]);
  const o = await rawCall(frame(requestBytes("/open")), { target: open![1]! });
  assert.equal(decodeAnswer(o).status?.code, RAW);
});
