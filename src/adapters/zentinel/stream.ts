// ProcessStream: one proxy connection. What the real proxy does (crates/agent-protocol/src/v2/client.rs):
//   1. opens the stream and awaits the response headers (tonic), only then
//   2. sends HandshakeRequest{supported_versions [2, 1], proxy_id "zentinel-proxy", config_json "{}"} and
//      fails the connection unless the first message back is a HandshakeResponse with success;
//   3. sends request_headers (and, if its `events` config asks, body chunks / response_headers), each
//      waiting for an AgentResponse with the same correlation_id, many at once on one stream;
//   4. sends cancel (after dropping its own waiter) and, fire-and-forget, configure and ping.
// It reads HealthStatus, MetricsReport, ConfigUpdateRequest and Pong from the same stream.
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  AgentToProxySchema,
  type AgentToProxy,
  type CancelRequest,
  type HandshakeRequest,
  type ProxyToAgent,
  type RequestHeadersEvent,
} from "../../gen/zentinel/agent/v2/agent_v2_pb.js";
import type { Logger } from "../../log.js";
import { allowUnchanged } from "./translate.js";
import type { ZentinelAgent } from "./agent.js";
import type { AgentToProxyInit, ConfigNotice, Session } from "./deps.js";

/** A request_headers event waiting for its answer; a cancel marks it so the answer is dropped. */
type PendingEvent = { readonly cid: string; cancelled: boolean };

export function processStreamHandler(agent: ZentinelAgent) {
  return (call: grpc.ServerDuplexStream<ProxyToAgent, AgentToProxy>): void => {
    if (agent.admit(call)) new StreamSession(agent, call);
  };
}

class StreamSession implements Session {
  inFlight = 0;
  private phase: "handshake" | "open" | "closed" = "handshake";
  private halfClosed = false;
  private paused = false;
  private metricsBusy = false;
  /** In-flight request_headers events; cancel (rare) scans it, so the hot path allocates no index. */
  private readonly pending = new Set<PendingEvent>();
  private readonly timers: NodeJS.Timeout[] = [];
  private handshakeTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly notice: ConfigNotice = { refusalLogged: false };

  constructor(
    private readonly agent: ZentinelAgent,
    private readonly call: grpc.ServerDuplexStream<ProxyToAgent, AgentToProxy>,
  ) {
    this.log = agent.log.child({ peer: call.getPeer() });
    // tonic returns from `process_stream(..).await` only once response headers arrive, and the proxy sends its
    // handshake after that; grpc-js would send headers with our first message. Without this both sides wait.
    call.sendMetadata(new grpc.Metadata());
    agent.sessions.add(this);
    // A stream that never says hello would hold its session (and a zentinel.max-streams slot) for good.
    const timeoutMs = agent.settings().handshakeTimeoutMs;
    this.handshakeTimer = setTimeout(() => this.handshakeExpired(timeoutMs), timeoutMs).unref();
    call.on("data", (m: ProxyToAgent) => this.guarded(() => this.onMessage(m)));
    call.on("end", () => {
      // The proxy closed its side: answer what is in flight, then close ours.
      this.halfClosed = true;
      this.finishIfIdle();
    });
    call.on("cancelled", () => this.abort());
    call.on("error", () => this.abort());
  }

  /** Sends `msg` unless the stream is closed; nothing for undefined (a pushed config that needs no answer). */
  private write(msg: AgentToProxyInit | undefined): void {
    if (msg !== undefined && this.phase !== "closed") this.call.write(create(AgentToProxySchema, msg));
  }

  reportHealth(): void {
    if (this.phase === "open") this.write(this.agent.healthMessage());
  }

  end(): void {
    if (this.phase === "closed") return;
    this.close();
    this.call.end();
  }

  /** The peer went away: nothing more can be written. */
  private abort(): void {
    if (this.phase !== "closed") this.close();
  }

  private close(): void {
    this.phase = "closed";
    clearTimeout(this.handshakeTimer);
    for (const t of this.timers) clearInterval(t);
    for (const t of this.pending) t.cancelled = true;
    this.pending.clear();
    this.agent.sessions.delete(this);
    // Close our side before the last in-flight events settle: drain must not wait for answers nobody sends.
    this.inFlight = 0;
    this.agent.settled();
  }

  /** A throw out of our own handling (a bug) ends the stream INTERNAL, as ProcessEvent answers it, not the process. */
  private guarded(run: () => void): void {
    try {
      run();
    } catch (err) {
      this.log.error({ err }, "Zentinel stream failed");
      this.close();
      this.call.emit("error", { code: grpc.status.INTERNAL, details: "internal error" });
    }
  }

  private handshakeExpired(timeoutMs: number): void {
    if (this.phase !== "handshake") return;
    this.log.warn({ timeoutMs }, "Zentinel stream ended: no handshake within zentinel.handshake-timeout-ms");
    this.close();
    // Not an OK end: nothing was refused, the peer just never spoke, and its client should say so.
    this.call.emit("error", {
      code: grpc.status.DEADLINE_EXCEEDED,
      details: `no HandshakeRequest within ${timeoutMs} ms (zentinel.handshake-timeout-ms); stream ended`,
    });
  }

