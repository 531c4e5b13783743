// Through the real gRPC doors (Envoy Check, Zentinel ProcessStream): a path-prefix route cannot be side-stepped by
// a spelling an upstream reads as inside it, an unknown route name is denied, and every spelling of an identity
// header that an upstream may fold onto ours is removed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { GrpcHost } from "../../src/grpc/host.js";
import { envoyAuthorizationService } from "../../src/adapters/envoy/service.js";
import { Engine } from "../../src/engine/engine.js";
import { compilePolicy } from "../../src/policy/index.js";
import { parseConfig } from "../../src/config/load.js";
import { parseListenAddress } from "../../src/grpc/address.js";
import { BundleSet } from "../../src/spiffe/index.js";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import type { TrustSnapshot } from "../../src/trust/snapshot.js";
import { silentLogger } from "../../src/log.js";
import { checkRequest, envoyClient, unary, type CheckResponseObj, type Client } from "../helpers/clients.js";
import { blockOf, connectAsProxy, headerOps, headersEvent, startDoor, zentinelClient } from "../helpers/zentinel.js";
import { until } from "../helpers/log-capture.js";
import { status as grpcStatus } from "@grpc/grpc-js";

let host: GrpcHost;
let client: Client;
let frontend: string;
let checkout: string;

before(async () => {
  const ca = await DevCertificateAuthority.createRoot("example.org");
  frontend = (await ca.issueX509Svid("spiffe://example.org/frontend")).pem;
  checkout = (await ca.issueX509Svid("spiffe://example.org/checkout")).pem;
  const snapshot: TrustSnapshot = { generation: 1, bundles: new BundleSet([ca.x509Bundle()]), spireAvailable: true };
  const config = parseConfig({
    allowlist: { exact: ["spiffe://example.org/frontend"] },
    routes: [
      {
        name: "payments",
        match: { "path-prefix": "/payments" },
        allowlist: { exact: ["spiffe://example.org/checkout"] },
      },
    ],
  });
  const engine = new Engine({ policy: compilePolicy(config), trust: { current: () => snapshot } });
  host = new GrpcHost([envoyAuthorizationService(engine, silentLogger())], silentLogger());
  const [target] = await host.bind([parseListenAddress("127.0.0.1:0", "t")]);
  host.setServing(true);
  client = envoyClient(target!);
});

after(async () => {
  client.close();
  await host.drain(1000);
});

const check = (certPem: string, path: string, extra: { route?: string; headers?: Record<string, string> } = {}) =>
  unary<CheckResponseObj>(client, "Check", checkRequest({ certPem, path, ...extra }));

test("an identity refused on /payments stays refused under every spelling an upstream may read as /payments", async () => {
  assert.equal((await check(frontend, "/payments/x")).status.code, 7, "baseline: frontend is not a payer");
  assert.equal((await check(frontend, "/api/orders")).status.code, 0, "baseline: frontend is allowed elsewhere");
  for (const path of [
    "/PAYMENTS/x",
    "/Payments",
    "/%50ayments/x",
    "/payments;v=1",
    "/payments%2Fx",
    "/payments%2fx",
    "/api/%2e%2e/payments/x",
    "/api/%2E%2E/payments",
    "/payments\\x",
    "//payments/x",
    "/payments%252Fx",
    "/api/..%2Fpayments/x",
    "/%70ayments/x",
  ]) {
    const res = await check(frontend, path);
    assert.equal(res.status.code, 7, `${path}: ${res.status.message}`);
    assert.equal(res.http_response, "denied_response");
  }
});

test("ambiguous paths require every route they may mean: the payer cannot reach a top-level path through //payments/…", async () => {
  assert.equal((await check(checkout, "/payments/charge")).status.code, 0, "baseline: checkout pays");
  assert.equal((await check(checkout, "/x")).status.code, 7, "baseline: checkout is not on the top-level allowlist");
  // `//payments/x` is /payments/x to a router and /x on host "payments" to a URL parser.
  assert.equal((await check(checkout, "//payments/x")).status.code, grpcStatus.PERMISSION_DENIED);
  // An unambiguous spelling keeps working for the payer; the query is never the path.
  assert.equal((await check(checkout, "/payments/charge?next=/x")).status.code, grpcStatus.OK);
  assert.equal((await check(frontend, "/api/x?p=/payments")).status.code, grpcStatus.OK);
});

test("a path too long to read every way must be allowed under every route: cheap, and never a way around /payments", async () => {
  const res = await check(frontend, "/api/" + "%2F".repeat(40_000));
  assert.equal(res.status.code, 7, "frontend is not a payer, and a long path might mean /payments");
  assert.match(res.status.message, /not_allowed/);
  assert.equal(
    (await check(checkout, "/payments" + "%2F".repeat(40_000))).status.code,
    7,
    "checkout is not on the top-level allowlist",
  );
  assert.equal(
    (await check(frontend, "/api/" + "a".repeat(8000))).status.code,
    0,
    "a long but readable path is read as usual",
  );
});

