// Verified-chain cache: a hot client costs one SHA-256 over its DER instead of an ASN.1 parse and a
// signature check per request. Successful verifications are cached (the identity they proved); the one
// decision an entry remembers is tied to the exact policy object that made it, so a new policy never sees an
// old answer. An entry is bound to
//   - the exact presented chain bytes (key),
//   - the trust snapshot generation it was verified under (a bundle change clears the cache),
//   - the chain's validity window (re-checked against the caller's clock on every hit, and the entry's
//     TTL never outlives the earliest notAfter).
//
// Failing credentials are remembered too, in a second, smaller LRU with the same key, the same generation
// rule and the same kind of time bound: without it, replaying the same bad bytes costs a full parse and path
// search every time. A failure entry holds what the engine derives its decision from (reason, detail, leaf
// details), never the decision itself, so policy changes (log_and_allow, include-cert-info, routes) apply as
// they would to a fresh verification. Its time bound is the window over which the verification would give the
// same error (SvidError.stableFor): a not-yet-valid certificate is remembered only until its notBefore.
// Separate LRUs, so a flood of distinct bad credentials can never evict a good client's verification.
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { CompiledRoute, Policy } from "../policy/index.js";
import type { SvidFailureReason, TimeWindow } from "../spiffe/index.js";
import type { CertInfo, SharedDecision, VerifiedIdentity } from "./contract.js";
import { RecentRawKeys } from "./raw-keys.js";

export const DEFAULT_CHAIN_CACHE_ENTRIES = 10_000;
/**
 * Failing credentials remembered at once. In normal operation only a handful fail at a time (a workload with
 * an expired SVID or a stale bundle, retrying); an attacker cycling through more distinct bad credentials than
 * this gets no help from it, and loses nothing either: a miss costs what it cost without this cache, which
 * the path search limits bound. Smaller than the success cache because each entry only saves work.
 */
export const DEFAULT_FAILURE_CACHE_ENTRIES = 4096;
/**
 * ...and at most this many bytes of them (estimated): a detail names certificate subjects, which the client
 * chose, up to a certificate's 16 KiB. 4 MiB holds the 4096 entries at ~1 KiB each (typical details are a few
 * hundred bytes); an entry of more than 64 KiB is not kept at all.
 */
export const DEFAULT_FAILURE_CACHE_BYTES = 4 * 1024 * 1024;
const MAX_FAILURE_ENTRY_BYTES = 64 * 1024;

export interface CachedVerification {
  identity: VerifiedIdentity;
  /** Latest notBefore and earliest notAfter over the whole chain, epoch milliseconds. */
  notBeforeMs: number;
  notAfterMs: number;
  /**
   * Leaf details, kept so audit with include-cert-info does not need a re-parse; worked out only when the policy
   * that verified wanted them. A hit that needs them and finds none verifies afresh.
   */
  certInfo?: CertInfo;
  /**
   * The last (frozen) decision made from this verification, valid only for the same policy object, route
   * and clock second (the auth-timestamp header). The entry's own bounds (generation, validity) still apply.
   */
  lastDecision?: { policy: Policy; route: CompiledRoute | undefined; second: number; decision: SharedDecision };
}

/** What a failed verification (or an unreadable credential) leaves to remember: the decision's inputs. */
export interface CachedFailure {
  reason: SvidFailureReason;
  detail: string;
  /** Verification times over which the same input gives this failure (SvidError.stableFor; ±Infinity if time plays no part). */
  window: TimeWindow;
  /**
   * Leaf details for audit with include-cert-info, when they were worked out at the time (certInfoKnown);
   * undefined also when the leaf does not parse. A caller that needs them and finds them unknown re-verifies.
   */
  certInfo: CertInfo | undefined;
  certInfoKnown: boolean;
}

export interface FailureCacheStats {
  hits: number;
  misses: number;
  size: number;
}

export interface ChainCacheStats {
  hits: number;
  misses: number;
  size: number;
  generation: number | undefined;
}

export interface ChainCacheOptions {
  maxEntries?: number;
  /** Upper bound on any entry's lifetime, on top of the certificate's own; default none. */
  maxTtlMs?: number;
  /** Called on every lookup; telemetry may count from here instead of polling stats(). */
  onLookup?: (hit: boolean) => void;
  /** Failing credentials remembered (default DEFAULT_FAILURE_CACHE_ENTRIES); 0 remembers none. */
  maxFailureEntries?: number;
}

interface Entry {
  generation: number;
  value: CachedVerification;
}

