// Static and federated bundle files (`trust-bundles`): PEM, DER or SPIFFE bundle JSON, reloaded when the
// file changes. The parent directory is watched, so an atomic rename-replace is seen too.
import { readFileSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { parseSpiffeBundle, parseX509BundleDer, parseX509BundlePem, type AnyBundle } from "../spiffe/index.js";
import { ConfigError } from "../config/errors.js";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { TrustStore } from "./store.js";

export type StaticBundleEntry = Config["trust-bundles"][number];

/** Detects the format from the content: JSON document, PEM text, or DER bytes. */
export function parseBundleFile(trustDomain: string, bytes: Uint8Array): AnyBundle {
  const head = Buffer.from(bytes.subarray(0, 64)).toString("latin1").trimStart();
  if (head.startsWith("{")) return parseSpiffeBundle(trustDomain, bytes);
  if (head.startsWith("-----BEGIN")) return parseX509BundlePem(trustDomain, Buffer.from(bytes).toString("utf8"));
  return parseX509BundleDer(trustDomain, bytes);
}

export class StaticBundles {
  private readonly watchers: FSWatcher[] = [];
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly polls: NodeJS.Timeout[] = [];
  private readonly fingerprints = new Map<number, string>();

  constructor(
    private readonly entries: readonly StaticBundleEntry[],
    private readonly store: TrustStore,
    private readonly log: Logger,
    private readonly onUpdate: () => void = () => {},
    private readonly debounceMs = 100,
  ) {}

  /** Loads every file; a missing or malformed one at start-up is a ConfigError (exit 2). */
  loadAll(): void {
    this.entries.forEach((e, i) => {
      try {
        this.load(i);
      } catch (err) {
        throw new ConfigError(`trust-bundles[${i}].path`, `${e.path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }

  watch(pollIntervalMs = 5000): void {
    this.entries.forEach((e, i) => {
      try {
        const w = watch(dirname(e.path), (_event, name) => {
          if (name === null || name === basename(e.path)) this.schedule(i);
        });
        w.on("error", (err) => this.log.warn({ path: e.path, err: err.message }, "cannot watch bundle file directory; polling only"));
        this.watchers.push(w);
      } catch (err) {
        this.log.warn({ path: e.path, err: (err as Error).message }, "cannot watch bundle file directory; polling only");
      }
    });
    // Watch events can be missed (network filesystems, some container mounts): a slow poll backs them up.
    const poll = setInterval(() => this.entries.forEach((_e, i) => this.reload(i)), pollIntervalMs);
    poll.unref();
    this.polls.push(poll);
  }

  close(): void {
    for (const w of this.watchers) w.close();
    for (const t of this.timers.values()) clearTimeout(t);
    for (const p of this.polls) clearInterval(p);
  }

  private schedule(i: number): void {
    clearTimeout(this.timers.get(i));
    const t = setTimeout(() => this.reload(i), this.debounceMs);
    t.unref();
    this.timers.set(i, t);
  }

  private reload(i: number): void {
    const e = this.entries[i] as StaticBundleEntry;
    try {
      this.load(i);
    } catch (err) {
      // A deleted file is a decision to stop trusting it; a broken one is probably a bad edit in progress.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        if (this.fingerprints.delete(i)) {
          this.store.setStatic(`file:${i}`, []);
          this.onUpdate();
          this.log.warn({ path: e.path, trustDomain: e["trust-domain"] }, "bundle file deleted; its bundle is no longer trusted");
        }
        return;
      }
      this.log.error({ path: e.path, trustDomain: e["trust-domain"], error: err instanceof Error ? err.message : String(err) }, "bundle file unreadable or malformed; previous bundle kept");
    }
  }

  private load(i: number): void {
    const e = this.entries[i] as StaticBundleEntry;
    const bytes = readFileSync(e.path);
    const fp = bytes.toString("base64");
    if (this.fingerprints.get(i) === fp) return;
    const bundle = parseBundleFile(e["trust-domain"], bytes);
    this.fingerprints.set(i, fp);
    this.store.setStatic(`file:${i}`, [bundle]);
    this.onUpdate();
    this.log.info({ path: e.path, trustDomain: e["trust-domain"] }, "static bundle loaded");
  }
}
