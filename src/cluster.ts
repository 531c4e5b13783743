// `serve --workers N`: N processes serving the same addresses through node:cluster (grpc-js serves from one
// thread, so this is how a multi-core machine is used). Each worker has its own watcher and cache.
import cluster from "node:cluster";
import type { ServeOptions } from "./cli/serve-options.js";
import type { Logger } from "./log.js";
import { startServer } from "./server.js";
import { clearStaleSocket } from "./grpc/host.js";

export async function runCluster(opts: ServeOptions, log: Logger): Promise<number> {
  if (cluster.isWorker) return runWorker(opts, log.child({ worker: cluster.worker?.id }));
  log.info({ workers: opts.workers }, "starting workers");
  for (const a of opts.listen) if (a.kind === "unix" && a.path) await clearStaleSocket(a.path);
  let stopping = false;
  for (let i = 0; i < opts.workers; i++) cluster.fork();
  cluster.on("exit", (w, code, signal) => {
    if (stopping) return;
    log.error({ worker: w.id, code, signal }, "worker died; starting a new one");
    cluster.fork();
  });
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "stopping workers");
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
      const check = setInterval(() => {
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          clearInterval(check);
          resolve(0);
        }
      }, 50);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

async function runWorker(opts: ServeOptions, log: Logger): Promise<number> {
  const server = await startServer(opts, log);
  return new Promise<number>((resolve) => {
    const stop = () => void server.stop().then(() => resolve(0));
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}
