// A Zentinel door on a real GrpcHost (TCP and a unix socket), a real Engine over a BundleSet, and a client
// that behaves as the proxy's gRPC transport does (crates/agent-protocol/src/v2/client.rs).
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { GrpcHost } from "../../src/grpc/host.js";
import {
  zentinelAgentService,
  type ZentinelService,
  type ZentinelSettings,
  type HealthReport,
  type ReportedMetrics,
} from "../../src/adapters/zentinel/service.js";
import { Engine } from "../../src/engine/engine.js";
import { createAuditListener } from "../../src/engine/audit.js";
import { compilePolicy } from "../../src/policy/index.js";
import { parseConfig } from "../../src/config/load.js";
import { mergeOverFile } from "../../src/config/tighten.js";
import { ConfigError } from "../../src/config/errors.js";
import { parseListenAddress } from "../../src/grpc/address.js";
import { BundleSet } from "../../src/spiffe/index.js";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { createTelemetry, METRIC } from "../../src/telemetry/index.js";
import {
  ALLOWED,
  type AuthzRequest,
  type Decider,
  type Decision,
  type HeaderToSet,
} from "../../src/engine/contract.js";
import type { TrustSnapshot } from "../../src/trust/snapshot.js";
import { silentLogger } from "../../src/log.js";
import { zentinelClient, type Client } from "./clients.js";
import { capturedLogger, sleep, until } from "./log-capture.js";

export type Msg = Record<string, unknown> & { message?: string };

/**
 * The policy every fixture starts with: web allowed, intruder verified but not allowed; route "open" allows the
 * domain; "api" (the route_id headersEvent sends, as zentinel.kdl's route) uses the top-level allowlist.
 */
export const BASE_CONFIG = {
  allowlist: { exact: ["spiffe://example.org/web"] },
  routes: [{ name: "open", allowlist: { "trust-domains": ["example.org"] } }, { name: "api" }],
};

export interface Door {
  zentinel: ZentinelService;
  host: GrpcHost;
  tcp: string;
  unix: string;
  certs: { web: string; intruder: string; stranger: string };
  /** Correlation ids whose decision is held back for the given ms. */
  slow: Map<string, number>;
  /** Holds the decision of `cid` until the returned function is called (timing-free ordering in tests). */
  hold(cid: string): () => void;
  /** Correlation ids whose decision throws (an engine bug). */
  failing: Set<string>;
  /** Requests the engine saw, in order. */
  seen: AuthzRequest[];
  /** Most decisions running at once so far. */
  maxInFlight: () => number;
  /** Configs applied through applyConfig: [source, version]. */
  applied: Array<[string, string | undefined]>;
  audit: () => Array<Record<string, unknown>>;
  setHealth(h: HealthReport): void;
  setSpireAvailable(v: boolean): void;
  close(): Promise<void>;
}

/**
 * `settings` default to accepting pushed config (the stand-in applyConfig below is the accepting side); the
 * server's own gating and tighten-only rules are tested through startServer (server-fixture.ts).
 */
