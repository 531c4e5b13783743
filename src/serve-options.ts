// What `serve` runs with, however it was given (flags, environment, config file: src/cli/serve-flags.ts), the
// input of the composition root (server.ts) and of the worker supervisor (cluster.ts).
import type { Address } from "./grpc/address.js";
import type { Config } from "./config/schema.js";

export interface ServeOptions {
  listen: Address[];
  /** Plaintext even under server.tls.mode spiffe; loopback or unix only (Zentinel 0.6 cannot do agent TLS). */
  plaintextListen?: Address[];
  spireSocket: Address;
  metrics: { host: string; port: number } | null;
  configPath: string | undefined;
  config: Config;
  verbose: boolean;
  drainTimeoutMs: number;
  workers: number;
}
