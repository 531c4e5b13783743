// gRPC over raw HTTP/2 for the load drivers: length-prefixed frames of a serialized CheckRequest, sent with
// node:http2 (no grpc-js on the client side, so the driver costs little per call), answers decoded to
// allow / deny / error.
import http2 from "node:http2";
import { createServer } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CheckRequestSchema, CheckResponseSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";

export const CHECK_PATH = "/envoy.service.auth.v3.Authorization/Check";

export function grpcFrame(msg: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** A framed CheckRequest as Envoy sends it with include_peer_certificate: URL-encoded PEM chain in source.certificate. */
export function checkFrame(chainPem: string, path = "/api/orders"): Buffer {
  const req = create(CheckRequestSchema, {
    attributes: {
      source: { certificate: encodeURIComponent(chainPem) },
      request: { http: { method: "GET", path, host: "backend", headers: { ":path": path, "x-request-id": "bench" } } },
    },
  });
  return grpcFrame(toBinary(CheckRequestSchema, req));
}

export type Outcome = "allow" | "deny" | "error";

/** Reads a unary gRPC answer: `error` unless grpc-status is 0 and a CheckResponse arrived; allow iff its status code is 0. */
export function checkOutcome(grpcStatus: string | undefined, body: Buffer): Outcome {
  if (grpcStatus !== "0" || body.length < 5) return "error";
  try {
    const res = fromBinary(CheckResponseSchema, body.subarray(5, 5 + body.readUInt32BE(1)));
    return (res.status?.code ?? 0) === 0 ? "allow" : "deny";
  } catch {
    return "error";
  }
}

export function connect(target: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://${target}`);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

/** One unary call; `done` gets the outcome once the stream is closed. */
export function unaryCall(session: http2.ClientHttp2Session, frame: Buffer, done: (o: Outcome) => void, path = CHECK_PATH): void {
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
  } catch {
    done("error");
    return;
  }
  const chunks: Buffer[] = [];
  let status: string | undefined;
  stream.on("response", (h) => {
    // A trailers-only answer (an error) carries grpc-status in the headers.
    if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
  });
  stream.on("trailers", (t) => {
    if (t["grpc-status"] !== undefined) status = String(t["grpc-status"]);
  });
  stream.on("data", (d: Buffer) => chunks.push(d));
  stream.on("error", () => undefined); // reported through close with no status
  stream.on("close", () => done(checkOutcome(status, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))));
  stream.end(frame);
}

export function unaryCallAsync(session: http2.ClientHttp2Session, frame: Buffer): Promise<Outcome> {
  return new Promise((resolve) => unaryCall(session, frame, resolve));
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
