// Reconnect delays for the Workload API streams: exponential with full jitter (AWS architecture blog's
// "full jitter"), so replicas restarted together do not reconnect to the agent in lockstep.

export interface BackoffOptions {
  /** First ceiling (ms); the first retry waits uniformly in [0, initialMs]. */
  initialMs?: number;
  /** Largest ceiling (ms). */
  maxMs?: number;
  /** Uniform [0, 1); injectable for tests. */
  random?: () => number;
}

export const DEFAULT_INITIAL_BACKOFF_MS = 200;
/**
 * The agent is on this host: a retry is one failed connect() (repeats are logged at debug), and the time
 * from its return to fresh bundles is at most about this cap (plus the channel's, see client.ts). With
 * 30 s, an agent restart after a few seconds' outage went unnoticed for seconds while every request got
 * 503 under fail_closed. Refusals that need an operator keep their own floor (rejectedBackoffMs, 5 s).
 */
export const DEFAULT_MAX_BACKOFF_MS = 500;

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  private readonly random: () => number;
  private ceiling: number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = Math.max(1, opts.initialMs ?? DEFAULT_INITIAL_BACKOFF_MS);
    this.maxMs = Math.max(this.initialMs, opts.maxMs ?? DEFAULT_MAX_BACKOFF_MS);
    this.random = opts.random ?? Math.random;
    this.ceiling = this.initialMs;
  }

  /** Current ceiling, for logs. */
  get currentCeilingMs(): number {
    return this.ceiling;
  }

  /** Delay before the next attempt, uniform in [0, ceiling]; the ceiling then doubles up to the cap. */
  next(): number {
    const delay = Math.round(this.random() * this.ceiling);
    this.ceiling = Math.min(this.ceiling * 2, this.maxMs);
    return delay;
  }

  /**
   * Delay after a refusal that only an operator can fix (PERMISSION_DENIED, INVALID_ARGUMENT,
   * UNIMPLEMENTED): jump to the cap; the wait is uniform in [floorMs, max(floorMs, cap)], so the floor holds whatever
   * the jitter draws.
   */
  slow(floorMs: number): number {
    this.ceiling = this.maxMs;
    const top = Math.max(floorMs, this.maxMs);
    return Math.round(floorMs + this.random() * (top - floorMs));
  }

  reset(): void {
    this.ceiling = this.initialMs;
  }
}
