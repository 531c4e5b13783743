// grpc-js client of the SPIFFE Workload API, through the same protobuf-es codecs as our servers.
import * as grpc from "@grpc/grpc-js";
import { SpiffeWorkloadAPI } from "../../gen/spiffe/workload/workload_pb.js";
import { serviceDefinition } from "../../grpc/service-definition.js";

/** SPIRE rejects any Workload API call without this metadata (a guard against SSRF through proxies). */
export const SECURITY_HEADER = "workload.spiffe.io";

export function securityMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(SECURITY_HEADER, "true");
  return md;
}

const WorkloadApiClient = grpc.makeGenericClientConstructor(serviceDefinition(SpiffeWorkloadAPI), "SpiffeWorkloadAPI");

export type WorkloadClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function workloadApiClient(target: string): WorkloadClient {
  return new WorkloadApiClient(target, grpc.credentials.createInsecure(), {
    // The agent is local; keep reconnect attempts of the channel itself short, our own backoff governs streams.
    // While the channel waits out its own backoff every call fails at once, so its cap adds to the time
    // between the agent coming back and our streams being up: keep it at the watcher's (DEFAULT_MAX_BACKOFF_MS).
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 500,
  }) as unknown as WorkloadClient;
}
