// Merges the trust sources (SPIRE Workload API streams, static bundle files) into immutable snapshots and
// applies the failure policy for a lost Workload API.
import { BundleSet, JwtBundle, X509Bundle, type AnyBundle } from "../spiffe/index.js";
import type { TrustSnapshot, TrustSnapshotSource } from "./snapshot.js";
import type { Config } from "../config/schema.js";

export type FailurePolicy = Config["failure"]["spire-unavailable"];

export interface BundleAge {
  trustDomain: string;
  updatedAt: Date;
}

interface SpireState {
  x509: Map<string, X509Bundle>;
  jwt: Map<string, JwtBundle>;
  connected: boolean;
  /** The JWT stream is separate: losing it alone must not leave stale JWT keys trusted. */
  jwtConnected: boolean;
  jwtDelivered: boolean;
  jwtLostAt: number | undefined;
  /** Whether SPIRE ever delivered a bundle since start. */
  delivered: boolean;
  lostAt: number | undefined;
}

/**
 * Static and SPIRE bundles of one trust domain are united (roots of both count): a static federated
 * bundle is additive, never a way to hide what SPIRE says.
 */
function unite(a: AnyBundle | undefined, b: AnyBundle): AnyBundle {
  if (!a) return b;
  if (a instanceof X509Bundle && b instanceof X509Bundle) {
    const seen = new Set(a.authorities.map((c) => c.sha256Hex()));
    return X509Bundle.fromCertificates(a.trustDomain, [...a.authorities, ...b.authorities.filter((c) => !seen.has(c.sha256Hex()))]);
  }
  if (a instanceof JwtBundle && b instanceof JwtBundle) {
    const kids = new Set(a.authorities.map((k) => k.keyId));
    return JwtBundle.fromAuthorities(a.trustDomain, [...a.authorities, ...b.authorities.filter((k) => !kids.has(k.keyId))]);
  }
  return b;
}

export class TrustStore implements TrustSnapshotSource {
  private snapshot: TrustSnapshot = { generation: 0, bundles: BundleSet.empty, spireAvailable: false };
  private readonly spire: SpireState = {
    x509: new Map(),
    jwt: new Map(),
    connected: false,
    delivered: false,
    lostAt: undefined,
    jwtConnected: false,
    jwtDelivered: false,
    jwtLostAt: undefined,
  };
  private staticBundles = new Map<string, AnyBundle[]>();
  private readonly updatedAt = new Map<string, Date>();
  private readonly listeners = new Set<(s: TrustSnapshot) => void>();
  private cacheTimer: NodeJS.Timeout | undefined;

  constructor(
    private failure: FailurePolicy,
    private cacheTtlSeconds: number,
    /** False when no Workload API is configured at all: then nothing can be "unavailable". */
    private readonly spireConfigured = true,
    private readonly clock: () => number = Date.now,
  ) {
    this.rebuild();
  }

  current(): TrustSnapshot {
    return this.snapshot;
  }