export async function startDoor(
  opts: {
    healthIntervalMs?: number;
    metricsIntervalMs?: number;
    maxConcurrency?: number;
    settings?: Partial<ZentinelSettings>;
  } = {},
): Promise<Door> {
  const ca = await DevCertificateAuthority.createRoot("example.org");
  const other = await DevCertificateAuthority.createRoot("other.org");
  const certs = {
    web: (await ca.issueX509Svid("spiffe://example.org/web")).pem,
    intruder: (await ca.issueX509Svid("spiffe://example.org/intruder")).pem,
    stranger: (await other.issueX509Svid("spiffe://other.org/web")).pem,
  };
  let snapshot: TrustSnapshot = { generation: 1, bundles: new BundleSet([ca.x509Bundle()]), spireAvailable: true };
  const engine = new Engine({
    policy: compilePolicy(parseConfig(BASE_CONFIG)),
    policyVersion: "base",
    trust: { current: () => snapshot },
  });
  const audit = capturedLogger();
  engine.onDecision(createAuditListener(audit.log));
  const telemetry = createTelemetry({ enabled: true, otlp: false, processMetrics: false });
  engine.onDecision(telemetry.onDecision);

  const slow = new Map<string, number>();
  const failing = new Set<string>();
  const gates = new Map<string, Promise<void>>();
  const seen: AuthzRequest[] = [];
  const applied: Array<[string, string | undefined]> = [];
  let health: HealthReport = { state: "healthy" };
  let inFlight = 0;
  let maxInFlight = 0;

  const zentinel = zentinelAgentService({
    engine: {
      decide: async (req) => {
        seen.push(req);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          const delay = req.correlationId ? slow.get(req.correlationId) : undefined;
          if (delay) await sleep(delay);
          const gate = req.correlationId ? gates.get(req.correlationId) : undefined;
          if (gate) await gate;
          if (req.correlationId && failing.has(req.correlationId)) throw new Error("engine bug");
          return await engine.decide(req);
        } finally {
          inFlight--;
        }
      },
    },
    // What the server does, reduced to the parts the door depends on: validate, lay over the base config as
    // over a file, compile, swap; or say why not. (Tighten-only is the server's: test/adapters/zentinel/pushed-config.)
    applyConfig: (json, source, version) => {
      try {
        const pushed: unknown = JSON.parse(json);
        parseConfig(pushed);
        engine.setPolicy(
          compilePolicy(parseConfig(mergeOverFile(parseConfig(BASE_CONFIG), pushed))),
          version ?? source,
        );
        applied.push([source, version]);
        return { ok: true, version: version ?? source };
      } catch (err) {
        if (err instanceof ConfigError)
          return { ok: false, error: err.message, ...(err.keyPath ? { field: err.keyPath } : {}) };
        if (err instanceof SyntaxError) return { ok: false, error: "config: not valid JSON" };
        throw err;
      }
    },
    settings: () => ({ acceptConfigure: true, handshakeTimeoutMs: 10_000, maxStreams: 1024, ...opts.settings }),
    health: () => health,
    metrics: async (): Promise<ReportedMetrics> => ({
      counters: (await telemetry.decisionCounts()).map((c) => ({
        name: METRIC.decisions,
        labels: { decision: c.decision, reason: c.reason, transport: c.transport },
        value: c.value,
      })),
      gauges: [{ name: METRIC.workloadApiConnected, labels: {}, value: snapshot.spireAvailable ? 1 : 0 }],
    }),
    log: silentLogger(),
    version: "test",
    healthIntervalMs: opts.healthIntervalMs ?? 100,
    metricsIntervalMs: opts.metricsIntervalMs ?? 100,
    ...(opts.maxConcurrency ? { maxConcurrency: opts.maxConcurrency } : {}),
    drainTimeoutMs: 2000,
  });
  const host = new GrpcHost([zentinel], silentLogger());
  const sock = join(mkdtempSync(join(tmpdir(), "zentinel-door-")), "agent.sock");
  const [tcp, unix] = (await host.bind([
    parseListenAddress("127.0.0.1:0", "t"),
    parseListenAddress(`unix://${sock}`, "t"),
  ])) as [string, string];
  host.setServing(true);
  return {
    zentinel,
    host,
    tcp,
    unix,
    certs,
    slow,
    hold: (cid) => {
      let release!: () => void;
      gates.set(cid, new Promise<void>((r) => (release = r)));
      return () => {
        gates.delete(cid);
        release();
      };
    },
    failing,
    seen,
    maxInFlight: () => maxInFlight,
    applied,
    audit: () => audit.lines().filter((l) => l["type"] === "audit"),
    setHealth: (h) => (health = h),
    setSpireAvailable: (v) => (snapshot = { ...snapshot, generation: snapshot.generation + 1, spireAvailable: v }),
    close: async () => {
      zentinel.shutdown();
      await telemetry.shutdown();
      await host.drain(1000);
    },
  };
}

/** The exact handshake the proxy sends (client.rs `connect`; proxy_version is its crate version). */
export const PROXY_HANDSHAKE = {
  handshake: { supported_versions: [2, 1], proxy_id: "zentinel-proxy", proxy_version: "0.6.20", config_json: "{}" },
};

export interface ProxyStream {
  call: grpc.ClientDuplexStream<unknown, Msg>;
  got: Msg[];
  status: () => grpc.StatusObject | undefined;
  headersReceived: () => boolean;
  responses: () => Array<Record<string, unknown>>;
  of: (kind: string) => Array<Record<string, unknown>>;
  ended: () => boolean;
}

export function openStream(client: Client): ProxyStream {
  const call = (client["ProcessStream"] as () => grpc.ClientDuplexStream<unknown, Msg>).call(client);
  const got: Msg[] = [];
  let status: grpc.StatusObject | undefined;
  let headers = false;
  let ended = false;
  call.on("metadata", () => (headers = true));
  call.on("data", (m: Msg) => got.push(m));
  call.on("status", (s: grpc.StatusObject) => (status = s));
  call.on("end", () => (ended = true));
  call.on("error", () => (ended = true));
  const of = (kind: string) => got.filter((m) => m.message === kind).map((m) => m[kind] as Record<string, unknown>);
  return {
    call,
    got,
    status: () => status,
    headersReceived: () => headers,
    responses: () => of("response"),
    of,
    ended: () => ended || status !== undefined,
  };
}

/**
 * The proxy's connect, step by step: open the stream and wait for the response headers (tonic's
 * `process_stream(..).await`), send the handshake, and require a successful HandshakeResponse as the
 * first message within the agent timeout.
 */
