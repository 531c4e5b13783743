// Owns the grpc-js Server: binding (TCP and unix sockets, several at once), health, reflection, a bounded
// graceful drain, and handing hot unary methods on plaintext ports to raw-unary.ts.
import cluster from "node:cluster";
import { connect, Server as NetServer } from "node:net";
import type { Http2Server } from "node:http2";
import { lstatSync, unlinkSync } from "node:fs";
import { format } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { isLoopback, type Address } from "./address.js";
import type { Logger } from "../log.js";
import { ListenError } from "./errors.js";
import { installRawUnary, type RawUnaryMethod } from "./raw-unary.js";

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
  /**
   * Methods also answered straight from the HTTP/2 stream on plaintext ports (raw-unary.ts), where grpc-js's
   * per-call cost would outweigh the work; `implementation` still answers what that path does not take.
   */
  raw?: RawUnaryMethod[];
}

/** The grpc-js Server fields raw-unary.ts needs (private in its typings; checked at run time). */
interface ServerInternals {
  http2Servers?: unknown;
  interceptors?: unknown;
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
  /** Listening HTTP/2 servers whose raw methods are answered by raw-unary.ts (tests and the log read it). */
  rawUnaryServers = 0;
  private readonly raw: RawUnaryMethod[];

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
    this.raw = services.flatMap((s) => s.raw ?? []);
    // Not serving until the composition root says the trust store can decide.
    this.health = new HealthImplementation(
      Object.fromEntries(["", ...this.serviceNames].map((n) => [n, "NOT_SERVING" as ServingStatus])),
    );
    this.health.addToServer(this.server);
    for (const s of services) this.server.addService(s.definition, s.implementation);
  }

  /**
   * Binds every address with `credentials` (plaintext unless server.tls.mode asks for SPIFFE mTLS). One bind at a
   * time, even when called concurrently: which of grpc-js's HTTP/2 servers a bind made is read as the ones that
   * were not there before it, and an overlapping bind of a port with interceptors must never have its server
   * counted as this one's (the raw path would then answer past its admission check).
   */
  bind(
    addresses: Address[],
    credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
  ): Promise<string[]> {
    const run = this.binding.then(() => this.bindInTurn(addresses, credentials));
    this.binding = run.catch(() => undefined);
    return run;
  }
  private binding: Promise<unknown> = Promise.resolve();

  private async bindInTurn(addresses: Address[], credentials: grpc.ServerCredentials): Promise<string[]> {
    const tls = credentials._isSecure();
    for (const a of addresses) {
      // Cluster workers share the primary's listening handle; the primary cleared stale sockets before forking.
      if (a.kind === "unix" && a.path && !cluster.isWorker) await clearStaleSocket(a.path);
      const before = this.http2Servers();
      const port = await new Promise<number>((resolve, reject) => {
        this.server.bindAsync(a.target, credentials, (err, p) =>
          err ? reject(new ListenError(`cannot listen on ${a.target}: ${err.message}`)) : resolve(p),
        );
      });
      // Only where grpc-js would run no interceptor: a SPIFFE mTLS port admits each call in one.
      const raw =
        this.raw.length > 0 && credentials._getInterceptors().length === 0 ? this.installRaw(before, a.target) : 0;
      const target = a.kind === "tcp" ? a.target.replace(/:\d+$/, `:${port}`) : a.target;
      this.bound.push(target);
      this.log.info(
        {
          address: target,
          tls: tls ? "spiffe-mtls" : "plaintext",
          // Which methods skip grpc-js's per-call work on this port (none where calls are admitted by interceptor).
          fast_path: raw > 0 ? this.raw.map((m) => m.path) : [],
        },
        "gRPC listening",
      );
      if (!tls && a.kind === "tcp" && !isLoopback(a.target)) {
        this.log.warn(
          { address: target },
          "gRPC port listens beyond loopback in plaintext: whoever reaches it can ask for decisions; keep it pod-local (NetworkPolicy) or set server.tls.mode: spiffe",
        );
      }
    }
    return this.bound;
  }

  /** grpc-js's HTTP/2 servers, or undefined when its internals are not as raw-unary.ts expects them. */
  private http2Servers(): Set<unknown> | undefined {
    const internals = this.server as unknown as ServerInternals;
    if (!(internals.http2Servers instanceof Map)) return undefined;
    if (!Array.isArray(internals.interceptors) || internals.interceptors.length > 0) return undefined;
    return new Set((internals.http2Servers as Map<unknown, unknown>).keys());
  }

  /** Hands the raw methods on the servers the last bind made (those not in `before`) to raw-unary.ts. */
  private installRaw(before: Set<unknown> | undefined, target: string): number {
    const after = this.http2Servers();
    let fresh = 0;
    let installed = 0;
    for (const srv of before !== undefined && after !== undefined ? after : []) {
      if (before?.has(srv) !== false) continue; // a port bound twice reuses its server, which has the path already
      fresh++;
      // Node's HTTP/2 servers are net.Servers (the TLS one through tls.Server).
      if (srv instanceof NetServer && installRawUnary(srv as Http2Server, this.raw, GRPC_LIMITS)) installed++;
    }
    this.rawUnaryServers += installed;
    if (before === undefined || after === undefined || installed < fresh) {
      // A grpc-js upgrade that moved its internals: every call still answered, by grpc-js, only slower.
      this.log.warn(
        { address: target, methods: this.raw.map((m) => m.path) },
        "fast path for unary methods not installed (grpc-js internals not as expected); grpc-js answers them",
      );
    }
    return installed;
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
