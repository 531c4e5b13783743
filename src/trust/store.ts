// Merges the trust sources (SPIRE Workload API streams, static bundle files) into immutable snapshots and
// applies the failure policy for a lost Workload API.
//
// Semantics (the engine reads only `current()`):
// - SPIRE's X.509 and JWT bundles come from two streams; each kind counts while its stream is up. When a
//   stream is lost: fail_closed / fail_open drop that kind's SPIRE bundles at once; cache keeps them for
//   cache-ttl seconds after the loss, then drops them. Static bundles always count.
// - spireAvailable: the X.509 side is usable (delivered, and connected or within cache-ttl). False before
//   SPIRE's first X.509 message; true when no Workload API is configured at all. The JWT side does not
//   enter it on purpose: under fail_open a lost JWT stream must not turn unknown X.509 trust domains into
//   allows; a JWT-SVID whose domain lost its SPIRE keys is simply untrusted (fail closed).
// - Same trust domain from SPIRE and a static file: the union of their roots / JWT keys (a static federated
//   bundle is additive; it can never hide what SPIRE says). JWT keys with the same kid: SPIRE's wins.
// - generation increases exactly when the usable bundles or spireAvailable change; an identical message
//   (a resync, a re-sent map) keeps the snapshot, so verified-chain caches survive it.
import { BundleSet, JwtBundle, type AnyBundle, type X509Bundle } from "../spiffe/index.js";
import type { TrustSnapshot, TrustSnapshotSource } from "./snapshot.js";
import { fingerprint, mergeBundles, splitDocument } from "./merge.js";
import type { Config } from "../config/schema.js";

export type FailurePolicy = Config["failure"]["spire-unavailable"];
export type SpireKind = "x509" | "jwt";

export interface BundleAge {
  trustDomain: string;
  /** When a source last delivered this domain's bundle (the freshest source, if several contribute). */
  updatedAt: Date;
}

interface SpireSide<B> {
  bundles: Map<string, B>;
  connected: boolean;
  /** Whether this stream ever delivered a message since start. */
  delivered: boolean;
  lostAt: number | undefined;
  /** Per trust domain: when the stream last sent its bundle. */
  receivedAt: Map<string, number>;
}

interface StaticEntry {
  bundles: Array<X509Bundle | JwtBundle>;
  loadedAt: number;
}

function freshSide<B>(): SpireSide<B> {
  return { bundles: new Map(), connected: false, delivered: false, lostAt: undefined, receivedAt: new Map() };
}

export class TrustStore implements TrustSnapshotSource {
  private snapshot: TrustSnapshot = { generation: 0, bundles: BundleSet.empty, spireAvailable: false };
  private snapshotKey = "";
  private lastReady = false;
  private readonly x509 = freshSide<X509Bundle>();
  private readonly jwt = freshSide<JwtBundle>();
  private readonly fileBundles = new Map<string, StaticEntry>();
  private readonly listeners = new Set<(s: TrustSnapshot) => void>();
  private cacheTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /**
   * @param failure failure.spire-unavailable
   * @param cacheTtlSeconds failure.cache-ttl (used by `cache` only)
   * @param spireConfigured false when no Workload API is configured: then nothing can be "unavailable"
   * @param clock ms since the epoch; injectable so tests can step through cache-ttl (then call refresh())
   */
  constructor(
    private failure: FailurePolicy,
    private cacheTtlSeconds: number,
    private readonly spireConfigured = true,
    private readonly clock: () => number = Date.now,
  ) {
    this.rebuild();
  }

  current(): TrustSnapshot {
    return this.snapshot;
  }

