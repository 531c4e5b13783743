// A unary gRPC method answered straight from the HTTP/2 stream, beside grpc-js on the same port.
//
// Why: grpc-js spends more on each call than the whole decision does (an intercepting-call object chain, a
// stream decoder, metadata objects, promise hops; CPU profile of a warm Check under h2load). With every decision
// audited, that left the Envoy Check at about 0.8 of a no-op grpc-js server, against the 0.9 it is held to
// (bench/check-throughput). The hot method is therefore read and answered here: one request message in, one
// response message out, grpc-status in the trailers, which is all a unary call is on the wire.
//
// What stays with grpc-js: every other method and every request this path does not take (a compressed one, a
// content-type grpc-js should refuse), the sessions themselves (settings, keepalive, max concurrent streams,
// graceful drain), and every port whose credentials carry interceptors: a SPIFFE mTLS port's admission check
// is an interceptor (trust/server-tls.ts), and nothing here may answer past it, so such a port never gets this
// path (GrpcHost.bind).
import {
  constants,
  type Http2SecureServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import { status } from "@grpc/grpc-js";
import { HEADER_BYTES, UnaryBody } from "./unary-body.js";

export interface RawUnaryMethod {
  /** `/package.Service/Method`. */
  path: string;
  /**
   * The response message's bytes for a request message's bytes. A throw or rejection is answered with gRPC
   * INTERNAL, as grpc-js answers a request it cannot deserialise; a handler that must answer every well-formed
   * request (the Envoy door) catches its own failures and answers them in the message.
   */
  handle(request: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface RawUnaryLimits {
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
}

type StreamListener = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest: unknown[]) => void;

/**
 * Routes `methods` on `server` to this path and everything else to the stream listener grpc-js installed.
 * False (and the server left as it was) unless that listener is exactly one, as grpc-js 1.14 leaves it.
 */
export function installRawUnary(
  server: Http2Server | Http2SecureServer,
  methods: readonly RawUnaryMethod[],
  limits: RawUnaryLimits,
): boolean {
  const listeners = server.listeners("stream") as StreamListener[];
  if (listeners.length !== 1 || methods.length === 0) return false;
  const grpcJs = listeners[0]!;
  const byPath = new Map(methods.map((m) => [m.path, m]));
  server.removeListener("stream", grpcJs);
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest: unknown[]) => {
    const method = byPath.get(headers[":path"] ?? "");
    if (method !== undefined && takes(headers)) serve(stream, method, limits);
    else grpcJs(stream, headers, ...rest);
  });
  return true;
}

/**
 * Requests this path answers: gRPC's content-type (grpc-js answers any other with HTTP 415) and no message
 * compression (grpc-js decompresses).
 */
function takes(headers: IncomingHttpHeaders): boolean {
  const type = headers["content-type"];
  const encoding = headers["grpc-encoding"];
  return (
    typeof type === "string" &&
    type.startsWith("application/grpc") &&
    (encoding === undefined || encoding === "identity")
  );
}

function serve(stream: ServerHttp2Stream, method: RawUnaryMethod, limits: RawUnaryLimits): void {
  // An error is followed by "close"; nothing can be sent on such a stream, and unhandled it would throw.
  stream.on("error", () => undefined);
  const body = new UnaryBody(limits.maxReceiveMessageBytes);
  let refused = false;
  stream.on("data", (chunk: Buffer) => {
    if (refused) return;
    const refusal = body.push(chunk);
    if (refusal === undefined) return;
    refused = true;
    body.clear();
    fail(stream, refusal.code, refusal.message);
    // The rest of the request is not wanted: reset once the status is out (NO_ERROR, as gRPC allows).
    stream.close();
  });
  stream.on("end", () => {
    if (refused) return;
    const problem = body.problem();
    if (problem !== undefined) return fail(stream, status.INTERNAL, problem);
    let out: Uint8Array | Promise<Uint8Array>;
    try {
      out = method.handle(body.message());
    } catch (err) {
      return fail(stream, status.INTERNAL, handlerError(err));
    }
    if (!(out instanceof Promise)) return reply(stream, out, limits);
    out.then(
      (bytes) => reply(stream, bytes, limits),
      (err: unknown) => fail(stream, status.INTERNAL, handlerError(err)),
    );
  });
}

function handlerError(err: unknown): string {
  let why: string;
  try {
    why = err instanceof Error ? err.message : String(err);
  } catch {
    why = "(an error that cannot be shown)"; // a thrown object whose toString throws too
  }
  return `request could not be handled: ${why}`.slice(0, 512);
}

/** gRPC's encoding of grpc-message: UTF-8, each byte outside printable ASCII (and "%") as %XX. Never throws. */
function percentEncoded(message: string): string {
  let out = "";
  for (const b of Buffer.from(message, "utf8")) {
    out +=
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** A client that cancelled, or a session torn down meanwhile, has no stream to answer on. */
function gone(stream: ServerHttp2Stream): boolean {
  return stream.destroyed || stream.closed || stream.headersSent;
}

/**
 * Runs an answer's writes; if node:http2 refuses them (the stream went away between the check and the write), the
 * stream is reset instead: an answer must never throw out of a stream event or a promise callback, which would
 * take the process down.
 */
function send(stream: ServerHttp2Stream, write: () => void): void {
  if (gone(stream)) return;
  try {
    write();
  } catch {
    if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }
}

function reply(stream: ServerHttp2Stream, message: Uint8Array, limits: RawUnaryLimits): void {
  if (message.length > limits.maxSendMessageBytes) {
    return fail(
      stream,
      status.RESOURCE_EXHAUSTED,
      `Sent message larger than max (${message.length} vs. ${limits.maxSendMessageBytes})`,
    );
  }
  send(stream, () => {
    const frame = Buffer.allocUnsafe(HEADER_BYTES + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, HEADER_BYTES);
    // Fresh header objects every time: node:http2 adds a date member to the object it is given.
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "grpc-message": "" }));
    stream.end(frame);
  });
}

/** A trailers-only answer: the status in the one HEADERS frame, which ends the stream. */
function fail(stream: ServerHttp2Stream, code: status, message: string): void {
  send(stream, () =>
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc+proto",
        "grpc-status": String(code),
        "grpc-message": percentEncoded(message),
      },
      { endStream: true },
    ),
  );
}
