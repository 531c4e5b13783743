// A stand-in for spiffe-authz in bench/envoy-e2e (BENCH_ENVOY_AUTHZ_STANDIN=grpc-js|http2): the smallest ext_authz
// server on each transport, to measure what the transport alone costs through Envoy — the floor under any
// authorizer built on it. No verification, no audit, no telemetry: it allows when Envoy's source.principal is the
// allowed client (what RBAC and OPA-Envoy also read) and sets X-SPIFFE-Id as spiffe-authz does, so the bench's
// checks of answers and of what the upstream saw still hold. Never a product path; never the headline.
//   grpc-js  a bare @grpc/grpc-js server with the generated Check service (as the suite's no-op ceiling);
//   http2    node:http2 with gRPC's framing done by hand (length-prefixed message, grpc-status trailer).
// Takes spiffe-authz's flags that the bench passes (--grpc-address, --metrics-address; /readyz answers 200) and
// BENCH_STANDIN_ALLOWED (the SPIFFE ID to allow).
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import { createServer } from "node:http";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";

const dist = new URL("../../dist/", import.meta.url);
const { Authorization, CheckRequestSchema, CheckResponseSchema } = await import(
  new URL("gen/envoy/service/auth/v3/external_auth_pb.js", dist).href
);
const arg = (name) => {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`authz-standin: ${name} is required`);
  return process.argv[i + 1];
};
const kind = process.env.BENCH_ENVOY_AUTHZ_STANDIN;
const allowed = process.env.BENCH_STANDIN_ALLOWED;
if (!allowed) throw new Error("authz-standin: BENCH_STANDIN_ALLOWED is required");
const [host, port] = arg("--grpc-address").split(/:(?=\d+$)/);
const [mHost, mPort] = arg("--metrics-address").split(/:(?=\d+$)/);

const ok = create(CheckResponseSchema, {
  status: { code: 0 },
  httpResponse: {
    case: "okResponse",
    value: { headers: [{ header: { key: "x-spiffe-id", value: allowed }, appendAction: 2 }] },
  },
});
const deny = create(CheckResponseSchema, {
  status: { code: 7 },
  httpResponse: { case: "deniedResponse", value: { status: { code: 403 } } },
});
const answer = (req) => (req.attributes?.source?.principal === allowed ? ok : deny);

if (kind === "grpc-js") {
  const grpc = await import("@grpc/grpc-js");
  const { serviceDefinition } = await import(new URL("grpc/service-definition.js", dist).href);
  const server = new grpc.Server({ "grpc.enable_channelz": 0 }); // as spiffe-authz's own (src/grpc/host.ts)
  server.addService(serviceDefinition(Authorization), { Check: (call, cb) => cb(null, answer(call.request)) });
  await new Promise((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
} else if (kind === "http2") {
  const frame = (msg) => {
    const body = toBinary(CheckResponseSchema, msg);
    const f = Buffer.alloc(5 + body.length);
    f.writeUInt32BE(body.length, 1);
    f.set(body, 5);
    return f;
  };
  const okFrame = frame(ok);
  const denyFrame = frame(deny);
  const server = http2.createServer();
  server.on("stream", (stream) => {
    const chunks = [];
    stream.on("data", (c) => chunks.push(c));
    stream.on("end", () => {
      const req = fromBinary(CheckRequestSchema, Buffer.concat(chunks).subarray(5));
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(answer(req) === ok ? okFrame : denyFrame);
    });
  });
  await new Promise((resolve) => server.listen(Number(port), host, resolve));
} else {
  throw new Error(`authz-standin: BENCH_ENVOY_AUTHZ_STANDIN must be grpc-js or http2, not ${kind}`);
}
createServer((_req, res) => res.end("ok")).listen(Number(mPort), mHost);
process.on("SIGTERM", () => process.exit(0));
