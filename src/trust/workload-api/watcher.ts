// Keeps FetchX509Bundles and FetchJWTBundles open against the SPIRE agent and feeds every message to the
// trust store: a rotation reaches the engine as soon as the agent pushes it. Reconnects with exponential
// backoff and full jitter; refusals that need an operator wait on the slow path; never a hot loop.
// A real SPIRE agent ends the streams by itself now and then: while it re-issues SVIDs after a CA was
// tainted, it briefly answers PERMISSION_DENIED "no identity issued" (and does the same for a new entry it has
// not synced yet). So a lost stream is reported to the store only if no new stream delivers within
// reconnectGraceMs, and a PERMISSION_DENIED is retried at the normal pace until it has lasted rejectedBackoffMs.
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  JWTBundlesRequestSchema,
  X509BundlesRequestSchema,
  type JWTBundlesResponse,
  type X509BundlesResponse,
} from "../../gen/spiffe/workload/workload_pb.js";
import { decodeBundleMap, type BundleKind, type BundleOf } from "./bundle-map.js";
import { clearCallTimers, newStreamState, type StreamState } from "./bundle-stream.js";
import { securityMetadata, workloadApiClient, type WorkloadClient } from "./client.js";
import { codeName, HINTS, judgeLoss, logLoss } from "./lost-stream.js";
import type { WatcherOptions } from "./watcher-options.js";

export type { BundleSink, WatcherEvent, WatcherOptions } from "./watcher-options.js";

export class WorkloadApiWatcher {
  private readonly client: WorkloadClient;
  private readonly streams: { x509: StreamState<"x509">; jwt: StreamState<"jwt"> };
  private closed = false;
  private started = false;
  private readonly firstDelivery: Promise<void>;
  private resolveFirst!: () => void;
  /** Stream opening attempts per kind (tests count them to prove there is no hot loop). */
  readonly attempts: Record<BundleKind, number> = { x509: 0, jwt: 0 };

  constructor(private readonly opts: WatcherOptions) {
    this.client = workloadApiClient(opts.target);
    this.streams = { x509: newStreamState("x509", opts), jwt: newStreamState("jwt", opts) };
    this.firstDelivery = new Promise((r) => (this.resolveFirst = r));
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.open(this.streams.x509);
    this.open(this.streams.jwt);
  }

  /** Resolves true once SPIRE delivered its first X.509 bundle message, false after `timeoutMs` (spire.api-timeout-ms). */
  async waitForFirstBundle(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const ok = await Promise.race([this.firstDelivery.then(() => true), timeout]);
    clearTimeout(timer);
    return ok;
  }

  /** The X.509 bundle stream is up (the store's workloadApiConnected also accounts for the JWT one). */
  get connected(): boolean {
    return this.streams.x509.connected;
  }

  streamState(kind: BundleKind): { connected: boolean; lastCode: string | undefined } {
    const s = this.streams[kind];
    return { connected: s.connected, lastCode: s.lastCode === undefined ? undefined : codeName(s.lastCode) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [this.streams.x509, this.streams.jwt]) {
      clearCallTimers(s);
      clearTimeout(s.graceTimer);
      const call = s.call;
      s.call = undefined;
      call?.cancel();
    }
    this.client.close();
  }

