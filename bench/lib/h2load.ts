// h2load (Debian nghttp2-client) as the closed-loop load generator: real gRPC frames of a CheckRequest.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { CHECK_PATH } from "./grpc-wire.js";

export const H2LOAD_MISSING =
  "h2load not found. It comes with nghttp2's client tools; install it yourself, e.g. `sudo apt-get install nghttp2-client` (Debian/Ubuntu) or `brew install nghttp2` (macOS). Nothing was installed.";

export function haveH2load(): boolean {
  return !spawnSync("h2load", ["--version"]).error;
}

/** Exits 2 with install instructions when h2load is missing. */
export function requireH2load(): void {
  if (!haveH2load()) {
    console.error(H2LOAD_MISSING);
    process.exit(2);
  }
}

export function haveTaskset(): boolean {
  return !spawnSync("taskset", ["-c", "0", "true"]).error;
}

/** Writes a request body for h2load's -d. */
export function bodyFile(frame: Uint8Array): string {
  const file = join(mkdtempSync(join(tmpdir(), "h2body-")), "check.bin");
  writeFileSync(file, frame);
  return file;
}

export interface H2loadOptions {
  seconds: number;
  clients?: number;
  streams?: number;
  /** Pin h2load to this CPU with taskset (when taskset exists). */
  cpu?: number;
  path?: string;
}

export interface H2loadResult {
  rps: number;
  succeeded: number;
  failed: number;
  errored: number;
  /** What h2load was run as, for the report. */
  command: string;
}

/** Closed loop: as many requests as -c clients × -m streams allow. Async, so servers in this process keep serving. */
export async function h2load(target: string, body: string, opts: H2loadOptions): Promise<H2loadResult> {
  const args = [
    "-t",
    "1",
    "-c",
    String(opts.clients ?? 4),
    "-m",
    String(opts.streams ?? 16),
    "-D",
    String(opts.seconds),
    "-d",
    body,
  ];
  args.push("-H", "content-type: application/grpc", "-H", "te: trailers", `http://${target}${opts.path ?? CHECK_PATH}`);
  let cmd = "h2load";
  if (opts.cpu !== undefined && haveTaskset() && opts.cpu < cpus().length) {
    args.unshift("-c", String(opts.cpu), "h2load");
    cmd = "taskset";
  }
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.stderr.on("data", (d: Buffer) => (text += d.toString()));
    child.on("error", reject);
    child.on("close", () => resolve(text));
  });
  const rps = Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  if (!Number.isFinite(rps)) throw new Error(`h2load gave no result:\n${out}`);
  return {
    rps,
    succeeded: Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0),
    failed: Number(/(\d+) failed/.exec(out)?.[1] ?? 0),
    errored: Number(/(\d+) errored/.exec(out)?.[1] ?? 0),
    command: `${cmd} ${args.map((a) => (a === body ? "BODY" : a)).join(" ")}`,
  };
}
