import { openSync, writeSync } from "node:fs";
import { pino, type Logger } from "pino";

export type { Logger };

// Marks loggers made by createLogger (children inherit it through their prototype), whose line format is
// therefore known: see preformattedLines.
const OWN_FORMAT = Symbol("spiffe-authz.log-format");

/**
 * Structured JSON logs. `fd` 1 for `serve` (containers collect stdout), 2 for commands whose
 * stdout is their answer (`check`, `demo`), or a file path.
 * Writes are asynchronous; pino flushes what is left when the process exits.
 */
export function createLogger(
  opts: { verbose?: boolean; level?: string; fd?: 1 | 2; dest?: string; name?: string } = {},
): Logger {
  const level = opts.level ?? (opts.verbose ? "debug" : "info");
  const logger = pino(
    {
      name: opts.name ?? "spiffe-authz",
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // A file is opened here, synchronously, so that lines written before an early exit are not lost to an
    // asynchronous open still under way.
    pino.destination({ dest: opts.dest !== undefined ? openSync(opts.dest, "a") : (opts.fd ?? 1), sync: false }),
  );
  Object.defineProperty(logger, OWN_FORMAT, { value: true });
  return logger;
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** Writes whole log lines that the caller has serialised itself; see preformattedLines. */
export interface LineWriter {
  /**
   * One line at `level`, the same bytes `logger[level]({...}, msg)` would write: `fields` is the object's
   * members as JSON without the braces (`"a":1,"b":"x"`).
   */
  write(level: "info" | "warn", fields: string, msg: string): void;
}

interface Destination {
  write(s: string): unknown;
  flushSync?(): void;
  /** sonic-boom's file descriptor (-1 until open). */
  fd?: number;
  /** sonic-boom: an asynchronous write (or its retry on a full pipe) is under way; "drain" follows the last. */
  _writing?: boolean;
  once?(event: "drain", listener: () => void): unknown;
  off?(event: "drain", listener: () => void): unknown;
}

// Every LineWriter's held lines (see preformattedLines): handed to the stream by drainLogs, and written out
// synchronously at exit.
const writers = new Set<{ flush(): void; flushAtExit(): void }>();
process.once("exit", () => {
  for (const w of writers) w.flushAtExit();
});

/**
 * Everything logged so far, written: the LineWriters' held lines handed to their streams, then a wait for the
 * stream's "drain". For a clean exit: an asynchronous write still under way at `process.exit()` (one waiting on a
 * full pipe, typically) is lost, and flushSync does not redo it; pino's own flush(cb) does not wait for it either
 * (with sonic-boom's default minLength it calls back at once). Gives up after `timeoutMs` (a stdout nobody reads).
 */
export async function drainLogs(logger: Logger, timeoutMs = 2000): Promise<void> {
  for (const w of writers) w.flush();
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as Destination;
  if (stream._writing !== true || !stream.once || !stream.off) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stream.off?.("drain", done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    stream.once?.("drain", done);
  });
}

/** All of `text` onto `fd` now, as sonic-boom's own flushSync does (retrying a full non-blocking pipe). */
function writeAllSync(fd: number, text: string): void {
  let buf = Buffer.from(text);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let tries = 0; buf.length > 0 && tries < 1000; tries++) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

/** Held lines go out in writes of about this size, so none grows large. */
const MAX_BATCH_CHARS = 8192;
/**
 * How long a line may wait for others to share its write. At a few thousand requests a second or less nearly every
 * request is its own event-loop turn, so holding lines only to the end of the turn meant one asynchronous write (a
 * thread-pool hand-off and a syscall) per request: the largest single item of the main thread's time through a
 * real Envoy at 1000/s (bench/envoy-e2e profile). A few milliseconds turn that into a few hundred writes a second.
 */
const HOLD_MS = 5;
/** Held lines past this size go out at the end of the turn instead of waiting for HOLD_MS. */
const HOLD_MAX_CHARS = 8 * MAX_BATCH_CHARS;

/**
 * For a logger made by createLogger, a writer that produces its lines directly: level label, ISO time, the
 * logger's bindings, the fields, the message, in pino's order, onto the logger's own stream. For a caller that
 * writes one line per request (the audit log): the caller keeps parts of each line serialised instead of
 * handing pino an object to walk, and lines are held for up to HOLD_MS (or to the end of the turn once HOLD_MAX_CHARS
 * are held) and reach the stream together, in a few large strings, because pino's stream (sonic-boom) measures its
 * whole pending buffer on every write and starts an asynchronous write for each. A line the logger writes itself
 * meanwhile may therefore come before them. Undefined for any other logger: callers fall back
 * to the logger.
 */
export function preformattedLines(logger: Logger): LineWriter | undefined {
  const internals = logger as unknown as Record<symbol, unknown>;
  if (internals[OWN_FORMAT] !== true) return undefined;
  const stream = internals[pino.symbols.streamSym] as Destination;
  const bindings = internals[pino.symbols.chindingsSym] as string; // ',"pid":1,"name":"spiffe-authz",…'
  let lastMs = -1;
  let lastTime = "";
  // Full batches wait with the rest: a batch handed to sonic-boom mid-turn starts an asynchronous write at once,
  // which an exit in the same turn could overtake (flushSync does not wait for it).
  let batches: string[] = [];
  let pending = "";
  let held = 0;
  let timer: NodeJS.Timeout | undefined;
  let atTurnEnd = false;
  const take = (): string[] => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    atTurnEnd = false;
    held = 0;
    if (pending !== "") batches.push(pending);
    pending = "";
    const out = batches;
    batches = [];
    return out;
  };
  const flush = () => {
    for (const batch of take()) stream.write(batch);
  };
  const flushAtExit = () => {
    const held = take();
    try {
      stream.flushSync?.();
      const fd = stream.fd;
      for (const batch of held) {
        if (fd !== undefined && fd >= 0) writeAllSync(fd, batch);
        else stream.write(batch);
      }
    } catch {
      // the stream is gone or not open yet: nothing more can be done at exit
    }
  };
  writers.add({ flush, flushAtExit });
  return {
    write(level, fields, msg) {
      if (!logger.isLevelEnabled(level)) return;
      const ms = Date.now();
      if (ms !== lastMs) {
        lastMs = ms;
        lastTime = new Date(ms).toISOString();
      }
      const line = `{"level":"${level}","time":"${lastTime}"${bindings}${fields && ","}${fields},"msg":${JSON.stringify(msg)}}\n`;
      pending += line;
      held += line.length;
      if (pending.length >= MAX_BATCH_CHARS) {
        batches.push(pending);
        pending = "";
      }
      if (held >= HOLD_MAX_CHARS) {
        if (!atTurnEnd) {
          atTurnEnd = true;
          setImmediate(flush);
        }
      } else if (timer === undefined && !atTurnEnd) {
        // Unreferenced: held lines never keep the process alive; the exit handler writes them.
        timer = setTimeout(flush, HOLD_MS).unref();
      }
    },
  };
}
