// vegeta (github.com/tsenart/vegeta, built by `scripts/peers.sh --bench`) as bench/envoy-e2e's load generator:
// a constant-rate (open-loop) attack over HTTPS with a client SVID, every request's status and exact latency
// kept, read back through `vegeta encode --to csv`.
import { spawn } from "node:child_process";
import { accessSync, constants, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PEERS_DIR, PINS } from "../../e2e/lib/peers.js";

export const VEGETA = join(PEERS_DIR, `vegeta-${PINS["VEGETA_VERSION"]}`, "bin/vegeta");
export const OPA_ENVOY = join(PEERS_DIR, `opa-envoy-${PINS["OPA_ENVOY_VERSION"]}`, "bin/opa-envoy-plugin");

/** One line naming the first missing bench tool and the command that installs it. */
export function missingBenchTool(): string | undefined {
  for (const [what, path] of [
    [`vegeta ${PINS["VEGETA_VERSION"]}`, VEGETA],
    [`OPA-Envoy ${PINS["OPA_ENVOY_VERSION"]}`, OPA_ENVOY],
  ] as const) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      return `bench/envoy-e2e: ${what} is not installed (${path} missing): run \`npm run peers -- --bench\` (or \`bash scripts/peers.sh --bench\`)`;
    }
  }
  return undefined;
}

export interface ClientCert {
  certFile: string;
  keyFile: string;
}

export interface AttackResult {
  /** Responses by HTTP status (0: no response, e.g. a connection error or a timeout). */
  codes: Map<number, number>;
  /** Every request's latency in ms, ascending. */
  latenciesMs: Float64Array;
  /** First request sent → last answer received, s. */
  spanS: number;
  /** Requests sent per second (first to last send): the offered rate that vegeta kept. */
  sentRps: number;
  /** The first few error texts vegeta recorded. */
  errors: string[];
}

function run(cmd: string, args: string[], onStdout?: (chunk: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => onStdout?.(d));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(err) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${err.slice(-1000)}`)),
    );
  });
}

/**
 * GET `url` at `rate`/s for `seconds` (rate 0: as fast as `maxWorkers` workers go, for measuring a maximum).
 * The server's certificate is an SVID with a URI SAN and no DNS name, which Go's TLS client cannot check by host
 * name: -insecure skips that check only; the client still presents its SVID, which Envoy verifies.
 */
export async function attack(o: {
  url: string;
  rate: number;
  seconds: number;
  client: ClientCert;
  dir: string;
  maxWorkers?: number;
}): Promise<AttackResult> {
  const targets = join(o.dir, "targets.txt");
  const out = join(o.dir, "results.bin");
  writeFileSync(targets, `GET ${o.url}\n`);
  const args = [
    "attack",
    `-targets=${targets}`,
    `-output=${out}`,
    `-rate=${o.rate}/s`,
    `-duration=${o.seconds}s`,
    `-cert=${o.client.certFile}`,
    `-key=${o.client.keyFile}`,
    "-insecure",
    "-max-body=0",
    "-timeout=10s",
  ];
  if (o.maxWorkers) args.push(`-workers=${o.maxWorkers}`, `-max-workers=${o.maxWorkers}`);
  await run(VEGETA, args);

  const codes = new Map<number, number>();
  const lat: number[] = [];
  const errors: string[] = [];
  let first = Infinity;
  let last = 0;
  let lastSent = 0;
  let pending = "";
  const line = (l: string) => {
    if (!l) return;
    // timestamp(ns),code,latency(ns),bytes out,bytes in,error,...: the error may be quoted and hold commas.
    const c1 = l.indexOf(",");
    const c2 = l.indexOf(",", c1 + 1);
    const c3 = l.indexOf(",", c2 + 1);
    const ts = Number(l.slice(0, c1)) / 1e6;
    const code = Number(l.slice(c1 + 1, c2));
    const ms = Number(l.slice(c2 + 1, c3)) / 1e6;
    codes.set(code, (codes.get(code) ?? 0) + 1);
    lat.push(ms);
    first = Math.min(first, ts);
    last = Math.max(last, ts + ms);
    lastSent = Math.max(lastSent, ts);
    if (code === 0 && errors.length < 3) errors.push(l.split(",").slice(5, 7).join(",").slice(0, 200));
  };
  await run(VEGETA, ["encode", "--to", "csv", out], (chunk) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const l of lines) line(l);
  });
  line(pending);
  const latenciesMs = Float64Array.from(lat).sort();
  const sentRps = lat.length > 1 ? ((lat.length - 1) * 1000) / (lastSent - first) : NaN;
  return { codes, latenciesMs, spanS: (last - first) / 1000, sentRps, errors };
}
