// A real pino logger whose JSON lines are kept for assertions.
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

export function capturedLogger(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  const log = pino({ level: "debug" }, stream);
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, timeoutMs = 3000, what = "condition"): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
  return Date.now() - t0;
}
