// The config in force. Config files and Zentinel Configure events both land here; the last one applied
// wins, atomically (compile first, then swap), and a bad one leaves the previous config deciding.
import { createHash } from "node:crypto";
import type { Config } from "../config/schema.js";
import { ConfigError } from "../config/errors.js";
import { loadConfigFile, parseConfig } from "../config/load.js";
import { loosenings, mergeOverFile } from "../config/tighten.js";
import { openedAllowlists, restartedDryRun } from "../config/in-force.js";
import { compilePolicy, type Policy } from "./policy.js";
import type { Logger } from "../log.js";

export type ConfigSource = "defaults" | "file" | "handshake" | "configure";

export interface AppliedConfig {
  config: Config;
  policy: Policy;
  source: ConfigSource;
  version: string;
}

export type ApplyResult = { ok: true; version: string } | { ok: false; error: string; field?: string };

/** Where config arrives over the network from (Zentinel); never trusted as much as the file. */
export type PushedSource = Extract<ConfigSource, "handshake" | "configure">;

export class ConfigManager {
  private current: AppliedConfig;
  /**
   * The config file's (or the defaults when there is none), as last loaded: what pushed configs are merged
   * over and measured against, and whose `zentinel.accept-configure` decides whether they are heard at all.
   * A pushed config never lands here.
   */
  private file: Config;
  private readonly listeners = new Set<(applied: AppliedConfig) => void>();
  private readonly reloadListeners = new Set<(ok: boolean) => void>();

  /** Throws ConfigError when the initial config does not compile (the process exits 2). */
  constructor(
    initial: Config,
    private readonly log: Logger,
    initialSource: ConfigSource = "defaults",
  ) {
    this.current = {
      config: initial,
      policy: compilePolicy(initial),
      source: initialSource,
      version: versionOf(initialSource, initial),
    };
    this.file = initial;
    this.logWarnings(this.current.policy);
  }

  get applied(): AppliedConfig {
    return this.current;
  }

  /** The config file's config (see `file`), which may differ from `applied` while a pushed config is in force. */
  get fileConfig(): Config {
    return this.file;
  }

