import type * as grpc from "@grpc/grpc-js";
import { Authorization, CheckResponseSchema } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { CheckRequest, CheckResponse } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { encode, serviceDefinition, type Encoded } from "../../grpc/service-definition.js";
import type { HostedService } from "../../grpc/host.js";
import { isShared, type Decider, type Decision, type SharedDecision } from "../../engine/contract.js";
import type { Logger } from "../../log.js";
import { internalErrorResponse, toAuthzRequest, toCheckResponse } from "./translate.js";

export type { Decider };

/** A CheckResponse as its message, or as bytes encoded once for a shared decision. */
type Answer = CheckResponse | Encoded<typeof CheckResponseSchema>;

// The engine hands a hot client the same SharedDecision for as long as policy, route and clock second stay
// the same (engine/contract.ts); its encoded CheckResponse is then the same bytes too, so they are built once.
// Keyed weakly: a decision nobody holds any more takes its bytes with it.
const encodedAnswers = new WeakMap<SharedDecision, Encoded<typeof CheckResponseSchema>>();

function answer(d: Decision): Answer {
  if (!isShared(d)) return toCheckResponse(d);
  let bytes = encodedAnswers.get(d);
  if (bytes === undefined) {
    bytes = encode(CheckResponseSchema, toCheckResponse(d));
    encodedAnswers.set(d, bytes);
  }
  return bytes;
}

/** envoy.service.auth.v3.Authorization: every Check is answered with a decision, never a transport error. */
export function envoyAuthorizationService(engine: Decider, log: Logger): HostedService {
  // The engine maps every bad input to a decision; a failure here is a bug. Deny in the answer itself, so the
  // request stays blocked even behind an Envoy configured with failure_mode_allow.
  const failed = (callback: grpc.sendUnaryData<Answer>, err: unknown) => {
    log.error({ err }, "envoy Check failed");
    callback(null, internalErrorResponse());
  };
  const reply = (callback: grpc.sendUnaryData<Answer>, d: Decision) => {
    let out: Answer;
    try {
      out = answer(d);
    } catch (err) {
      return failed(callback, err);
    }
    callback(null, out);
  };
  const Check = (call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>, callback: grpc.sendUnaryData<Answer>) => {
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
