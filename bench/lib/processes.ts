// Child processes of the benches: a server host (./server-host.mjs, over dist/), the open-loop driver
// (./open-loop-driver.ts), and the real CLI (`serve`, built or through tsx).
import { fork, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BodySpec, DriverRequest, DriverStats, Expect } from "./open-loop-driver.js";

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
export const ROOT = here("../../");

function exitError(child: ChildProcess, what: string): Promise<never> {
  return new Promise((_, reject) =>
    child.once("exit", (code, signal) => reject(new Error(`${what} exited (${code ?? signal}) unexpectedly`))),
  );
}

export interface HostSpec {
  /** `noop-raw`: the no-op answered by spiffe-authz's own raw HTTP/2 path (src/grpc/raw-unary.ts), an extra row. */
  kind: "authz" | "noop" | "noop-raw";
  /** Workload API target (authz). */
  spire?: string;
  /** Config object (authz), as a config file would hold it. */
  config?: unknown;
  telemetry?: boolean;
  /**
   * Where the server's own logs (audit lines included) go. Unset: a silent logger, nothing written. A path: the
   * real logger, as `serve` builds it, writing to stdout, which is that file — what a container runtime collects.
   */
  logFile?: string;
}

export interface MemReport {
  type: "mem";
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Peak RSS of the process (VmHWM), bytes; NaN off Linux. */
  hwm: number;
  cacheSize: number | undefined;
  cacheMisses: number | undefined;
}

export interface ServerHost {
  target: string;
  pid: number;
  mem(): Promise<MemReport>;
  stop(): Promise<void>;
}

/** The V8 flags bin/spiffe-authz.js starts `serve` with (its execve). */
export const V8_AS_SERVE = ["--max-semi-space-size=8"];

/** A server under test in its own process (node [--expose-gc] server-host.mjs, over dist/: call ensureBuilt() first). */
export async function startServerHost(spec: HostSpec, opts: { exposeGc?: boolean } = {}): Promise<ServerHost> {
  const out = spec.logFile ? openSync(spec.logFile, "a") : "inherit";
  const child = fork(here("./server-host.mjs"), [JSON.stringify(spec)], {
    execArgv: [
      // The V8 setting bin/spiffe-authz.js gives `serve` (what users run), given to the no-op ceiling too, so a
      // ratio compares the code, not the heap sizing.
      ...V8_AS_SERVE,
      ...(opts.exposeGc ? ["--expose-gc"] : []),
      // BENCH_CPU_PROF=<dir>: a V8 CPU profile of every spiffe-authz under test, to explain a figure.
      ...(spec.kind === "authz" && process.env.BENCH_CPU_PROF
        ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
        : []),
    ],
    stdio: ["ignore", out, "inherit", "ipc"],
    cwd: ROOT,
  });
  if (typeof out === "number") closeSync(out); // the child holds its own copy
  const died = exitError(child, `${spec.kind} server`);
  died.catch(() => undefined);
  const ready = await Promise.race([
    died,
    new Promise<{ target: string; pid: number }>((r) =>
      child.once("message", (m) => r(m as { target: string; pid: number })),
    ),
  ]);
  return {
    target: ready.target,
    pid: ready.pid,
    mem: () =>
      Promise.race([
        died,
        new Promise<MemReport>((resolve) => {
          const on = (m: { type?: string }) => {
            if (m.type === "mem") {
              child.off("message", on);
              resolve(m as MemReport);
            }
          };
          child.on("message", on);
          child.send({ type: "mem" });
        }),
      ]),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.send({ type: "stop" });
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

type WithoutSeq<T> = T extends unknown ? Omit<T, "seq"> : never;

export class OpenLoopDriver {
  private seq = 0;
  private readonly pending = new Map<number, (m: Record<string, unknown>) => void>();
  private constructor(private readonly child: ChildProcess) {
    child.on("message", (m: { type?: string; seq?: number }) => {
      if (m.type === "reply" && m.seq !== undefined) {
        this.pending.get(m.seq)?.(m as Record<string, unknown>);
        this.pending.delete(m.seq);
      }
    });
  }

  /** The open-loop generator in its own process; `cpu` pins it with taskset when given (Linux). */
  static async start(opts: { cpu?: number } = {}): Promise<OpenLoopDriver> {
    const file = here("./open-loop-driver.ts");
    const args = ["--import", "tsx", file];
    const child =
      opts.cpu !== undefined
        ? spawn("taskset", ["-c", String(opts.cpu), process.execPath, ...args], {
            stdio: ["ignore", "inherit", "inherit", "ipc"],
            cwd: ROOT,
          })
        : spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit", "ipc"], cwd: ROOT });
    const died = exitError(child, "open-loop driver");
    died.catch(() => undefined);
    await Promise.race([died, new Promise((r) => child.once("message", r))]);
    return new OpenLoopDriver(child);
  }

  private request(m: WithoutSeq<DriverRequest>): Promise<Record<string, unknown>> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, (reply) => (reply["error"] ? reject(new Error(String(reply["error"]))) : resolve(reply)));
      this.child.send({ ...m, seq });
    });
  }

  async connect(target: string, conns = 4): Promise<void> {
    await this.request({ type: "connect", target, conns });
  }

  async bodies(bodies: { id: string; frame: Uint8Array; expect: Expect; weight?: number }[]): Promise<void> {
    const specs: BodySpec[] = bodies.map((b) => ({
      id: b.id,
      frame: Buffer.from(b.frame).toString("base64"),
      expect: b.expect,
      weight: b.weight ?? 1,
    }));
    await this.request({ type: "bodies", bodies: specs });
  }

  /** Changes a body's expected outcome; resolves once no call of it sent under another expectation is in flight. */
  async expect(id: string, expect: Expect): Promise<boolean> {
    return (await this.request({ type: "expect", id, expect }))["settled"] === true;
  }

  /** Open loop at `rate` calls/s for `seconds`; resolves when every call has answered (or 10 s after the end). */
  async run(rate: number, seconds: number, opts: { spin?: boolean } = {}): Promise<DriverStats> {
    return (await this.request({ type: "run", rate, seconds, spin: opts.spin ?? true }))["stats"] as DriverStats;
  }

  async window(): Promise<DriverStats> {
    return (await this.request({ type: "window" }))["stats"] as DriverStats;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    await this.request({ type: "exit" });
    await exited;
  }
}

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

