// Test doubles at the socket: a Workload API whose streams the test drives message by message (the dev Workload API
// only sends what a healthy SPIRE agent sends), and a unix-socket relay that counts the connections through it.
import { mkdtempSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  JWTBundlesResponseSchema,
  SpiffeWorkloadAPI,
  X509BundlesResponseSchema,
  X509SVIDResponseSchema,
} from "../../src/gen/spiffe/workload/workload_pb.js";
import { serviceDefinition } from "../../src/grpc/service-definition.js";

export type ScriptedCall = grpc.ServerWritableStream<unknown, unknown> & { wasCancelled: boolean };
type Method = "FetchX509Bundles" | "FetchJWTBundles" | "FetchX509SVID";
const SCHEMA = {
  FetchX509Bundles: X509BundlesResponseSchema,
  FetchJWTBundles: JWTBundlesResponseSchema,
  FetchX509SVID: X509SVIDResponseSchema,
} as const;

/**
 * A real grpc-js server of the Workload API on a unix socket. Every call of the three streaming methods stays open
 * until the test writes to it, ends it or the client cancels; `refuse` ends a method's calls at once with a status.
 */
export async function scriptedWorkloadApi(refuse: Partial<Record<Method, grpc.status>> = {}) {
  const calls: Record<Method, ScriptedCall[]> = { FetchX509Bundles: [], FetchJWTBundles: [], FetchX509SVID: [] };
  const server = new grpc.Server();
  // Only the three streams; grpc-js answers the methods left out UNIMPLEMENTED.
  const impl: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(calls) as Method[]) {
    impl[name] = ((call: ScriptedCall) => {
      call.wasCancelled = false;
      call.on("cancelled", () => (call.wasCancelled = true));
      calls[name].push(call);
      const code = refuse[name];
      if (code !== undefined) call.emit("error", { code, details: `scripted ${grpc.status[code]}` });
    }) as grpc.UntypedHandleCall;
  }
  server.addService(serviceDefinition(SpiffeWorkloadAPI), impl);
  const target = `unix://${join(mkdtempSync(join(tmpdir(), "wl-script-")), "agent.sock")}`;
  await new Promise<void>((ok, ko) =>
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (e) => (e ? ko(e) : ok())),
  );
  return {
    target,
    calls,
    /** Writes one message on the method's latest call. */
    send<M extends Method>(method: M, msg: Parameters<typeof create<(typeof SCHEMA)[M]>>[1]): void {
      calls[method].at(-1)!.write(create(SCHEMA[method], msg as never));
    },
    close: () => server.forceShutdown(),
  };
}

/** Relays a unix socket to `to` (a `unix://` target), counting the connections open through it. */
export async function unixRelay(to: string) {
  const path = join(mkdtempSync(join(tmpdir(), "wl-relay-")), "relay.sock");
  const open = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = createConnection(to.replace(/^unix:\/\//, ""));
    open.add(inbound);
    inbound.pipe(outbound).pipe(inbound);
    const done = () => (open.delete(inbound), inbound.destroy(), outbound.destroy());
    inbound.on("close", done).on("error", done);
    outbound.on("close", done).on("error", done);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    target: `unix://${path}`,
    open: () => open.size,
    close: () => new Promise<void>((r) => (open.forEach((s) => s.destroy()), server.close(() => r()))),
  };
}
