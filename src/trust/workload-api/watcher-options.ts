// What a WorkloadApiWatcher is given (watcher.ts), and the events it reports.
import type { Logger } from "../../log.js";
import type { TrustStore } from "../store.js";
import type { BundleKind } from "./bundle-map.js";

/** What the watcher needs of the store; the TrustStore is one. */
export type BundleSink = Pick<TrustStore, "setSpireBundles" | "setSpireConnected">;

export interface WatcherOptions {
  /** grpc-js target: `unix:///abs/path` or `host:port` (see parseWorkloadApiAddress). */
  target: string;
  store: BundleSink;
  log: Logger;
  /**
   * spire.bundle-refresh-interval in ms. Not a poll: a stream that sent nothing for this long is re-opened
   * (the agent re-sends its current state on a new stream), which guards against a silently stalled stream.
   */
  resyncIntervalMs: number;
  /**
   * spire.api-timeout-ms: a (re)opened stream that sends no first message within this is treated as lost
   * (SPIRE answers a new stream at once, so silence means a wedged agent). Default 5000.
   */
  firstMessageTimeoutMs?: number;
  /** Backoff: first ceiling (default 200 ms), cap (default 500 ms: the agent is local, see DEFAULT_MAX_BACKOFF_MS). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Least wait after INVALID_ARGUMENT / UNIMPLEMENTED, and after a PERMISSION_DENIED that has lasted this long
   * (default 5 s): those need an operator.
   */
  rejectedBackoffMs?: number;
  /**
   * How long a lost stream may take to come back before the store hears of it (default 1000 ms): fail_closed
   * answers 503 this long after the agent is really gone, and not during SPIRE's own brief stream restarts.
   */
  reconnectGraceMs?: number;
  /** A stream that delivered and stayed up this long resets the backoff (default 5 s): a flapping agent cannot make us spin. */
  healthyAfterMs?: number;
  /** Called after every applied message (the bundle-updates counter). */
  onUpdate?: (kind: BundleKind) => void;
  onEvent?: (event: WatcherEvent) => void;
  /** Jitter source, for tests. */
  random?: () => number;
}

export type WatcherEvent =
  | { type: "connected"; kind: BundleKind }
  | { type: "disconnected"; kind: BundleKind; code: string; details: string; retryInMs: number; refused: boolean }
  | { type: "bundles"; kind: BundleKind; trustDomains: string[]; problems: number };
