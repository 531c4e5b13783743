// The config file, watched: an edit, an atomic rename onto it, or a Kubernetes ConfigMap update (the kubelet
// swaps a `..data` symlink in the mount, so no event names the file itself) is re-read as SIGHUP re-reads it,
// with the same validation and refusals (ConfigManager.reloadFile). The parent directory is watched, and a stat
// poll backs the watcher up where events are lost (network filesystems, some mounts). A change is applied once:
// the content's digest is compared with the last one read, by this watcher or by an explicit reload.
import { createHash } from "node:crypto";
import { readFileSync, statSync, watch, type FSWatcher } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Logger } from "../log.js";

export interface ConfigFileWatch<R> {
  /** Re-reads the file now (SIGHUP, RequestReload), whether or not it changed; returns what `reload` returns. */
  reloadNow(): R;
  close(): void;
}

function digestOf(path: string): string {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch (err) {
    return `unreadable: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
}

function statOf(path: string): string {
  try {
    const s = statSync(path); // follows symlinks: a `..data` swap changes the target's dev/ino
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return "missing";
  }
}

/**
 * Watches `path` and calls `reload` when its content changes (debounced by `debounceMs`, since editors and
 * the kubelet write in steps). Changes are picked up within debounceMs of an event, or pollIntervalMs at worst.
 */
export function watchConfigFile<R>(
  path: string,
  reload: () => R,
  log: Logger,
  opts: { debounceMs?: number; pollIntervalMs?: number } = {},
): ConfigFileWatch<R> {
  const debounceMs = opts.debounceMs ?? 100;
  let lastDigest = digestOf(path);
  let lastStat = statOf(path);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const reloadNow = (): R => {
    lastDigest = digestOf(path);
    lastStat = statOf(path);
    return reload();
  };
  const check = () => {
    timer = undefined;
    if (closed) return;
    lastStat = statOf(path);
    const digest = digestOf(path);
    if (digest === lastDigest) return;
    log.info({ path }, "config file changed; re-reading it");
    reloadNow();
  };
  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(check, debounceMs);
    timer.unref();
  };

  let watcher: FSWatcher | undefined;
  const dir = dirname(resolve(path));
  try {
    watcher = watch(dir, schedule);
    watcher.on("error", (err) =>
      log.warn({ dir, err: err.message }, "cannot watch the config file's directory; polling only"),
    );
    watcher.unref();
  } catch (err) {
    log.warn({ dir, err: (err as Error).message }, "cannot watch the config file's directory; polling only");
  }
  const poll = setInterval(() => {
    if (statOf(path) !== lastStat) schedule();
  }, opts.pollIntervalMs ?? 1000);
  poll.unref();

  return {
    reloadNow,
    close() {
      closed = true;
      watcher?.close();
      clearInterval(poll);
      if (timer) clearTimeout(timer);
    },
  };
}
