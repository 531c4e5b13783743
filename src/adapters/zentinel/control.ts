// ControlStream(stream AgentControl) returns (stream ProxyControl). As the server we receive AgentControl
// (health, metrics, config_update, log) and may send ProxyControl. The proxy never opens this stream (no caller
// in crates/agent-protocol/src/v2/client.rs); the upstream reference server (v2/server.rs) answers
// config_update with a ConfigUpdateResponse and only logs the rest. We do the same, answering honestly, and
// end the stream (OK) when the door drains or shuts down. Configure/Drain/Shutdown are ProxyControl, i.e.
// server → client on this RPC: they cannot arrive here; Configure arrives on ProcessStream.
// A RequestReload re-reads the config file, as SIGHUP does. It is not gated by zentinel.accept-configure:
// it brings in nothing from the network, only what the file's owner wrote.
import * as grpc from "@grpc/grpc-js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  LogLevel,
  ProxyControlSchema,
  type AgentControl,
  type ConfigUpdateRequest,
  type ConfigUpdateResponseSchema,
  type ProxyControl,
} from "../../gen/zentinel/agent/v2/agent_v2_pb.js";
import type { ZentinelAgent } from "./agent.js";
import type { Session } from "./deps.js";
import type { Logger } from "../../log.js";

/** What a config update request gets, mirroring the upstream ConfigUpdateHandler (observability.rs). */
function answer(
  req: ConfigUpdateRequest,
  agent: ZentinelAgent,
  log: Logger,
): MessageInitShape<typeof ConfigUpdateResponseSchema> {
  const base = { requestId: req.requestId, timestampMs: BigInt(Date.now()) };
  const u = req.updateType;
  switch (u.case) {
    case "restartRequired":
      agent.log.warn(
        { reason: u.value.reason, gracePeriodMs: u.value.gracePeriodMs },
        "Zentinel peer reports a restart is required",
      );
      return { ...base, accepted: true };
    case "configError":
      agent.log.error({ error: u.value.error, field: u.value.field }, "Zentinel peer reports a configuration error");
      return { ...base, accepted: true };
    case "requestReload": {
      const reload = agent.deps.reloadConfig;
      if (!reload) {
        log.info({ requestId: req.requestId }, "Zentinel RequestReload: nothing to reload (started without --config)");
        return {
          ...base,
          accepted: false,
          error: "nothing to reload: spiffe-authz was started without a config file (--config)",
        };
      }
      const r = reload();
      log.info(
        { requestId: req.requestId, ok: r.ok, ...(r.ok ? { version: r.version } : { error: r.error }) },
        "Zentinel RequestReload: config file re-read",
      );
      return r.ok ? { ...base, accepted: true } : { ...base, accepted: false, error: r.error };
    }
    case "ruleUpdate":
    case "listUpdate":
      return {
        ...base,
        accepted: false,
        error: `${u.case === "ruleUpdate" ? "rule" : "list"} updates are not supported; push the whole config with a Configure event`,
      };
    default:
      return { ...base, accepted: false, error: "empty config update" };
  }
}

export function controlStreamHandler(agent: ZentinelAgent) {
  return (call: grpc.ServerDuplexStream<AgentControl, ProxyControl>): void => {
    // Same reason as ProcessStream: a tonic client waits for response headers before it sends anything.
    if (!agent.admit(call)) return;
    call.sendMetadata(new grpc.Metadata());
    const log = agent.log.child({ peer: call.getPeer(), stream: "control" });
    let open = true;
    const session: Session = {
      inFlight: 0,
      reportHealth: () => {},
      end: () => {
        if (!open) return;
        open = false;
        agent.sessions.delete(session);
        call.end();
      },
    };
    const gone = () => {
      open = false;
      agent.sessions.delete(session);
    };
    if (agent.draining) return session.end();
    agent.sessions.add(session);
    call.on("data", (m: AgentControl) => {
      const c = m.message;
      switch (c.case) {
        case "configUpdate":
          if (open)
            call.write(
              create(ProxyControlSchema, { message: { case: "configResponse", value: answer(c.value, agent, log) } }),
            );
          return;
        case "log": {
          const level =
            c.value.level === LogLevel.ERROR
              ? "error"
              : c.value.level === LogLevel.WARN
                ? "warn"
                : c.value.level === LogLevel.INFO
                  ? "info"
                  : "debug";
          log[level]({ correlationId: c.value.correlationId, fields: c.value.fields }, `peer: ${c.value.message}`);
          return;
        }
        case "health":
        case "metrics":
          log.debug({ message: c.case }, "Zentinel control message");
          return;
        default:
          log.debug("empty AgentControl message ignored");
      }
    });
    call.on("end", () => session.end());
    call.on("cancelled", gone);
    call.on("error", gone);
  };
}
