// Keeps FetchX509Bundles and FetchJWTBundles open against the SPIRE agent and feeds every message to the
// trust store. Reconnects with capped exponential backoff and jitter; never a hot loop.
import * as grpc from "@grpc/grpc-js";
import type { JWTBundlesResponse, X509BundlesResponse } from "../../gen/spiffe/workload/workload_pb.js";
import type { JwtBundle, X509Bundle} from "../../spiffe/index.js";
import { BundleError, parseJwtBundle, parseTrustDomain, parseX509BundleDer } from "../../spiffe/index.js";
import type { Logger } from "../../log.js";
import type { TrustStore } from "../store.js";
import { securityMetadata, workloadApiClient, type WorkloadClient } from "./client.js";

export interface WatcherOptions {
  target: string;
  store: TrustStore;
  log: Logger;
  /** spire.bundle-refresh-interval: a stream silent this long is re-opened (SPIRE re-sends current state). */
  resyncIntervalMs: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Backoff floor after PERMISSION_DENIED / INVALID_ARGUMENT: those need an operator, not a retry storm. */
  rejectedBackoffMs?: number;
  onUpdate?: (kind: "x509" | "jwt") => void;
}

type Kind = "x509" | "jwt";

interface StreamState {
  call: grpc.ClientReadableStream<unknown> | undefined;
  backoffMs: number;
  retryTimer: NodeJS.Timeout | undefined;
  resyncTimer: NodeJS.Timeout | undefined;
  healthy: boolean;
  lastGood: Map<string, X509Bundle | JwtBundle>;
}

const HINTS: Partial<Record<grpc.status, string>> = {
  [grpc.status.PERMISSION_DENIED]: "the SPIRE agent has no registration entry for this process: create one whose selectors match it (spire-server entry create ...)",
  [grpc.status.INVALID_ARGUMENT]: "the Workload API rejected the call (security header missing?): something between us and the agent strips gRPC metadata",
  [grpc.status.UNAVAILABLE]: "cannot reach the SPIRE agent: check the socket path and its permissions",
};

/** Trust domain of a bundle map key: SPIRE sends `spiffe://td`, some implementations plain `td`. */
function keyTrustDomain(key: string) {
  return parseTrustDomain(key.endsWith("/") ? key.slice(0, -1) : key);
}

export class WorkloadApiWatcher {
  private readonly client: WorkloadClient;
  private readonly streams: Record<Kind, StreamState>;
  private closed = false;
  private firstDelivery: Promise<void>;
  private resolveFirst!: () => void;
  /** Stream opening attempts, per kind (tests count them to prove there is no hot loop). */
  readonly attempts: Record<Kind, number> = { x509: 0, jwt: 0 };

  constructor(private readonly opts: WatcherOptions) {
    this.client = workloadApiClient(opts.target);
    const fresh = (): StreamState => ({ call: undefined, backoffMs: this.initialBackoff, retryTimer: undefined, resyncTimer: undefined, healthy: false, lastGood: new Map() });
    this.streams = { x509: fresh(), jwt: fresh() };
    this.firstDelivery = new Promise((r) => (this.resolveFirst = r));
  }

  private get initialBackoff(): number {
    return this.opts.initialBackoffMs ?? 200;
  }

  start(): void {
    this.open("x509");
    this.open("jwt");
  }

  /** Resolves true once SPIRE delivered its first X.509 bundles, false after `timeoutMs`. */
  async waitForFirstBundle(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const ok = await Promise.race([this.firstDelivery.then(() => true), timeout]);
    clearTimeout(timer);
    return ok;
  }

  close(): void {
    this.closed = true;
    for (const s of Object.values(this.streams)) {
      clearTimeout(s.retryTimer);
      clearTimeout(s.resyncTimer);
      s.call?.cancel();
    }
    this.client.close();
  }

