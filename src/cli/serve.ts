import { resolveServeOptions, SERVE_USAGE } from "./serve-flags.js";
import { createLogger, drainLogs } from "../log.js";
import { startServer } from "../server.js";
import { guardStartup } from "../startup-signals.js";

/** `serve`: runs until SIGTERM/SIGINT, then drains and exits 0. */
export async function serveCommand(argv: string[]): Promise<number> {
  const opts = resolveServeOptions(argv);
  if (!opts) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  const log = createLogger({ verbose: opts.verbose });
  if (opts.workers > 1) {
    const { runCluster } = await import("../cluster.js");
    return runCluster(opts, log);
  }
  const starting = guardStartup(log);
  const server = await startServer(opts, log);
  if (starting.done()) server.reloadConfig();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, "second signal: exiting now");
        process.exit(1);
      }
      stopping = true;
      log.info({ signal, drainTimeoutMs: opts.drainTimeoutMs }, "shutting down");
      server.stop().then(
        () => {
          log.info("stopped");
          // process.exit follows the command's return: every audit line of the last requests first.
          void drainLogs(log).then(() => resolve(0));
        },
        (err: unknown) => {
          log.error({ err }, "shutdown failed");
          void drainLogs(log).then(() => resolve(1));
        },
      );
    };
    // `on`, not `once`: a second signal must reach the handler above, not Node's default.
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}
