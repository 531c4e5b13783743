// The Zentinel door's translation (src/adapters/zentinel/translate.ts) on messages built from the generated
// schemas: the fallbacks for clients other than the proxy (no method, no uri, host from metadata), the header
// joins, and the answers: allow (removals before sets), block with its JSON body, the door's own blocks and
// the audit block each carries. events.test.ts drives the same code through a real agent stream; this pins
// each field the mutation run found unasserted.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RequestHeadersEventSchema } from "../../../src/gen/zentinel/agent/v2/agent_v2_pb.js";
import {
  allowUnchanged,
  blockResponse,
  collectHeaders,
  toAgentResponse,
  toAuthzRequest,
} from "../../../src/adapters/zentinel/translate.js";
import { ALLOWED, PERMISSION_DENIED, type Decision } from "../../../src/engine/contract.js";

test("repeated headers: joined with ',' (cookie with '; '), names lower-cased", () => {
  const h = collectHeaders([
    { name: "X-SPIFFE-Id", value: "a" },
    { name: "x-spiffe-id", value: "b" },
    { name: "Cookie", value: "c=1" },
    { name: "cookie", value: "d=2" },
  ]);
  assert.deepEqual(
    [...h],
    [
      ["x-spiffe-id", "a,b"],
      ["cookie", "c=1; d=2"],
    ],
  );
});

test("method, path, host: the proxy's fields first, then the pseudo-headers, then the defaults", () => {
  const proxy = toAuthzRequest(
    create(RequestHeadersEventSchema, {
      method: "POST",
      uri: "/payments?x=1",
      headers: [
        { name: ":method", value: "PUT" },
        { name: ":path", value: "/other" },
        { name: "Host", value: "api.example.org" },
        { name: ":authority", value: "authority.example.org" },
      ],
      metadata: { serverName: "sni.example.org" },
    }),
  );
  assert.equal(proxy.transport, "zentinel");
  assert.equal(proxy.method, "POST");
  assert.equal(proxy.path, "/payments?x=1");
  assert.equal(proxy.host, "api.example.org");

  const pseudo = toAuthzRequest(
    create(RequestHeadersEventSchema, {
      headers: [
        { name: ":method", value: "DELETE" },
        { name: ":path", value: "/admin" },
        { name: ":authority", value: "authority.example.org" },
      ],
      metadata: { serverName: "sni.example.org" },
    }),
  );
  assert.equal(pseudo.method, "DELETE");
  assert.equal(pseudo.path, "/admin");
  assert.equal(pseudo.host, "authority.example.org");

  const bare = toAuthzRequest(create(RequestHeadersEventSchema, { metadata: { serverName: "sni.example.org" } }));
  assert.equal(bare.method, "GET");
  assert.equal(bare.path, "/");
  assert.equal(bare.host, "sni.example.org");
  for (const k of ["routeName", "requestId", "correlationId", "traceparent"] as const) {
    assert.equal(k in bare, false, `${k} set from an empty field`);
  }
  const none = toAuthzRequest(create(RequestHeadersEventSchema, {}));
  assert.equal("host" in none, false);
});

test("route, request id, correlation id and trace context from the metadata (traceparent also from a header)", () => {
  const r = toAuthzRequest(
    create(RequestHeadersEventSchema, {
      headers: [{ name: "traceparent", value: "00-header-01" }],
      metadata: { routeId: "payments", requestId: "rid", correlationId: "cid", traceparent: "00-meta-01" },
    }),
  );
  assert.equal(r.routeName, "payments");
  assert.equal(r.requestId, "rid");
  assert.equal(r.correlationId, "cid");
  assert.equal(r.traceparent, "00-meta-01");
  const fromHeader = toAuthzRequest(
    create(RequestHeadersEventSchema, { headers: [{ name: "traceparent", value: "00-header-01" }], metadata: {} }),
  );
  assert.equal(fromHeader.traceparent, "00-header-01");
});

const identity = {
  spiffeId: "spiffe://example.org/web",
  trustDomain: "example.org",
  path: "/web",
  method: "spiffe" as const,
};

test("allow: every removal before any set, the audit block, the processing time rounded", () => {
  const d: Decision = {
    ...ALLOWED,
    allow: true,
    reason: "ok",
    detail: "",
    identity,
    route: "payments",
    headersToSet: [{ name: "x-spiffe-id", value: identity.spiffeId }],
    headersToRemove: ["x-spiffe-id", "x_spiffe_id"],
  };
  assert.deepEqual(toAgentResponse("c1", d, 1.6), {
    correlationId: "c1",
    decision: { case: "allow", value: {} },
    requestHeaders: [
      { operation: { case: "remove", value: "x-spiffe-id" } },
      { operation: { case: "remove", value: "x_spiffe_id" } },
      { operation: { case: "set", value: { name: "x-spiffe-id", value: identity.spiffeId } } },
    ],
    audit: { reasonCodes: ["ok"], tags: ["spiffe"], custom: { spiffe_id: identity.spiffeId, route: "payments" } },
    processingTimeMs: 2n,
  });
});

test("an allow with no identity (dry run) still removes every spoofable header, and says it is a dry run", () => {
  const d: Decision = {
    ...ALLOWED,
    allow: true,
    reason: "not_allowed",
    detail: "would deny",
    headersToSet: [],
    headersToRemove: ["x-spiffe-id"],
    dryRun: { ...PERMISSION_DENIED, allow: false },
  };
  const r = toAgentResponse("c2", d, 0);
  assert.deepEqual(r.requestHeaders, [{ operation: { case: "remove", value: "x-spiffe-id" } }]);
  assert.deepEqual(r.audit, {
    reasonCodes: ["not_allowed"],
    tags: ["spiffe", "dry-run"],
    custom: { would_allow: "false" },
  });
});

test("deny: a block with the decision's status and a JSON body, no header operations", () => {
  const d: Decision = {
    ...PERMISSION_DENIED,
    allow: false,
    reason: "not_allowed",
    detail: "not on the list",
    headersToSet: [],
    headersToRemove: ["x-spiffe-id"],
  };
  assert.deepEqual(toAgentResponse("c3", d, 0.4), {
    correlationId: "c3",
    decision: {
      case: "block",
      value: {
        status: 403,
        body: '{"reason":"not_allowed","detail":"not on the list"}',
        headers: [{ name: "content-type", value: "application/json" }],
      },
    },
    audit: { reasonCodes: ["not_allowed"], tags: ["spiffe"], custom: {} },
    processingTimeMs: 0n,
  });
});

test("the door's own answers: a block with reason and detail, and an allow that changes nothing", () => {
  assert.deepEqual(blockResponse("c4", 503, "draining", "shutting down"), {
    correlationId: "c4",
    decision: {
      case: "block",
      value: {
        status: 503,
        body: '{"reason":"draining","detail":"shutting down"}',
        headers: [{ name: "content-type", value: "application/json" }],
      },
    },
    audit: { reasonCodes: ["draining"], tags: ["spiffe"] },
  });
  assert.deepEqual(allowUnchanged("c5"), { correlationId: "c5", decision: { case: "allow", value: {} } });
});
