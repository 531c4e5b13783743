// `serve --workers N`: N processes serving the same addresses through node:cluster (grpc-js serves from one
// thread, so this is how a multi-core machine is used). Each worker has its own watcher and cache; the primary
// serves one /metrics that adds up the workers' instruments, and /readyz while every worker can decide.
import cluster, { type Worker } from "node:cluster";
import type { ServeOptions } from "./serve-options.js";
import { drainLogs, type Logger } from "./log.js";
import { startServer } from "./server.js";
import { guardStartup } from "./startup-signals.js";
import { clearStaleSocket } from "./grpc/host.js";
import { compilePolicy } from "./policy/index.js";
import { TrustStore } from "./trust/store.js";
import { StaticBundles } from "./trust/static-bundles.js";
import {
  clusterMetricsSource,
  serveSnapshotsToPrimary,
  startMetricsServer,
  type MetricsServer,
} from "./telemetry/index.js";

const READY = "spiffe-authz:ready";
/** A worker that dies sooner than this after its fork counts as an early death. */
const EARLY_DEATH_MS = 10_000;
/** Restart delay after a round of early deaths: 250 ms, doubling per round, at most 10 s. */
const RESTART_BACKOFF_MS = 250;
const MAX_RESTART_BACKOFF_MS = 10_000;
/** Rounds (one early death per worker) before the primary gives up. */
const EARLY_DEATH_ROUNDS = 5;
/**
 * A worker's stop drains the Zentinel door and then the gRPC server (each up to --drain-timeout-ms) and
 * flushes telemetry; the primary SIGKILLs a worker only this long after twice the drain timeout.
 */
const STOP_SLACK_MS = 10_000;

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
  for (const a of [...opts.listen, ...(opts.plaintextListen ?? [])])
    if (a.kind === "unix" && a.path) await clearStaleSocket(a.path);
  const readiness = new Map<number, boolean>();
  const reported = new Set<number>();
  const startedAt = new Map<number, number>();
  let stopping = false;
  // SIGHUP re-reads the config in every worker (each holds its own policy); the primary only passes it on, to
  // the workers that have started (one still starting reads the file as it starts, and until its handlers are
  // in place a SIGHUP would kill it).
  process.on("SIGHUP", () => {
    if (stopping) return;
    if (!opts.configPath) {
      log.warn("SIGHUP ignored: serving without --config, there is no config file to re-read");
      return;
    }
    const started = Object.values(cluster.workers ?? {}).filter((w) => w && reported.has(w.id));
    log.info({ workers: started.length }, "SIGHUP: every started worker re-reads the config file");
    for (const w of started) w?.process.kill("SIGHUP");
  });
  let giveUp: ((code: number) => void) | undefined;
  // Workers that die soon after they start (a port in use, a broken mount) would otherwise be re-forked in a
  // tight loop. Restarts back off exponentially per round of early deaths; after EARLY_DEATH_ROUNDS rounds the
  // primary stops everything and exits 1, so a supervisor (kubelet, systemd) sees the failure.
  let earlyDeaths = 0;
  const restarts = new Set<NodeJS.Timeout>();
  const fork = (): Worker => {
    const w = cluster.fork();
    readiness.set(w.id, false);
    startedAt.set(w.id, Date.now());
    w.on("message", (m: unknown) => {
      if (!isReady(m)) return;
      readiness.set(w.id, m.ready);
      reported.add(w.id);
    });
    return w;
  };
  cluster.on("exit", (w, code, signal) => {
    readiness.delete(w.id);
    reported.delete(w.id);
    const lived = Date.now() - (startedAt.get(w.id) ?? 0);
    startedAt.delete(w.id);
    if (stopping) return;
    earlyDeaths = lived < EARLY_DEATH_MS ? earlyDeaths + 1 : 0;
    const round = Math.floor((earlyDeaths - 1) / opts.workers);
    if (earlyDeaths > 0 && round >= EARLY_DEATH_ROUNDS) {
      log.error({ worker: w.id, code, signal, earlyDeaths }, "workers keep dying right after start; giving up");
      giveUp?.(1);
      return;
    }
    const delayMs = earlyDeaths === 0 ? 0 : Math.min(RESTART_BACKOFF_MS * 2 ** round, MAX_RESTART_BACKOFF_MS);
    log.error({ worker: w.id, code, signal, livedMs: lived, restartInMs: delayMs }, "worker died; starting a new one");
    // Not unref'd: while every worker is down, this timer is what keeps the primary alive.
    const t = setTimeout(() => {
      restarts.delete(t);
      if (!stopping) fork();
    }, delayMs);
    restarts.add(t);
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
  // Forked only now: the exit handler above may call giveUp, which the executor below sets synchronously.
  for (let i = 0; i < opts.workers; i++) fork();
  return new Promise<number>((resolve) => {
    const stop = (reason: NodeJS.Signals | "giving up", code: number) => {
      if (stopping) return;
      stopping = true;
      log.info({ reason }, "stopping workers");
      for (const t of restarts) clearTimeout(t);
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
      // Each worker drains for at most drainTimeoutMs; one that hangs beyond that (plus slack) is killed.
      const deadline = setTimeout(
        () => {
          for (const w of Object.values(cluster.workers ?? {})) {
            log.warn({ worker: w?.id }, "worker did not stop in time; killing it");
            w?.process.kill("SIGKILL");
          }
        },
        2 * opts.drainTimeoutMs + STOP_SLACK_MS,
      );
      deadline.unref();
      const check = setInterval(() => {
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          clearInterval(check);
          clearTimeout(deadline);
          void (metrics?.close() ?? Promise.resolve()).then(() => drainLogs(log)).then(() => resolve(code));
        }
      }, 50);
    };
    giveUp = (code) => stop("giving up", code);
    process.once("SIGTERM", (s) => stop(s, 0));
    process.once("SIGINT", (s) => stop(s, 0));
  });
}

async function runWorker(opts: ServeOptions, log: Logger): Promise<number> {
  // The primary owns the metrics port; workers answer its snapshot requests over IPC instead.
  const starting = guardStartup(log);
  const server = await startServer({ ...opts, metrics: null }, log);
  if (starting.done()) server.reloadConfig();
  serveSnapshotsToPrimary(server.telemetry);
  const report = () => process.send?.({ type: READY, ready: server.store.ready() } satisfies ReadyMessage);
  server.store.onChange(report);
  report();
  return new Promise<number>((resolve) => {
    // The IPC channel to the primary would keep this process alive after the drain.
    // Its last audit lines are written before it goes (the CLI exits the process once this resolves).
    const stop = () =>
      void server
        .stop()
        .then(() => drainLogs(log))
        .then(() => {
          process.disconnect?.();
          resolve(0);
        });
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}
