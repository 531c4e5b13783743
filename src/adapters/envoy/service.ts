import type * as grpc from "@grpc/grpc-js";
import { Authorization } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { CheckRequest, CheckResponse } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { serviceDefinition } from "../../grpc/service-definition.js";
import type { HostedService } from "../../grpc/host.js";
import type { AuthzRequest, Decision } from "../../engine/types.js";
import type { Logger } from "../../log.js";
import { internalErrorResponse, toAuthzRequest, toCheckResponse } from "./check.js";

export interface Decider {
  decide(req: AuthzRequest): Promise<Decision>;
}

/** envoy.service.auth.v3.Authorization: every Check is answered with a decision, never a transport error. */
export function envoyAuthorizationService(engine: Decider, log: Logger): HostedService {
  const Check = (call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>, callback: grpc.sendUnaryData<CheckResponse>) => {
    engine.decide(toAuthzRequest(call.request)).then(
      (d) => callback(null, toCheckResponse(d)),
      (err: unknown) => {
        // The engine maps every bad input to a decision; reaching here is a bug. Deny in the answer itself, so
        // the request stays blocked even behind an Envoy configured with failure_mode_allow.
        log.error({ err }, "envoy Check failed");
        callback(null, internalErrorResponse());
      },
    );
  };
  return { name: Authorization.typeName, definition: serviceDefinition(Authorization), implementation: { Check } };
}
