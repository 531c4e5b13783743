// The Zentinel door through a real GrpcHost, driven by a proto-loader client that behaves as the proxy does:
// handshake first, then request_headers events answered by correlation_id.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { GrpcHost } from "../../src/grpc/host.js";
import { zentinelAgentService } from "../../src/adapters/zentinel/service.js";
import { Engine } from "../../src/engine/engine.js";
import { ConfigManager } from "../../src/config/manager.js";
import { parseConfig } from "../../src/config/load.js";
import { parseListenAddress } from "../../src/cli/address.js";
import { BundleSet } from "../../src/spiffe/index.js";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { createTelemetry, METRIC } from "../../src/telemetry/index.js";
import type { AuthzRequest } from "../../src/engine/types.js";
import { silentLogger } from "../../src/log.js";
import { unary, zentinelClient, type Client } from "../helpers/clients.js";
import { sleep, until } from "../helpers/log-capture.js";

let host: GrpcHost;
let zentinel: ReturnType<typeof zentinelAgentService>;
let target: string;
let ca: DevCertificateAuthority;
let certs: { web: string; intruder: string };
let health: { state: "healthy" | "degraded" | "unhealthy"; message?: string } = { state: "healthy" };
const slowIds = new Set<string>();

type Msg = Record<string, unknown> & { message?: string };

before(async () => {
  ca = await DevCertificateAuthority.createRoot("example.org");
  certs = { web: (await ca.issueX509Svid("spiffe://example.org/web")).pem, intruder: (await ca.issueX509Svid("spiffe://example.org/intruder")).pem };
  const snapshot = { generation: 1, bundles: new BundleSet([ca.x509Bundle()]), spireAvailable: true };
  const log = silentLogger();
  const config = new ConfigManager(parseConfig({ allowlist: { exact: ["spiffe://example.org/web"] }, routes: [{ name: "open", allowlist: { "trust-domains": ["example.org"] } }] }), log);
  const engine = new Engine({ policy: config.applied.policy, trust: { current: () => snapshot } });
  config.onApply((a) => engine.setPolicy(a.policy, a.version));
  const telemetry = createTelemetry({ enabled: true, otlp: false, processMetrics: false });
  engine.onDecision(telemetry.onDecision);
  // A decider that can hold one request back, to prove pipelined events are not serialised behind it.
  const decider = {
    decide: async (req: AuthzRequest) => {
      if (req.correlationId && slowIds.has(req.correlationId)) await sleep(300);
      return engine.decide(req);
    },
  };
  zentinel = zentinelAgentService({
    engine: decider,
    applyConfig: (json, source, version) => config.applyJson(json, source, version),
    health: () => health,
    metrics: async () => (await telemetry.decisionCounts()).map((c) => ({ name: METRIC.decisions, labels: { decision: c.decision, reason: c.reason, transport: c.transport }, value: c.value })),
    log,
    version: "test",
    healthIntervalMs: 100,
    metricsIntervalMs: 100,
  });
  host = new GrpcHost([zentinel], log);
  [target] = (await host.bind([parseListenAddress("127.0.0.1:0", "t")])) as [string];
  host.setServing(true);
});

after(async () => {
  await host.drain(500);
});

/** A ProcessStream as the proxy opens it, collecting every message the agent sends. */
function open(client: Client) {
  const call = (client["ProcessStream"] as () => grpc.ClientDuplexStream<unknown, Msg>).call(client);
  const got: Msg[] = [];
  let ended = false;
  call.on("data", (m: Msg) => got.push(m));
  call.on("end", () => (ended = true));
  call.on("error", () => (ended = true));
  return { call, got, isEnded: () => ended, responses: () => got.filter((m) => m.message === "response").map((m) => m["response"] as Record<string, unknown>) };
}

