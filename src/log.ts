import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured JSON logs. `fd` 1 for `serve` (containers collect stdout), 2 for commands whose
 * stdout is their answer (`check`, `demo`).
 */
export function createLogger(opts: { verbose?: boolean; level?: string; fd?: 1 | 2; name?: string } = {}): Logger {
  const level = opts.level ?? (opts.verbose ? "debug" : "info");
  return pino(
    {
      name: opts.name ?? "spiffe-authz",
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: opts.fd ?? 1, sync: false }),
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
