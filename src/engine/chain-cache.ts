// Verified-chain cache: a hot client costs one SHA-256 over its DER instead of an ASN.1 parse and a
// signature check per request. Only successful verifications are cached (the identity they proved); the one
// decision an entry remembers is tied to the exact policy object that made it, so a new policy never sees an
// old answer. An entry is bound to
//   - the exact presented chain bytes (key),
//   - the trust snapshot generation it was verified under (a bundle change clears the cache),
//   - the chain's validity window (re-checked against the caller's clock on every hit, and the entry's
//     TTL never outlives the earliest notAfter).
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { CompiledRoute, Policy } from "../policy/index.js";
import type { CertInfo, Decision, VerifiedIdentity } from "./types.js";

export const DEFAULT_CHAIN_CACHE_ENTRIES = 10_000;

export interface CachedVerification {
  identity: VerifiedIdentity;
  /** Latest notBefore and earliest notAfter over the whole chain, epoch milliseconds. */
  notBeforeMs: number;
  notAfterMs: number;
  /** Leaf details, kept so audit with include-cert-info does not need a re-parse. */
  certInfo: CertInfo;
  /**
   * The last (frozen) decision made from this verification, valid only for the same policy object, route
   * and clock second (the auth-timestamp header). The entry's own bounds (generation, validity) still apply.
   */
  lastDecision?: { policy: Policy; route: CompiledRoute | undefined; second: number; decision: Decision };
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
}

interface Entry {
  generation: number;
  value: CachedVerification;
}

export class ChainCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly maxTtlMs: number | undefined;
  private readonly onLookup: ((hit: boolean) => void) | undefined;
  private generation: number | undefined;
  hits = 0;
  misses = 0;

  constructor(opts: ChainCacheOptions = {}) {
    const max = opts.maxEntries ?? DEFAULT_CHAIN_CACHE_ENTRIES;
    if (!Number.isInteger(max) || max < 1) throw new RangeError("chain cache: maxEntries must be a positive integer");
    this.lru = new LRUCache<string, Entry>({ max });
    this.maxTtlMs = opts.maxTtlMs;
    this.onLookup = opts.onLookup;
  }

  /** SHA-256 of an unparsed credential (URL-encoded PEM, an XFCC header value, ...). */
  static keyForRaw(raw: string): string {
    return createHash("sha256").update(raw).digest("base64");
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
      if (this.generation !== undefined) this.lru.clear();
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

  clear(): void {
    this.lru.clear();
  }

  stats(): ChainCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.lru.size, generation: this.generation };
  }
}
