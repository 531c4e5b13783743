// The verified-chain cache's key for an unparsed credential (URL-encoded PEM, an XFCC header value, ...): SHA-256
// over the text and its reading context (credentials.ts cacheKeyContext). A hot client sends the same text on
// every request, so the keys of the last few texts are remembered beside them: a repeat costs a comparison with
// each instead of encoding and hashing the text again, which was the largest single item of a warm Check (bench:
// CPU profile under h2load). Only the exact same text in the same context gets a remembered key.
import { hash } from "node:crypto";

/**
 * Texts remembered: the clients of one proxy are few and hot. Looked up by a linear scan, not a map: a map hashes
 * the whole incoming text (a new string on every request), which cost as much as the SHA-256 it saves; comparing
 * lengths, then the text itself, usually stops within the first few dozen characters.
 */
const REMEMBERED = 16;
/** Texts longer than this are hashed every time, not remembered. */
const MAX_REMEMBERED_CHARS = 32 * 1024;

export class RecentRawKeys {
  private readonly recent: Array<{ raw: string; context: string; key: string }> = [];
  /** The slot the next new text takes (round-robin). */
  private next = 0;

  keyFor(raw: string, context: string): string {
    const recent = this.recent;
    for (let i = 0; i < recent.length; i++) {
      const r = recent[i]!;
      if (r.raw.length === raw.length && r.context === context && r.raw === raw) return r.key;
    }
    // One-shot crypto.hash, not a Hash object: for a 1.5 KB chain the object's set-up cost a third of the time.
    const key = hash("sha256", `${context}\n${raw}`, "base64");
    if (raw.length <= MAX_REMEMBERED_CHARS) {
      recent[this.next] = { raw, context, key };
      this.next = (this.next + 1) % REMEMBERED;
    }
    return key;
  }
}
