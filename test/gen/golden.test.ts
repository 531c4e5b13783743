// Golden bytes: messages encoded BY HAND from upstream's field numbers and wire types must decode through our
// generated protobuf-es schemas to the right values; and what our generated encoder writes must decode the same
// through the independent @grpc/proto-loader (protobufjs) stack that reflection and test clients use.
// If a field number or type in proto/ drifts from upstream, these fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { CheckRequestSchema, CheckResponseSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { HeaderValueOption_HeaderAppendAction } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { StatusCode } from "../../src/gen/envoy/type/v3/http_status_pb.js";
import {
  AgentToProxySchema,
  HandshakeRequestSchema,
  ProxyToAgentSchema,
} from "../../src/gen/zentinel/agent/v2/agent_v2_pb.js";
import { X509BundlesResponseSchema } from "../../src/gen/spiffe/workload/workload_pb.js";
import { loadPackageDefinition, SERVICE_NAMES } from "../../src/protos.js";
import { status as grpcStatus } from "@grpc/grpc-js";

// ---- a tiny protobuf wire writer (deliberately independent of any protobuf library) ----------------------

const VARINT = 0;
const LEN = 2;

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  assert.ok(v >= 0n, "negative varints are not needed here");
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const tag = (field: number, wireType: number): number[] => varint((field << 3) | wireType);
const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];
const cat = (...parts: number[][]): number[] => parts.flat();

/** A varint field (int32/uint32/uint64/bool/enum). */
const vfield = (field: number, n: number | bigint): number[] => [...tag(field, VARINT), ...varint(n)];
/** A length-delimited field: string, bytes, sub-message, packed repeated scalars. */
const lfield = (field: number, payload: number[]): number[] => [
  ...tag(field, LEN),
  ...varint(payload.length),
  ...payload,
];
const sfield = (field: number, s: string): number[] => lfield(field, utf8(s));
/** One map entry: key = 1, value = 2. */
const mapEntry = (field: number, key: number[], value: number[]): number[] => lfield(field, cat(key, value));
const bytes = (parts: number[]): Uint8Array => Uint8Array.from(parts);

test("wire writer sanity: varints and tags", () => {
  assert.deepEqual(varint(0), [0]);
  assert.deepEqual(varint(1), [1]);
  assert.deepEqual(varint(150), [0x96, 0x01]); // the protobuf docs' example
  assert.deepEqual(varint(300), [0xac, 0x02]);
  assert.deepEqual(tag(1, LEN), [0x0a]);
  assert.deepEqual(tag(16, VARINT), [0x80, 0x01]);
  assert.deepEqual(sfield(2, "testing"), [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]);
});

// ---- Envoy ext_authz: CheckRequest -----------------------------------------------------------------------

const PEM = [
  "-----BEGIN CERTIFICATE-----",
  "MIIBszCCAVmgAwIBAgIRAKx3dGVzdC1vbmx5LW5vdC1hLWNlcnQwCgYIKoZIzj0E",
  "-----END CERTIFICATE-----",
  "",
].join("\n");
// Envoy URL-encodes the PEM (include_peer_certificate): newlines, spaces, '+', '/', '=' all escaped.
const PEM_URL_ENCODED = encodeURIComponent(PEM);

function checkRequestBytes(): Uint8Array {
  // envoy.config.core.v3.Address { socket_address = 1 { address = 2, port_value = 3 } }
  const address = lfield(1, cat(sfield(2, "10.1.2.3"), vfield(3, 44321)));
  // AttributeContext.Peer { address = 1, principal = 4, certificate = 5 }
  const source = cat(
    lfield(1, address),
    sfield(4, "spiffe://example.org/ns/default/sa/frontend"),
    sfield(5, PEM_URL_ENCODED),
  );
  const destination = cat(lfield(1, lfield(1, cat(sfield(2, "10.1.2.4"), vfield(3, 8443)))));
  // AttributeContext.HttpRequest { id = 1, method = 2, headers = 3 (map), path = 4, host = 5, scheme = 6, size = 9, protocol = 10 }
  const http = cat(
    sfield(1, "req-42"),
    sfield(2, "POST"),
    mapEntry(3, sfield(1, "x-request-id"), sfield(2, "abc-123")),
    sfield(4, "/payments/charge?amount=5"),
    sfield(5, "api.example.org"),
    sfield(6, "https"),
    vfield(9, 17),
    sfield(10, "HTTP/2"),
  );
  // AttributeContext.Request { time = 1 (Timestamp { seconds = 1, nanos = 2 }), http = 2 }
  const request = cat(lfield(1, cat(vfield(1, 1_700_000_000), vfield(2, 5_000_000))), lfield(2, http));
  const attributes = cat(
    lfield(1, source), //                                                 source = 1
    lfield(2, destination), //                                            destination = 2
    lfield(4, request), //                                                request = 4
    mapEntry(10, sfield(1, "route"), sfield(2, "payments")), //           context_extensions = 10
    lfield(12, sfield(1, "api.example.org")), //                          tls_session = 12 { sni = 1 }
  );
  return bytes(lfield(1, attributes)); //                                 CheckRequest.attributes = 1
}

