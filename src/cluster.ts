// `serve --workers N`: N processes serving the same addresses through node:cluster (grpc-js serves from one
// thread, so this is how a multi-core machine is used). Each worker has its own watcher and cache; the primary
// serves one /metrics that adds up the workers' instruments, and /readyz while every worker can decide.
import cluster, { type Worker } from "node:cluster";
import type { ServeOptions } from "./cli/serve-options.js";
import type { Logger } from "./log.js";
import { startServer } from "./server.js";
import { clearStaleSocket } from "./grpc/host.js";
import { compilePolicy } from "./policy/index.js";
import { TrustStore } from "./trust/store.js";
import { StaticBundles } from "./trust/static-bundles.js";
import { clusterMetricsSource, serveSnapshotsToPrimary, startMetricsServer, type MetricsServer } from "./telemetry/index.js";

const READY = "spiffe-authz:ready";

interface ReadyMessage {
  type: typeof READY;
  ready: boolean;
}

function isReady(m: unknown): m is ReadyMessage {
  return typeof m === "object" && m !== null && (m as { type?: unknown }).type === READY;
}

export async function runCluster(opts: ServeOptions, log: Logger): Promise<number> {
  if (cluster.isWorker) return runWorker(opts, log.child({ worker: cluster.worker?.id }));
  // Validate what every worker would otherwise fail on (exit 2 here, not a fork loop).
  compilePolicy(opts.config);
  const probe = new TrustStore(opts.config.failure["spire-unavailable"], opts.config.failure["cache-ttl"]);
  new StaticBundles(opts.config["trust-bundles"], probe, log).loadAll();
  probe.close();
  log.info({ workers: opts.workers }, "starting workers");
  for (const a of opts.listen) if (a.kind === "unix" && a.path) await clearStaleSocket(a.path);
  const readiness = new Map<number, boolean>();
  let stopping = false;
  const fork = (): Worker => {
    const w = cluster.fork();
    readiness.set(w.id, false);
    w.on("message", (m: unknown) => {
      if (isReady(m)) readiness.set(w.id, m.ready);
    });
    return w;
  };
  for (let i = 0; i < opts.workers; i++) fork();
  cluster.on("exit", (w, code, signal) => {
    readiness.delete(w.id);
    if (stopping) return;
    log.error({ worker: w.id, code, signal }, "worker died; starting a new one");
    fork();
  });
  let metrics: MetricsServer | undefined;
  if (opts.metrics) {
    metrics = await startMetricsServer({
      ...opts.metrics,
      source: clusterMetricsSource(),
      ready: () => readiness.size > 0 && [...readiness.values()].every(Boolean),
      onError: (err) => log.warn({ err }, "metrics scrape failed"),
    });
    log.info({ address: metrics.url }, "metrics listening (aggregated over workers)");
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "stopping workers");
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
      const check = setInterval(() => {
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          clearInterval(check);
          void (metrics?.close() ?? Promise.resolve()).then(() => resolve(0));
        }
      }, 50);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

async function runWorker(opts: ServeOptions, log: Logger): Promise<number> {
  // The primary owns the metrics port; workers answer its snapshot requests over IPC instead.
  const server = await startServer({ ...opts, metrics: null }, log);
  serveSnapshotsToPrimary(server.telemetry);
  const report = () => process.send?.({ type: READY, ready: server.store.ready() } satisfies ReadyMessage);
  server.store.onChange(report);
  report();
  return new Promise<number>((resolve) => {
    // The IPC channel to the primary would keep this process alive after the drain.
    const stop = () =>
      void server.stop().then(() => {
        process.disconnect?.();
        resolve(0);
      });
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}
