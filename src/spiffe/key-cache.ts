// Imported public keys of CAs that appeared in a verified path, by exact SPKI DER. Why: with OpenSSL 3.0
// (Node 20) importing an EC key costs about as much as checking a signature, and every workload of a
// trust domain presents the same intermediate, so a new leaf would pay that import again and again.
// Safe to share: the map from SPKI bytes to key is a pure function, keys are public, and only keys of
// certificates in a successfully verified path are inserted, so crafted chains cannot evict them.
import type { KeyObject } from "node:crypto";

export class PublicKeyCache {
  private readonly map = new Map<string, KeyObject>();

  constructor(readonly maxEntries = 1024) {}

  get(spki: string): KeyObject | undefined {
    const key = this.map.get(spki);
    if (key !== undefined) {
      // Refresh recency: Map iteration order is insertion order, so this makes eviction LRU.
      this.map.delete(spki);
      this.map.set(spki, key);
    }
    return key;
  }

  has(spki: string): boolean {
    return this.map.has(spki);
  }

  set(spki: string, key: KeyObject): void {
    this.map.delete(spki);
    this.map.set(spki, key);
    if (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}

/** The cache verifyX509Svid uses unless told otherwise. */
export const sharedPublicKeyCache = new PublicKeyCache();
