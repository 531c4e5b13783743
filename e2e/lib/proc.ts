// Child processes of one scenario: output kept in memory (for assertions) and in <dir>/<name>.log (for a human
// after a failure); every process is torn down with the scenario, first politely, then with SIGKILL.
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private out = "";
  private readonly log: WriteStream;
  private waiters: Array<() => void> = [];
  exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    readonly logPath: string,
    cmd: string,
    args: string[],
    opts: SpawnOptions = {},
  ) {
    this.log = createWriteStream(logPath, { flags: "a" });
    this.log.write(`$ ${cmd} ${args.join(" ")}\n`);
    this.child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    const onData = (d: Buffer) => {
      this.out += d.toString();
      this.log.write(d);
      for (const w of this.waiters.splice(0)) w();
    };
    this.child.stdout!.on("data", onData);
    this.child.stderr!.on("data", onData);
    this.exited = new Promise((resolve) => {
      this.child.on("error", (err) => {
        this.out += `spawn error: ${err.message}\n`;
        this.exitCode = null;
        resolve({ code: null, signal: null });
      });
      this.child.on("exit", (code, signal) => {
        this.exitCode = code;
        this.log.write(`[exit code=${code} signal=${signal}]\n`);
        for (const w of this.waiters.splice(0)) w();
        resolve({ code, signal });
      });
    });
  }

  get output(): string {
    return this.out;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Waits until the output (from `from` on) matches; rejects on exit or timeout with the output's tail. */
  async waitFor(re: RegExp, timeoutMs = 30_000, from = 0): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.out.slice(from));
      if (m) return m;
      if (!this.running) throw new Error(`${this.name} exited (code ${this.exitCode}) before ${re}:\n${this.tail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${re} within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  tail(lines = 30): string {
    return this.out.split("\n").slice(-lines).join("\n");
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.running) this.child.kill(signal);
  }

  /** Signal, then wait for exit; SIGKILL after graceMs. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const done = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
    this.log.end();
  }
}

/** One scenario's working directory and processes. */
export class Scene {
  readonly dir: string;
  readonly procs: Proc[] = [];

  constructor(name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `spiffe-authz-e2e-${name}-`));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  spawn(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Proc {
    const p = new Proc(name, this.path(`${name}.log`), cmd, args, opts);
    this.procs.push(p);
    return p;
  }

  /** Stops every process (newest first) and removes the directory, unless E2E_KEEP is set or the scenario failed. */
  async teardown(failed: boolean): Promise<void> {
    for (const p of [...this.procs].reverse()) await p.stop("SIGTERM", 5_000);
    if (failed || process.env["E2E_KEEP"]) console.error(`e2e: logs kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `probe` until it returns a value other than undefined; throws with `what` after timeoutMs. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(everyMs);
  }
}

/** Runs a command to completion; rejects with its output on a non-zero exit. */
export function exec(cmd: string, args: string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd.split("/").pop()} ${args.join(" ")} exited ${code}: ${out.trim().slice(-2000)}`));
    });
  });
}
