// Zentinel agent protocol v2 ⇄ AuthzRequest / Decision. No policy here: the engine decides, this file only
// renames fields.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AgentResponseSchema, RequestHeadersEvent } from "../../gen/zentinel/agent/v2/agent_v2_pb.js";
import type { AuthzRequest, Decision } from "../../engine/contract.js";

export type AgentResponseInit = MessageInitShape<typeof AgentResponseSchema>;

/**
 * The proxy flattens its header map into one `Header` per value (crates/agent-protocol/src/v2/client.rs,
 * `iter_flat`), so a repeated name arrives as several entries. They are joined as HTTP allows (RFC 9110
 * §5.3); `cookie` uses "; " (RFC 6265 §5.4). Joining XFCC with "," is also XFCC's own element separator.
 */
export function collectHeaders(entries: ReadonlyArray<{ name: string; value: string }>): Map<string, string> {
  const headers = new Map<string, string>();
  for (const h of entries) {
    const name = h.name.toLowerCase();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? h.value : `${prev}${name === "cookie" ? "; " : ","}${h.value}`);
  }
  return headers;
}

export function toAuthzRequest(ev: RequestHeadersEvent): AuthzRequest {
  const headers = collectHeaders(ev.headers);
  const md = ev.metadata;
  // The proxy moves `:method` / `:path` (path + query) into `method` / `uri`; fall back to them for other clients.
  const req: AuthzRequest = {
    transport: "zentinel",
    headers,
    method: ev.method || headers.get(":method") || "GET",
    // Query kept: route matching normalises the path itself.
    path: ev.uri || headers.get(":path") || "/",
  };
  const host = headers.get("host") ?? headers.get(":authority") ?? md?.serverName;
  if (host) req.host = host;
  if (md?.routeId) req.routeName = md.routeId;
  if (md?.requestId) req.requestId = md.requestId;
  if (md?.correlationId) req.correlationId = md.correlationId;
  const traceparent = md?.traceparent || headers.get("traceparent");
  if (traceparent) req.traceparent = traceparent;
  return req;
}

const JSON_CONTENT_TYPE = [{ name: "content-type", value: "application/json" }];

/** allow + request header ops (remove spoofable identity headers, then set ours), or block with a JSON body. */
export function toAgentResponse(correlationId: string, d: Decision, processingMs: number): AgentResponseInit {
  const custom: Record<string, string> = d.identity ? { spiffe_id: d.identity.spiffeId } : {};
  if (d.route) custom["route"] = d.route;
  // The proxy's audit trail says a dry-run allow is one, and what enforcement would have done.
  if (d.dryRun) custom["would_allow"] = String(d.dryRun.allow);
  const audit = { reasonCodes: [d.reason as string], tags: d.dryRun ? ["spiffe", "dry-run"] : ["spiffe"], custom };
  const processingTimeMs = BigInt(Math.round(processingMs));
  if (d.allow) {
    return {
      correlationId,
      decision: { case: "allow", value: {} },
      // The proxy applies ops in order (crates/proxy/src/proxy/handlers.rs), so removals come first and a
      // client-sent identity header can never survive next to ours.
      requestHeaders: [
        ...d.headersToRemove.map((name) => ({ operation: { case: "remove" as const, value: name } })),
        ...d.headersToSet.map((h) => ({
          operation: { case: "set" as const, value: { name: h.name, value: h.value } },
        })),
      ],
      audit,
      processingTimeMs,
    };
  }
  return {
    correlationId,
    decision: {
      case: "block",
      value: {
        status: d.httpStatus,
        body: JSON.stringify({ reason: d.reason, detail: d.detail }),
        headers: JSON_CONTENT_TYPE,
      },
    },
    audit,
    processingTimeMs,
  };
}

/** A block the door itself gives (draining, internal error): no engine decision behind it. */
export function blockResponse(
  correlationId: string,
  status: number,
  reason: string,
  detail: string,
): AgentResponseInit {
  return {
    correlationId,
    decision: {
      case: "block",
      value: { status, body: JSON.stringify({ reason, detail }), headers: JSON_CONTENT_TYPE },
    },
    audit: { reasonCodes: [reason], tags: ["spiffe"] },
  };
}

/** Allow without changes: the answer to events the proxy waits on but a SPIFFE agent has nothing to say about. */
export function allowUnchanged(correlationId: string): AgentResponseInit {
  return { correlationId, decision: { case: "allow", value: {} } };
}
