// zentinel.agent.v2.AgentServiceV2. What the real proxy does (crates/agent-protocol/src/v2/client.rs): it opens
// ProcessStream, sends a HandshakeRequest first and fails the agent unless `success`; then it sends
// request_headers events and waits for an AgentResponse with the same correlation_id; configure and ping are
// fire-and-forget (a Pong comes back); cancel drops a pending request. Events are answered concurrently.
import * as grpc from "@grpc/grpc-js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  AgentServiceV2,
  AgentToProxySchema,
  EventType,
  HealthState,
  type AgentToProxy,
  type AgentControl,
  type ProxyControl,
  type ProxyToAgent,
} from "../../gen/zentinel/agent/v2/agent_v2_pb.js";
import { serviceDefinition } from "../../grpc/service-definition.js";
import type { HostedService } from "../../grpc/host.js";
import type { AuthzRequest, Decision } from "../../engine/types.js";
import type { Logger } from "../../log.js";
import { toAgentResponse, toAuthzRequest } from "./translate.js";

export const PROTOCOL_VERSION = 2;

export type AgentHealth = { state: "healthy" | "degraded" | "unhealthy"; message?: string };
export type ApplyConfig = (json: string, source: "handshake" | "configure", version?: string) => { ok: true } | { ok: false; error: string; field?: string };

export interface ZentinelDeps {
  engine: { decide(req: AuthzRequest): Promise<Decision> };
  applyConfig: ApplyConfig;
  health: () => AgentHealth;
  /** Counters for MetricsReport, read from the same instruments as /metrics. */
  metrics: () => Promise<Array<{ name: string; labels: Record<string, string>; value: number }>>;
  log: Logger;
  version: string;
  agentId?: string;
  healthIntervalMs?: number;
  metricsIntervalMs?: number;
}

export interface ZentinelService extends HostedService {
  /** Stop taking streams, report DRAINING, let in-flight events finish, then end every stream. */
  drain(): Promise<void>;
}

type Out = MessageInitShape<typeof AgentToProxySchema>;
const nowMs = () => BigInt(Date.now());
const STATE = { healthy: HealthState.HEALTHY, degraded: HealthState.DEGRADED, unhealthy: HealthState.UNHEALTHY } as const;

/** `{}` is what the proxy sends when its agent block has no `config`: it must not reset a file config to defaults. */
function isEmptyConfig(json: string): boolean {
  const t = json.trim();
  return t === "" || /^\{\s*\}$/.test(t);
}