  onApply(cb: (applied: AppliedConfig) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Told the outcome of every reloadFile (the reload counters). */
  onReload(cb: (ok: boolean) => void): () => void {
    this.reloadListeners.add(cb);
    return () => this.reloadListeners.delete(cb);
  }

  /**
   * Applies an already-decoded config object as it is; never throws for bad input. Not for config that came
   * over the network: that goes through applyPushed.
   */
  apply(value: unknown, source: ConfigSource, version?: string): ApplyResult {
    let config: Config;
    let policy: Policy;
    try {
      config = parseConfig(value);
      policy = compilePolicy(config);
    } catch (err) {
      return this.rejected(err, source, version);
    }
    return this.swap(config, policy, source, version);
  }

  private rejected(err: unknown, source: ConfigSource, version: string | undefined): ApplyResult {
    if (!(err instanceof ConfigError)) throw err;
    this.log.error(
      { source, version, key: err.keyPath, error: err.message },
      "config rejected; previous config stays in force",
    );
    return { ok: false, error: err.message, ...(err.keyPath ? { field: err.keyPath } : {}) };
  }

  private swap(
    config: Config,
    policy: Policy,
    source: ConfigSource,
    version: string | undefined,
  ): ApplyResult & { ok: true } {
    const v = version ?? versionOf(source, config);
    const previous = this.current.version;
    this.current = { config, policy, source, version: v };
    this.log.info({ source, version: v, replaces: previous }, `config applied from ${source}`);
    this.logWarnings(policy);
    for (const cb of this.listeners) cb(this.current);
    return { ok: true, version: v };
  }

  /** JSON text, applied as it is (see apply); Zentinel's goes through applyPushed. */
  applyJson(json: string, source: ConfigSource, version?: string): ApplyResult {
    const value = this.decodeJson(json, source, version);
    return value.ok ? this.apply(value.value, source, version) : value;
  }

  private decodeJson(
    json: string,
    source: ConfigSource,
    version: string | undefined,
  ): { ok: true; value: unknown } | (ApplyResult & { ok: false }) {
    try {
      return { ok: true, value: json.trim() === "" ? {} : JSON.parse(json) };
    } catch {
      this.log.error({ source, version }, "config rejected: not valid JSON; previous config stays in force");
      return { ok: false, error: "config: not valid JSON" };
    }
  }

  /**
   * Config that arrived over the network (Zentinel handshake config_json, Configure events). Refused unless
   * the config file says `zentinel.accept-configure: true`; then validated as a file is, laid over the
   * file's config (keys it leaves out keep the file's values), and refused if it would loosen the file's
   * config (tighten.ts), or empty an allowlist that has entries now or put back into dry-run a scope that
   * enforces now (in-force.ts). On refusal the previous config stays.
   */
  applyPushed(json: string, source: PushedSource, version?: string): ApplyResult {
    if (!this.file.zentinel["accept-configure"]) {
      // The Zentinel door checks this first and logs once per connection; reaching here is a wiring slip.
      const error = new ConfigError(
        "zentinel.accept-configure",
        `is false in the config file: ${source === "handshake" ? "handshake config_json" : "Configure event"} ignored`,
      );
      this.log.warn({ source, version, error: error.message }, "pushed config ignored");
      return { ok: false, error: error.message, field: error.keyPath };
    }
    const value = this.decodeJson(json, source, version);
    if (!value.ok) return value;
    let config: Config;
    let policy: Policy;
    try {
      // Validated on its own first, so a key path in an error is the one the sender wrote.
      parseConfig(value.value);
      config = parseConfig(mergeOverFile(this.file, value.value));
      policy = compilePolicy(config);
      const loose = loosenings(this.file, config);
      const first = loose[0];
      if (first) {
        const more =
          loose.length > 1
            ? `; also ${loose
                .slice(1)
                .map((l) => `${l.field} ${l.problem}`)
                .join("; ")}`
            : "";
        throw new ConfigError(
          first.field,
          `${first.problem}${more} (a pushed config may tighten the config file's, never loosen it)`,
        );
      }
      // Also against the config in force, as on reload: a push after a push may not open what the first closed
      // (a key it leaves out has the file's value, which may be the dry-run an earlier push ended).
      const opened = openedAllowlists(this.current.config, config);
      if (opened.length > 0)
        throw new ConfigError(
          opened.join(", "),
          "would become empty (every verified SPIFFE ID allowed); the config in force has entries",
        );
      const restarted = restartedDryRun(this.current.config, config);
      if (restarted.length > 0)
        throw new ConfigError(
          restarted.join(", "),
          "dry-run would restart where the config in force enforces; a push may end dry-run, only a file load starts it (keep enforcement: enforce in the push)",
        );
    } catch (err) {
      return this.rejected(err, source, version);
    }
    return this.swap(config, policy, source, version);
  }

  /** Re-reads the config file (SIGHUP or a change on disk). An empty file is refused, not read as "all defaults". */
  reloadFile(path: string): ApplyResult {
    const result = this.readFile(path);
    for (const cb of this.reloadListeners) cb(result.ok);
    return result;
  }

  private readFile(path: string): ApplyResult {
    let config: Config;
    try {
      config = loadConfigFile(path, { allowEmpty: false });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.log.error({ path, error: err.message }, "config file reload failed; previous config stays in force");
      return { ok: false, error: err.message };
    }
    // A file cut off mid-write can still parse, minus its allowlist, and an empty allowlist allows every verified
    // identity. Opening an allowlist that way is refused on reload; a restart applies it deliberately. Measured
    // against the file as last loaded, not a pushed config in force: a push that filled an allowlist the file
    // leaves empty must not make the file itself unloadable.
    const opened = openedAllowlists(this.file, config);
    if (opened.length > 0) {
      const error = `config: ${opened.join(", ")} would become empty (every verified SPIFFE ID allowed); refused on reload, restart to apply`;
      this.log.error({ path, error }, "config file reload refused; previous config stays in force");
      return { ok: false, error };
    }
    let policy: Policy;
    try {
      policy = compilePolicy(config);
    } catch (err) {
      return this.rejected(err, "file", undefined);
    }
    this.file = config;
    return this.swap(config, policy, "file", undefined);
  }

  private logWarnings(policy: Policy): void {
    for (const w of policy.warnings) this.log.warn(w);
  }
}

/**
 * A config's version when its sender named none: where it came from and a digest of what it says, e.g.
 * `file:3f2a9c1e0b7d`. The same config gives the same version on every replica and after every restart, so an
 * audit line's policy_version says which policy decided (a counter said only how many reloads came before).
 */
function versionOf(source: ConfigSource, config: Config): string {
  return `${source}:${createHash("sha256").update(JSON.stringify(config)).digest("hex").slice(0, 12)}`;
}
