// Mutation-testing survivors in src/adapters/envoy/check.ts (bench/mutation-survivors.md): what the Envoy door
// tells Envoy besides allow/deny (ext_authz dynamic metadata, the status message) and what it passes on to the
// audit line (transport, host, route, request id, traceparent) were never asserted. Through the real gRPC door.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { GrpcHost } from "../../../src/grpc/host.js";
import { envoyAuthorizationService } from "../../../src/adapters/envoy/service.js";
import { Engine } from "../../../src/engine/engine.js";
import { createAuditListener } from "../../../src/engine/audit.js";
import { compilePolicy } from "../../../src/policy/index.js";
import { parseConfig } from "../../../src/config/load.js";
import { parseListenAddress } from "../../../src/grpc/address.js";
import { BundleSet } from "../../../src/spiffe/index.js";
import { DevCertificateAuthority } from "../../../src/dev-ca/index.js";
import type { TrustSnapshot } from "../../../src/trust/snapshot.js";
import { silentLogger } from "../../../src/log.js";
import { checkRequest, envoyClient, unary, type CheckResponseObj, type Client } from "../../helpers/clients.js";
import { capturedLogger, until } from "../../helpers/log-capture.js";

let host: GrpcHost;
let client: Client;
let web: string;
let audit: ReturnType<typeof capturedLogger>;

before(async () => {
  const ca = await DevCertificateAuthority.createRoot("example.org");
  web = (await ca.issueX509Svid("spiffe://example.org/web")).pem;
  const snapshot: TrustSnapshot = { generation: 1, bundles: new BundleSet([ca.x509Bundle()]), spireAvailable: true };
  const config = parseConfig({
    allowlist: { exact: ["spiffe://example.org/web"] },
    routes: [{ name: "payments", allowlist: { exact: ["spiffe://example.org/checkout"] } }],
  });
  const engine = new Engine({ policy: compilePolicy(config), trust: { current: () => snapshot } });
  audit = capturedLogger();
  engine.onDecision(createAuditListener(audit.log));
  host = new GrpcHost([envoyAuthorizationService(engine, silentLogger())], silentLogger());
  const [target] = await host.bind([parseListenAddress("127.0.0.1:0", "t")]);
  host.setServing(true);
  client = envoyClient(target!);
});

after(async () => {
  client.close();
  await host.drain(1000);
});

function metadata(res: CheckResponseObj): Record<string, string> {
  const fields = res.dynamic_metadata?.fields ?? {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.stringValue ?? v.string_value ?? ""]));
}

test("allow: dynamic metadata names decision, reason, identity and method; the status message is empty", async () => {
  const res = await unary<CheckResponseObj>(client, "Check", checkRequest({ certPem: web }));
  assert.equal(res.status.code, 0);
  assert.equal(res.status.message, "");
  assert.deepEqual(metadata(res), {
    decision: "allow",
    reason: "ok",
    spiffe_id: "spiffe://example.org/web",
    trust_domain: "example.org",
    auth_method: "spiffe",
  });
});

test("deny on a named route: metadata names the route and no identity fields beyond the verified ones", async () => {
  const res = await unary<CheckResponseObj>(client, "Check", checkRequest({ certPem: web, route: "payments" }));
  assert.equal(res.status.code, 7);
  assert.equal(res.status.message, "not_allowed");
  const md = metadata(res);
  assert.equal(md["decision"], "deny");
  assert.equal(md["reason"], "not_allowed");
  assert.equal(md["route"], "payments");
  const none = await unary<CheckResponseObj>(client, "Check", checkRequest({}));
  assert.deepEqual(metadata(none), { decision: "deny", reason: "no_certificate" });
});

test("the audit line carries what the door read: transport, host, route, request id, traceparent", async () => {
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const before = audit.lines().length;
  await unary<CheckResponseObj>(
    client,
    "Check",
    checkRequest({ certPem: web, route: "payments", headers: { traceparent } }),
  );
  await until(() => audit.lines().length > before, 3000, "audit line");
  const line = audit.lines().at(-1)!;
  assert.equal(line["transport"], "envoy");
  assert.equal(line["route"], "payments");
  assert.equal(line["request_id"], "rid-42");
  assert.equal(line["traceparent"], traceparent);
  assert.equal(line["request_method"], "GET");
  assert.equal(line["path"], "/api/orders");
});
