import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GrpcHost } from "../../../src/grpc/host.js";
import { envoyAuthorizationService } from "../../../src/adapters/envoy/service.js";
import { Engine } from "../../../src/engine/engine.js";
import { compilePolicy } from "../../../src/policy/index.js";
import { parseConfig } from "../../../src/config/load.js";
import { parseListenAddress } from "../../../src/grpc/address.js";
import { BundleSet } from "../../../src/spiffe/index.js";
import { DevCertificateAuthority } from "../../../src/dev-ca/index.js";
import type { TrustSnapshot } from "../../../src/trust/snapshot.js";
import { silentLogger } from "../../../src/log.js";
import {
  checkRequest,
  envoyClient,
  healthClient,
  unary,
  type CheckResponseObj,
  type Client,
} from "../../helpers/clients.js";
import { status as grpcStatus } from "@grpc/grpc-js";

let host: GrpcHost;
let tcp: Client;
let unix: Client;
let example: DevCertificateAuthority;
let other: DevCertificateAuthority;
let snapshot: TrustSnapshot;

before(async () => {
  example = await DevCertificateAuthority.createRoot("example.org");
  other = await DevCertificateAuthority.createRoot("other.org");
  snapshot = { generation: 1, bundles: new BundleSet([example.x509Bundle()]), spireAvailable: true };
  const config = parseConfig({
    allowlist: { prefix: ["spiffe://example.org/services"] },
    routes: [{ name: "payments", allowlist: { exact: ["spiffe://example.org/services/checkout"] } }],
  });
  const engine = new Engine({ policy: compilePolicy(config), trust: { current: () => snapshot } });
  host = new GrpcHost([envoyAuthorizationService(engine, silentLogger())], silentLogger());
  const sock = join(mkdtempSync(join(tmpdir(), "envoy-door-")), "authz.sock");
  const bound = await host.bind([parseListenAddress("127.0.0.1:0", "t"), parseListenAddress(`unix://${sock}`, "t")]);
  host.setServing(true);
  await host.enableReflection();
  tcp = envoyClient(bound[0]!);
  unix = envoyClient(bound[1]!);
});

after(async () => {
  tcp.close();
  unix.close();
  await host.drain(1000);
});

