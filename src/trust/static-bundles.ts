// Static and federated bundle files (`trust-bundles`): PEM, DER or SPIFFE bundle JSON, detected by content,
// reloaded when the file changes. The parent directory is watched, so an atomic rename-replace and a
// Kubernetes ConfigMap update (a `..data` symlink swap, no event under the file's own name) are seen too;
// a slow stat poll backs the watcher up where events are lost (network filesystems, some mounts).
import { createHash } from "node:crypto";
import { readFileSync, statSync, watch, type FSWatcher } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseSpiffeBundle, parseX509BundleDer, parseX509BundlePem, type AnyBundle } from "../spiffe/index.js";
import { ConfigError } from "../config/errors.js";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { TrustStore } from "./store.js";

export type StaticBundleEntry = Config["trust-bundles"][number];

/** Bundle files are kilobytes; refusing more keeps a wrong path (a log, a device) from being slurped. */
export const MAX_BUNDLE_FILE_BYTES = 1024 * 1024;

/**
 * Detects the format from the content: JSON document, PEM text, or DER bytes. Text handed over as a string
 * (`check`'s library callers) is JSON or PEM, never DER. A failure says which format the content was read as.
 */
export function parseBundleFile(trustDomain: string, content: Uint8Array | string): AnyBundle {
  const text = typeof content === "string";
  const head = (text ? content.slice(0, 64) : Buffer.from(content.subarray(0, 64)).toString("latin1")).trimStart();
  const [format, parse] = head.startsWith("{")
    ? ["SPIFFE bundle JSON", () => parseSpiffeBundle(trustDomain, content)]
    : head.startsWith("-----BEGIN") || text
      ? ["PEM", () => parseX509BundlePem(trustDomain, text ? content : Buffer.from(content).toString("utf8"))]
      : ["DER (neither PEM nor SPIFFE bundle JSON)", () => parseX509BundleDer(trustDomain, content)];
  try {
    return parse();
  } catch (err) {
    // Say which format the bytes were taken for: a garbage file otherwise reads as a puzzling DER error.
    throw new Error(`read as ${format}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

interface Loaded {
  /** sha256 of the content last applied. */
  digest: string;
  /** dev/ino/size/mtime/ctime at the last read, for the cheap poll. */
  stat: string;
}

/** What the loader needs of the store; the TrustStore is one. */
export type StaticBundleSink = Pick<TrustStore, "setStatic" | "removeStatic">;

export class StaticBundles {
  private readonly watchers: FSWatcher[] = [];
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private poll: NodeJS.Timeout | undefined;
  private readonly loaded = new Map<number, Loaded>();
  private closed = false;

  /**
   * @param onUpdate called after every applied change (the bundle-updates counter)
   * @param debounceMs quiet time after a directory event before the file is read (editors write in steps)
   */
  constructor(
    private readonly entries: readonly StaticBundleEntry[],
    private readonly store: StaticBundleSink,
    private readonly log: Logger,
    private readonly onUpdate: () => void = () => {},
    private readonly debounceMs = 100,
  ) {}

  /** Loads every file; a missing or malformed one at start-up is a ConfigError naming `trust-bundles[i].path` (exit 2). */
  loadAll(): void {
    this.entries.forEach((e, i) => {
      try {
        this.load(i, false);
      } catch (err) {
        throw new ConfigError(`trust-bundles[${i}].path`, `${e.path}: ${describe(err)}`);
      }
    });
  }

  /** Starts watching (one watcher per directory) and the fallback poll of stat data every `pollIntervalMs`. */
  watch(pollIntervalMs = 5000): void {
    if (this.closed) return;
    const byDir = new Map<string, number[]>();
    this.entries.forEach((e, i) => {
      const dir = dirname(resolve(e.path));
      byDir.set(dir, [...(byDir.get(dir) ?? []), i]);
    });
    for (const [dir, indexes] of byDir) {
      try {
        // Any event in the directory: the file itself, a rename onto it, or a symlink swap it resolves through.
        const w = watch(dir, () => indexes.forEach((i) => this.schedule(i)));
        w.on("error", (err) =>
          this.log.warn({ dir, err: err.message }, "cannot watch bundle file directory; polling only"),
        );
        this.watchers.push(w);
      } catch (err) {
        this.log.warn({ dir, err: describe(err) }, "cannot watch bundle file directory; polling only");
      }
    }
    this.poll = setInterval(() => this.entries.forEach((_e, i) => this.reload(i, true)), pollIntervalMs);
    this.poll.unref();
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.close();
    for (const t of this.timers.values()) clearTimeout(t);
    clearInterval(this.poll);
  }

  private schedule(i: number): void {
    if (this.closed) return;
    clearTimeout(this.timers.get(i));
    const t = setTimeout(() => this.reload(i, false), this.debounceMs);
    t.unref();
    this.timers.set(i, t);
  }

  private reload(i: number, statOnly: boolean): void {
    if (this.closed) return;
    const e = this.entries[i] as StaticBundleEntry;
    try {
      this.load(i, statOnly);
    } catch (err) {
      // A deleted file is a decision to stop trusting it; a broken one is probably a bad edit in progress.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        if (this.loaded.delete(i)) {
          this.store.removeStatic(key(i));
          this.onUpdate();
          this.log.warn(
            { path: e.path, trustDomain: e["trust-domain"] },
            "bundle file deleted; its bundle is no longer trusted",
          );
        }
        return;
      }
      const st = statKey(e.path);
      const prev = this.loaded.get(i);
      // Log a broken file once per version of it, not on every poll.
      if (prev && st !== undefined && prev.stat === st) return;
      if (prev && st !== undefined) this.loaded.set(i, { ...prev, stat: st });
      this.log.error(
        { path: e.path, trustDomain: e["trust-domain"], error: describe(err), keptPrevious: prev !== undefined },
        "bundle file unreadable or malformed; previous bundle kept",
      );
    }
  }

  /** Reads entry i and applies it if its content changed. `statOnly`: skip the read when stat data is unchanged. */
  private load(i: number, statOnly: boolean): void {
    const e = this.entries[i] as StaticBundleEntry;
    const st = statSync(e.path);
    if (!st.isFile()) throw new Error("not a regular file");
    if (st.size > MAX_BUNDLE_FILE_BYTES) throw new Error(`larger than ${MAX_BUNDLE_FILE_BYTES} bytes`);
    const stat = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    const prev = this.loaded.get(i);
    if (statOnly && prev?.stat === stat) return;
    const bytes = readFileSync(e.path);
    const digest = createHash("sha256").update(bytes).digest("hex");
    if (prev?.digest === digest) {
      this.loaded.set(i, { digest, stat });
      return;
    }
    const bundle = parseBundleFile(e["trust-domain"], bytes);
    this.loaded.set(i, { digest, stat });
    this.store.setStatic(key(i), [bundle]);
    this.onUpdate();
    this.log.info(
      { path: e.path, trustDomain: e["trust-domain"] },
      prev ? "static bundle reloaded" : "static bundle loaded",
    );
  }
}

const key = (i: number) => `file:${i}`;

function statKey(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return undefined;
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ENOENT") return "no such file";
  if (e?.code === "EACCES") return "permission denied";
  return err instanceof Error ? err.message : String(err);
}
