// /metrics for `serve --workers N`: the primary owns the metrics server and, on each scrape, asks every
// worker for its snapshot over the cluster IPC channel, then merges them (aggregate.ts). Workers need no
// port of their own and the scrape sees one consistent answer for the whole address.
import cluster from "node:cluster";
import { aggregate } from "./aggregate.js";
import type { MetricsSource } from "./http.js";
import type { MetricsSnapshot } from "./families.js";

const REQ = "spiffe-authz:metrics-snapshot-req";
const RES = "spiffe-authz:metrics-snapshot-res";

interface SnapshotRequest {
  type: typeof REQ;
  id: number;
}

interface SnapshotResponse {
  type: typeof RES;
  id: number;
  snapshot?: MetricsSnapshot;
  error?: string;
}

function isRequest(m: unknown): m is SnapshotRequest {
  return typeof m === "object" && m !== null && (m as { type?: unknown }).type === REQ;
}

function isResponse(m: unknown): m is SnapshotResponse {
  return typeof m === "object" && m !== null && (m as { type?: unknown }).type === RES;
}

/** In a worker: answer the primary's snapshot requests. Returns the function that stops answering. */
export function serveSnapshotsToPrimary(source: { snapshot(): Promise<MetricsSnapshot> }): () => void {
  const onMessage = (msg: unknown) => {
    if (!isRequest(msg) || !process.send) return;
    source.snapshot().then(
      (snapshot) => process.send?.({ type: RES, id: msg.id, snapshot } satisfies SnapshotResponse),
      (err: unknown) => process.send?.({ type: RES, id: msg.id, error: String(err) } satisfies SnapshotResponse),
    );
  };
  process.on("message", onMessage);
  return () => void process.off("message", onMessage);
}

let nextId = 0;

/**
 * In the primary: every connected worker's snapshot. Rejects when a worker errs or does not answer within
 * timeoutMs: a failed scrape is a gap Prometheus understands, whereas a sum missing one worker would read
 * as a counter reset and invent a rate.
 */
export function collectWorkerSnapshots(timeoutMs = 5000): Promise<MetricsSnapshot[]> {
  const workers = Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected());
  if (workers.length === 0) return Promise.resolve([]);
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const pending = new Set(workers);
    const snapshots: MetricsSnapshot[] = [];
    const handlers = new Map<NonNullable<(typeof workers)[number]>, (m: unknown) => void>();
    const cleanup = () => {
      clearTimeout(timer);
      for (const [w, handler] of handlers) w.off("message", handler);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(
          `metrics: ${pending.size} of ${workers.length} workers did not send a snapshot within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    for (const w of workers) {
      if (!w) continue;
      const handler = (m: unknown) => {
        if (!isResponse(m) || m.id !== id || !pending.has(w)) return;
        pending.delete(w);
        if (m.error !== undefined || !m.snapshot) {
          cleanup();
          reject(new Error(`metrics: worker ${w.id} failed to collect: ${m.error ?? "no snapshot"}`));
          return;
        }
        snapshots.push(m.snapshot);
        if (pending.size === 0) {
          cleanup();
          resolve(snapshots);
        }
      };
      handlers.set(w, handler);
      w.on("message", handler);
      w.send({ type: REQ, id } satisfies SnapshotRequest);
    }
  });
}

/**
 * The primary's /metrics source: all workers merged, plus `own` (e.g. the primary's process metrics via
 * its own telemetry's snapshot()) when given.
 */
export function clusterMetricsSource(
  opts: { own?: () => Promise<MetricsSnapshot>; timeoutMs?: number } = {},
): MetricsSource {
  return {
    async metricsText() {
      const [workers, own] = await Promise.all([collectWorkerSnapshots(opts.timeoutMs), opts.own?.()]);
      return aggregate(own ? [...workers, own] : workers);
    },
  };
}
