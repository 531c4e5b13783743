// Our .proto files for @grpc/proto-loader: server reflection and independent test clients.
// Resolved from this module's URL: src/protos.ts (tsx) and dist/protos.js (tsc) both sit one level under the
// repo root, next to proto/, so the same relative URL works for both (and for the npm package, which ships proto/).
import { fileURLToPath } from "node:url";
import * as protoLoader from "@grpc/proto-loader";

/** Absolute path of proto/, with a trailing separator. */
export const PROTO_ROOT = fileURLToPath(new URL("../proto/", import.meta.url));

/**
 * Every .proto file we own, relative to PROTO_ROOT (the import paths upstream uses).
 * The google/protobuf well-known types we import (any, struct, timestamp, wrappers) are not here: protobufjs
 * bundles them as "common" definitions and resolves those imports itself, so no include dir is needed for them.
 */
export const PROTO_FILES = [
  "envoy/service/auth/v3/external_auth.proto",
  "envoy/service/auth/v3/attribute_context.proto",
  "envoy/config/core/v3/base.proto",
  "envoy/config/core/v3/address.proto",
  "envoy/type/v3/http_status.proto",
  "google/rpc/status.proto",
  "zentinel/agent/v2/agent_v2.proto",
  "spiffe/workload/workload.proto",
] as const;

/** Fully-qualified service names, as proto-loader keys them (the Workload API has no proto package). */
export const SERVICE_NAMES = {
  envoyAuthorization: "envoy.service.auth.v3.Authorization",
  zentinelAgent: "zentinel.agent.v2.AgentServiceV2",
  workloadApi: "SpiffeWorkloadAPI",
} as const;

export const LOADER_OPTIONS: protoLoader.Options = {
  includeDirs: [PROTO_ROOT],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** grpc.health.v1.Health, served through grpc-health-check, which ships its proto. */
export const HEALTH_SERVICE = "grpc.health.v1.Health";
// The package has no "exports" map, so its package.json resolves; the proto sits beside it.
const HEALTH_PROTO = fileURLToPath(
  new URL("./proto/health/v1/health.proto", import.meta.resolve("grpc-health-check/package.json")),
);

let cached: protoLoader.PackageDefinition | undefined;

/**
 * All our protos and the health proto through proto-loader (parsed once; the result is shared, treat it as
 * read-only).
 */
export function loadPackageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync([...PROTO_FILES, HEALTH_PROTO], LOADER_OPTIONS);
  return cached;
}
