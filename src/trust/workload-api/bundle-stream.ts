// What the watcher keeps for one Workload API bundle stream (FetchX509Bundles or FetchJWTBundles): the call in
// flight, its backoff and timers, how the last calls went, and the last good bundle of each trust domain.
import type * as grpc from "@grpc/grpc-js";
import { Backoff, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from "./backoff.js";
import type { BundleKind, BundleOf } from "./bundle-map.js";
import type { WatcherOptions } from "./watcher-options.js";

export interface StreamState<K extends BundleKind> {
  kind: K;
  method: "FetchX509Bundles" | "FetchJWTBundles";
  call: grpc.ClientReadableStream<unknown> | undefined;
  backoff: Backoff;
  retryTimer: NodeJS.Timeout | undefined;
  /** Re-open after resyncIntervalMs of silence. */
  resyncTimer: NodeJS.Timeout | undefined;
  /** No first message within firstMessageTimeoutMs → lost. */
  firstTimer: NodeJS.Timeout | undefined;
  /** Tells the store the stream is lost unless a new one delivers first. */
  graceTimer: NodeJS.Timeout | undefined;
  /** When the current run of PERMISSION_DENIED answers began. */
  deniedSince: number | undefined;
  /** When the current call delivered its first message. */
  upSince: number | undefined;
  /** Up, from the store's point of view (a quiet resync re-open does not change it). */
  connected: boolean;
  lastCode: grpc.status | undefined;
  lastGood: Map<string, BundleOf<K>>;
}

/** A stream not yet opened, with the backoff the options ask for. */
export function newStreamState<K extends BundleKind>(kind: K, opts: WatcherOptions): StreamState<K> {
  return {
    kind,
    method: kind === "x509" ? "FetchX509Bundles" : "FetchJWTBundles",
    call: undefined,
    backoff: new Backoff({
      initialMs: opts.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS,
      maxMs: opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
      ...(opts.random ? { random: opts.random } : {}),
    }),
    retryTimer: undefined,
    resyncTimer: undefined,
    firstTimer: undefined,
    graceTimer: undefined,
    deniedSince: undefined,
    upSince: undefined,
    connected: false,
    lastCode: undefined,
    lastGood: new Map(),
  };
}

/** Clears the timers that belong to one call; the grace timer outlives calls and is left alone. */
export function clearCallTimers(s: StreamState<BundleKind>): void {
  clearTimeout(s.retryTimer);
  clearTimeout(s.resyncTimer);
  clearTimeout(s.firstTimer);
  s.retryTimer = s.resyncTimer = s.firstTimer = undefined;
}
