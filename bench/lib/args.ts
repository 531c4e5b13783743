// Tiny argv helpers shared by the bench scripts, plus the machine-readable result line of `--json`.
import { cpus, loadavg } from "node:os";

export const argv = process.argv.slice(2);

export function flag(name: string): boolean {
  return argv.includes(name);
}

/** `--name VALUE` as a number, else the default. */
export function numberArg(name: string, dflt: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`${name}: expected a positive number, got ${argv[i + 1] ?? "nothing"}`);
    process.exit(2);
  }
  return v;
}

/** With `--json`, the last line of stdout is one JSON object `{"bench": name, ...}` for bench/run.ts. */
export function emitJson(bench: string, result: Record<string, unknown>): void {
  if (flag("--json")) console.log(JSON.stringify({ bench, ...result }));
}

/** CPUs, model, Node, and the 1-minute load average (on a shared machine, the context every number needs). */
export function machine(): string {
  return `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, node ${process.version}, load average ${loadavg()[0]!.toFixed(1)}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
