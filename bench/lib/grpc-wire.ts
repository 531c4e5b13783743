// gRPC wire pieces for the load generators: length-prefixed frames of a serialized CheckRequest (sent by h2load
// and by the HTTP/2 client in ./h2-raw.ts), and a free TCP port.
import { createServer } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";

export const CHECK_PATH = "/envoy.service.auth.v3.Authorization/Check";

export function grpcFrame(msg: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/**
 * A framed CheckRequest as Envoy sends it: with include_peer_certificate the URL-encoded PEM chain in
 * source.certificate (default), or with `via: "xfcc"` the same chain in an X-Forwarded-Client-Cert `Chain`.
 */
export function checkFrame(chainPem: string, path = "/api/orders", via: "source" | "xfcc" = "source"): Buffer {
  const headers: Record<string, string> = { ":path": path, "x-request-id": "bench" };
  if (via === "xfcc")
    headers["x-forwarded-client-cert"] = `By=spiffe://example.org/edge;Hash=0;Chain="${encodeURIComponent(chainPem)}"`;
  const req = create(CheckRequestSchema, {
    attributes: {
      ...(via === "source" ? { source: { certificate: encodeURIComponent(chainPem) } } : {}),
      request: { http: { method: "GET", path, host: "backend", headers } },
    },
  });
  return grpcFrame(toBinary(CheckRequestSchema, req));
}

/** A Check as the drivers see it: allowed (CheckResponse status OK), denied (any other status), or no CheckResponse. */
export type Outcome = "allow" | "deny" | "error";

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
