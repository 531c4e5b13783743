// Child-process entry: one server under test, alone in its process so a load generator elsewhere does not share
// its event loop. Plain JavaScript over the build (dist/), not TypeScript through tsx: tsx's loader thread alone
// adds ~35 MB of RSS and loading src/ through it ~60 MB more, which would swamp a memory measurement.
// `kind` "authz" is spiffe-authz (startServer, as `serve` runs it), "noop" a bare grpc-js Check server answering
// OK (the ceiling), "noop-raw" the same no-op answered on spiffe-authz's raw HTTP/2 path (GrpcHost with
// src/grpc/raw-unary.ts, as the Envoy door is served on a plaintext port): the floor of the path spiffe-authz uses. Over IPC with its parent (startServerHost in ./processes.ts):
//   → { type: "ready", target, pid }
//   ← { type: "mem" }   → { type: "mem", rss, heapUsed, heapTotal, external, arrayBuffers, hwm, cacheSize, cacheMisses }
//   ← { type: "stop" }  → exits 0 after stopping
// With --expose-gc, "mem" collects garbage before reading process.memoryUsage().
import { readFileSync } from "node:fs";

const dist = new URL("../../dist/", import.meta.url);
const spec = JSON.parse(process.argv[2] ?? "{}");

function procStatus(key) {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

let target;
let stop;
let cacheStats = () => undefined;
if (spec.kind === "noop") {
  const grpc = await import("@grpc/grpc-js");
  const { create } = await import("@bufbuild/protobuf");
  const { Authorization, CheckResponseSchema } = await import(
    new URL("gen/envoy/service/auth/v3/external_auth_pb.js", dist).href
  );
  const { serviceDefinition } = await import(new URL("grpc/service-definition.js", dist).href);
  // Channelz off as spiffe-authz's own server has it (src/grpc/host.ts), so a ratio compares the code, not that knob.
  const server = new grpc.Server({ "grpc.enable_channelz": 0 });
  const ok = create(CheckResponseSchema, { status: { code: 0 } });
  server.addService(serviceDefinition(Authorization), { Check: (_call, cb) => cb(null, ok) });
  const port = await new Promise((res, rej) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  target = `127.0.0.1:${port}`;
  stop = async () => server.forceShutdown();
} else if (spec.kind === "noop-raw") {
  const { create, fromBinary, toBinary } = await import("@bufbuild/protobuf");
  const { Authorization, CheckRequestSchema, CheckResponseSchema } = await import(
    new URL("gen/envoy/service/auth/v3/external_auth_pb.js", dist).href
  );
  const { serviceDefinition } = await import(new URL("grpc/service-definition.js", dist).href);
  const { GrpcHost } = await import(new URL("grpc/host.js", dist).href);
  const { parseListenAddress } = await import(new URL("grpc/address.js", dist).href);
  const { silentLogger } = await import(new URL("log.js", dist).href);
  const ok = create(CheckResponseSchema, { status: { code: 0 } });
  const okBytes = toBinary(CheckResponseSchema, ok);
  const host = new GrpcHost(
    [
      {
        name: Authorization.typeName,
        definition: serviceDefinition(Authorization),
        implementation: { Check: (_call, cb) => cb(null, ok) },
        // Decodes the request as the grpc-js no-op does, so the two differ only in the transport.
        raw: [
          { path: `/${Authorization.typeName}/Check`, handle: (b) => (fromBinary(CheckRequestSchema, b), okBytes) },
        ],
      },
    ],
    silentLogger(),
  );
  [target] = await host.bind([parseListenAddress("127.0.0.1:0", "bench")]);
  if (host.rawUnaryServers !== 1) throw new Error("noop-raw: the raw path was not installed");
  stop = () => host.drain(1000);
} else {
  const { startServer } = await import(new URL("server.js", dist).href);
  const { parseConfig } = await import(new URL("config/load.js", dist).href);
  const { parseListenAddress, parseWorkloadApiAddress } = await import(new URL("grpc/address.js", dist).href);
  const { createLogger, silentLogger } = await import(new URL("log.js", dist).href);
  const server = await startServer(
    {
      listen: [parseListenAddress("127.0.0.1:0", "bench")],
      spireSocket: parseWorkloadApiAddress(spec.spire ?? "", "bench"),
      metrics: null,
      configPath: undefined,
      config: parseConfig(spec.config ?? {}),
      verbose: false,
      drainTimeoutMs: 1000,
      workers: 1,
    },
    spec.logFile ? createLogger({}) : silentLogger(),
    { telemetry: spec.telemetry ?? true },
  );
  target = server.grpcTargets[0];
  stop = () => server.stop();
  cacheStats = () => server.engine.cache?.stats();
}

process.on("message", (m) => {
  if (m?.type === "mem") {
    if (globalThis.gc) for (let i = 0; i < 3; i++) globalThis.gc();
    const u = process.memoryUsage();
    const c = cacheStats();
    process.send?.({
      type: "mem",
      rss: u.rss,
      heapUsed: u.heapUsed,
      heapTotal: u.heapTotal,
      external: u.external,
      arrayBuffers: u.arrayBuffers,
      hwm: procStatus("VmHWM"),
      cacheSize: c?.size,
      cacheMisses: c?.misses,
    });
  } else if (m?.type === "stop") {
    void stop().finally(() => process.exit(0));
  }
});
process.on("disconnect", () => process.exit(0)); // the parent died: do not linger
process.send?.({ type: "ready", target, pid: process.pid });
