// The Zentinel agent: what every stream of one server shares (the deps, the capabilities we announce, config
// notices) and the per-event answers that ProcessStream and ProcessEvent give alike. The open streams and
// draining are its SessionRegistry (sessions.ts); what it is given is deps.ts.
import type {
  ConfigureEvent,
  HandshakeRequest,
  Ping,
  RequestHeadersEvent,
} from "../../gen/zentinel/agent/v2/agent_v2_pb.js";
import type { PushedSource } from "../../policy/config-manager.js";
import { blockResponse, toAgentResponse, toAuthzRequest, type AgentResponseInit } from "./translate.js";
import {
  PROTOCOL_VERSION,
  capabilities,
  healthStatus,
  metricsReport,
  type HealthReport,
  type ReportedMetrics,
} from "./reports.js";
import {
  DEFAULT_SETTINGS,
  isEmptyConfig,
  type AgentToProxyInit,
  type ConfigNotice,
  type ZentinelDeps,
  type ZentinelSettings,
} from "./deps.js";
import { SessionRegistry } from "./sessions.js";

export class ZentinelAgent extends SessionRegistry {
  readonly agentId: string;
  readonly healthIntervalMs: number;
  readonly metricsIntervalMs: number;
  readonly maxConcurrency: number;
  private configSeq = 0;
  private xfccWarned = false;
  /** ProcessEvent has no connection of its own: peers are told apart by address (unix-socket peers share one). */
  private readonly peerNotices = new Map<string, ConfigNotice>();

  constructor(readonly deps: ZentinelDeps) {
    super(
      deps.log.child({ door: "zentinel" }),
      deps.drainTimeoutMs ?? 5000,
      () => (deps.settings?.() ?? DEFAULT_SETTINGS).maxStreams,
    );
    this.agentId = deps.agentId ?? `spiffe-authz-${process.pid}`;
    this.healthIntervalMs = deps.healthIntervalMs ?? 10_000;
    this.metricsIntervalMs = deps.metricsIntervalMs ?? 10_000;
    this.maxConcurrency = deps.maxConcurrency ?? 1000;
  }

  settings(): ZentinelSettings {
    return this.deps.settings?.() ?? DEFAULT_SETTINGS;
  }

  noticeFor(peer: string): ConfigNotice {
    let n = this.peerNotices.get(peer);
    if (!n) {
      // Bounded: forgetting peers only means one more log line for a peer seen before.
      if (this.peerNotices.size >= 1024) this.peerNotices.clear();
      this.peerNotices.set(peer, (n = { refusalLogged: false }));
    }
    return n;
  }

  /**
   * Zentinel hands agents no TLS peer certificate and neither sets nor strips X-Forwarded-Client-Cert (nor
   * Client-Cert, nor any other), so on this door identities rest entirely on the hop in front of the proxy
   * replacing the configured header. Said once, loudly.
   */
  warnAboutXfccOnce(): void {
    if (this.xfccWarned) return;
    this.xfccWarned = true;
    this.log.warn(
      "Zentinel door: client certificates come only from the configured client-cert header (tls.client-cert-header, in tls.client-cert-format), which Zentinel neither sets nor sanitizes; " +
        "a hop in front of Zentinel must terminate mTLS and replace that header, or clients can present any certificate they have seen (docs/security.md)",
    );
  }

  /** Refusal reason for a handshake, or undefined to accept it. */
  negotiate(h: HandshakeRequest): string | undefined {
    if (this.draining) return "spiffe-authz is draining (shutting down); connect to another instance";
    if (!h.supportedVersions.includes(PROTOCOL_VERSION)) {
      return `unsupported protocol versions [${h.supportedVersions.join(", ")}]; spiffe-authz speaks version ${PROTOCOL_VERSION} only`;
    }
    return undefined;
  }

  handshakeResponse(error: string | undefined): AgentToProxyInit {
    // config_push says whether we take pushed config now: the proxy registers us with its config pusher only
    // then, instead of pushing config we would answer with errors.
    const caps = capabilities({
      agentId: this.agentId,
      version: this.deps.version,
      maxConcurrency: this.maxConcurrency,
      healthIntervalMs: this.healthIntervalMs,
      configPush: this.settings().acceptConfigure,
    });
    return {
      message: {
        case: "handshake",
        value: {
          protocolVersion: PROTOCOL_VERSION,
          success: error === undefined,
          ...(error !== undefined ? { error } : {}),
          capabilities: caps,
        },
      },
    };
  }

