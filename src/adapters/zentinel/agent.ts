// State shared by every Zentinel stream of one server: the deps, the capabilities we announce, the open
// sessions, and whether the door is draining. Also the per-event answers that ProcessStream and ProcessEvent
// give alike.
import * as grpc from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  AgentToProxySchema,
  ConfigureEvent,
  HandshakeRequest,
  Ping,
  RequestHeadersEvent,
} from "../../gen/zentinel/agent/v2/agent_v2_pb.js";
import type { AuthzRequest, Decision } from "../../engine/types.js";
import type { Logger } from "../../log.js";
import type { ApplyResult, PushedSource } from "../../policy/config-manager.js";
import { blockResponse, toAgentResponse, toAuthzRequest, type AgentResponseInit } from "./translate.js";
import {
  PROTOCOL_VERSION,
  capabilities,
  healthStatus,
  metricsReport,
  type CounterSample,
  type HealthReport,
  type ReportedMetrics,
} from "./reports.js";

export type AgentToProxyInit = MessageInitShape<typeof AgentToProxySchema>;

export interface Decider {
  /** A Decision, or a Promise of one (JWT-SVIDs); `await` takes both. */
  decide(req: AuthzRequest): Decision | Promise<Decision>;
}

/** The `zentinel` section of the config file. */
export interface ZentinelSettings {
  /** Whether Configure events and handshake config_json are applied at all (then deps.applyConfig decides). */
  acceptConfigure: boolean;
  /** A ProcessStream without a handshake by then is ended (DEADLINE_EXCEEDED). */
  handshakeTimeoutMs: number;
  /** Open ProcessStreams and ControlStreams together; beyond it a new one is refused (RESOURCE_EXHAUSTED). */
  maxStreams: number;
}

/** The schema's defaults: what a door whose deps say nothing runs with (config pushed over the network refused). */
export const DEFAULT_SETTINGS: Readonly<ZentinelSettings> = Object.freeze({
  acceptConfigure: false,
  handshakeTimeoutMs: 10_000,
  maxStreams: 1024,
});

export interface ZentinelDeps {
  engine: Decider;
  /**
   * Validates and applies a config (same schema as the file); on error the previous config stays in force.
   * Called only while settings().acceptConfigure is true.
   */
  applyConfig(json: string, source: PushedSource, version?: string): ApplyResult;
  /** Read when a stream opens and at every pushed config, so a config file reload applies. Default: DEFAULT_SETTINGS. */
  settings?: () => ZentinelSettings;
  /** ControlStream RequestReload: re-reads the config file as SIGHUP does. Absent when there is no file. */
  reloadConfig?: () => ApplyResult;
  /** degraded: Workload API lost but still deciding (cache); unhealthy: cannot decide (no bundles). */
  health(): HealthReport;
  /**
   * Current values read from the same OTel instruments as /metrics (no second set of counters here).
   * A bare counter array is accepted too (what server.ts passes today).
   */
  metrics(): ReportedMetrics | CounterSample[] | Promise<ReportedMetrics | CounterSample[]>;
  log: Logger;
  version: string;
  /** Default `spiffe-authz-<pid>`. */
  agentId?: string;
  /** HealthStatus period on every ProcessStream (default 10 s). */
  healthIntervalMs?: number;
  /** MetricsReport period on every ProcessStream (default 10 s). */
  metricsIntervalMs?: number;
  /** In-flight events per stream before we stop reading from it (default 1000; the proxy uses ≤ 100). */
  maxConcurrency?: number;
  /** How long drain() waits for in-flight events before ending streams anyway (default 5 s). */
  drainTimeoutMs?: number;
}

/**
 * Whether a connection has been told (in our log) that its pushed config is ignored. A ProcessStream has one;
 * ProcessEvent calls share one per peer address.
 */
export interface ConfigNotice {
  refusalLogged: boolean;
}

/** An open ProcessStream or ControlStream. */
export interface Session {
  readonly inFlight: number;
  /** Sends a HealthStatus now (no-op on streams that carry none). */
  reportHealth(): void;
  /** Ends the stream with OK status; answers still pending are dropped. */
  end(): void;
}

/** `{}` (what the proxy always sends: client.rs hard-codes it), "" and null carry no config: keep the one in force. */
export function isEmptyConfig(json: string): boolean {
  return /^\s*(\{\s*\}|null)?\s*$/.test(json);
}

