// Envoy ext_authz (gRPC, transport_api_version V3): CheckRequest → AuthzRequest → engine → CheckResponse.
import { create, type JsonObject } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import type { CheckRequest, CheckResponse } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { CheckResponseSchema } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { HeaderValueOption_HeaderAppendAction } from "../../gen/envoy/config/core/v3/base_pb.js";
import type { AuthzRequest, Decision } from "../../engine/contract.js";

const textDecoder = new TextDecoder("utf-8", { fatal: false });

/** Envoy sends headers either as a map (lower-cased names) or, with encode_raw_headers, as raw header_map entries. */
function collectHeaders(req: CheckRequest): Map<string, string> {
  const http = req.attributes?.request?.http;
  const out = new Map<string, string>();
  if (!http) return out;
  for (const [k, v] of Object.entries(http.headers)) out.set(k.toLowerCase(), v);
  for (const hv of http.headerMap?.headers ?? []) {
    const name = hv.key.toLowerCase();
    const value = hv.rawValue.length > 0 ? textDecoder.decode(hv.rawValue) : hv.value;
    const prev = out.get(name);
    out.set(name, prev === undefined ? value : `${prev},${value}`);
  }
  return out;
}

export function toAuthzRequest(req: CheckRequest): AuthzRequest {
  const attrs = req.attributes;
  const http = attrs?.request?.http;
  const headers = collectHeaders(req);
  const out: AuthzRequest = {
    transport: "envoy",
    headers,
    method: http?.method ?? "",
    path: http?.path ?? "",
  };
  const cert = attrs?.source?.certificate;
  if (cert) out.sourceCertificate = cert;
  const host = http?.host || headers.get(":authority");
  if (host) out.host = host;
  const route = attrs?.contextExtensions["route"];
  if (route) out.routeName = route;
  const requestId = headers.get("x-request-id") || http?.id;
  if (requestId) out.requestId = requestId;
  const traceparent = headers.get("traceparent");
  if (traceparent) out.traceparent = traceparent;
  return out;
}

// google.rpc.Code values for the decision table.
const DENY_BODY_TYPE = { key: "content-type", value: "application/json" };

function dynamicMetadata(d: Decision): JsonObject {
  const md: JsonObject = { decision: d.allow ? "allow" : "deny", reason: d.reason };
  if (d.identity) {
    md["spiffe_id"] = d.identity.spiffeId;
    md["trust_domain"] = d.identity.trustDomain;
    md["auth_method"] = d.identity.method;
  }
  if (d.route) md["route"] = d.route;
  // Envoy's access log may read this metadata: a dry-run allow must not pass for an enforced one there either.
  if (d.dryRun) {
    md["enforcement"] = "dry-run";
    md["would_allow"] = d.dryRun.allow;
  }
  return md;
}

export function toCheckResponse(d: Decision): CheckResponse {
  const base = {
    status: { code: d.grpcCode, message: d.allow ? "" : d.reason },
    dynamicMetadata: dynamicMetadata(d),
  };
  if (d.allow) {
    return create(CheckResponseSchema, {
      ...base,
      httpResponse: {
        case: "okResponse",
        value: {
          headers: d.headersToSet.map((h) => ({
            header: { key: h.name, value: h.value },
            appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
          })),
          headersToRemove: d.headersToRemove,
        },
      },
    });
  }
  return create(CheckResponseSchema, {
    ...base,
    httpResponse: {
      case: "deniedResponse",
      value: {
        status: { code: d.httpStatus },
        headers: [
          { header: DENY_BODY_TYPE, appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD },
        ],
        body: JSON.stringify({ reason: d.reason, detail: d.detail }),
      },
    },
  });
}

/** A denial for an internal failure: status INTERNAL, HTTP 500. */
export function internalErrorResponse(): CheckResponse {
  return create(CheckResponseSchema, {
    status: { code: status.INTERNAL, message: "internal_error" },
    httpResponse: {
      case: "deniedResponse",
      value: {
        status: { code: 500 },
        headers: [
          { header: DENY_BODY_TYPE, appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD },
        ],
        body: JSON.stringify({ reason: "internal_error" }),
      },
    },
  });
}
