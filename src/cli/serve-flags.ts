// `serve` settings from flags, environment and config file: flag beats env beats file beats default.
import { parseArgs } from "node:util";
import { autoWorkers } from "./cpu-quota.js";
import { UsageError } from "./errors.js";
import * as address from "../grpc/address.js";
import { AddressError } from "../grpc/errors.js";
import { loadConfigFile, parseConfig } from "../config/load.js";
import type { ServeOptions } from "../serve-options.js";

export type { ServeOptions };
type Address = address.Address;

/** A bad address in a flag or environment variable is a usage error like any other (exit 2, one line). */
function usage<A extends unknown[], R>(parse: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    try {
      return parse(...args);
    } catch (err) {
      throw err instanceof AddressError ? new UsageError(err.message) : err;
    }
  };
}
const parseListenAddress = usage(address.parseListenAddress);
const parseWorkloadApiAddress = usage(address.parseWorkloadApiAddress);
const parseMetricsAddress = usage(address.parseMetricsAddress);
const { isLoopback } = address;

export const DEFAULT_GRPC_ADDRESS = "0.0.0.0:50051";
export const DEFAULT_SPIRE_SOCKET = "/run/spire/sockets/agent.sock";
export const DEFAULT_METRICS_ADDRESS = "0.0.0.0:9464";
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

export const SERVE_USAGE = `Usage: spiffe-authz serve [options]

  --grpc-address ADDR      gRPC listen address: host:port or unix:///abs/path; repeatable
                           (env AGENT_GRPC_ADDRESS; default ${DEFAULT_GRPC_ADDRESS} unless --socket is given)
  --socket PATH            also serve on this unix socket path (env AGENT_SOCKET)
  --plaintext-address ADDR also serve plaintext here even under server.tls.mode spiffe: 127.0.0.1:port,
                           [::1]:port or unix:///path only (for Zentinel 0.6, which cannot do agent TLS)
  --spire-socket ADDR      SPIRE agent Workload API socket: path, unix:///path or tcp://host:port
                           (env SPIRE_AGENT_SOCKET, SPIFFE_ENDPOINT_SOCKET; config spire.socket;
                           default ${DEFAULT_SPIRE_SOCKET})
  --config FILE            YAML or JSON config file (env SPIFFE_AUTHZ_CONFIG)
  --metrics-address ADDR   Prometheus /metrics, /healthz, /readyz: host:port or off
                           (env METRICS_ADDRESS; default ${DEFAULT_METRICS_ADDRESS})
  --workers N|auto         server processes sharing the listen addresses (env SPIFFE_AUTHZ_WORKERS; default 1)
  --drain-timeout-ms MS    how long in-flight calls may finish on SIGTERM (default ${DEFAULT_DRAIN_TIMEOUT_MS})
  --verbose                debug logging (env SPIFFE_VERBOSE=true)
  -h, --help               this help
`;

type Env = Record<string, string | undefined>;

function envBool(env: Env, name: string): boolean | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new UsageError(`env ${name}: expected true or false, got "${v}"`);
}

function envStr(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

function parseWorkers(value: string, what: string): number {
  if (value === "auto") return autoWorkers();
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 256)
    throw new UsageError(`${what}: expected a number from 1 to 256 or auto, got "${value}"`);
  return Number(value);
}

function parsePositiveInt(value: string, what: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new UsageError(`${what}: expected a positive whole number, got "${value}"`);
  return Number(value);
}

/** Throws UsageError for bad flags/env and ConfigError for a bad config file; returns null for --help. */
export function resolveServeOptions(argv: string[], env: Env = process.env): ServeOptions | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        "grpc-address": { type: "string", multiple: true },
        socket: { type: "string" },
        "plaintext-address": { type: "string", multiple: true },
        "spire-socket": { type: "string" },
        config: { type: "string" },
        "metrics-address": { type: "string" },
        workers: { type: "string" },
        "drain-timeout-ms": { type: "string" },
        verbose: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0] ?? "bad arguments");
  }
  const v = parsed.values;
  if (v.help) return null;

  const configPath = v.config ?? envStr(env, "SPIFFE_AUTHZ_CONFIG");
  const config = configPath ? loadConfigFile(configPath) : parseConfig({});

  const listen: Address[] = [];
  const grpcAddrs =
    v["grpc-address"] ??
    envStr(env, "AGENT_GRPC_ADDRESS")
      ?.split(",")
      .map((s) => s.trim()) ??
    [];
  for (const a of grpcAddrs) listen.push(parseListenAddress(a, "--grpc-address"));
  const socket = v.socket ?? envStr(env, "AGENT_SOCKET");
  if (socket !== undefined)
    listen.push(parseListenAddress(socket.startsWith("unix:") ? socket : `unix://${socket}`, "--socket"));
  const plaintextListen: Address[] = [];
  for (const a of v["plaintext-address"] ?? []) {
    const addr = parseListenAddress(a, "--plaintext-address");
    if (addr.kind === "tcp" && !isLoopback(addr.target)) {
      throw new UsageError(
        `--plaintext-address: ${a} is not a loopback address (127.0.0.1, ::1) or a unix socket; a plaintext port must not be reachable from the network`,
      );
    }
    plaintextListen.push(addr);
  }
  // Seed compatibility: an operator who asked only for a unix socket does not get a TCP port opened behind their back.
  if (listen.length === 0) listen.push(parseListenAddress(DEFAULT_GRPC_ADDRESS, "--grpc-address"));

  const spireRaw =
    v["spire-socket"] ??
    envStr(env, "SPIRE_AGENT_SOCKET") ??
    envStr(env, "SPIFFE_ENDPOINT_SOCKET") ??
    config.spire.socket ??
    DEFAULT_SPIRE_SOCKET;
  const spireSocket = parseWorkloadApiAddress(spireRaw, "--spire-socket");

  const metrics = parseMetricsAddress(
    v["metrics-address"] ?? envStr(env, "METRICS_ADDRESS") ?? DEFAULT_METRICS_ADDRESS,
    "--metrics-address",
  );
  const workersRaw = v.workers ?? envStr(env, "SPIFFE_AUTHZ_WORKERS");
  const workers = workersRaw === undefined ? 1 : parseWorkers(workersRaw, "--workers");
  const drainTimeoutMs =
    v["drain-timeout-ms"] === undefined
      ? DEFAULT_DRAIN_TIMEOUT_MS
      : parsePositiveInt(v["drain-timeout-ms"], "--drain-timeout-ms");
  const verbose = v.verbose ?? envBool(env, "SPIFFE_VERBOSE") ?? false;

  return { listen, plaintextListen, spireSocket, metrics, configPath, config, verbose, drainTimeoutMs, workers };
}
