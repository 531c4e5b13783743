// Zentinel agent protocol v2 ⇄ AuthzRequest / Decision. No policy here.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AgentResponseSchema, RequestHeadersEvent } from "../../gen/zentinel/agent/v2/agent_v2_pb.js";
import type { AuthzRequest, Decision } from "../../engine/types.js";

export function toAuthzRequest(ev: RequestHeadersEvent): AuthzRequest {
  const headers = new Map<string, string>();
  for (const h of ev.headers) {
    const name = h.name.toLowerCase();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? h.value : `${prev},${h.value}`);
  }
  const md = ev.metadata;
  const req: AuthzRequest = { transport: "zentinel", headers, method: ev.method, path: ev.uri };
  const host = headers.get("host") ?? headers.get(":authority");
  if (host) req.host = host;
  if (md?.routeId) req.routeName = md.routeId;
  if (md?.requestId) req.requestId = md.requestId;
  if (md?.correlationId) req.correlationId = md.correlationId;
  if (md?.traceparent ?? headers.get("traceparent")) req.traceparent = (md?.traceparent ?? headers.get("traceparent")) as string;
  return req;
}

/** allow + header ops (set identity headers, remove spoofable ones), or block 401/403/503 with a JSON body. */
export function toAgentResponse(correlationId: string, d: Decision, processingMs: number): MessageInitShape<typeof AgentResponseSchema> {
  const custom: Record<string, string> = d.identity ? { spiffe_id: d.identity.spiffeId } : {};
  const audit = { reasonCodes: [d.reason as string], tags: ["spiffe"], custom };
  const processingTimeMs = BigInt(Math.round(processingMs));
  if (d.allow) {
    return {
      correlationId,
      decision: { case: "allow", value: {} },
      requestHeaders: [
        ...d.headersToRemove.map((name) => ({ operation: { case: "remove" as const, value: name } })),
        ...d.headersToSet.map((h) => ({ operation: { case: "set" as const, value: { name: h.name, value: h.value } } })),
      ],
      audit,
      processingTimeMs,
    };
  }
  return {
    correlationId,
    decision: {
      case: "block",
      value: { status: d.httpStatus, body: JSON.stringify({ reason: d.reason, detail: d.detail }), headers: [{ name: "content-type", value: "application/json" }] },
    },
    audit,
    processingTimeMs,
  };
}