function headerMap(res: CheckResponseObj): Record<string, string> {
  return Object.fromEntries((res.ok_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
}

test("allowed SVID over TCP: OK, identity headers overwrite, spoofed header removed, dynamic metadata", async () => {
  const svid = await example.issueX509Svid("spiffe://example.org/services/web");
  const res = await unary<CheckResponseObj>(
    tcp,
    "Check",
    checkRequest({ certPem: svid.pem, headers: { "x-spiffe-id": "spiffe://example.org/admin" } }),
  );
  assert.equal(res.status.code, grpcStatus.OK);
  assert.equal(res.http_response, "ok_response");
  const h = headerMap(res);
  assert.equal(h["X-SPIFFE-Id"], "spiffe://example.org/services/web");
  assert.equal(h["X-SPIFFE-Trust-Domain"], "example.org");
  assert.equal(h["X-SPIFFE-Workload-Id"], "/services/web");
  assert.equal(h["X-Auth-Method"], "spiffe");
  assert.match(h["X-Auth-Timestamp"] ?? "", /^\d{10}$/);
  for (const hv of res.ok_response!.headers) assert.equal(hv.append_action, "OVERWRITE_IF_EXISTS_OR_ADD");
  // Every identity header is either overwritten or removed: a client-sent x-spiffe-id cannot survive.
  assert.ok(
    Object.keys(h)
      .map((k) => k.toLowerCase())
      .includes("x-spiffe-id"),
  );
  const md = res.dynamic_metadata?.fields ?? {};
  assert.equal(md["spiffe_id"]?.stringValue ?? md["spiffe_id"]?.string_value, "spiffe://example.org/services/web");
});

test("same decisions over the unix socket", async () => {
  const svid = await example.issueX509Svid("spiffe://example.org/servicesx");
  const res = await unary<CheckResponseObj>(unix, "Check", checkRequest({ certPem: svid.pem }));
  assert.equal(res.status.code, grpcStatus.PERMISSION_DENIED);
  assert.equal(res.denied_response?.status.code, "Forbidden");
  assert.equal(JSON.parse(res.denied_response!.body).reason, "not_allowed");
});

test("no certificate → UNAUTHENTICATED with 401 and a JSON reason", async () => {
  const res = await unary<CheckResponseObj>(tcp, "Check", checkRequest({}));
  assert.equal(res.status.code, grpcStatus.UNAUTHENTICATED);
  assert.equal(res.denied_response?.status.code, "Unauthorized");
  assert.deepEqual(JSON.parse(res.denied_response!.body).reason, "no_certificate");
  assert.deepEqual(
    res.denied_response!.headers.map((h) => h.header.key),
    ["content-type"],
  );
});

test("certificate from another trust domain → 401 unknown_trust_domain; expired → 401 expired", async () => {
  const foreign = await other.issueX509Svid("spiffe://other.org/services/web");
  let res = await unary<CheckResponseObj>(tcp, "Check", checkRequest({ certPem: foreign.pem }));
  assert.equal(res.status.code, grpcStatus.UNAUTHENTICATED);
  assert.equal(JSON.parse(res.denied_response!.body).reason, "unknown_trust_domain");
  const expired = await example.issueX509Svid("spiffe://example.org/services/web", {
    notBefore: new Date(Date.now() - 7200_000),
    notAfter: new Date(Date.now() - 3600_000),
  });
  res = await unary<CheckResponseObj>(tcp, "Check", checkRequest({ certPem: expired.pem }));
  assert.equal(JSON.parse(res.denied_response!.body).reason, "expired");
});

test("SPIRE unavailable and no bundle → UNAVAILABLE with 503", async () => {
  const saved = snapshot;
  snapshot = { generation: 2, bundles: new BundleSet(), spireAvailable: false };
  try {
    const svid = await example.issueX509Svid("spiffe://example.org/services/web");
    const res = await unary<CheckResponseObj>(tcp, "Check", checkRequest({ certPem: svid.pem }));
    assert.equal(res.status.code, grpcStatus.UNAVAILABLE);
    assert.equal(res.denied_response?.status.code, "ServiceUnavailable");
    assert.equal(JSON.parse(res.denied_response!.body).reason, "spire_unavailable");
  } finally {
    snapshot = saved;
  }
});

test("route named by context_extensions applies its own allowlist", async () => {
  const svid = await example.issueX509Svid("spiffe://example.org/services/web");
  const dflt = await unary<CheckResponseObj>(tcp, "Check", checkRequest({ certPem: svid.pem }));
  const payments = await unary<CheckResponseObj>(tcp, "Check", checkRequest({ certPem: svid.pem, route: "payments" }));
  assert.equal(dflt.status.code, grpcStatus.OK);
  assert.equal(payments.status.code, grpcStatus.PERMISSION_DENIED);
});

test("health reports SERVING for the empty name and the service name; unknown service is NOT_FOUND", async () => {
  const target = host.bound[0]!;
  const h = healthClient(target);
  try {
    assert.deepEqual(await unary(h, "Check", { service: "" }), { status: "SERVING" });
    assert.deepEqual(await unary(h, "Check", { service: "envoy.service.auth.v3.Authorization" }), {
      status: "SERVING",
    });
    await assert.rejects(unary(h, "Check", { service: "nope" }), (e: { code: number }) => e.code === 5);
  } finally {
    h.close();
  }
});

test("server reflection lists exactly the services this port answers, health included (what `grpcurl list` shows)", async () => {
  const { listServices } = await import("../../helpers/clients.js");
  const names = await listServices(host.bound[0]!);
  // This host serves the Envoy door only: not the Zentinel one, and not SpiffeWorkloadAPI, which our protos
  // describe because we are its client.
  assert.deepEqual(names, ["envoy.service.auth.v3.Authorization", "grpc.health.v1.Health"]);
});

test("an engine failure is answered with a denial (500), never a transport error Envoy might fail open on", async () => {
  const broken = new GrpcHost(
    [envoyAuthorizationService({ decide: () => Promise.reject(new Error("boom")) }, silentLogger())],
    silentLogger(),
  );
  const [t] = await broken.bind([parseListenAddress("127.0.0.1:0", "t")]);
  const c = envoyClient(t!);
  try {
    const res = await unary<CheckResponseObj>(c, "Check", checkRequest({}));
    assert.equal(res.status.code, grpcStatus.INTERNAL);
    assert.equal(res.http_response, "denied_response");
    assert.equal(res.denied_response?.status.code, "InternalServerError");
    assert.equal(JSON.parse(res.denied_response!.body).reason, "internal_error");
  } finally {
    c.close();
    await broken.drain(200);
  }
});