export function zentinelAgentService(deps: ZentinelDeps): ZentinelService {
  const agentId = deps.agentId ?? `spiffe-authz-${process.pid}`;
  const streams = new Set<{ inFlight: number; end(): void; notify?: () => void }>();
  let draining = false;

  const capabilities = {
    protocolVersion: PROTOCOL_VERSION,
    agentId,
    name: "spiffe-authz",
    version: deps.version,
    supportedEvents: [EventType.REQUEST_HEADERS, EventType.CONFIGURE],
    features: { configPush: true, metricsExport: true, healthReporting: true, cancellation: true, concurrentRequests: 1000 },
    limits: { maxConcurrency: 1000 },
    healthConfig: { reportIntervalMs: deps.healthIntervalMs ?? 10_000 },
  };

  const healthMessage = (): Out => {
    const h = draining ? { state: "draining" as const, message: "draining" } : deps.health();
    const state = h.state === "draining" ? HealthState.DRAINING : STATE[h.state];
    return { message: { case: "health", value: { agentId, state, ...(h.message ? { message: h.message } : {}), timestampMs: nowMs(), recoverable: true } } };
  };

  const metricsMessage = async (intervalMs: number): Promise<Out> => {
    const counters = (await deps.metrics()).map((c) => ({ name: c.name, labels: c.labels, value: BigInt(Math.round(c.value)) }));
    return { message: { case: "metrics", value: { agentId, timestampMs: nowMs(), intervalMs: BigInt(intervalMs), counters } } };
  };

  /** One event → at most one answer; undefined means the protocol expects none. */
  const handle = async (m: ProxyToAgent, signal: { cancelled: boolean }): Promise<Out | undefined> => {
    const c = m.message;
    switch (c.case) {
      case "requestHeaders": {
        const t0 = performance.now();
        const d = await deps.engine.decide(toAuthzRequest(c.value));
        if (signal.cancelled) return undefined;
        return { message: { case: "response", value: toAgentResponse(c.value.metadata?.correlationId ?? "", d, performance.now() - t0) } };
      }
      case "configure": {
        const r = isEmptyConfig(c.value.configJson) ? ({ ok: true } as const) : deps.applyConfig(c.value.configJson, "configure", c.value.configVersion);
        if (r.ok) return undefined;
        return { message: { case: "configUpdate", value: { requestId: c.value.configVersion ?? "", timestampMs: nowMs(), updateType: { case: "configError", value: { error: r.error, ...(r.field ? { field: r.field } : {}) } } } } };
      }
      case "ping":
        return { message: { case: "pong", value: { sequence: c.value.sequence, pingTimestampMs: c.value.timestampMs, timestampMs: nowMs() } } };
      case "responseHeaders":
      case "requestBodyChunk":
      case "responseBodyChunk":
      case "websocketFrame":
      case "guardrail":
        // Not handled by a SPIFFE agent: allow unchanged so a proxy that sends them anyway never stalls.
        return { message: { case: "response", value: { correlationId: c.value.correlationId, decision: { case: "allow", value: {} } } } };
      default:
        return undefined; // request_complete, cancel, stray handshake: nothing to answer
    }
  };

  const ProcessStream = (call: grpc.ServerDuplexStream<ProxyToAgent, AgentToProxy>) => {
    const log = deps.log.child({ door: "zentinel", peer: call.getPeer() });
    const pending = new Map<string, { cancelled: boolean }>();
    const timers: NodeJS.Timeout[] = [];
    let handshaken = false;
    let ended = false;
    const write = (msg: Out) => {
      if (!ended) call.write(create(AgentToProxySchema, msg));
    };
    let closing = false;
    const state = {
      inFlight: 0,
      notify: () => write(healthMessage()),
      end: () => {
        if (ended) return;
        ended = true;
        for (const t of timers) clearInterval(t);
        streams.delete(state);
        call.end();
      },
    };
    streams.add(state);
    const fail = (error: string) => {
      log.warn({ error }, "Zentinel handshake refused");
      write({ message: { case: "handshake", value: { protocolVersion: PROTOCOL_VERSION, success: false, error, capabilities } } });
      state.end();
    };

    call.on("data", (m: ProxyToAgent) => {
      const c = m.message;
      if (!handshaken) {
        if (c.case !== "handshake") return fail(`expected a handshake first, got ${c.case ?? "an empty message"}`);
        if (draining) return fail("agent is draining; connect to another instance");
        if (!c.value.supportedVersions.includes(PROTOCOL_VERSION)) return fail(`unsupported protocol versions [${c.value.supportedVersions.join(", ")}]; this agent speaks ${PROTOCOL_VERSION}`);
        if (!isEmptyConfig(c.value.configJson)) {
          const r = deps.applyConfig(c.value.configJson, "handshake");
          // Refuse rather than run on a config the operator did not write (defaults allow every verified ID).
          if (!r.ok) return fail(r.error);
        }
        handshaken = true;
        log.info({ proxyId: c.value.proxyId, proxyVersion: c.value.proxyVersion }, "Zentinel proxy connected");
        write({ message: { case: "handshake", value: { protocolVersion: PROTOCOL_VERSION, success: true, capabilities } } });
        const hi = deps.healthIntervalMs ?? 10_000;
        const mi = deps.metricsIntervalMs ?? 10_000;
        timers.push(setInterval(() => write(healthMessage()), hi).unref());
        timers.push(setInterval(() => void metricsMessage(mi).then(write, (err: unknown) => log.warn({ err }, "metrics report failed")), mi).unref());
        write(healthMessage());
        return;
      }
      if (c.case === "cancel") {
        const p = pending.get(c.value.correlationId);
        if (p) p.cancelled = true;
        pending.delete(c.value.correlationId);
        return;
      }
      if (c.case === "handshake") return log.warn("second handshake on a stream ignored");
      const cid = c.case === "requestHeaders" ? (c.value.metadata?.correlationId ?? "") : "";
      const signal = { cancelled: false };
      if (cid) pending.set(cid, signal);
      state.inFlight++;
      handle(m, signal).then(
        (out) => out && write(out),
        (err: unknown) => {
          // The engine turns bad input into decisions; reaching here is a bug: block, and say so.
          log.error({ err }, "Zentinel event failed");
          if (c.case === "requestHeaders") write({ message: { case: "response", value: { correlationId: cid, decision: { case: "block", value: { status: 500, body: '{"reason":"internal_error"}' } } } } });
        },
      ).finally(() => {
        state.inFlight--;
        if (cid && pending.get(cid) === signal) pending.delete(cid);
        if (closing && state.inFlight === 0) state.end();
      });
    });
    // The proxy half-closed: answer what is in flight, then end our side.
    call.on("end", () => {
      closing = true;
      if (state.inFlight === 0) state.end();
    });
    call.on("error", () => state.end());
    call.on("cancelled", () => {
      ended = true;
      for (const t of timers) clearInterval(t);
      streams.delete(state);
    });
  };

  const ProcessEvent = (call: grpc.ServerUnaryCall<ProxyToAgent, AgentToProxy>, cb: grpc.sendUnaryData<AgentToProxy>) => {
    const c = call.request.message;
    if (c.case === "handshake") {
      const ok = c.value.supportedVersions.includes(PROTOCOL_VERSION);
      return cb(null, create(AgentToProxySchema, { message: { case: "handshake", value: { protocolVersion: PROTOCOL_VERSION, success: ok, capabilities, ...(ok ? {} : { error: "unsupported protocol versions" }) } } }));
    }
    handle(call.request, { cancelled: false }).then(
      (out) => cb(null, create(AgentToProxySchema, out ?? {})),
      (err: unknown) => {
        deps.log.error({ err }, "Zentinel ProcessEvent failed");
        if (c.case !== "requestHeaders") return cb({ code: grpc.status.INTERNAL, details: "internal error" });
        // A request decision that failed is a block, whatever the proxy's failure mode says.
        cb(null, create(AgentToProxySchema, { message: { case: "response", value: { correlationId: c.value.metadata?.correlationId ?? "", decision: { case: "block", value: { status: 500, body: '{"reason":"internal_error"}' } } } } }));
      },
    );
  };

  // The proto's control channel (health/metrics/config updates one way, configure/shutdown/drain the other) is
  // used by the proxy only in reverse-connection mode; as a server we keep it open, log what arrives, and end
  // it on drain.
  const ControlStream = (call: grpc.ServerDuplexStream<AgentControl, ProxyControl>) => {
    const state = { inFlight: 0, end: () => (streams.delete(state), call.end()) };
    streams.add(state);
    call.on("data", (m: AgentControl) => deps.log.debug({ message: m.message.case }, "Zentinel control message"));
    call.on("end", () => state.end());
    call.on("error", () => streams.delete(state));
    call.on("cancelled", () => streams.delete(state));
  };

  return {
    name: AgentServiceV2.typeName,
    definition: serviceDefinition(AgentServiceV2),
    implementation: { ProcessStream, ProcessEvent, ControlStream },
    async drain() {
      draining = true;
      for (const s of streams) s.notify?.();
      const t0 = Date.now();
      while ([...streams].some((s) => s.inFlight > 0) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
      for (const s of [...streams]) s.end();
    },
  };
}