  private open<K extends BundleKind>(s: StreamState<K>): void {
    if (this.closed) return;
    this.attempts[s.kind]++;
    s.upSince = undefined;
    const fn = this.client[s.method] as (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<unknown>;
    // The security header goes on every call: SPIRE refuses calls without it (INVALID_ARGUMENT).
    const call = fn.call(
      this.client,
      create(s.kind === "x509" ? X509BundlesRequestSchema : JWTBundlesRequestSchema),
      securityMetadata(),
    );
    s.call = call;
    const timeoutMs = this.opts.firstMessageTimeoutMs ?? 5000;
    s.firstTimer = setTimeout(() => {
      if (s.call !== call) return;
      this.drop(s, call);
      this.lost(s, grpc.status.DEADLINE_EXCEEDED, `no message within ${timeoutMs} ms of opening the stream`);
    }, timeoutMs);
    s.firstTimer.unref();

    call.on("data", (msg: X509BundlesResponse | JWTBundlesResponse) => {
      if (s.call !== call) return;
      if (s.upSince === undefined) {
        s.upSince = Date.now();
        clearTimeout(s.firstTimer);
        clearTimeout(s.graceTimer);
        s.graceTimer = undefined;
        s.deniedSince = undefined;
        if (!s.connected) {
          this.opts.log.info({ stream: s.method, target: this.opts.target }, "Workload API stream up");
          this.opts.onEvent?.({ type: "connected", kind: s.kind });
        }
        s.connected = true;
        s.lastCode = undefined;
      }
      this.armResync(s, call);
      this.apply(s, msg.bundles);
    });
    call.on("error", (err: grpc.ServiceError) => {
      if (s.call !== call) return; // one we replaced or cancelled on purpose
      this.lost(s, err.code, err.details);
    });
    call.on("end", () => {
      if (s.call !== call) return;
      this.lost(s, grpc.status.UNAVAILABLE, "stream ended by the agent");
    });
  }

  /** Stops listening to a call and cancels it; its late events are ignored. */
  private drop(s: StreamState<BundleKind>, call: grpc.ClientReadableStream<unknown>): void {
    if (s.call === call) s.call = undefined;
    call.cancel();
  }

  private armResync(s: StreamState<BundleKind>, call: grpc.ClientReadableStream<unknown>): void {
    clearTimeout(s.resyncTimer);
    s.resyncTimer = setTimeout(() => {
      if (s.call !== call || this.closed) return;
      // The store keeps the bundles meanwhile; if the new stream stays silent, the first-message timer calls it lost.
      this.opts.log.info(
        { stream: s.method, silentForMs: this.opts.resyncIntervalMs },
        "Workload API stream silent for bundle-refresh-interval; re-opening",
      );
      this.drop(s, call);
      this.open(s);
    }, this.opts.resyncIntervalMs);
    s.resyncTimer.unref();
  }

  private lost(s: StreamState<BundleKind>, code: grpc.status, details: string): void {
    const call = s.call;
    s.call = undefined;
    clearCallTimers(s);
    if (call) call.cancel();
    if (this.closed) return;
    const wasConnected = s.connected;
    s.connected = false;
    if (wasConnected) {
      // The store keeps the bundles through the grace; a stream that delivers again cancels it (see open()).
      const graceMs = this.opts.reconnectGraceMs ?? 1000;
      s.graceTimer = setTimeout(() => {
        s.graceTimer = undefined;
        if (!s.connected && !this.closed) this.opts.store.setSpireConnected(false, s.kind);
      }, graceMs);
      s.graceTimer.unref();
    } else if (s.graceTimer === undefined) {
      this.opts.store.setSpireConnected(false, s.kind);
    }

    if (s.upSince !== undefined && Date.now() - s.upSince >= (this.opts.healthyAfterMs ?? 5000)) s.backoff.reset();
    const rejectedMs = this.opts.rejectedBackoffMs ?? 5000;
    const { refused, transientDenial } = judgeLoss(s, code, rejectedMs);
    const delay = refused ? s.backoff.slow(rejectedMs) : s.backoff.next();
    const fields = {
      stream: s.method,
      target: this.opts.target,
      code: codeName(code),
      details,
      retryInMs: delay,
      hint: HINTS[code],
    };
    logLoss(this.opts.log, fields, { code, refused, transientDenial, wasConnected, newCode: s.lastCode !== code });
    s.lastCode = code;
    this.opts.onEvent?.({
      type: "disconnected",
      kind: s.kind,
      code: codeName(code),
      details,
      retryInMs: delay,
      refused,
    });
    s.retryTimer = setTimeout(() => this.open(s), delay);
    s.retryTimer.unref();
  }

  private apply<K extends BundleKind>(s: StreamState<K>, map: Record<string, Uint8Array>): void {
    const { bundles, problems } = decodeBundleMap(s.kind, map, s.lastGood);
    for (const p of problems) {
      this.opts.log.error(
        { stream: s.method, key: p.key, trustDomain: p.trustDomain, error: p.error, keptPrevious: p.keptPrevious },
        "malformed bundle from the Workload API",
      );
    }
    s.lastGood = bundles;
    if (s.kind === "x509") this.opts.store.setSpireBundles("x509", (bundles as Map<string, BundleOf<"x509">>).values());
    else this.opts.store.setSpireBundles("jwt", (bundles as Map<string, BundleOf<"jwt">>).values());
    if (s.kind === "x509") this.resolveFirst();
    const trustDomains = [...bundles.keys()];
    this.opts.log.debug({ stream: s.method, trustDomains }, "bundles updated from the Workload API");
    this.opts.onUpdate?.(s.kind);
    this.opts.onEvent?.({ type: "bundles", kind: s.kind, trustDomains, problems: problems.length });
  }
}