  onChange(cb: (s: TrustSnapshot) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Decisions are possible: fail_open always; otherwise once some bundle is in hand. */
  ready(): boolean {
    if (this.failure === "fail_open") return true;
    return this.snapshot.bundles.size > 0;
  }

  /** Workload API stream state, for health and metrics. */
  get workloadApiConnected(): boolean {
    return this.spire.connected;
  }

  setFailurePolicy(failure: FailurePolicy, cacheTtlSeconds: number): void {
    if (failure === this.failure && cacheTtlSeconds === this.cacheTtlSeconds) return;
    this.failure = failure;
    this.cacheTtlSeconds = cacheTtlSeconds;
    this.rebuild();
  }

  bundleAges(): BundleAge[] {
    return [...this.updatedAt].map(([trustDomain, updatedAt]) => ({ trustDomain, updatedAt }));
  }

  /** A complete X.509 bundle map from FetchX509Bundles: domains not in it are gone. A message means the stream is up. */
  setSpireX509(bundles: X509Bundle[]): void {
    this.spire.connected = true;
    this.spire.lostAt = undefined;
    this.replace(this.spire.x509, bundles);
  }

  /** A complete JWT bundle map from FetchJWTBundles. A message means that stream is up. */
  setSpireJwt(bundles: JwtBundle[]): void {
    this.spire.jwtConnected = true;
    this.spire.jwtDelivered = true;
    this.spire.jwtLostAt = undefined;
    this.replace(this.spire.jwt, bundles);
  }

  setSpireJwtConnected(connected: boolean): void {
    if (connected === this.spire.jwtConnected) return;
    this.spire.jwtConnected = connected;
    this.spire.jwtLostAt = connected ? undefined : this.clock();
    this.rebuild();
  }

  setSpireConnected(connected: boolean): void {
    if (connected === this.spire.connected) return;
    this.spire.connected = connected;
    this.spire.lostAt = connected ? undefined : this.clock();
    this.rebuild();
  }

  /** Bundles loaded from one static file entry (replaces that entry's previous bundles). */
  setStatic(key: string, bundles: AnyBundle[]): void {
    this.staticBundles = new Map(this.staticBundles).set(key, bundles);
    for (const b of bundles) this.updatedAt.set(b.trustDomain.name, new Date(this.clock()));
    this.rebuild();
  }

  close(): void {
    clearTimeout(this.cacheTimer);
  }

  private replace<B extends X509Bundle | JwtBundle>(map: Map<string, B>, bundles: B[]): void {
    const now = new Date(this.clock());
    const next = new Map(bundles.map((b) => [b.trustDomain.name, b]));
    for (const [td, b] of next) if (map.get(td) !== b) this.updatedAt.set(td, now);
    map.clear();
    for (const [td, b] of next) map.set(td, b);
    this.spire.delivered = true;
    this.rebuild();
  }

  /** Whether a SPIRE stream's bundles count right now, per the failure policy. */
  private usable(delivered: boolean, connected: boolean, lostAt: number | undefined): boolean {
    if (!delivered) return false;
    if (connected) return true;
    if (this.failure !== "cache" || lostAt === undefined) return false;
    return this.clock() - lostAt < this.cacheTtlSeconds * 1000;
  }

  private spireUsable(): boolean {
    return this.usable(this.spire.delivered, this.spire.connected, this.spire.lostAt);
  }

  private rebuild(): void {
    clearTimeout(this.cacheTimer);
    const usable = this.spireUsable();
    const merged = new Map<string, AnyBundle>();
    const add = (b: AnyBundle) => {
      const key = `${b instanceof JwtBundle ? "jwt" : "x509"}:${b.trustDomain.name}`;
      merged.set(key, unite(merged.get(key), b));
    };
    if (usable) for (const b of this.spire.x509.values()) add(b);
    const jwtUsable = this.usable(this.spire.jwtDelivered, this.spire.jwtConnected, this.spire.jwtLostAt);
    if (jwtUsable) for (const b of this.spire.jwt.values()) add(b);
    for (const list of this.staticBundles.values()) {
      for (const b of list) {
        if (b instanceof X509Bundle || b instanceof JwtBundle) add(b);
        else {
          add(b.x509);
          add(b.jwt);
        }
      }
    }
    const spireAvailable = this.spireConfigured ? usable : true;
    this.snapshot = { generation: this.snapshot.generation + 1, bundles: new BundleSet(merged.values()), spireAvailable };
    // Under `cache`, the snapshot must change by itself when cache-ttl runs out (for either stream).
    const expiries = [
      usable && !this.spire.connected ? this.spire.lostAt : undefined,
      jwtUsable && !this.spire.jwtConnected ? this.spire.jwtLostAt : undefined,
    ].filter((t): t is number => t !== undefined);
    if (expiries.length > 0) {
      const left = Math.min(...expiries) + this.cacheTtlSeconds * 1000 - this.clock();
      // setTimeout overflows past 2^31-1 ms (it would fire at once, in a loop); a long wait re-arms when it fires.
      this.cacheTimer = setTimeout(() => this.rebuild(), Math.min(Math.max(0, left) + 5, 2 ** 31 - 1));
      this.cacheTimer.unref();
    }
    for (const cb of this.listeners) cb(this.snapshot);
  }
}