  private open(kind: Kind): void {
    if (this.closed) return;
    const s = this.streams[kind];
    this.attempts[kind]++;
    const method = kind === "x509" ? "FetchX509Bundles" : "FetchJWTBundles";
    const call = (this.client[method] as (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<unknown>).call(this.client, {}, securityMetadata());
    s.call = call;
    let delivered = false;
    this.armResync(kind, call, () => delivered);
    call.on("data", (msg: X509BundlesResponse | JWTBundlesResponse) => {
      if (s.call !== call) return;
      delivered = true;
      this.armResync(kind, call, () => delivered);
      s.backoffMs = this.initialBackoff;
      if (!s.healthy) this.opts.log.info({ stream: method }, "Workload API stream up");
      s.healthy = true;
      this.apply(kind, msg.bundles);
    });
    call.on("error", (err: grpc.ServiceError) => {
      if (s.call !== call) return; // a stream we replaced on purpose
      this.lost(kind, err.code, err.details);
    });
    call.on("end", () => {
      if (s.call !== call) return;
      this.lost(kind, grpc.status.OK, "stream ended by the agent");
    });
  }

  /**
   * A stream silent for the refresh interval is replaced without marking SPIRE lost (availability does not
   * flap). But SPIRE sends its current state as soon as a stream opens, so a stream that never delivered
   * anything means a wedged agent: that one is treated as lost.
   */
  private armResync(kind: Kind, call: grpc.ClientReadableStream<unknown>, delivered: () => boolean): void {
    const s = this.streams[kind];
    clearTimeout(s.resyncTimer);
    s.resyncTimer = setTimeout(() => {
      if (s.call !== call || this.closed) return;
      if (!delivered()) {
        s.call = undefined;
        call.cancel();
        this.lost(kind, grpc.status.DEADLINE_EXCEEDED, "no message from the Workload API within the refresh interval");
        return;
      }
      this.opts.log.debug({ kind }, "Workload API stream silent for the refresh interval; re-opening");
      s.call = undefined;
      call.cancel();
      this.open(kind);
    }, this.opts.resyncIntervalMs);
    s.resyncTimer.unref();
  }

  private lost(kind: Kind, code: grpc.status, details: string): void {
    const s = this.streams[kind];
    s.call = undefined;
    clearTimeout(s.resyncTimer);
    s.healthy = false;
    if (this.closed) return;
    if (kind === "x509") this.opts.store.setSpireConnected(false);
    else this.opts.store.setSpireJwtConnected(false);
    const rejected = code === grpc.status.PERMISSION_DENIED || code === grpc.status.INVALID_ARGUMENT;
    // Equal jitter spreads reconnecting replicas; a refusal waits at least the floor, whatever the jitter.
    let delay = Math.round(s.backoffMs / 2 + (Math.random() * s.backoffMs) / 2);
    if (rejected) delay = Math.max(delay, this.opts.rejectedBackoffMs ?? 5000);
    const fields = { stream: kind, code: grpc.status[code] ?? code, details, retryInMs: delay, hint: HINTS[code] };
    if (rejected) this.opts.log.error(fields, "Workload API refused the call");
    else this.opts.log.warn(fields, "Workload API stream lost; reconnecting");
    s.backoffMs = Math.min(s.backoffMs * 2, this.opts.maxBackoffMs ?? 30_000);
    s.retryTimer = setTimeout(() => this.open(kind), delay);
    s.retryTimer.unref();
  }

  private apply(kind: Kind, map: Record<string, Uint8Array>): void {
    const s = this.streams[kind];
    const next = new Map<string, X509Bundle | JwtBundle>();
    for (const [key, bytes] of Object.entries(map)) {
      let td: string;
      try {
        td = keyTrustDomain(key).name;
      } catch {
        this.opts.log.error({ kind, key: key.slice(0, 300) }, "Workload API sent a bundle under an invalid trust domain key; ignored");
        continue;
      }
      try {
        next.set(td, kind === "x509" ? parseX509BundleDer(td, bytes) : parseJwtBundle(td, bytes));
      } catch (err) {
        const prev = s.lastGood.get(td);
        this.opts.log.error({ kind, trustDomain: td, error: err instanceof BundleError ? err.message : String(err), keptPrevious: prev !== undefined }, "malformed bundle from the Workload API");
        if (prev) next.set(td, prev);
      }
    }
    s.lastGood = next;
    if (kind === "x509") {
      this.opts.store.setSpireX509([...next.values()] as X509Bundle[]);
      this.resolveFirst();
    } else {
      this.opts.store.setSpireJwt([...next.values()] as JwtBundle[]);
    }
    this.opts.log.debug({ kind, trustDomains: [...next.keys()] }, "bundles updated from the Workload API");
    this.opts.onUpdate?.(kind);
  }
}