export class ChainCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly failures: LRUCache<string, CachedFailure> | undefined;
  private readonly rawKeys = new RecentRawKeys();
  private readonly maxTtlMs: number | undefined;
  private readonly onLookup: ((hit: boolean) => void) | undefined;
  private generation: number | undefined;
  hits = 0;
  misses = 0;
  private failureHits = 0;
  private failureMisses = 0;

  constructor(opts: ChainCacheOptions = {}) {
    const max = opts.maxEntries ?? DEFAULT_CHAIN_CACHE_ENTRIES;
    if (!Number.isInteger(max) || max < 1) throw new RangeError("chain cache: maxEntries must be a positive integer");
    const maxFailures = opts.maxFailureEntries ?? DEFAULT_FAILURE_CACHE_ENTRIES;
    if (!Number.isInteger(maxFailures) || maxFailures < 0)
      throw new RangeError("chain cache: maxFailureEntries must be a non-negative integer");
    this.lru = new LRUCache<string, Entry>({ max });
    if (maxFailures > 0) {
      this.failures = new LRUCache<string, CachedFailure>({
        max: maxFailures,
        maxSize: DEFAULT_FAILURE_CACHE_BYTES,
        maxEntrySize: MAX_FAILURE_ENTRY_BYTES,
        // UTF-16 strings plus a rough allowance for the objects around them.
        sizeCalculation: (v, k) =>
          2 * (k.length + v.detail.length + (v.certInfo ? v.certInfo.issuer.length + 200 : 0)) + 200,
      });
    }
    this.maxTtlMs = opts.maxTtlMs;
    this.onLookup = opts.onLookup;
  }

  /** The key of an unparsed credential read in `context`: raw-keys.ts. */
  keyForRaw(raw: string, context: string): string {
    return this.rawKeys.keyFor(raw, context);
  }

  /** SHA-256 over the chain, each certificate length-prefixed so that no two chains share a key. */
  static keyFor(der: readonly Uint8Array[]): string {
    const h = createHash("sha256");
    const len = Buffer.alloc(4);
    for (const d of der) {
      len.writeUInt32BE(d.length);
      h.update(len);
      h.update(d);
    }
    return h.digest("hex");
  }

  /** Moves to `generation`: a newer one drops everything verified against older bundles. */
  private sync(generation: number): boolean {
    if (this.generation === undefined || generation > this.generation) {
      if (this.generation !== undefined) {
        this.lru.clear();
        this.failures?.clear();
      }
      this.generation = generation;
      return true;
    }
    // An older generation (a request that took its snapshot before a rotation) must neither read nor write.
    return generation === this.generation;
  }

  get(key: string, generation: number, now: Date): CachedVerification | undefined {
    const current = this.sync(generation);
    const entry = current ? this.lru.get(key) : undefined;
    const t = now.getTime();
    let value: CachedVerification | undefined;
    if (entry && entry.generation === generation) {
      if (t >= entry.value.notBeforeMs && t <= entry.value.notAfterMs) value = entry.value;
      else if (t > entry.value.notAfterMs) this.lru.delete(key);
    }
    if (value) this.hits++;
    else this.misses++;
    this.onLookup?.(value !== undefined);
    return value;
  }

  set(key: string, generation: number, value: CachedVerification, now: Date): void {
    if (!this.sync(generation)) return;
    let ttl = value.notAfterMs - now.getTime();
    if (this.maxTtlMs !== undefined) ttl = Math.min(ttl, this.maxTtlMs);
    if (!(ttl >= 1)) return; // already expired (or NaN): nothing worth keeping
    this.lru.set(key, { generation, value }, { ttl: Math.floor(ttl) });
  }

  /**
   * A remembered failure for `key` under this generation whose time window holds `now` (and that knows its leaf
   * details, when `needCertInfo`). Costs one map lookup: it runs only after get() missed, so a hot good client
   * never pays for it.
   */
  getFailure(key: string, generation: number, now: Date, needCertInfo = false): CachedFailure | undefined {
    if (!this.failures || !this.sync(generation)) return undefined;
    const entry = this.failures.get(key);
    let value: CachedFailure | undefined;
    if (entry && (entry.certInfoKnown || !needCertInfo)) {
      const t = now.getTime();
      if (t >= entry.window.fromMs && t <= entry.window.toMs) value = entry;
      else if (t > entry.window.toMs) this.failures.delete(key);
    }
    if (value) this.failureHits++;
    else this.failureMisses++;
    return value;
  }

  /** Remembers a failure; one whose window does not hold `now` (or ends within a millisecond) is not kept. */
  setFailure(key: string, generation: number, value: CachedFailure, now: Date): void {
    if (!this.failures || !this.sync(generation)) return;
    const t = now.getTime();
    if (!(t >= value.window.fromMs && t <= value.window.toMs)) return;
    let ttl = value.window.toMs - t;
    if (this.maxTtlMs !== undefined) ttl = Math.min(ttl, this.maxTtlMs);
    if (!(ttl >= 1)) return; // NaN, or over within a millisecond: nothing worth keeping
    this.failures.set(key, value, Number.isFinite(ttl) ? { ttl: Math.floor(ttl) } : {});
  }

  clear(): void {
    this.lru.clear();
    this.failures?.clear();
  }

  failureStats(): FailureCacheStats {
    return { hits: this.failureHits, misses: this.failureMisses, size: this.failures?.size ?? 0 };
  }

  stats(): ChainCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.lru.size, generation: this.generation };
  }
}