export async function connectAsProxy(client: Client, timeoutMs = 3000): Promise<ProxyStream> {
  const s = openStream(client);
  await until(s.headersReceived, timeoutMs, "response headers before the handshake is sent (tonic awaits them)");
  assert.equal(s.got.length, 0, "nothing is sent before the handshake");
  s.call.write(PROXY_HANDSHAKE);
  await until(() => s.got.length >= 1, timeoutMs, "HandshakeResponse");
  assert.equal(s.got[0]!.message, "handshake", "the first message back is the HandshakeResponse");
  const hs = s.got[0]!["handshake"] as Record<string, unknown>;
  assert.equal(hs["success"], true, `handshake failed: ${String(hs["error"])}`);
  return s;
}

/** A request_headers event as the proxy builds it (handlers.rs + manager.rs), XFCC carrying the client cert. */
export function headersEvent(
  cid: string,
  certPem: string | undefined,
  extra: { route?: string; uri?: string; headers?: Array<{ name: string; value: string }> } = {},
) {
  const headers = [
    { name: "host", value: "api.example.org" },
    { name: "user-agent", value: "curl/8" },
  ];
  if (certPem)
    headers.push({
      name: "x-forwarded-client-cert",
      value: `Hash=abc;Cert="${encodeURIComponent(certPem)}";URI=spiffe://example.org/x`,
    });
  headers.push(...(extra.headers ?? []));
  return {
    request_headers: {
      metadata: {
        correlation_id: cid,
        request_id: `req-${cid}`,
        client_ip: "10.0.0.1",
        client_port: 40000,
        server_name: "api.example.org",
        protocol: "HTTP/1.1",
        route_id: extra.route ?? "api",
        upstream_id: "backend",
        timestamp_ms: String(Date.now()),
        traceparent: `00-0af7651916cd43dd8448eb211c80319c-${cid
          .padEnd(16, "0")
          .slice(0, 16)
          .replace(/[^0-9a-f]/g, "a")}-01`,
      },
      method: "GET",
      uri: extra.uri ?? "/api/orders?page=2",
      http_version: "HTTP/1.1",
      headers,
    },
  };
}

export function blockOf(r: Record<string, unknown>): {
  status: number;
  body: string;
  headers: Array<{ name: string; value: string }>;
} {
  return r["block"] as { status: number; body: string; headers: Array<{ name: string; value: string }> };
}

export function headerOps(r: Record<string, unknown>): Array<[string, string, string?]> {
  return (r["request_headers"] as Array<Record<string, unknown>>).map((o) => {
    const op = o["operation"] as string;
    if (op === "remove") return ["remove", o["remove"] as string];
    const h = o[op] as { name: string; value: string };
    return [op, h.name, h.value];
  });
}

/** A stand-in engine's allow for spiffe://example.org/web, setting `headersToSet`. */
export function stubAllow(headersToSet: HeaderToSet[] = []): Decision {
  const id = "spiffe://example.org/web";
  return {
    ...ALLOWED,
    allow: true,
    reason: "ok",
    detail: "",
    identity: { spiffeId: id, trustDomain: "example.org", path: "/web", method: "spiffe" },
    headersToSet,
    headersToRemove: [],
  };
}

/** A Zentinel door on a real GrpcHost around a stand-in engine (and metrics source): no trust, no policy; its log captured. */
export interface StubDoor {
  zentinel: ZentinelService;
  /** host:port of its TCP listener. */
  target: string;
  client: Client;
  /** How often deps.applyConfig was called (the door's settings are the defaults: it never should be). */
  applyCalls: () => number;
  lines: () => Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startStubDoor(opts: {
  decide: Decider["decide"];
  /** Default: none (DEFAULT_SETTINGS); applyConfig is then never called. */
  settings?: ZentinelSettings;
  applyConfig?: Parameters<typeof zentinelAgentService>[0]["applyConfig"];
  metrics?: Parameters<typeof zentinelAgentService>[0]["metrics"];
  metricsIntervalMs?: number;
}): Promise<StubDoor> {
  const captured = capturedLogger();
  let applyCalls = 0;
  const zentinel = zentinelAgentService({
    engine: { decide: opts.decide },
    applyConfig: (json, source, version) => {
      applyCalls++;
      return opts.applyConfig?.(json, source, version) ?? { ok: false, error: "not in this test" };
    },
    ...(opts.settings ? { settings: () => opts.settings! } : {}),
    health: () => ({ state: "healthy" }),
    metrics: opts.metrics ?? (() => []),
    log: captured.log,
    version: "test",
    healthIntervalMs: 60_000,
    metricsIntervalMs: opts.metricsIntervalMs ?? 60_000,
  });
  const host = new GrpcHost([zentinel], silentLogger());
  const [target] = await host.bind([parseListenAddress("127.0.0.1:0", "t")]);
  const client = zentinelClient(target!);
  return {
    zentinel,
    target: target!,
    client,
    applyCalls: () => applyCalls,
    lines: captured.lines,
    stop: async () => {
      client.close();
      zentinel.shutdown();
      await host.drain(500);
    },
  };
}

export { zentinelClient };