test("CheckRequest: hand-encoded bytes decode through the generated schema", () => {
  const req = fromBinary(CheckRequestSchema, checkRequestBytes());
  const a = req.attributes;
  assert.ok(a);
  assert.equal(a.source?.certificate, PEM_URL_ENCODED);
  assert.equal(decodeURIComponent(a.source?.certificate ?? ""), PEM);
  assert.equal(a.source?.principal, "spiffe://example.org/ns/default/sa/frontend");
  const srcAddr = a.source?.address?.address;
  assert.equal(srcAddr?.case, "socketAddress");
  assert.equal(srcAddr?.value.address, "10.1.2.3");
  assert.deepEqual(srcAddr?.value.portSpecifier, { case: "portValue", value: 44321 });
  const dstAddr = a.destination?.address?.address;
  assert.equal(dstAddr?.case === "socketAddress" ? dstAddr.value.portSpecifier.value : undefined, 8443);

  const http = a.request?.http;
  assert.ok(http);
  assert.equal(http.id, "req-42");
  assert.equal(http.method, "POST");
  assert.equal(http.path, "/payments/charge?amount=5");
  assert.equal(http.host, "api.example.org");
  assert.equal(http.scheme, "https");
  assert.equal(http.size, 17n);
  assert.equal(http.protocol, "HTTP/2");
  assert.deepEqual(http.headers, { "x-request-id": "abc-123" });
  assert.equal(a.request?.time?.seconds, 1_700_000_000n);
  assert.equal(a.request?.time?.nanos, 5_000_000);
  assert.deepEqual(a.contextExtensions, { route: "payments" });
  assert.equal(a.tlsSession?.sni, "api.example.org");
});

test("CheckRequest: the same bytes decode identically through proto-loader (what Envoy-side test clients use)", () => {
  const def = loadPackageDefinition()[SERVICE_NAMES.envoyAuthorization] as grpc.ServiceDefinition;
  const check = def["Check"];
  assert.ok(check);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const req = check.requestDeserialize(Buffer.from(checkRequestBytes())) as any;
  assert.equal(req.attributes.source.certificate, PEM_URL_ENCODED);
  assert.equal(req.attributes.source.address.socket_address.port_value, 44321);
  assert.equal(req.attributes.request.http.method, "POST");
  assert.equal(req.attributes.request.http.path, "/payments/charge?amount=5");
  assert.equal(req.attributes.request.http.size, "17"); // longs: String
  assert.deepEqual({ ...req.attributes.request.http.headers }, { "x-request-id": "abc-123" });
  assert.deepEqual({ ...req.attributes.context_extensions }, { route: "payments" });
});

// ---- Zentinel agent protocol v2: the proxy's first message ------------------------------------------------

// What zentinel's v2 client sends first on ProcessStream: ProxyToAgent { handshake = 1 { HandshakeRequest } }.
function handshakeRequestBytes(packed: boolean): number[] {
  // HandshakeRequest { supported_versions = 1 (repeated uint32), proxy_id = 2, proxy_version = 3, config_json = 4 }
  const versions = packed ? lfield(1, cat(varint(2), varint(1))) : cat(vfield(1, 2), vfield(1, 1));
  return cat(versions, sfield(2, "zentinel-proxy"), sfield(3, "0.6.20"), sfield(4, "{}"));
}

