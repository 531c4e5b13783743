// How the watcher reads the status a Workload API stream ended with: whether it is a refusal that needs an
// operator (retried on the slow path) or a loss to retry at once, what to check, and how loudly to say it.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../../log.js";

const REFUSED: ReadonlySet<grpc.status> = new Set([
  grpc.status.PERMISSION_DENIED,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.UNIMPLEMENTED,
]);

export const HINTS: Partial<Record<grpc.status, string>> = {
  [grpc.status.PERMISSION_DENIED]:
    "the SPIRE agent has no registration entry for this process: check `spire-server entry show` for an entry whose selectors (unix:uid, k8s:sa, docker:label, ...) match spiffe-authz, and that its parent ID is this node's agent",
  [grpc.status.INVALID_ARGUMENT]:
    "the agent did not see the `workload.spiffe.io: true` metadata that we send on every call: something between us and the agent (a proxy, a socket forwarder) strips gRPC metadata, or the address is not a Workload API",
  [grpc.status.UNIMPLEMENTED]:
    "the endpoint does not implement this Workload API method: check that the address is a SPIRE agent socket and the agent version",
  [grpc.status.UNAVAILABLE]:
    "cannot reach the SPIRE agent: check that it runs, the socket path (--spire-socket) and the socket's permissions",
  [grpc.status.DEADLINE_EXCEEDED]: "the agent accepted the stream but sent nothing: it may be overloaded or wedged",
};

export const codeName = (code: grpc.status) => grpc.status[code] ?? String(code);

/**
 * Refused (slow retry) or not. PERMISSION_DENIED is also SPIRE's answer while it (re-)issues this workload's
 * SVID: retried at the normal pace, and a refusal needing an operator only once it has lasted `rejectedMs`.
 */
export function judgeLoss(
  s: { deniedSince: number | undefined },
  code: grpc.status,
  rejectedMs: number,
): { refused: boolean; transientDenial: boolean } {
  if (code !== grpc.status.PERMISSION_DENIED) {
    s.deniedSince = undefined;
    return { refused: REFUSED.has(code), transientDenial: false };
  }
  s.deniedSince ??= Date.now();
  const transientDenial = Date.now() - s.deniedSince < rejectedMs;
  return { refused: !transientDenial, transientDenial };
}

/** One log line per loss, at the level it deserves; a repeat of the same unreachable code is debug. */
export function logLoss(
  log: Logger,
  fields: Record<string, unknown>,
  how: { code: grpc.status; refused: boolean; transientDenial: boolean; wasConnected: boolean; newCode: boolean },
): void {
  if (how.transientDenial) {
    log[how.newCode ? "info" : "debug"](
      fields,
      "Workload API denied the call for now (an entry not yet synced, or SVIDs being re-issued); retrying",
    );
  } else if (how.refused && how.code !== grpc.status.UNIMPLEMENTED) {
    log.error(fields, "Workload API refused the call");
  } else if (how.refused) {
    log.warn(fields, "Workload API method not implemented");
  } else if (how.wasConnected || how.newCode) {
    log.warn(
      fields,
      how.wasConnected ? "Workload API stream lost; reconnecting" : "Workload API unreachable; retrying",
    );
  } else {
    log.debug(fields, "Workload API still unreachable; retrying");
  }
}