export class ZentinelAgent {
  readonly agentId: string;
  readonly healthIntervalMs: number;
  readonly metricsIntervalMs: number;
  readonly maxConcurrency: number;
  readonly drainTimeoutMs: number;
  readonly log: Logger;
  readonly sessions = new Set<Session>();
  private drainingSince: number | undefined;
  private configSeq = 0;
  private idleWaiters: Array<() => void> = [];
  private xfccWarned = false;
  private capWarned = false;
  /** ProcessEvent has no connection of its own: peers are told apart by address (unix-socket peers share one). */
  private readonly peerNotices = new Map<string, ConfigNotice>();

  constructor(readonly deps: ZentinelDeps) {
    this.agentId = deps.agentId ?? `spiffe-authz-${process.pid}`;
    this.healthIntervalMs = deps.healthIntervalMs ?? 10_000;
    this.metricsIntervalMs = deps.metricsIntervalMs ?? 10_000;
    this.maxConcurrency = deps.maxConcurrency ?? 1000;
    this.drainTimeoutMs = deps.drainTimeoutMs ?? 5000;
    this.log = deps.log.child({ door: "zentinel" });
  }

  settings(): ZentinelSettings {
    return this.deps.settings?.() ?? DEFAULT_SETTINGS;
  }

  /**
   * Admits a new ProcessStream or ControlStream, or refuses it with RESOURCE_EXHAUSTED before anything is
   * sent or held for it. Both kinds count: each holds a session and its buffers until the peer goes, and
   * neither needs a credential to open, so only their sum bounds what peers can make us hold.
   */
  admit(call: grpc.ServerDuplexStream<unknown, unknown>): boolean {
    const max = this.settings().maxStreams;
    if (this.sessions.size < max) {
      this.capWarned = false;
      return true;
    }
    // Once per episode at the cap, not once per refused stream: a reconnect loop would flood the log.
    if (!this.capWarned) {
      this.capWarned = true;
      this.log.warn(
        { streams: this.sessions.size, maxStreams: max, peer: call.getPeer() },
        "Zentinel stream refused: zentinel.max-streams reached (said once until a stream is admitted again)",
      );
    }
    call.emit("error", {
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: `spiffe-authz serves at most ${max} Zentinel streams at once (zentinel.max-streams); retry later or on another instance`,
    });
    return false;
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
   * Zentinel hands agents no TLS peer certificate and neither sets nor strips X-Forwarded-Client-Cert, so on
   * this door identities rest entirely on the hop in front of the proxy replacing that header. Said once, loudly.
   */
  warnAboutXfccOnce(): void {
    if (this.xfccWarned) return;
    this.xfccWarned = true;
    this.log.warn(
      "Zentinel door: client certificates come only from the configured XFCC header (tls.client-cert-header), which Zentinel neither sets nor sanitizes; " +
        "a hop in front of Zentinel must terminate mTLS and replace that header, or clients can present any certificate they have seen (docs/security.md)",
    );
  }

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  inFlight(): number {
    let n = 0;
    for (const s of this.sessions) n += s.inFlight;
    return n;
  }

  /** Called by a session whenever one of its events settles. */
  settled(): void {
    if (this.idleWaiters.length > 0 && this.inFlight() === 0) for (const w of this.idleWaiters.splice(0)) w();
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

  /** Stop taking new work, report DRAINING, let in-flight events finish (bounded), then end every stream OK. */
  async drain(timeoutMs = this.drainTimeoutMs): Promise<void> {
    if (this.drainingSince === undefined) {
      this.drainingSince = Date.now();
      this.log.info({ streams: this.sessions.size, inFlight: this.inFlight() }, "Zentinel door draining");
      for (const s of this.sessions) s.reportHealth();
    }
    if (this.inFlight() > 0) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([idle, late]);
      clearTimeout(timer);
      const left = this.inFlight();
      if (left > 0)
        this.log.warn({ inFlight: left, timeoutMs }, "Zentinel drain timeout; ending streams with events unanswered");
    }
    this.shutdown();
  }

  /** Ends every stream now (OK status); answers still pending are dropped. */
  shutdown(): void {
    this.drainingSince ??= Date.now();
    for (const s of [...this.sessions]) s.end();
  }
}
