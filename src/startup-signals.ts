// Signals that arrive while `serve` (or a worker) is still starting: before the first bundle, start-up can take
// up to spire.api-timeout-ms. Without a handler SIGHUP would kill the process (its default action) and SIGTERM
// would end it silently with 143. Here SIGTERM/SIGINT stop it with a log line and exit 0 (a requested stop, not
// a failure), and a SIGHUP is remembered so the config is re-read once the server runs.
import type { Logger } from "./log.js";

export interface StartupSignals {
  /** Removes the handlers; true when a SIGHUP arrived meanwhile. */
  done(): boolean;
}

export function guardStartup(log: Logger, exit: (code: number) => never = process.exit): StartupSignals {
  let hup = false;
  const onHup = () => {
    hup = true;
    log.info({ signal: "SIGHUP" }, "SIGHUP during start-up: the config file is re-read once serving");
  };
  const onStop = (signal: NodeJS.Signals) => {
    log.info({ signal }, "stopped during start-up");
    log.flush();
    exit(0);
  };
  process.on("SIGHUP", onHup);
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  return {
    done() {
      process.off("SIGHUP", onHup);
      process.off("SIGTERM", onStop);
      process.off("SIGINT", onStop);
      return hup;
    },
  };
}
