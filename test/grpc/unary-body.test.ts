// grpc/unary-body.ts on its own: the request bytes of a unary call however they are cut into DATA chunks, and
// each way they can stop being one acceptable message. (Through a real server: test/grpc/raw-unary.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { UnaryBody } from "../../src/grpc/unary-body.js";
import { grpcFrame } from "../helpers/raw-grpc.js";

const message = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 256));

test("a message in any cut of chunks (one, a byte each, uneven, with empty ones) is held whole", () => {
  const whole = grpcFrame(message);
  const cuts: Array<[string, Buffer[]]> = [
    ["one chunk", [whole]],
    ["a byte each", Array.from(whole, (b) => Buffer.from([b]))],
    [
      "uneven, empty ones among them",
      [whole.subarray(0, 3), Buffer.alloc(0), whole.subarray(3, 4097), Buffer.alloc(0), whole.subarray(4097)],
    ],
  ];
  for (const [what, chunks] of cuts) {
    const body = new UnaryBody(message.length);
    for (const c of chunks) assert.equal(body.push(c), undefined, what);
    assert.equal(body.problem(), undefined, what);
    assert.ok(body.message().equals(message), what);
    assert.ok(body.bytes().equals(whole), what);
  }
});

test("refusals: over the limit by declaration or by bytes sent, and bytes past the declared message", () => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(101, 1);
  const declared = new UnaryBody(100).push(head);
  assert.equal(declared?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(declared!.message, /larger than max \(101 vs\. 100\)/);

  // A prefix that declares little, followed by more than the limit in one chunk: refused before it is held.
  const sent = new UnaryBody(100);
  assert.equal(sent.push(grpcFrame(Buffer.alloc(10)).subarray(0, 5)), undefined);
  assert.equal(sent.push(Buffer.alloc(101))?.code, grpc.status.RESOURCE_EXHAUSTED);

  const exact = new UnaryBody(100);
  assert.equal(exact.push(grpcFrame(Buffer.alloc(100))), undefined, "exactly the limit is accepted");

  const extra = new UnaryBody(100);
  assert.equal(extra.push(grpcFrame(Buffer.alloc(10))), undefined);
  const second = extra.push(Buffer.from([0]));
  assert.equal(second?.code, grpc.status.INTERNAL);
  assert.match(second!.message, /more than one request message/);
});

test("problems of a whole request that ended: empty, short prefix, truncated, compression flags", () => {
  const ended = (...chunks: Buffer[]) => {
    const b = new UnaryBody(1000);
    for (const c of chunks) assert.equal(b.push(c), undefined);
    return b.problem();
  };
  assert.match(ended() ?? "", /no request message/);
  assert.match(ended(Buffer.from([0, 0])) ?? "", /incomplete length prefix/);
  assert.match(ended(grpcFrame(Buffer.alloc(10)).subarray(0, 14)) ?? "", /^request message truncated$/);
  assert.match(ended(grpcFrame(Buffer.alloc(3), 1)) ?? "", /compressed request message without a grpc-encoding/);
  assert.match(ended(grpcFrame(Buffer.alloc(3), 2)) ?? "", /invalid compression flag \(2\)/);
  assert.equal(ended(grpcFrame(Buffer.alloc(0))), undefined, "an empty message is one message");
});
