// Independent gRPC clients built with @grpc/proto-loader from our .proto files (not our protobuf-es codecs),
// so tests prove wire compatibility rather than agreement of a codec with itself.
import { createServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { loadPackageDefinition } from "../../src/protos.js";

type Ctor = new (target: string, creds: grpc.ChannelCredentials, opts?: grpc.ChannelOptions) => grpc.Client;

function lookup(path: string): Ctor {
  const root = grpc.loadPackageDefinition(loadPackageDefinition()) as Record<string, unknown>;
  let cur: unknown = root;
  for (const p of path.split(".")) cur = (cur as Record<string, unknown>)[p];
  return cur as Ctor;
}

export type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** Plaintext unless `creds` says otherwise (an SVID for a server.tls.mode spiffe port). */
export function envoyClient(
  target: string,
  creds = grpc.credentials.createInsecure(),
  opts?: grpc.ChannelOptions,
): Client {
  const C = lookup("envoy.service.auth.v3.Authorization");
  return new C(target, creds, opts) as Client;
}

export function zentinelClient(
  target: string,
  creds = grpc.credentials.createInsecure(),
  opts?: grpc.ChannelOptions,
): Client {
  const C = lookup("zentinel.agent.v2.AgentServiceV2");
  return new C(target, creds, opts) as Client;
}

export function healthClient(target: string): Client {
  const def = protoLoader.loadSync(healthProtoPath, { keepCase: true, longs: String, enums: String, defaults: true });
  const C = (
    grpc.loadPackageDefinition(def) as Record<string, Record<string, Record<string, Record<string, unknown>>>>
  )["grpc"]!["health"]!["v1"]!["Health"] as unknown as Ctor;
  return new C(target, grpc.credentials.createInsecure()) as Client;
}

/** One unary call, bounded by a 10 s deadline: a server that never answers fails the test instead of hanging it. */
export function unary<Res>(client: Client, method: string, req: unknown, metadata = new grpc.Metadata()): Promise<Res> {
  return new Promise((resolve, reject) => {
    (
      client[method] as (
        r: unknown,
        m: grpc.Metadata,
        o: grpc.CallOptions,
        cb: (e: grpc.ServiceError | null, v: Res) => void,
      ) => void
    ).call(client, req, metadata, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** A CheckRequest object as Envoy sends it (proto-loader shape, snake_case keys). */
export function checkRequest(opts: {
  certPem?: string;
  headers?: Record<string, string>;
  path?: string;
  method?: string;
  route?: string;
}): Record<string, unknown> {
  return {
    attributes: {
      source: {
        address: { socket_address: { address: "10.0.0.7", port_value: 40000 } },
        certificate: opts.certPem ? encodeURIComponent(opts.certPem) : "",
      },
      request: {
        http: {
          id: "req-1",
          method: opts.method ?? "GET",
          path: opts.path ?? "/api/orders",
          host: "backend.example.org",
          headers: {
            ":method": opts.method ?? "GET",
            ":path": opts.path ?? "/api/orders",
            "x-request-id": "rid-42",
            ...opts.headers,
          },
        },
      },
      context_extensions: opts.route ? { route: opts.route } : {},
    },
  };
}

export interface CheckResponseObj {
  status: { code: number; message: string };
  ok_response?: {
    headers: Array<{ header: { key: string; value: string }; append_action: string }>;
    headers_to_remove: string[];
  };
  denied_response?: {
    status: { code: string };
    body: string;
    headers: Array<{ header: { key: string; value: string } }>;
  };
  http_response?: string;
  dynamic_metadata?: { fields: Record<string, { stringValue?: string; string_value?: string }> };
}

/** grpc.reflection.v1 client from the proto shipped with @grpc/reflection. */
export function reflectionClient(target: string): Client {
  const path = new URL(
    "../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto",
    import.meta.url,
  ).pathname;
  const def = protoLoader.loadSync(path, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const C = (
    grpc.loadPackageDefinition(def) as Record<string, Record<string, Record<string, Record<string, unknown>>>>
  )["grpc"]!["reflection"]!["v1"]!["ServerReflection"] as unknown as Ctor;
  return new C(target, grpc.credentials.createInsecure()) as Client;
}

/** Lists services through server reflection, as `grpcurl list` does. */
export function listServices(target: string): Promise<string[]> {
  const c = reflectionClient(target);
  return new Promise((resolve, reject) => {
    const call = (
      c["ServerReflectionInfo"] as () => grpc.ClientDuplexStream<
        unknown,
        { list_services_response?: { service: Array<{ name: string }> } }
      >
    ).call(c);
    call.on("data", (m) => {
      resolve((m.list_services_response?.service ?? []).map((s: { name: string }) => s.name).sort());
      call.end();
      c.close();
    });
    call.on("error", reject);
    call.write({ list_services: "" });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a child process to listen on). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
