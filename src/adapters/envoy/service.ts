import type * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import {
  Authorization,
  CheckRequestSchema,
  CheckResponseSchema,
} from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { CheckRequest, CheckResponse } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { encode, serviceDefinition, type Encoded } from "../../grpc/service-definition.js";
import type { HostedService } from "../../grpc/host.js";
import type { RawUnaryMethod } from "../../grpc/raw-unary.js";
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

/** What grpc-js hands Check for request bytes that do not decode (see checkDecodedOrMarked). */
class Undecodable {
  constructor(readonly error: unknown) {}
}

/** The Check method's decoder returns an Undecodable instead of throwing, which grpc-js would answer as a failed call. */
function checkDecodedOrMarked(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const check = definition["Check"]!;
  const decode = check.requestDeserialize;
  const requestDeserialize = (buf: Buffer): unknown => {
    try {
      return decode(buf);
    } catch (err) {
      return new Undecodable(err);
    }
  };
  return { ...definition, Check: { ...check, requestDeserialize } };
}

/**
 * envoy.service.auth.v3.Authorization: every Check is answered with a decision, never a transport error. Served
 * twice over, with the same answers: through grpc-js, and straight from the HTTP/2 stream (`raw`, which GrpcHost
 * uses on plaintext ports; grpc/raw-unary.ts says why).
 */
export function envoyAuthorizationService(engine: Decider, log: Logger): HostedService {
  // The engine maps every bad input to a decision; a failure here is a bug. Deny in the answer itself, so the
  // request stays blocked even behind an Envoy configured with failure_mode_allow.
  const failed = (err: unknown): CheckResponse => {
    log.error({ err }, "envoy Check failed");
    return internalErrorResponse();
  };
  const reply = (d: Decision): Answer => {
    try {
      return answer(d);
    } catch (err) {
      return failed(err);
    }
  };
  // A request that does not decode (a string field that is not UTF-8, say: Envoy copies some client-chosen values,
  // such as the TLS SNI, into it unchecked) is denied in an answer too, never failed as a call.
  const undecodable = (err: unknown): CheckResponse => {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, "envoy CheckRequest does not decode: denied");
    return internalErrorResponse();
  };
  /** The answer to `request`, never a throw or a rejection. */
  const check = (request: CheckRequest): Answer | Promise<Answer> => {
    let out: Decision | Promise<Decision>;
    try {
      out = engine.decide(toAuthzRequest(request));
    } catch (err) {
      return failed(err);
    }
    return out instanceof Promise ? out.then(reply, failed) : reply(out);
  };
  // Encoded here, not by grpc-js's codec later: an answer that does not encode is a bug too, and must be denied as
  // one, where the codec could only fail the call.
  const encoded = (a: Answer): Encoded<typeof CheckResponseSchema> => {
    if (a instanceof Uint8Array) return a;
    try {
      return encode(CheckResponseSchema, a);
    } catch (err) {
      return encode(CheckResponseSchema, failed(err));
    }
  };
  const Check = (
    call: grpc.ServerUnaryCall<CheckRequest | Undecodable, CheckResponse>,
    callback: grpc.sendUnaryData<Encoded<typeof CheckResponseSchema>>,
  ) => {
    if (call.request instanceof Undecodable) return callback(null, encoded(undecodable(call.request.error)));
    const out = check(call.request);
    if (!(out instanceof Promise)) return callback(null, encoded(out));
    void out.then((a) => callback(null, encoded(a)));
  };
  const raw: RawUnaryMethod = {
    path: `/${Authorization.typeName}/Check`,
    handle(bytes) {
      let request: CheckRequest;
      try {
        request = fromBinary(CheckRequestSchema, bytes);
      } catch (err) {
        return encoded(undecodable(err));
      }
      const out = check(request);
      return out instanceof Promise ? out.then(encoded) : encoded(out);
    },
  };
  return {
    name: Authorization.typeName,
    definition: checkDecodedOrMarked(serviceDefinition(Authorization)),
    implementation: { Check },
    raw: [raw],
  };
}
