// The Envoy door's translation (src/adapters/envoy/translate.ts) in both directions, on wire messages built
// from the generated schemas: which request fields reach the engine (headers in both of Envoy's encodings,
// host, route name, request id, trace context), and what Envoy is told on allow, deny and internal failure
// (status, headers to set and remove, deny body, dynamic metadata). The door itself, over gRPC with a real
// engine, is tested in envoy-door.test.ts; this pins each field, which the mutation run found unasserted.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toJson, type MessageInitShape } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { CheckRequestSchema, CheckResponseSchema } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { HeaderValueOption_HeaderAppendAction } from "../../../src/gen/envoy/config/core/v3/base_pb.js";
import { internalErrorResponse, toAuthzRequest, toCheckResponse } from "../../../src/adapters/envoy/translate.js";
import { ALLOWED, PERMISSION_DENIED, type Decision } from "../../../src/engine/contract.js";

type HttpInit = NonNullable<
  NonNullable<NonNullable<MessageInitShape<typeof CheckRequestSchema>["attributes"]>["request"]>["http"]
>;

function request(http: HttpInit, extra: { certificate?: string; route?: string } = {}) {
  return create(CheckRequestSchema, {
    attributes: {
      source: { certificate: extra.certificate ?? "" },
      contextExtensions: extra.route === undefined ? {} : { route: extra.route },
      request: { http },
    },
  });
}
const bytes = (s: string) => new TextEncoder().encode(s);

test("an empty CheckRequest reads as no headers, no method, no path: the engine decides, nothing throws", () => {
  const r = toAuthzRequest(create(CheckRequestSchema, {}));
  assert.deepEqual(r, { transport: "envoy", headers: new Map(), method: "", path: "" });
  for (const attributes of [{}, { request: {} }]) {
    const noHttp = toAuthzRequest(create(CheckRequestSchema, { attributes }));
    assert.deepEqual(noHttp, { transport: "envoy", headers: new Map(), method: "", path: "" });
  }
});

test("headers: the map lower-cased, header_map entries (raw bytes or value) added, repeats joined with ','", () => {
  const r = toAuthzRequest(
    request({
      method: "POST",
      path: "/payments/x?y=1",
      headers: { "X-Forwarded-Client-Cert": "Hash=1", accept: "a" },
      headerMap: {
        headers: [
          { key: "X-SPIFFE-ID", rawValue: bytes("spiffe://example.org/evil") },
          { key: "x-spiffe-id", value: "second" },
          { key: "Accept", rawValue: bytes("b") },
          { key: "bad-utf8", rawValue: Uint8Array.from([0x61, 0xff, 0x62]) },
        ],
      },
    }),
  );
  assert.equal(r.method, "POST");
  assert.equal(r.path, "/payments/x?y=1");
  assert.deepEqual(
    [...r.headers],
    [
      ["x-forwarded-client-cert", "Hash=1"],
      ["accept", "a,b"],
      ["x-spiffe-id", "spiffe://example.org/evil,second"],
      // Not UTF-8: decoded with a replacement character, never an exception (the request is still judged).
      ["bad-utf8", "a\ufffdb"],
    ],
  );
});

test("certificate, host, route, request id and trace context: each taken when present, left out when empty", () => {
  const full = toAuthzRequest(
    request(
      {
        id: "envoy-id",
        host: "api.example.org",
        headers: { ":authority": "other", "x-request-id": "rid-1", traceparent: "00-aa-bb-01" },
      },
      { certificate: "-----BEGIN%20CERTIFICATE-----", route: "payments" },
    ),
  );
  assert.equal(full.sourceCertificate, "-----BEGIN%20CERTIFICATE-----");
  assert.equal(full.host, "api.example.org");
  assert.equal(full.routeName, "payments");
  assert.equal(full.requestId, "rid-1");
  assert.equal(full.traceparent, "00-aa-bb-01");

  // Fallbacks: :authority for the host, Envoy's own request id.
  const fallback = toAuthzRequest(request({ id: "envoy-id", headers: { ":authority": "auth.example.org" } }));
  assert.equal(fallback.host, "auth.example.org");
  assert.equal(fallback.requestId, "envoy-id");

  const bare = toAuthzRequest(request({ headers: {} }, { route: "" }));
  for (const k of ["sourceCertificate", "host", "routeName", "requestId", "traceparent"] as const) {
    assert.equal(k in bare, false, `${k} set from an empty field`);
  }
});

