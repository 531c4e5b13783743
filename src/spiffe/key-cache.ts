// What verified paths leave behind for the next verification: the imported public keys of their CAs, by exact
// SPKI DER, and the CA-to-CA signatures they checked. Why: with OpenSSL 3.0 (Node 20) importing an EC key costs
// about as much as checking a signature, and every workload of a trust domain presents the same intermediate,
// so a new leaf would pay that import, and the check of the intermediate's own signature, again and again
// (a cold leaf through the Envoy door spent half its time in signature checks, most of them the intermediate's).
// Safe to share: both are pure functions of the exact bytes (a key of its SPKI; a signature's validity of the
// signed certificate's whole DER, known here by its SHA-256, and the signer's SPKI), and only what a successfully
// verified path contains is inserted, so crafted chains cannot evict or add anything. A remembered signature still
// counts against the path search's signature budget (chain.ts), so a warm cache saves the work, never changes
// the answer. A leaf's own signature is never remembered: the
// engine's chain cache remembers whole leaves, and a new leaf must be checked.
import type { KeyObject } from "node:crypto";

export class PublicKeyCache {
  private readonly map = new Map<string, KeyObject>();
  /** CA signatures found valid: the signer's SPKI and the SHA-256 of the signed CA certificate, see linkKey. */
  private readonly links = new Map<string, true>();
  /** Signature checks answered from `links` (tests and benches read it). */
  signatureHits = 0;

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
    remember(this.map, spki, key, this.maxEntries);
  }

  /** Whether the key with SPKI `issuerSpki` was found to have signed the CA certificate whose DER has SHA-256 `caSha256`. */
  signed(issuerSpki: string, caSha256: string): boolean {
    const k = linkKey(issuerSpki, caSha256);
    if (!this.links.has(k)) return false;
    remember(this.links, k, true, this.maxEntries);
    this.signatureHits++;
    return true;
  }

  /** Records that the key with SPKI `issuerSpki` signed the CA certificate whose DER has SHA-256 `caSha256`. */
  addSigned(issuerSpki: string, caSha256: string): void {
    remember(this.links, linkKey(issuerSpki, caSha256), true, this.maxEntries);
  }

  /** Keys held (signatures are counted apart: signatureCount). */
  get size(): number {
    return this.map.size;
  }

  get signatureCount(): number {
    return this.links.size;
  }

  clear(): void {
    this.map.clear();
    this.links.clear();
  }
}

// Length-prefixed, so that no other pair of SPKI and certificate spells the same key.
const linkKey = (issuerSpki: string, caSha256: string) => `${issuerSpki.length}:${issuerSpki}${caSha256}`;

/** Sets `key` as the most recently used, dropping the least recently used past `max`. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}

/** The cache verifyX509Svid uses unless told otherwise. */
export const sharedPublicKeyCache = new PublicKeyCache();
