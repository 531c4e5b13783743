import type * as grpc from "@grpc/grpc-js";
import { toBinary } from "@bufbuild/protobuf";
import { Authorization, CheckResponseSchema } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { CheckRequest, CheckResponse } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { serviceDefinition } from "../../grpc/service-definition.js";
import type { HostedService } from "../../grpc/host.js";
import type { AuthzRequest, Decision } from "../../engine/types.js";
import type { Logger } from "../../log.js";
import { internalErrorResponse, toAuthzRequest, toCheckResponse } from "./translate.js";

export interface Decider {
  /** A Decision, or a Promise of one (JWT-SVIDs). */
  decide(req: AuthzRequest): Decision | Promise<Decision>;
}

// The engine hands a hot client the same frozen Decision for as long as policy, route and clock second stay
// the same (see decide.ts); its encoded CheckResponse is then the same bytes too, so they are built once.
// Keyed weakly: a decision nobody holds any more takes its bytes with it.
const encodedAnswers = new WeakMap<Decision, Uint8Array>();

function answer(d: Decision): CheckResponse | Uint8Array {
  if (!Object.isFrozen(d)) return toCheckResponse(d);
  let bytes = encodedAnswers.get(d);
  if (bytes === undefined) {
    bytes = toBinary(CheckResponseSchema, toCheckResponse(d));
    encodedAnswers.set(d, bytes);
  }
  return bytes;
}

/** envoy.service.auth.v3.Authorization: every Check is answered with a decision, never a transport error. */
export function envoyAuthorizationService(engine: Decider, log: Logger): HostedService {
  // The engine maps every bad input to a decision; a failure here is a bug. Deny in the answer itself, so the
  // request stays blocked even behind an Envoy configured with failure_mode_allow.
  const failed = (callback: grpc.sendUnaryData<CheckResponse | Uint8Array>, err: unknown) => {
    log.error({ err }, "envoy Check failed");
    callback(null, internalErrorResponse());
  };
  const reply = (callback: grpc.sendUnaryData<CheckResponse | Uint8Array>, d: Decision) => {
    let out: CheckResponse | Uint8Array;
    try {
      out = answer(d);
    } catch (err) {
      return failed(callback, err);
    }
    callback(null, out);
  };
  const Check = (
    call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>,
    callback: grpc.sendUnaryData<CheckResponse | Uint8Array>,
  ) => {
    let out: Decision | Promise<Decision>;
    try {
      out = engine.decide(toAuthzRequest(call.request));
    } catch (err) {
      return failed(callback, err);
    }
    if (!(out instanceof Promise)) return reply(callback, out);
    out.then(
      (d) => reply(callback, d),
      (err: unknown) => failed(callback, err),
    );
  };
  return { name: Authorization.typeName, definition: serviceDefinition(Authorization), implementation: { Check } };
}
