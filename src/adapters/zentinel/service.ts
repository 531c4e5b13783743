// zentinel.agent.v2.AgentServiceV2: the Zentinel door. ProcessStream (stream.ts) is what the proxy uses;
// ProcessEvent answers one event without a session; ControlStream (control.ts) is served as the proto defines it.
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  AgentServiceV2,
  AgentToProxySchema,
  type AgentToProxy,
  type ProxyToAgent,
} from "../../gen/zentinel/agent/v2/agent_v2_pb.js";
import { serviceDefinition } from "../../grpc/service-definition.js";
import type { HostedService } from "../../grpc/host.js";
import { allowUnchanged } from "./translate.js";
import { ZentinelAgent } from "./agent.js";
import type { AgentToProxyInit, ZentinelDeps } from "./deps.js";
import { processStreamHandler } from "./stream.js";
import { controlStreamHandler } from "./control.js";

export { PROTOCOL_VERSION } from "./reports.js";
export type { HealthReport, ReportedMetrics, CounterSample, GaugeSample, HistogramSample } from "./reports.js";
export type { ZentinelDeps, ZentinelSettings, Decider } from "./deps.js";

export interface ZentinelService extends HostedService {
  /**
   * Graceful: new request_headers get 503 "draining", new handshakes are refused, every stream reports
   * DRAINING; in-flight events are answered (up to `timeoutMs`, default deps.drainTimeoutMs), then every
   * stream ends with OK status.
   */
  drain(timeoutMs?: number): Promise<void>;
  /** Immediate: ends every stream now (OK status); pending answers are dropped. */
  shutdown(): void;
  /** Open ProcessStreams and ControlStreams (what zentinel.max-streams bounds). */
  streams(): number;
}

class InvalidEvent extends Error {}

/** ProcessEvent: the same answers as on the stream, for one event without a session. */
async function processOne(agent: ZentinelAgent, m: ProxyToAgent, peer: string): Promise<AgentToProxyInit> {
  const c = m.message;
  switch (c.case) {
    case "handshake":
      // A capability query: there is no session to report a config error on, so config_json is not applied
      // here (push config with a `configure` event, which does answer errors).
      return agent.handshakeResponse(agent.negotiate(c.value));
    case "requestHeaders": {
      const cid = c.value.metadata?.correlationId ?? "";
      const value = agent.draining ? agent.drainingResponse(cid) : await agent.decide(c.value);
      return { message: { case: "response", value } };
    }
    case "ping":
      return agent.pong(c.value);
    case "configure":
      // Accepted: an empty AgentToProxy (nothing to report); rejected: ConfigUpdateRequest{config_error}.
      return agent.configure(c.value, agent.noticeFor(peer)) ?? {};
    case "requestBodyChunk":
    case "responseHeaders":
    case "responseBodyChunk":
    case "websocketFrame":
    case "guardrail":
      return { message: { case: "response", value: allowUnchanged(c.value.correlationId) } };
    case "requestComplete":
      return {};
    case "cancel":
      throw new InvalidEvent("cancel refers to an event on a ProcessStream; ProcessEvent has nothing to cancel");
    default:
      throw new InvalidEvent("empty ProxyToAgent message");
  }
}

/**
 * The Zentinel door. `deps.applyConfig` receives handshake `config_json` and Configure events (JSON of the
 * config file's schema); `deps.health()` and `deps.metrics()` are read at every report.
 */
export function zentinelAgentService(deps: ZentinelDeps): ZentinelService {
  const agent = new ZentinelAgent(deps);

  const ProcessEvent = (
    call: grpc.ServerUnaryCall<ProxyToAgent, AgentToProxy>,
    cb: grpc.sendUnaryData<AgentToProxy>,
  ) => {
    processOne(agent, call.request, call.getPeer()).then(
      (out) => cb(null, create(AgentToProxySchema, out)),
      (err: unknown) => {
        if (err instanceof InvalidEvent) return cb({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
        agent.log.error({ err }, "Zentinel ProcessEvent failed");
        cb({ code: grpc.status.INTERNAL, details: "internal error" });
      },
    );
  };

  return {
    name: AgentServiceV2.typeName,
    definition: serviceDefinition(AgentServiceV2),
    implementation: {
      ProcessStream: processStreamHandler(agent),
      ControlStream: controlStreamHandler(agent),
      ProcessEvent,
    },
    drain: (timeoutMs?: number) => agent.drain(timeoutMs),
    shutdown: () => agent.shutdown(),
    streams: () => agent.sessions.size,
  };
}
