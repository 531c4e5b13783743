// The stateful shell around the pure decide(): current policy, trust source, clock, chain cache, and
// the listeners (telemetry, audit) that observe every decision.
import { performance } from "node:perf_hooks";
import type { Policy } from "../policy/index.js";
import type { TrustSnapshotSource } from "../trust/snapshot.js";
import { ChainCache } from "./chain-cache.js";
import { decide } from "./decide.js";
import type { AuthzRequest, Decision } from "./contract.js";

/** What a listener may want besides the request and decision: the policy that decided. */
export interface DecisionContext {
  policy: Policy;
  policyVersion: string;
}

export type DecisionListener = (
  req: AuthzRequest,
  decision: Decision,
  durationSeconds: number,
  ctx: DecisionContext,
) => void;

export interface EngineOptions {
  policy: Policy;
  /** Free-form label of where the policy came from (file path + mtime, Configure event id, ...). */
  policyVersion?: string;
  trust: TrustSnapshotSource;
  clock?: () => Date;
  /** A cache to use, or false for none; default a new ChainCache with default limits. */
  cache?: ChainCache | false;
  /** Told about listeners that threw; the decision itself is unaffected. */
  onListenerError?: (err: unknown, listener: DecisionListener) => void;
}

export class Engine {
  // Policy and version live in one object swapped by a single assignment, so a decision always sees a
  // matching pair, even when setPolicy runs between two requests.
  private state: DecisionContext;
  private readonly trust: TrustSnapshotSource;
  private readonly clock: () => Date;
  private readonly listeners = new Set<DecisionListener>();
  private readonly onListenerError: ((err: unknown, listener: DecisionListener) => void) | undefined;
  readonly cache: ChainCache | undefined;

  constructor(opts: EngineOptions) {
    this.state = { policy: opts.policy, policyVersion: opts.policyVersion ?? "initial" };
    this.trust = opts.trust;
    this.clock = opts.clock ?? (() => new Date());
    this.cache = opts.cache === false ? undefined : (opts.cache ?? new ChainCache());
    this.onListenerError = opts.onListenerError;
  }

  get policy(): Policy {
    return this.state.policy;
  }

  get policyVersion(): string {
    return this.state.policyVersion;
  }

  /** Replaces the policy atomically; decisions already running finish with the one they started with. */
  setPolicy(policy: Policy, version = "unversioned"): void {
    this.state = { policy, policyVersion: version };
  }

  /** Subscribes a listener; returns the unsubscribe function. */
  onDecision(listener: DecisionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Decides, then tells every listener. X.509 decisions come back synchronously (no promise hop on the hot
   * path), JWT-SVID ones as a Promise; `await` handles both. Throws/rejects only on a bug; a throwing listener
   * is reported, not fatal.
   */
  decide(req: AuthzRequest): Decision | Promise<Decision> {
    const ctx = this.state;
    const start = performance.now();
    const out = decide(req, ctx.policy, this.trust.current(), this.clock(), this.cache);
    if (out instanceof Promise) return out.then((d) => this.notify(req, d, start, ctx));
    return this.notify(req, out, start, ctx);
  }

  private notify(req: AuthzRequest, decision: Decision, start: number, ctx: DecisionContext): Decision {
    const durationSeconds = (performance.now() - start) / 1000;
    for (const listener of this.listeners) {
      try {
        listener(req, decision, durationSeconds, ctx);
      } catch (err) {
        try {
          this.onListenerError?.(err, listener);
        } catch {
          // the error reporter itself failed; the decision still stands
        }
      }
    }
    return decision;
  }
}
