// The Zentinel door as `serve` runs it: startServer (the composition root) with a config FILE in a temp dir,
// a dev Workload API for bundles, real gRPC over loopback, and the log kept for assertions.
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { resolveServeOptions } from "../../src/cli/serve-flags.js";
import { METRIC } from "../../src/telemetry/index.js";
import { zentinelClient, type Client } from "./clients.js";
import { capturedLogger } from "./log-capture.js";
import type { Msg } from "./zentinel.js";

export const WEB = "spiffe://example.org/web";
export const INTRUDER = "spiffe://example.org/intruder";

export interface ServerDoor {
  server: RunningServer;
  target: string;
  /** The --config file (undefined: started without one). */
  file: string | undefined;
  dir: string;
  api: DevWorkloadApi;
  certs: { web: string; intruder: string };
  client: Client;
  /** Log lines so far (pino JSON, parsed). */
  logs: () => Array<Record<string, unknown>>;
  /** Log lines whose msg starts with `prefix`. */
  logged: (prefix: string) => Array<Record<string, unknown>>;
  /** Rewrites the config file (atomically, as the README asks). */
  writeConfig(config: unknown): void;
  /** spiffe_authz_zentinel_streams as /metrics would say it. */
  streamsGauge(): Promise<number | undefined>;
  close(): Promise<void>;
}

/** `config` is written to a temp file passed as --config; `undefined` starts the server without one. */
export async function startServerDoor(config: unknown): Promise<ServerDoor> {
  const dir = mkdtempSync(join(tmpdir(), "zentinel-server-"));
  const api = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "agent.sock")}` });
  const file = config === undefined ? undefined : join(dir, "config.json");
  const writeConfig = (c: unknown) => {
    if (!file) throw new Error("started without a config file");
    // Rename, not write in place: a reload never sees half a file.
    writeFileSync(`${file}.tmp`, typeof c === "string" ? c : JSON.stringify(c));
    renameSync(`${file}.tmp`, file);
  };
  if (file) writeConfig(config);
  const { log, lines } = capturedLogger();
  // The flags `serve` would get (and no environment), so the options are built as the CLI builds them.
  const args = [
    "--grpc-address",
    "127.0.0.1:0",
    "--spire-socket",
    api.target,
    "--metrics-address",
    "off",
    "--drain-timeout-ms",
    "500",
    ...(file ? ["--config", file] : []),
  ];
  const server = await startServer(resolveServeOptions(args, {})!, log, {
    zentinelIntervalsMs: { health: 60_000, metrics: 60_000 },
  });
  const target = server.grpcTargets[0]!;
  const client = zentinelClient(target);
  return {
    server,
    target,
    file,
    dir,
    api,
    certs: { web: (await api.issueX509Svid(WEB)).pem, intruder: (await api.issueX509Svid(INTRUDER)).pem },
    client,
    logs: lines,
    logged: (prefix) => lines().filter((l) => String(l["msg"]).startsWith(prefix)),
    writeConfig,
    streamsGauge: async () => {
      const fam = (await server.telemetry.snapshot()).families.find((f) => f.name === METRIC.zentinelStreams);
      return fam?.samples[0]?.value;
    },
    close: async () => {
      client.close();
      await server.stop();
      await api.close();
    },
  };
}

export interface ControlStream {
  call: grpc.ClientDuplexStream<unknown, Msg>;
  got: Msg[];
  status: () => grpc.StatusObject | undefined;
  /** Response headers arrived: the server has admitted the stream. */
  headersReceived: () => boolean;
  responses: () => Array<{ request_id: string; accepted: boolean; error?: string }>;
}

export function openControl(client: Client): ControlStream {
  const call = (client["ControlStream"] as () => grpc.ClientDuplexStream<unknown, Msg>).call(client);
  const got: Msg[] = [];
  let status: grpc.StatusObject | undefined;
  let headers = false;
  call.on("metadata", () => (headers = true));
  call.on("data", (m: Msg) => got.push(m));
  call.on("status", (s: grpc.StatusObject) => (status = s));
  call.on("error", () => {});
  return {
    call,
    got,
    status: () => status,
    headersReceived: () => headers,
    responses: () =>
      got
        .filter((m) => m.message === "config_response")
        .map((m) => m["config_response"] as { request_id: string; accepted: boolean; error?: string }),
  };
}