test("Zentinel HandshakeRequest: hand-encoded bytes decode, packed (prost's encoding) and unpacked", () => {
  for (const packed of [true, false]) {
    const hs = fromBinary(HandshakeRequestSchema, bytes(handshakeRequestBytes(packed)));
    assert.deepEqual(hs.supportedVersions, [2, 1]);
    assert.equal(hs.proxyId, "zentinel-proxy");
    assert.equal(hs.proxyVersion, "0.6.20");
    assert.equal(hs.configJson, "{}");
  }
  // Our encoder writes exactly the canonical (packed, field-ordered) bytes.
  const hs = create(HandshakeRequestSchema, {
    supportedVersions: [2, 1],
    proxyId: "zentinel-proxy",
    proxyVersion: "0.6.20",
    configJson: "{}",
  });
  assert.deepEqual([...toBinary(HandshakeRequestSchema, hs)], handshakeRequestBytes(true));
});

test("Zentinel ProxyToAgent envelope: handshake = 1, then request_headers = 2 with RequestMetadata", () => {
  const first = fromBinary(ProxyToAgentSchema, bytes(lfield(1, handshakeRequestBytes(true))));
  assert.equal(first.message.case, "handshake");
  assert.equal(first.message.case === "handshake" ? first.message.value.proxyId : "", "zentinel-proxy");

  // RequestHeadersEvent { metadata = 1 { correlation_id = 1, client_ip = 3, client_port = 4, route_id = 8 (optional),
  //   timestamp_ms = 10 }, method = 2, uri = 3, http_version = 4, headers = 5 { name = 1, value = 2 } }
  const metadata = cat(
    sfield(1, "c-1"),
    sfield(3, "10.0.0.9"),
    vfield(4, 51000),
    sfield(8, "payments"),
    vfield(10, 1_700_000_000_123n),
  );
  const event = cat(
    lfield(1, metadata),
    sfield(2, "GET"),
    sfield(3, "/payments/1"),
    sfield(4, "HTTP/1.1"),
    lfield(5, cat(sfield(1, "x-forwarded-client-cert"), sfield(2, "By=spiffe://example.org/x"))),
  );
  const second = fromBinary(ProxyToAgentSchema, bytes(lfield(2, event)));
  assert.equal(second.message.case, "requestHeaders");
  if (second.message.case !== "requestHeaders") return;
  const rh = second.message.value;
  assert.equal(rh.metadata?.correlationId, "c-1");
  assert.equal(rh.metadata?.clientIp, "10.0.0.9");
  assert.equal(rh.metadata?.clientPort, 51000);
  assert.equal(rh.metadata?.routeId, "payments");
  assert.equal(rh.metadata?.serverName, undefined); // proto3 optional, absent
  assert.equal(rh.metadata?.timestampMs, 1_700_000_000_123n);
  assert.equal(rh.method, "GET");
  assert.equal(rh.uri, "/payments/1");
  assert.equal(rh.httpVersion, "HTTP/1.1");
  assert.deepEqual(
    rh.headers.map((h) => [h.name, h.value]),
    [["x-forwarded-client-cert", "By=spiffe://example.org/x"]],
  );
});

// ---- SPIFFE Workload API: X509BundlesResponse ------------------------------------------------------------

test("Workload API X509BundlesResponse: hand-encoded bundles map decodes to trust domain ID → DER bytes", () => {
  const der = [0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x00, 0xff]; // opaque bytes; non-UTF-8 on purpose
  const crl = [0x30, 0x03, 0x02, 0x01, 0x07];
  // X509BundlesResponse { crl = 1 (repeated bytes), bundles = 2 (map<string, bytes>) }
  const wire = cat(lfield(1, crl), mapEntry(2, sfield(1, "spiffe://example.org"), lfield(2, der)));
  const res = fromBinary(X509BundlesResponseSchema, bytes(wire));
  assert.deepEqual(Object.keys(res.bundles), ["spiffe://example.org"]);
  assert.deepEqual([...(res.bundles["spiffe://example.org"] ?? [])], der);
  assert.deepEqual(
    res.crl.map((c) => [...c]),
    [crl],
  );
  // And our encoder writes the same bytes back.
  assert.deepEqual([...toBinary(X509BundlesResponseSchema, res)], wire);
});