export const BUILT_ENV = "SPIFFE_AUTHZ_BENCH_BUILT";

/** What the benches run: tsc's output (server-host.mjs imports dist/server.js) and the CLI bundle bin/ loads. */
const BUILD_OUTPUTS = ["dist/server.js", "dist/cli.js", "dist/spiffe-authz.mjs"];

export function distIsFresh(): boolean {
  const src = newestMtime(join(ROOT, "src"));
  return BUILD_OUTPUTS.every((f) => existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).mtimeMs >= src);
}

/**
 * The servers under test run from the build (dist/), as deployed: under tsx a process carries tsx's loader
 * thread and transpiled sources (≈ +60 MB RSS, slower start). When dist/ is missing or older than a file in
 * src/, this says so and runs `npm run build`, so a stale build is never measured.
 */
export function ensureBuilt(): void {
  // bench/run.ts builds once and sets this, so that every bench of one suite run measures the same build.
  if (process.env[BUILT_ENV] === "1" && BUILD_OUTPUTS.every((f) => existsSync(join(ROOT, f)))) return;
  if (distIsFresh()) return;
  console.error("bench: dist/ is missing or older than src/; building it first (npm run build) …");
  const r = spawnSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  const missing = BUILD_OUTPUTS.filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length > 0) {
    console.error(`bench: the build did not produce ${missing.join(", ")}; fix the build and retry`);
    process.exit(2);
  }
  if (r.status !== 0)
    console.error("bench: the build reported errors (files were still emitted); measuring what was built");
}

export function cliCommand(): { argv: string[]; label: string } {
  return { argv: [join(ROOT, "bin", "spiffe-authz.js")], label: "built CLI (bin/spiffe-authz.js)" };
}

export interface CliServer {
  child: ChildProcess;
  pid: number;
  logs(): string;
  stop(): Promise<void>;
}

/** `spiffe-authz serve ARGS` in a child process. */
export function spawnServe(args: string[], opts: { cpus?: string } = {}): CliServer {
  const cli = cliCommand();
  const node = [process.execPath, ...cli.argv, "serve", ...args];
  const child = opts.cpus
    ? spawn("taskset", ["-c", opts.cpus, ...node], { stdio: ["ignore", "pipe", "pipe"], cwd: ROOT })
    : spawn(node[0]!, node.slice(1), { stdio: ["ignore", "pipe", "pipe"], cwd: ROOT });
  let text = "";
  const keep = (d: Buffer) => {
    text += d.toString();
    if (text.length > 200_000) text = text.slice(-100_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return {
    child,
    pid: child.pid!,
    logs: () => text,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 8000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Polls http://ADDR/readyz until 200 (every worker can decide) or the timeout. */
export async function waitReady(metricsAddress: string, timeoutMs = 30_000, server?: CliServer): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (server && (server.child.exitCode !== null || server.child.signalCode !== null))
      throw new Error(`serve exited early:\n${server.logs().slice(-2000)}`);
    try {
      const res = await fetch(`http://${metricsAddress}/readyz`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`not ready after ${timeoutMs} ms${server ? `:\n${server.logs().slice(-2000)}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resident set of a process and its descendants (Linux /proc), bytes. */
export function treeRss(pid: number): number {
  let total = 0;
  const visit = (p: number) => {
    try {
      const status = statusOf(p);
      total += status.rss;
      for (const c of childrenOf(p)) visit(c);
    } catch {
      // gone
    }
  };
  visit(pid);
  return total;
}

function statusOf(pid: number): { rss: number } {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { rss: m ? Number(m[1]) * 1024 : 0 };
}
/** The child processes of every thread of `pid` (Linux /proc). */
export function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}