test("a GET-only route also governs HEAD and method overrides (frameworks run the GET handler for them)", async () => {
  const ca = await DevCertificateAuthority.createRoot("example.org");
  const web = (await ca.issueX509Svid("spiffe://example.org/web")).pem;
  const snapshot: TrustSnapshot = { generation: 1, bundles: new BundleSet([ca.x509Bundle()]), spireAvailable: true };
  const config = parseConfig({
    allowlist: { exact: ["spiffe://example.org/web"] },
    routes: [
      {
        name: "reports",
        match: { "path-prefix": "/reports", methods: ["GET"] },
        allowlist: { exact: ["spiffe://example.org/analyst"] },
      },
    ],
  });
  const engine = new Engine({ policy: compilePolicy(config), trust: { current: () => snapshot } });
  const h = new GrpcHost([envoyAuthorizationService(engine, silentLogger())], silentLogger());
  const [target] = await h.bind([parseListenAddress("127.0.0.1:0", "t")]);
  h.setServing(true);
  const c = envoyClient(target!);
  try {
    const code = async (method: string, headers: Record<string, string> = {}) =>
      (await unary<CheckResponseObj>(c, "Check", checkRequest({ certPem: web, path: "/reports/q3", method, headers })))
        .status.code;
    assert.equal(await code("POST"), 0, "baseline: POST /reports is not the GET-only route");
    assert.equal(await code("GET"), 7);
    assert.equal(await code("HEAD"), 7, "HEAD runs the GET handler");
    assert.equal(await code("POST", { "x-http-method-override": "GET" }), 7, "a method override to GET");
    assert.equal(await code("POST", { "x-http-method": "get" }), 7);
  } finally {
    c.close();
    await h.drain(1000);
  }
});

test("a route name the config does not define is 403 unknown_route, never the top-level allowlist", async () => {
  const res = await check(frontend, "/api/orders", { route: "paymnets" });
  assert.equal(res.status.code, grpcStatus.PERMISSION_DENIED);
  assert.equal(res.status.message, "unknown_route");
  assert.equal(JSON.parse(res.denied_response!.body).reason, "unknown_route");
  assert.equal(
    (await check(checkout, "/x", { route: "payments" })).status.code,
    0,
    "a defined name still selects its route",
  );
});

test("Envoy: every spelling of every identity header an upstream may fold onto ours is removed", async () => {
  const res = await check(frontend, "/api/orders", {
    headers: { x_spiffe_id: "spiffe://example.org/admin", "x-spiffe_trust_domain": "evil.org" },
  });
  assert.equal(res.status.code, grpcStatus.OK);
  const removed = new Set(res.ok_response!.headers_to_remove);
  for (const n of [
    "x_spiffe_id",
    "x-spiffe_id",
    "x_spiffe-id",
    "x_spiffe_trust_domain",
    "x-spiffe_trust_domain",
    "x_spiffe_workload_id",
    "x_auth_method",
    "x_auth_timestamp",
  ])
    assert.ok(removed.has(n), n);
  // The ones we set are overwritten, not removed (Envoy would drop ours too).
  const set = res.ok_response!.headers.map((h) => h.header.key.toLowerCase());
  for (const n of set) assert.ok(!removed.has(n), `${n} both set and removed`);
});

test("Zentinel: an unknown route_id is refused with 403, and every spelling of the identity headers is removed", async () => {
  const door = await startDoor();
  const c = zentinelClient(door.tcp);
  try {
    const s = await connectAsProxy(c);
    s.call.write(headersEvent("u1", door.certs.web, { route: "no-such-route" }));
    s.call.write(
      headersEvent("u2", door.certs.web, { headers: [{ name: "x_spiffe_id", value: "spiffe://example.org/admin" }] }),
    );
    await until(() => s.responses().length === 2, 3000, "two answers");
    const byId = (cid: string) => s.responses().find((r) => r["correlation_id"] === cid)!;
    assert.equal(blockOf(byId("u1")).status, 403);
    assert.equal(JSON.parse(blockOf(byId("u1")).body).reason, "unknown_route");
    const removes = headerOps(byId("u2"))
      .filter(([op]) => op === "remove")
      .map(([, name]) => name.toLowerCase());
    for (const n of ["x_spiffe_id", "x-spiffe_id", "x_auth_method", "x_spiffe_trust_domain"])
      assert.ok(removes.includes(n), `${n} in ${removes.join(",")}`);
    s.call.end();
  } finally {
    c.close();
    await door.close();
  }
});