function metadataOf(res: ReturnType<typeof toCheckResponse>): unknown {
  return (toJson(CheckResponseSchema, res) as { dynamicMetadata?: unknown }).dynamicMetadata;
}

const identity = {
  spiffeId: "spiffe://example.org/ns/a/sa/web",
  trustDomain: "example.org",
  path: "/ns/a/sa/web",
  method: "spiffe" as const,
};

test("allow: OK with an empty message, identity headers overwrite, spoofable names removed, metadata", () => {
  const d: Decision = {
    ...ALLOWED,
    allow: true,
    reason: "ok",
    detail: "allowed",
    identity,
    route: "payments",
    headersToSet: [{ name: "x-spiffe-id", value: identity.spiffeId }],
    headersToRemove: ["x-spiffe-id", "x_spiffe_id"],
  };
  const json = toJson(CheckResponseSchema, toCheckResponse(d));
  assert.deepEqual(json, {
    status: {},
    okResponse: {
      headers: [
        { header: { key: "x-spiffe-id", value: identity.spiffeId }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" },
      ],
      headersToRemove: ["x-spiffe-id", "x_spiffe_id"],
    },
    dynamicMetadata: {
      decision: "allow",
      reason: "ok",
      spiffe_id: identity.spiffeId,
      trust_domain: "example.org",
      auth_method: "spiffe",
      route: "payments",
    },
  });
});

test("a dry-run allow says so in the metadata, with the would-be verdict", () => {
  const d: Decision = {
    ...ALLOWED,
    allow: true,
    reason: "not_allowed",
    detail: "would deny",
    headersToSet: [],
    headersToRemove: ["x-spiffe-id"],
    dryRun: { ...PERMISSION_DENIED, allow: false },
  };
  const res = toCheckResponse(d);
  assert.equal(res.httpResponse.case, "okResponse");
  assert.deepEqual(metadataOf(res), {
    decision: "allow",
    reason: "not_allowed",
    enforcement: "dry-run",
    would_allow: false,
  });
});

test("deny: the decision's status and reason, a JSON body with reason and detail, nothing forwarded", () => {
  const d: Decision = {
    ...PERMISSION_DENIED,
    allow: false,
    reason: "not_allowed",
    detail: "spiffe://example.org/x is not on the allowlist",
    headersToSet: [],
    headersToRemove: ["x-spiffe-id"],
  };
  const res = toCheckResponse(d);
  assert.equal(res.status?.code, status.PERMISSION_DENIED);
  assert.equal(res.status?.message, "not_allowed");
  assert.equal(res.httpResponse.case, "deniedResponse");
  const denied = res.httpResponse.value!;
  assert.equal(denied.status?.code, 403);
  assert.deepEqual(
    denied.headers.map((h) => [h.header?.key, h.header?.value, h.appendAction]),
    [["content-type", "application/json", HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD]],
  );
  assert.deepEqual(JSON.parse(denied.body), { reason: "not_allowed", detail: d.detail });
  assert.deepEqual(metadataOf(res), { decision: "deny", reason: "not_allowed" });
});

test("internal failure: INTERNAL, HTTP 500, a JSON body naming only the reason", () => {
  const res = internalErrorResponse();
  assert.equal(res.status?.code, status.INTERNAL);
  assert.equal(res.status?.message, "internal_error");
  assert.equal(res.httpResponse.case, "deniedResponse");
  const denied = res.httpResponse.value!;
  assert.equal(denied.status?.code, 500);
  assert.deepEqual(
    denied.headers.map((h) => [h.header?.key, h.header?.value, h.appendAction]),
    [["content-type", "application/json", HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD]],
  );
  assert.equal(denied.body, '{"reason":"internal_error"}');
});