  /** Told of every new snapshot (and of readiness changes); returns an unsubscribe function. */
  onChange(cb: (s: TrustSnapshot) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /**
   * Decisions are possible: fail_open always; fail_closed / cache once SPIRE delivered its first bundle
   * message (even an empty one) or a static bundle is loaded. It stays true after a Workload API loss: the
   * failure policy then decides each request, and health reports "degraded" via workloadApiConnected.
   */
  ready(): boolean {
    if (this.failure === "fail_open") return true;
    return this.x509.delivered || this.jwt.delivered || this.fileBundles.size > 0;
  }

  /** The Workload API streams that ever delivered are up (X.509 required). For health and the gauge. */
  get workloadApiConnected(): boolean {
    return this.x509.connected && (this.jwt.connected || !this.jwt.delivered);
  }

  setFailurePolicy(failure: FailurePolicy, cacheTtlSeconds: number): void {
    if (failure === this.failure && cacheTtlSeconds === this.cacheTtlSeconds) return;
    this.failure = failure;
    this.cacheTtlSeconds = cacheTtlSeconds;
    this.rebuild();
  }

  /** For the bundle-age gauge: every trust domain in the current snapshot. */
  bundleAges(): BundleAge[] {
    const out: BundleAge[] = [];
    const usable = { x509: this.usable(this.x509), jwt: this.usable(this.jwt) };
    for (const td of this.snapshot.bundles.trustDomains()) {
      let t = -Infinity;
      if (usable.x509) t = Math.max(t, this.x509.receivedAt.get(td.name) ?? -Infinity);
      if (usable.jwt) t = Math.max(t, this.jwt.receivedAt.get(td.name) ?? -Infinity);
      for (const e of this.fileBundles.values())
        if (e.bundles.some((b) => b.trustDomain.name === td.name)) t = Math.max(t, e.loadedAt);
      if (t > -Infinity) out.push({ trustDomain: td.name, updatedAt: new Date(t) });
    }
    return out;
  }

  /**
   * One complete bundle map from a Workload API stream (domains not in it are gone; empty is legal).
   * A message means that stream is up.
   */
  setSpireBundles(kind: "x509", bundles: Iterable<X509Bundle>): void;
  setSpireBundles(kind: "jwt", bundles: Iterable<JwtBundle>): void;
  setSpireBundles(kind: SpireKind, bundles: Iterable<X509Bundle | JwtBundle>): void {
    const side = (kind === "x509" ? this.x509 : this.jwt) as SpireSide<X509Bundle | JwtBundle>;
    const now = this.clock();
    side.bundles = new Map([...bundles].map((b) => [b.trustDomain.name, b]));
    side.receivedAt = new Map([...side.bundles.keys()].map((td) => [td, now]));
    side.connected = true;
    side.delivered = true;
    side.lostAt = undefined;
    this.rebuild();
  }

  setSpireX509(bundles: Iterable<X509Bundle>): void {
    this.setSpireBundles("x509", bundles);
  }

  setSpireJwt(bundles: Iterable<JwtBundle>): void {
    this.setSpireBundles("jwt", bundles);
  }

  /**
   * A Workload API stream went up or down (both kinds when `kind` is omitted). Going down starts the
   * failure policy's clock; going up without a message does not make old bundles count again.
   */
  setSpireConnected(connected: boolean, kind?: SpireKind): void {
    for (const side of kind === undefined ? [this.x509, this.jwt] : [kind === "x509" ? this.x509 : this.jwt]) {
      if (side.connected === connected) continue;
      side.connected = connected;
      side.lostAt = connected ? undefined : this.clock();
    }
    this.rebuild();
  }

  /** Same as setSpireConnected(connected, "jwt"). */
  setSpireJwtConnected(connected: boolean): void {
    this.setSpireConnected(connected, "jwt");
  }

  /** Bundles loaded from one static file entry (replaces that entry's previous bundles). */
  setStatic(key: string, bundles: AnyBundle[]): void {
    this.fileBundles.set(key, { bundles: bundles.flatMap(splitDocument), loadedAt: this.clock() });
    this.rebuild();
  }

  removeStatic(key: string): void {
    if (this.fileBundles.delete(key)) this.rebuild();
  }

  /** Re-evaluates time-dependent state (cache-ttl expiry). A timer does it by itself; tests with an injected clock call it. */
  refresh(): void {
    this.rebuild();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.cacheTimer);
  }

  /** Whether one SPIRE side's bundles count right now, per the failure policy. */
  private usable(side: SpireSide<unknown>): boolean {
    if (!side.delivered) return false;
    if (side.connected) return true;
    if (this.failure !== "cache" || side.lostAt === undefined) return false;
    return this.clock() - side.lostAt < this.cacheTtlSeconds * 1000;
  }

  private rebuild(): void {
    clearTimeout(this.cacheTimer);
    this.cacheTimer = undefined;
    const x509Usable = this.usable(this.x509);
    const jwtUsable = this.usable(this.jwt);
    const merged = new Map<string, X509Bundle | JwtBundle>();
    const add = (b: X509Bundle | JwtBundle) => {
      const key = `${b instanceof JwtBundle ? "jwt" : "x509"}:${b.trustDomain.name}`;
      merged.set(key, mergeBundles(merged.get(key), b));
    };
    // SPIRE first, so its JWT key wins a kid clash with a static file.
    if (x509Usable) for (const b of this.x509.bundles.values()) add(b);
    if (jwtUsable) for (const b of this.jwt.bundles.values()) add(b);
    for (const e of this.fileBundles.values()) for (const b of e.bundles) add(b);

    const spireAvailable = this.spireConfigured ? x509Usable : true;
    const key = `${spireAvailable}\n${[...merged.values()].map(fingerprint).sort().join("\n")}`;
    const changed = key !== this.snapshotKey;
    if (changed) {
      this.snapshotKey = key;
      this.snapshot = Object.freeze({
        generation: this.snapshot.generation + 1,
        bundles: new BundleSet(merged.values()),
        spireAvailable,
      });
    }

    // Under `cache`, the snapshot must change by itself when cache-ttl runs out.
    const expiries = [this.x509, this.jwt]
      .filter((s) => s.delivered && !s.connected && s.lostAt !== undefined && this.usable(s))
      .map((s) => (s.lostAt as number) + this.cacheTtlSeconds * 1000);
    if (expiries.length > 0 && !this.closed) {
      const left = Math.min(...expiries) - this.clock();
      // +1 ms: the timer must fire after the expiry instant, not on it.
      this.cacheTimer = setTimeout(() => this.rebuild(), Math.min(Math.max(0, left) + 1, 2 ** 31 - 1));
      this.cacheTimer.unref();
    }

    const ready = this.ready();
    if (changed || ready !== this.lastReady) {
      this.lastReady = ready;
      for (const cb of this.listeners) cb(this.snapshot);
    }
  }
}
