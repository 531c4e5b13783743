// The open Zentinel streams of one server, as a registry: admission under zentinel.max-streams, the count of
// events in flight, and draining (stop taking work, let in-flight events finish, end every stream).
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../../log.js";
import type { Session } from "./deps.js";

export class SessionRegistry {
  readonly sessions = new Set<Session>();
  /** When drain() began; undefined while serving. */
  protected drainingSince: number | undefined;
  private idleWaiters: Array<() => void> = [];
  private capWarned = false;

  constructor(
    readonly log: Logger,
    readonly drainTimeoutMs: number,
    private readonly maxStreams: () => number,
  ) {}

  /**
   * Admits a new ProcessStream or ControlStream, or refuses it with RESOURCE_EXHAUSTED before anything is
   * sent or held for it. Both kinds count: each holds a session and its buffers until the peer goes, and
   * neither needs a credential to open, so only their sum bounds what peers can make us hold.
   */
  admit(call: grpc.ServerDuplexStream<unknown, unknown>): boolean {
    const max = this.maxStreams();
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
