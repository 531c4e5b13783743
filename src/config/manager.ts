// The config in force. Config files and Zentinel Configure events both land here; the last one applied
// wins, atomically (compile first, then swap), and a bad one leaves the previous config deciding.
import type { Config } from "./schema.js";
import { ConfigError } from "./errors.js";
import { loadConfigFile, parseConfig } from "./load.js";
import { compilePolicy, type Policy } from "../policy/index.js";
import type { Logger } from "../log.js";

export type ConfigSource = "defaults" | "file" | "handshake" | "configure";

export interface AppliedConfig {
  config: Config;
  policy: Policy;
  source: ConfigSource;
  version: string;
}

export type ApplyResult = { ok: true; version: string } | { ok: false; error: string; field?: string };

export class ConfigManager {
  private current: AppliedConfig;
  private readonly listeners = new Set<(applied: AppliedConfig) => void>();
  private counter = 0;

  /** Throws ConfigError when the initial config does not compile (the process exits 2). */
  constructor(
    initial: Config,
    private readonly log: Logger,
    initialSource: ConfigSource = "defaults",
  ) {
    this.current = { config: initial, policy: compilePolicy(initial), source: initialSource, version: `${initialSource}-0` };
    this.logWarnings(this.current.policy);
  }

  get applied(): AppliedConfig {
    return this.current;
  }

  onApply(cb: (applied: AppliedConfig) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Applies an already-decoded config object; never throws for bad input. */
  apply(value: unknown, source: ConfigSource, version?: string): ApplyResult {
    let config: Config;
    let policy: Policy;
    try {
      config = parseConfig(value);
      policy = compilePolicy(config);
    } catch (err) {
      if (err instanceof ConfigError) {
        this.log.error({ source, version, key: err.keyPath, error: err.message }, "config rejected; previous config stays in force");
        return { ok: false, error: err.message, ...(err.keyPath ? { field: err.keyPath } : {}) };
      }
      throw err;
    }
    const v = version ?? `${source}-${++this.counter}`;
    const previous = this.current.source;
    this.current = { config, policy, source, version: v };
    this.log.info({ source, version: v, replaces: previous }, `config applied from ${source}`);
    this.logWarnings(policy);
    for (const cb of this.listeners) cb(this.current);
    return { ok: true, version: v };
  }

  /** JSON text from Zentinel (handshake config_json, Configure events). */
  applyJson(json: string, source: ConfigSource, version?: string): ApplyResult {
    let value: unknown;
    try {
      value = json.trim() === "" ? {} : JSON.parse(json);
    } catch {
      this.log.error({ source, version }, "config rejected: not valid JSON; previous config stays in force");
      return { ok: false, error: "config: not valid JSON" };
    }
    return this.apply(value, source, version);
  }

  /** Re-reads the config file (SIGHUP or a change on disk). An empty file is refused, not read as "all defaults". */
  reloadFile(path: string): ApplyResult {
    let config: Config;
    try {
      config = loadConfigFile(path, { allowEmpty: false });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.log.error({ path, error: err.message }, "config file reload failed; previous config stays in force");
      return { ok: false, error: err.message };
    }
    // A file cut off mid-write can still parse, minus its allowlist, and an empty allowlist allows every verified
    // identity. Opening an allowlist that way is refused on reload; a restart applies it deliberately.
    const opened = openedAllowlists(this.current.config, config);
    if (opened.length > 0) {
      const error = `config: ${opened.join(", ")} would become empty (every verified SPIFFE ID allowed); refused on reload, restart to apply`;
      this.log.error({ path, error }, "config file reload refused; previous config stays in force");
      return { ok: false, error };
    }
    return this.apply(config, "file");
  }

  private logWarnings(policy: Policy): void {
    for (const w of policy.warnings) this.log.warn(w);
  }
}

type Allowlist = Config["allowlist"];
const isEmpty = (a: Allowlist) => a.exact.length + a.prefix.length + a["trust-domains"].length + a.patterns.length === 0;

/** Allowlists (top level, and routes by name) that have entries now and none in `next`. */
export function openedAllowlists(current: Config, next: Config): string[] {
  const out: string[] = [];
  if (!isEmpty(current.allowlist) && isEmpty(next.allowlist)) out.push("allowlist");
  for (const r of next.routes) {
    const before = current.routes.find((c) => c.name === r.name);
    if (before && !isEmpty(before.allowlist) && isEmpty(r.allowlist)) out.push(`routes[${JSON.stringify(r.name)}].allowlist`);
  }
  return out;
}
