// The dev Workload API's gRPC handlers: X.509 and JWT calls are checked as SPIRE checks them, the bundle and
// X.509-SVID streams are handed to the server for pushes, JWT-SVID calls are answered here, WIT-SVIDs refused.
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  JWTSVIDResponseSchema,
  ValidateJWTSVIDResponseSchema,
  type JWTSVIDRequest,
  type ValidateJWTSVIDRequest,
} from "../../gen/spiffe/workload/workload_pb.js";
import { SvidError, verifyJwtSvid, type BundleSet } from "../../spiffe/index.js";
import { statusError } from "./messages.js";
import type { PushMethod, Stream } from "./push-streams.js";

/** What the handlers need from the server behind them. */
export interface WorkloadApiBackend {
  /** Counts the call and returns the error SPIRE would refuse it with, if any. */
  refuse(method: string, md: grpc.Metadata): grpc.ServiceError | undefined;
  /** Registers an accepted stream for pushes and sends it the current state. */
  subscribe(method: PushMethod, call: Stream): void;
  /** SPIFFE IDs handed to callers. */
  identities(): readonly string[];
  issueJwtSvid(id: string, audience: string[]): Promise<string>;
  /** The JWT bundles ValidateJWTSVID verifies against. */
  jwtBundles(): BundleSet;
}

export function workloadApiHandlers(backend: WorkloadApiBackend): grpc.UntypedServiceImplementation {
  const pushStream = (method: PushMethod) => (call: Stream) => {
    const refused = backend.refuse(method, call.metadata);
    if (refused) return void call.emit("error", refused);
    backend.subscribe(method, call);
  };
  const unimplemented = (call: Stream) =>
    void call.emit(
      "error",
      statusError(grpc.status.UNIMPLEMENTED, "WIT-SVIDs are not supported by the dev Workload API"),
    );

  return {
    FetchX509Bundles: pushStream("FetchX509Bundles"),
    FetchJWTBundles: pushStream("FetchJWTBundles"),
    FetchX509SVID: pushStream("FetchX509SVID"),
    FetchJWTSVID: (call: grpc.ServerUnaryCall<JWTSVIDRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const refused = backend.refuse("FetchJWTSVID", call.metadata);
      if (refused) return cb(refused);
      if (call.request.audience.length === 0)
        return cb(statusError(grpc.status.INVALID_ARGUMENT, "audience must be specified"));
      const identities = backend.identities();
      const ids = call.request.spiffeId ? identities.filter((i) => i === call.request.spiffeId) : identities;
      if (ids.length === 0) return cb(statusError(grpc.status.PERMISSION_DENIED, "no identity issued"));
      Promise.all(
        ids.map(async (id) => ({ spiffeId: id, svid: await backend.issueJwtSvid(id, call.request.audience) })),
      ).then(
        (svids) => cb(null, create(JWTSVIDResponseSchema, { svids })),
        (err: unknown) => cb(statusError(grpc.status.INTERNAL, String(err))),
      );
    },
    ValidateJWTSVID: (call: grpc.ServerUnaryCall<ValidateJWTSVIDRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const refused = backend.refuse("ValidateJWTSVID", call.metadata);
      if (refused) return cb(refused);
      if (!call.request.audience) return cb(statusError(grpc.status.INVALID_ARGUMENT, "audience must be specified"));
      if (!call.request.svid) return cb(statusError(grpc.status.INVALID_ARGUMENT, "svid must be specified"));
      const options = { audiences: [call.request.audience], now: new Date() };
      verifyJwtSvid(call.request.svid, backend.jwtBundles(), options).then(
        (svid) =>
          cb(
            null,
            create(ValidateJWTSVIDResponseSchema, { spiffeId: svid.id.toString(), claims: svid.claims as never }),
          ),
        (err: unknown) =>
          cb(statusError(grpc.status.INVALID_ARGUMENT, err instanceof SvidError ? err.message : String(err))),
      );
    },
    FetchWITSVID: unimplemented,
    FetchWITBundles: unimplemented,
  };
}