// ---- the other direction: our encoder → proto-loader decoder ---------------------------------------------

test("CheckResponse: generated toBinary decodes through proto-loader with the same values", () => {
  const ok = create(CheckResponseSchema, {
    status: { code: 0 },
    httpResponse: {
      case: "okResponse",
      value: {
        headers: [
          {
            header: { key: "x-spiffe-id", value: "spiffe://example.org/ns/default/sa/frontend" },
            appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
          },
        ],
        headersToRemove: ["x-spiffe-trust-domain", "x-auth-method"],
      },
    },
  });
  const wire = toBinary(CheckResponseSchema, ok);
  // Spot-check the wire against upstream numbers: CheckResponse.status = 1, ok_response = 3;
  // OkHttpResponse.headers = 2, headers_to_remove = 5; HeaderValueOption.append_action = 3 (OVERWRITE_IF_EXISTS_OR_ADD = 2).
  const expected = cat(
    lfield(1, []),
    lfield(
      3,
      cat(
        lfield(
          2,
          cat(
            lfield(1, cat(sfield(1, "x-spiffe-id"), sfield(2, "spiffe://example.org/ns/default/sa/frontend"))),
            vfield(3, 2),
          ),
        ),
        sfield(5, "x-spiffe-trust-domain"),
        sfield(5, "x-auth-method"),
      ),
    ),
  );
  assert.deepEqual([...wire], expected);

  const def = loadPackageDefinition()[SERVICE_NAMES.envoyAuthorization] as grpc.ServiceDefinition;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const res = def["Check"]!.responseDeserialize(Buffer.from(wire)) as any;
  assert.equal(res.status.code, grpcStatus.OK);
  assert.equal(res.http_response, "ok_response");
  assert.equal(res.denied_response, undefined);
  const [h] = res.ok_response.headers;
  assert.equal(h.header.key, "x-spiffe-id");
  assert.equal(h.header.value, "spiffe://example.org/ns/default/sa/frontend");
  assert.equal(h.append_action, "OVERWRITE_IF_EXISTS_OR_ADD");
  assert.equal(h.append, null); // deprecated BoolValue, unset
  assert.equal(h.keep_empty_value, false);
  assert.deepEqual(res.ok_response.headers_to_remove, ["x-spiffe-trust-domain", "x-auth-method"]);

  const denied = create(CheckResponseSchema, {
    status: { code: 7, message: "not_allowed" },
    httpResponse: { case: "deniedResponse", value: { status: { code: StatusCode.Forbidden }, body: "{}" } },
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const d = def["Check"]!.responseDeserialize(Buffer.from(toBinary(CheckResponseSchema, denied))) as any;
  assert.equal(d.status.code, grpcStatus.PERMISSION_DENIED);
  assert.equal(d.status.message, "not_allowed");
  assert.equal(d.http_response, "denied_response");
  assert.equal(d.denied_response.status.code, "Forbidden");
  assert.equal(d.denied_response.body, "{}");
});

test("Zentinel AgentToProxy handshake answer: generated toBinary decodes through proto-loader", () => {
  const msg = create(AgentToProxySchema, {
    message: {
      case: "handshake",
      value: {
        protocolVersion: 2,
        success: true,
        capabilities: {
          protocolVersion: 2,
          agentId: "spiffe-authz",
          name: "spiffe-authz",
          supportedEvents: [1],
          features: { configPush: true },
        },
      },
    },
  });
  const def = loadPackageDefinition()[SERVICE_NAMES.zentinelAgent] as grpc.ServiceDefinition;
  const stream = def["ProcessStream"];
  assert.ok(stream?.requestStream && stream.responseStream);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const out = stream.responseDeserialize(Buffer.from(toBinary(AgentToProxySchema, msg))) as any;
  assert.equal(out.message, "handshake");
  assert.equal(out.handshake.protocol_version, 2);
  assert.equal(out.handshake.success, true);
  assert.equal(out.handshake.capabilities.agent_id, "spiffe-authz");
  assert.deepEqual(out.handshake.capabilities.supported_events, [1]);
  assert.equal(out.handshake.capabilities.features.config_push, true);
});