  /**
   * Applies pushed config. Success needs no answer (the proxy fires Configure and forgets it); a rejection is
   * reported as ConfigUpdateRequest{config_error}, which the proxy logs at error level with the field.
   * `{}`, "" and null carry nothing to apply or refuse, so they get no answer either way: the real proxy sends
   * `{}` in every handshake.
   */
  applyConfig(
    json: string,
    source: PushedSource,
    version: string | undefined,
    notice: ConfigNotice,
  ): AgentToProxyInit | undefined {
    if (isEmptyConfig(json)) return undefined;
    if (!this.settings().acceptConfigure) {
      // Anyone who reaches the port could send one (e.g. fail_open + require-mtls false): ignored, said once per
      // connection in our log (a proxy that pushes on every reload would otherwise flood it), and answered
      // every time so the sender's own log says why nothing changed.
      const error = `config: zentinel.accept-configure: is false in the config file: ${source === "handshake" ? "handshake config_json" : "Configure event"} ignored; the config in force stays`;
      if (!notice.refusalLogged) {
        notice.refusalLogged = true;
        this.log.warn(
          { source, version },
          "Zentinel pushed config ignored: zentinel.accept-configure is false in the config file (said once per connection)",
        );
      }
      return this.configError(error, "zentinel.accept-configure", source, version);
    }
    const r = this.deps.applyConfig(json, source, version);
    if (r.ok) return undefined;
    this.log.error(
      { source, version, error: r.error, field: r.field },
      "Zentinel config rejected; the previous config stays in force",
    );
    return this.configError(r.error, r.field, source, version);
  }

  private configError(
    error: string,
    field: string | undefined,
    source: PushedSource,
    version: string | undefined,
  ): AgentToProxyInit {
    return {
      message: {
        case: "configUpdate",
        value: {
          requestId: version ?? `${source}-${++this.configSeq}`,
          timestampMs: BigInt(Date.now()),
          updateType: { case: "configError", value: { error, ...(field ? { field } : {}) } },
        },
      },
    };
  }

  configure(ev: ConfigureEvent, notice: ConfigNotice): AgentToProxyInit | undefined {
    return this.applyConfig(ev.configJson, "configure", ev.configVersion, notice);
  }

  /** Never rejects: an engine failure is a bug, answered with a block so the request stays stopped. */
  async decide(ev: RequestHeadersEvent): Promise<AgentResponseInit> {
    const cid = ev.metadata?.correlationId ?? "";
    const t0 = performance.now();
    try {
      const d = await this.deps.engine.decide(toAuthzRequest(ev));
      return toAgentResponse(cid, d, performance.now() - t0);
    } catch (err) {
      this.log.error({ err, correlationId: cid }, "Zentinel decision failed");
      return blockResponse(cid, 500, "internal_error", "authorization failed");
    }
  }

  /**
   * While draining, new request_headers get an immediate fail-closed 503. The proxy ignores our DRAINING
   * health (client.rs only trace-logs it) and keeps sending until the stream ends; not answering would make
   * each request wait for the agent timeout and then fall to the filter's failure-mode, which may be "open".
   */
  drainingResponse(correlationId: string): AgentResponseInit {
    return blockResponse(correlationId, 503, "draining", "authorization agent is shutting down; retry");
  }

  pong(p: Ping): AgentToProxyInit {
    return {
      message: {
        case: "pong",
        value: { sequence: p.sequence, pingTimestampMs: p.timestampMs, timestampMs: BigInt(Date.now()) },
      },
    };
  }

  health(): HealthReport {
    if (this.drainingSince !== undefined)
      return { state: "draining", message: "draining: finishing in-flight events, then ending streams" };
    return this.deps.health();
  }

  healthMessage(): AgentToProxyInit {
    const status = healthStatus(this.agentId, this.health(), this.inFlight(), this.healthIntervalMs);
    if (this.drainingSince !== undefined)
      status.drainEtaMs = BigInt(Math.max(0, this.drainingSince + this.drainTimeoutMs - Date.now()));
    return { message: { case: "health", value: status } };
  }

  async metricsMessage(): Promise<AgentToProxyInit> {
    const raw = await this.deps.metrics();
    const snapshot: ReportedMetrics = Array.isArray(raw) ? { counters: raw } : raw;
    return { message: { case: "metrics", value: metricsReport(this.agentId, snapshot, this.metricsIntervalMs) } };
  }
}
