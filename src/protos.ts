// Our .proto files for @grpc/proto-loader: server reflection and independent test clients.
// Resolved from this module's URL so it works from src/ (tsx) and dist/ (tsc) alike.
import { fileURLToPath } from "node:url";
import * as protoLoader from "@grpc/proto-loader";

export const PROTO_ROOT = fileURLToPath(new URL("../proto/", import.meta.url));

/** Relative to PROTO_ROOT; google/protobuf well-known types come bundled with protobufjs. */
export const PROTO_FILES = [
  "envoy/service/auth/v3/external_auth.proto",
  "zentinel/agent/v2/agent_v2.proto",
  "spiffe/workload/workload.proto",
] as const;

let cached: protoLoader.PackageDefinition | undefined;

export function loadPackageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync([...PROTO_FILES], {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return cached;
}