  private finishIfIdle(): void {
    if (this.halfClosed && this.inFlight === 0) this.end();
  }

  private onMessage(m: ProxyToAgent): void {
    if (this.phase === "closed") return;
    const c = m.message;
    if (this.phase === "handshake") {
      if (c.case === "handshake") return this.onHandshake(c.value);
      return this.refuse(`expected a HandshakeRequest as the first message, got ${c.case ?? "an empty message"}`);
    }
    switch (c.case) {
      case "requestHeaders":
        return this.onRequestHeaders(c.value);
      case "requestBodyChunk":
      case "responseHeaders":
      case "responseBodyChunk":
      case "websocketFrame":
      case "guardrail":
        // The proxy waits for an answer to each of these (send_and_wait); we have nothing to add: pass.
        return this.write({ message: { case: "response", value: allowUnchanged(c.value.correlationId) } });
      case "requestComplete":
        // Nobody waits for it; an answer could even satisfy another waiter with the same correlation_id.
        return;
      case "cancel":
        return this.onCancel(c.value);
      case "configure":
        return this.write(this.agent.configure(c.value, this.notice));
      case "ping":
        return this.write(this.agent.pong(c.value));
      case "handshake": {
        // Not something the proxy does; answer it as the first one, without restarting the reports.
        const error = this.agent.negotiate(c.value);
        this.write(this.agent.handshakeResponse(error));
        if (error === undefined)
          this.write(this.agent.applyConfig(c.value.configJson, "handshake", undefined, this.notice));
        return;
      }
      default:
        this.log.debug("empty ProxyToAgent message ignored");
    }
  }

  private onHandshake(h: HandshakeRequest): void {
    const error = this.agent.negotiate(h);
    if (error !== undefined) return this.refuse(error);
    this.phase = "open";
    clearTimeout(this.handshakeTimer);
    this.write(this.agent.handshakeResponse(undefined));
    // A rejected config does not fail the handshake: a refused handshake leaves the proxy without this agent
    // (manager.rs logs it and carries on), so every request would fall to the route filter's failure-mode:
    // all 5xx (closed) or no identity check at all (open). The old config keeps deciding; the error goes out
    // as ConfigUpdateRequest{config_error}, which the proxy logs at error level. The same holds for a
    // config_json we do not even look at (zentinel.accept-configure false): success, config ignored, one
    // warning in our log for the connection.
    this.write(this.agent.applyConfig(h.configJson, "handshake", undefined, this.notice));
    this.log.info(
      { proxyId: h.proxyId, proxyVersion: h.proxyVersion, supportedVersions: h.supportedVersions },
      "Zentinel proxy connected",
    );
    this.agent.warnAboutXfccOnce();
    this.write(this.agent.healthMessage());
    this.timers.push(setInterval(() => this.reportHealth(), this.agent.healthIntervalMs).unref());
    this.timers.push(setInterval(() => this.reportMetrics(), this.agent.metricsIntervalMs).unref());
  }

  /** success=false with the reason, then a clean end (OK status): the proxy reports "Handshake failed: <reason>". */
  private refuse(error: string): void {
    this.log.warn({ error }, "Zentinel handshake refused");
    this.write(this.agent.handshakeResponse(error));
    this.end();
  }

  private onRequestHeaders(ev: RequestHeadersEvent): void {
    const cid = ev.metadata?.correlationId ?? "";
    if (this.agent.draining)
      return this.write({ message: { case: "response", value: this.agent.drainingResponse(cid) } });
    const event: PendingEvent = { cid, cancelled: false };
    this.track(event);
    // Not awaited: the next event is read while this one is decided.
    void this.agent.decide(ev).then((value) => {
      if (!event.cancelled) this.write({ message: { case: "response", value } });
      this.untrack(event);
    });
  }

  /** The proxy has already dropped its waiter: do not answer (it would log "unknown correlation ID"). */
  private onCancel(c: CancelRequest): void {
    // The pool sends every cancel to all its connections: most are for events on other streams.
    let hit = false;
    for (const t of this.pending) if (t.cid === c.correlationId) hit = t.cancelled = true;
    if (hit) this.log.debug({ correlationId: c.correlationId, reason: c.reason }, "Zentinel event cancelled");
  }

  private track(t: PendingEvent): void {
    this.pending.add(t);
    this.inFlight++;
    // Backpressure instead of unbounded buffering: stop reading; HTTP/2 flow control holds the proxy back.
    if (this.inFlight >= this.agent.maxConcurrency && !this.paused) {
      this.paused = true;
      this.call.pause();
    }
  }

  private untrack(t: PendingEvent): void {
    if (this.phase === "closed") return;
    this.pending.delete(t);
    this.inFlight--;
    if (this.paused && this.inFlight < this.agent.maxConcurrency) {
      this.paused = false;
      this.call.resume();
    }
    this.agent.settled();
    this.finishIfIdle();
  }

  private reportMetrics(): void {
    if (this.metricsBusy || this.phase !== "open") return;
    this.metricsBusy = true;
    const warn = (err: unknown) => this.log.warn({ err }, "Zentinel MetricsReport failed");
    void this.agent
      .metricsMessage()
      .then((msg) => this.write(msg), warn)
      .finally(() => (this.metricsBusy = false));
  }
}
