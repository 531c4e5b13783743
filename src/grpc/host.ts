// Owns the grpc-js Server: binding (TCP and unix sockets, several at once), health, reflection, and a
// bounded graceful drain.
import cluster from "node:cluster";
import { connect } from "node:net";
import { lstatSync, unlinkSync } from "node:fs";
import { format } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { isLoopback, type Address } from "./address.js";
import type { Logger } from "../log.js";
import { ListenError } from "./errors.js";

export { ListenError };

/** Hard limits on what a peer may make us hold in memory. */
export const GRPC_LIMITS = {
  // Above anything Envoy can send, so that an over-size request reaches the engine (whose own credential limits
  // answer it with a deny) instead of failing the RPC, which Envoy's failure_mode_allow would let through:
  // Envoy's request headers are 96 KiB by default and at most 8 MiB (max_request_headers_kb), and
  // with_request_body adds at most its max_request_bytes (we never read the body: leave it off, or keep
  // headers + body under this). A message beyond it still costs its sender the RPC (RESOURCE_EXHAUSTED).
  maxReceiveMessageBytes: 16 << 20,
  maxSendMessageBytes: 4 << 20,
  maxConcurrentStreams: 1000,
  maxSessionMemoryMb: 64,
} as const;

export interface HostedService {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
  /** Fully-qualified service name, used for health status. */
  name: string;
}

/** Removes a stale unix socket left by a crashed process, but never one that a live server still answers on. */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw new ListenError(`${path} exists and is not a unix socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (alive) throw new ListenError(`another process is already serving on ${path}`);
  unlinkSync(path);
}

export class GrpcHost {
  readonly server: grpc.Server;
  readonly health: HealthImplementation;
  private readonly serviceNames: string[];
  /** The bound targets, with the real port for `:0` binds. */
  readonly bound: string[] = [];

  constructor(
    services: HostedService[],
    private readonly log: Logger,
  ) {
    this.server = new grpc.Server({
      "grpc.max_receive_message_length": GRPC_LIMITS.maxReceiveMessageBytes,
      "grpc.max_send_message_length": GRPC_LIMITS.maxSendMessageBytes,
      "grpc.max_concurrent_streams": GRPC_LIMITS.maxConcurrentStreams,
      "grpc.max_session_memory": GRPC_LIMITS.maxSessionMemoryMb,
      "grpc.keepalive_time_ms": 60_000,
      "grpc.keepalive_timeout_ms": 20_000,
      "grpc.keepalive_permit_without_calls": 1,
      // No channelz service is served here, so its per-call bookkeeping (closures, timestamps, counters on every
      // call) would be kept for nobody: with it off grpc-js takes its plain stream handler, a few per cent of the
      // allocation per Check (bench: heap sampling under h2load).
      "grpc.enable_channelz": 0,
    });
    // grpc-js writes its own (error-level) log lines to stderr; keep them in our JSON log instead, where a
    // failure it reports twice (e.g. a bind error we also throw) is at least in the same place.
    const glog = this.log.child({ component: "grpc-js" });
    grpc.setLogger({
      error: (...args: unknown[]) => glog.warn(format(...args)),
      info: (...args: unknown[]) => glog.info(format(...args)),
      debug: (...args: unknown[]) => glog.debug(format(...args)),
    });
    this.serviceNames = services.map((s) => s.name);
    // Not serving until the composition root says the trust store can decide.
    this.health = new HealthImplementation(
      Object.fromEntries(["", ...this.serviceNames].map((n) => [n, "NOT_SERVING" as ServingStatus])),
    );
    this.health.addToServer(this.server);
    for (const s of services) this.server.addService(s.definition, s.implementation);
  }

  /** Binds every address with `credentials` (plaintext unless server.tls.mode asks for SPIFFE mTLS). */
  async bind(
    addresses: Address[],
    credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
  ): Promise<string[]> {
    const tls = credentials._isSecure();
    for (const a of addresses) {
      // Cluster workers share the primary's listening handle; the primary cleared stale sockets before forking.
      if (a.kind === "unix" && a.path && !cluster.isWorker) await clearStaleSocket(a.path);
      const port = await new Promise<number>((resolve, reject) => {
        this.server.bindAsync(a.target, credentials, (err, p) =>
          err ? reject(new ListenError(`cannot listen on ${a.target}: ${err.message}`)) : resolve(p),
        );
      });
      const target = a.kind === "tcp" ? a.target.replace(/:\d+$/, `:${port}`) : a.target;
      this.bound.push(target);
      this.log.info({ address: target, tls: tls ? "spiffe-mtls" : "plaintext" }, "gRPC listening");
      if (!tls && a.kind === "tcp" && !isLoopback(a.target)) {
        this.log.warn(
          { address: target },
          "gRPC port listens beyond loopback in plaintext: whoever reaches it can ask for decisions; keep it pod-local (NetworkPolicy) or set server.tls.mode: spiffe",
        );
      }
    }
    return this.bound;
  }

  /**
   * Adds grpc.reflection (v1 and v1alpha). Loaded on demand because it parses every .proto file with
   * proto-loader, which took about a third of start-up; the composition root adds it once the server is
   * SERVING, so a reflection call in the first moments after start may get UNIMPLEMENTED.
   */
  async enableReflection(): Promise<void> {
    if (this.reflection) return this.reflection;
    this.reflection = (async () => {
      const [{ ReflectionService }, { loadPackageDefinition, HEALTH_SERVICE }] = await Promise.all([
        import("@grpc/reflection"),
        import("../protos.js"),
      ]);
      // Only what this port answers: our protos also describe the Workload API (a client of ours, not served
      // here), and health is served by grpc-health-check from its own proto.
      new ReflectionService(loadPackageDefinition(), {
        services: [...this.serviceNames, HEALTH_SERVICE],
      }).addToServer(this.server);
    })();
    return this.reflection;
  }
  private reflection: Promise<void> | undefined;

  setServing(serving: boolean): void {
    const status: ServingStatus = serving ? "SERVING" : "NOT_SERVING";
    for (const n of ["", ...this.serviceNames]) this.health.setStatus(n, status);
  }

  /**
   * Stops taking new calls and lets in-flight ones finish; whatever is still open after `timeoutMs`
   * (typically long-lived streams) is cancelled.
   */
  async drain(timeoutMs: number): Promise<"drained" | "forced"> {
    this.setServing(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn({ timeoutMs }, "drain timeout reached; cancelling remaining calls");
        this.server.forceShutdown();
        resolve("forced");
      }, timeoutMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve("drained");
      });
    });
  }
}
