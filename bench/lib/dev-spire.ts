// The dev Workload API every benchmark runs against, in a fresh temp dir: trust domain example.org, SVIDs
// issued from an intermediate as SPIRE with an upstream authority does.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";

export async function startDevSpire(prefix: string): Promise<{ dir: string; spire: DevWorkloadApi }> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
    intermediate: true,
  });
  return { dir, spire };
}

/** `serve` flags for a benchmark server on `grpcAddress` against `spireTarget`; metrics off unless given. */
export function serveFlags(opts: { grpcAddress: string; spireTarget: string; config?: string; metrics?: string }) {
  return [
    "--grpc-address",
    opts.grpcAddress,
    "--spire-socket",
    opts.spireTarget,
    ...(opts.config ? ["--config", opts.config] : []),
    "--metrics-address",
    opts.metrics ?? "off",
  ];
}