function headersEvent(cid: string, certPem: string | undefined, extra: { route?: string; headers?: Array<{ name: string; value: string }> } = {}) {
  const headers = [{ name: "host", value: "api.example.org" }, { name: "x-spiffe-id", value: "spiffe://example.org/admin" }, ...(extra.headers ?? [])];
  if (certPem) headers.push({ name: "X-Forwarded-Client-Cert", value: `Hash=abc;Cert="${encodeURIComponent(certPem)}";URI=spiffe://example.org/x` });
  return {
    request_headers: {
      metadata: { correlation_id: cid, request_id: `req-${cid}`, client_ip: "10.0.0.1", protocol: "HTTP/1.1", timestamp_ms: "1", ...(extra.route ? { route_id: extra.route } : {}), traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
      method: "GET",
      uri: "/api/orders?x=1",
      http_version: "HTTP/1.1",
      headers,
    },
  };
}

const HANDSHAKE = { handshake: { supported_versions: [2, 1], proxy_id: "zentinel-proxy", proxy_version: "26.01.0", config_json: "{}" } };

test("the proxy's handshake succeeds with honest capabilities, then health arrives", async () => {
  const c = zentinelClient(target);
  const s = open(c);
  s.call.write(HANDSHAKE);
  await until(() => s.got.length >= 2, 2000, "handshake + health");
  const hs = s.got[0]!["handshake"] as Record<string, unknown>;
  assert.equal(hs["success"], true);
  assert.equal(hs["protocol_version"], 2);
  const caps = hs["capabilities"] as Record<string, unknown>;
  assert.deepEqual(caps["supported_events"], [1, 8]);
  const f = caps["features"] as Record<string, unknown>;
  assert.equal(f["config_push"], true);
  assert.equal(f["health_reporting"], true);
  assert.equal(f["streaming_body"], false);
  assert.equal(s.got[1]!.message, "health");
  s.call.end();
  c.close();
});

test("unsupported versions and a non-handshake first message are refused cleanly", async () => {
  for (const first of [{ handshake: { supported_versions: [1], proxy_id: "old" } }, headersEvent("x", certs.web)]) {
    const c = zentinelClient(target);
    const s = open(c);
    s.call.write(first);
    await until(() => s.isEnded(), 2000, "stream ended");
    const hs = s.got[0]!["handshake"] as Record<string, unknown>;
    assert.equal(hs["success"], false);
    assert.match(String(hs["error"]), /unsupported protocol versions \[1\]|expected a handshake first/);
    c.close();
  }
});

test("100 pipelined events (allow/401/403) all answered, matched by correlation_id; a slow one holds nothing back", async () => {
  const c = zentinelClient(target);
  const s = open(c);
  s.call.write(HANDSHAKE);
  slowIds.add("e0");
  const want = new Map<string, number>();
  for (let i = 0; i < 100; i++) {
    const kind = i % 3;
    const cid = `e${i}`;
    s.call.write(headersEvent(cid, kind === 0 ? certs.web : kind === 1 ? undefined : certs.intruder));
    want.set(cid, kind === 0 ? 0 : kind === 1 ? 401 : 403);
  }
  await until(() => s.responses().length === 100, 5000, "100 answers");
  const order = s.responses().map((r) => r["correlation_id"]);
  assert.notEqual(order[0], "e0", "the slow event did not hold the others back");
  for (const r of s.responses()) {
    const expected = want.get(r["correlation_id"] as string);
    if (expected === 0) {
      assert.equal(r["decision"], "allow");
      const ops = r["request_headers"] as Array<Record<string, unknown>>;
      const set = ops.filter((o) => o["operation"] === "set").map((o) => (o["set"] as { name: string; value: string }));
      assert.deepEqual(set.find((h) => h.name === "X-SPIFFE-Id")?.value, "spiffe://example.org/web");
    } else {
      assert.equal(r["decision"], "block");
      assert.equal((r["block"] as { status: number }).status, expected);
    }
  }
  slowIds.clear();
  s.call.end();
  c.close();
});

test("route_id picks the route; cancel suppresses the answer; ping gets pong", async () => {
  const c = zentinelClient(target);
  const s = open(c);
  s.call.write(HANDSHAKE);
  s.call.write(headersEvent("r1", certs.intruder, { route: "open" }));
  slowIds.add("gone");
  s.call.write(headersEvent("gone", certs.web));
  s.call.write({ cancel: { correlation_id: "gone", reason: 1 } });
  s.call.write({ ping: { sequence: "7", timestamp_ms: "123" } });
  await until(() => s.got.some((m) => m.message === "pong") && s.responses().length >= 1, 2000, "pong and answer");
  await sleep(400);
  slowIds.clear();
  assert.deepEqual(s.responses().map((r) => [r["correlation_id"], r["decision"]]), [["r1", "allow"]]);
  const pong = s.got.find((m) => m.message === "pong")!["pong"] as Record<string, unknown>;
  assert.equal(pong["sequence"], "7");
  assert.equal(pong["ping_timestamp_ms"], "123");
  s.call.end();
  c.close();
});

test("configure: a new allowlist decides the next event; a malformed one is refused and the old one still decides", async () => {
  const c = zentinelClient(target);
  const s = open(c);
  s.call.write(HANDSHAKE);
  s.call.write({ configure: { config_json: JSON.stringify({ allowlist: { exact: ["spiffe://example.org/intruder"] } }), config_version: "v2" } });
  s.call.write(headersEvent("after", certs.intruder));
  await until(() => s.responses().length === 1, 2000, "answer");
  assert.equal(s.responses()[0]!["decision"], "allow");
  s.call.write({ configure: { config_json: JSON.stringify({ allowlist: { exact: "not-a-list" } }), config_version: "v3" } });
  await until(() => s.got.some((m) => m.message === "config_update"), 2000, "config error reported");
  const upd = s.got.find((m) => m.message === "config_update")!["config_update"] as Record<string, unknown>;
  assert.equal(upd["request_id"], "v3");
  assert.match(String((upd["config_error"] as { error: string }).error), /allowlist\.exact/);
  s.call.write(headersEvent("still", certs.intruder));
  await until(() => s.responses().length === 2, 2000, "second answer");
  assert.equal(s.responses()[1]!["decision"], "allow", "v2 still in force");
  // restore for other tests
  s.call.write({ configure: { config_json: JSON.stringify({ allowlist: { exact: ["spiffe://example.org/web"] }, routes: [{ name: "open", allowlist: { "trust-domains": ["example.org"] } }] }) } });
  await sleep(50);
  s.call.end();
  c.close();
});

test("health turns degraded when the Workload API is lost; MetricsReport carries the decision counters", async () => {
  const c = zentinelClient(target);
  const s = open(c);
  s.call.write(HANDSHAKE);
  s.call.write(headersEvent("m1", certs.web));
  health = { state: "degraded", message: "Workload API lost" };
  await until(() => s.got.some((m) => m.message === "health" && (m["health"] as { state: number }).state === 2), 2000, "degraded health");
  await until(() => s.got.some((m) => m.message === "metrics"), 2000, "metrics report");
  health = { state: "healthy" };
  const report = s.got.filter((m) => m.message === "metrics").at(-1)!["metrics"] as { counters: Array<{ name: string; labels: Record<string, string>; value: string }> };
  const allow = report.counters.find((x) => x.name === "spiffe_authz_decisions_total" && x.labels["decision"] === "allow" && x.labels["transport"] === "zentinel" && x.labels["reason"] === "ok");
  assert.ok(allow && Number(allow.value) >= 1, JSON.stringify(report.counters));
  s.call.end();
  c.close();
});

test("ProcessEvent gives the same decision as the stream", async () => {
  const c = zentinelClient(target);
  for (const [cert, want] of [[certs.web, "allow"], [certs.intruder, "block"]] as const) {
    const res = await unary<Msg>(c, "ProcessEvent", headersEvent("u1", cert));
    assert.equal(res.message, "response");
    assert.equal((res["response"] as Record<string, unknown>)["decision"], want);
  }
  const pong = await unary<Msg>(c, "ProcessEvent", { ping: { sequence: "1", timestamp_ms: "5" } });
  assert.equal(pong.message, "pong");
  c.close();
});

test("a proxy that half-closes still gets the answer to its in-flight event", async () => {
  const c = zentinelClient(target);
  const s = open(c);
  s.call.write(HANDSHAKE);
  slowIds.add("late");
  s.call.write(headersEvent("late", certs.web));
  s.call.end();
  await until(() => s.isEnded(), 3000, "stream ended");
  slowIds.clear();
  assert.deepEqual(s.responses().map((r) => [r["correlation_id"], r["decision"]]), [["late", "allow"]]);
  c.close();
});

test("drain: DRAINING is reported, the in-flight event is still answered, then the stream ends (last: the door is done)", async () => {
  const c = zentinelClient(target);
  const s = open(c);
  s.call.write(HANDSHAKE);
  await until(() => s.got.length >= 1, 2000, "handshake");
  slowIds.add("inflight");
  s.call.write(headersEvent("inflight", certs.web));
  await sleep(50);
  await zentinel.drain();
  await until(() => s.isEnded(), 2000, "stream ended");
  assert.ok(s.got.some((m) => m.message === "health" && (m["health"] as { state: number }).state === 3), "DRAINING reported");
  assert.deepEqual(s.responses().map((r) => [r["correlation_id"], r["decision"]]), [["inflight", "allow"]]);
  slowIds.clear();
  // While draining, a new proxy connection is turned away so it goes to another instance.
  const again = open(c);
  again.call.write(HANDSHAKE);
  await until(() => again.isEnded(), 2000, "refused");
  assert.equal((again.got[0]!["handshake"] as Record<string, unknown>)["success"], false);
  assert.match(String((again.got[0]!["handshake"] as Record<string, unknown>)["error"]), /draining/);
  c.close();
});
