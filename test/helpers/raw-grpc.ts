// A gRPC call made by hand over node:http2, for tests that need exact bytes on the wire (bad framing, a
// compressed message, bytes a real client would never encode) and the whole answer back: headers, trailers, data.
import { connect, type IncomingHttpHeaders } from "node:http2";

/** A length-prefixed gRPC message (`flag` 1 says it is compressed). */
export function grpcFrame(msg: Uint8Array, flag = 0): Buffer {
  const f = Buffer.alloc(5 + msg.length);
  f[0] = flag;
  f.writeUInt32BE(msg.length, 1);
  f.set(msg, 5);
  return f;
}

export interface RawAnswer {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  data: Buffer;
  /** grpc-status from the trailers, or from the headers of a trailers-only answer; NaN if none. */
  grpcStatus: number;
  /** grpc-message, percent-decoded. */
  grpcMessage: string;
}

/**
 * One request on its own connection: `body` written as given (one write, or `writes` of it one after the other),
 * ended unless `end` is false. Resolves when the stream closes.
 */
export function rawGrpcCall(
  target: string,
  path: string,
  body: Buffer | Buffer[],
  opts: { headers?: Record<string, string>; end?: boolean } = {},
): Promise<RawAnswer> {
  const session = connect(`http://${target}`);
  session.on("error", () => undefined);
  return new Promise((resolve, reject) => {
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...opts.headers,
    });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const data: Buffer[] = [];
    req.on("response", (h) => (headers = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => data.push(c));
    req.on("error", (err) => {
      session.close();
      reject(err);
    });
    req.on("close", () => {
      const st = trailers["grpc-status"] ?? headers["grpc-status"];
      const msg = trailers["grpc-message"] ?? headers["grpc-message"];
      resolve({
        headers,
        trailers,
        data: Buffer.concat(data),
        grpcStatus: st === undefined ? NaN : Number(st),
        grpcMessage: decodeURIComponent(String(msg ?? "")),
      });
      session.close();
    });
    const parts = Array.isArray(body) ? body : [body];
    for (const p of parts) req.write(p);
    if (opts.end !== false) req.end();
  });
}
