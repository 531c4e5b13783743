// Compiled allowlist: exact IDs, segment-aware prefixes, trust domains and RE2 patterns. An ID is allowed
// when any entry matches; an allowlist with no entries at all allows every verified ID.
import type { AllowlistConfig } from "../config/schema.js";
import { ConfigError } from "../config/errors.js";
import { parseConfigId, parseConfigTrustDomain } from "./ids.js";
import { compilePattern, type CompiledPattern } from "./pattern.js";

interface PrefixRule {
  trustDomain: string;
  /** "" = whole trust domain; else a path without trailing slash. */
  path: string;
  /** Written with a trailing slash: only IDs strictly below `path`, as the seed's string prefix meant. */
  strict: boolean;
}

/** What an allowlist looks at: a verified SPIFFE ID, split. The engine's VerifiedIdentity is one. */
export interface IdentityToMatch {
  spiffeId: string;
  trustDomain: string;
  /** The ID's path, e.g. `/ns/default/sa/web`. */
  path: string;
}

export interface Allowlist {
  /** No entries: authentication only. */
  readonly empty: boolean;
  /** Which kind of entry allowed the ID, or undefined when none did. The hot path: decide() calls it per request. */
  match(id: IdentityToMatch): AllowlistMatch | undefined;
  /**
   * The same answer as match(), with the entry that gave it or what was checked: for the offline commands
   * (`check --explain`, `test --explain`), never called per request.
   */
  explain(id: IdentityToMatch): AllowlistExplanation;
}

export type AllowlistMatch = "empty" | "exact" | "prefix" | "trust-domain" | "pattern";

export interface AllowlistExplanation {
  /** What match() returns for the ID. */
  readonly match: AllowlistMatch | undefined;
  /** The entry that allowed it, by key path and as written, e.g. `allowlist.prefix[1] spiffe://td/ns/payments/`. */
  readonly entry?: string;
  /** One line: the entry that allowed the ID, or how many entries of each kind were checked when none did. */
  readonly text: string;
}

/** Whether a prefix rule covers the ID: segment-aware, strictly below the path when written with a slash. */
function prefixCovers(p: PrefixRule, id: IdentityToMatch): boolean {
  if (p.trustDomain !== id.trustDomain) return false;
  if (p.path === "") return true;
  return id.path === p.path ? !p.strict : id.path.startsWith(p.path) && id.path[p.path.length] === "/";
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function compileAllowlist(cfg: AllowlistConfig, keyPath: string): Allowlist {
  const exact = new Set<string>();
  // Parsed form of each exact entry in config order, for explain(): the set above loses the index.
  const exactIds: string[] = [];
  cfg.exact.forEach((s, i) => {
    try {
      exactIds.push(parseConfigId(s).id);
      exact.add(exactIds[i]!);
    } catch (err) {
      throw new ConfigError(`${keyPath}.exact[${i}]`, `not a valid SPIFFE ID: ${errMsg(err)}`);
    }
  });

  const prefixes: PrefixRule[] = cfg.prefix.map((s, i) => {
    const strict = s.endsWith("/");
    const base = strict ? s.slice(0, -1) : s;
    try {
      const p = parseConfigId(base);
      // `spiffe://td/` is the trust domain ID written with a slash: everything in td, not "strictly below".
      return { trustDomain: p.trustDomain, path: p.path, strict: strict && p.path !== "" };
    } catch (err) {
      throw new ConfigError(`${keyPath}.prefix[${i}]`, `not a valid SPIFFE ID prefix: ${errMsg(err)}`);
    }
  });

  const domains = new Set<string>();
  const domainNames: string[] = [];
  cfg["trust-domains"].forEach((s, i) => {
    try {
      domainNames.push(parseConfigTrustDomain(s));
      domains.add(domainNames[i]!);
    } catch (err) {
      throw new ConfigError(`${keyPath}.trust-domains[${i}]`, `not a valid trust domain: ${errMsg(err)}`);
    }
  });

  const patterns: CompiledPattern[] = cfg.patterns.map((s, i) => {
    try {
      return compilePattern(s);
    } catch (err) {
      throw new ConfigError(`${keyPath}.patterns[${i}]`, errMsg(err));
    }
  });

  const empty = exact.size === 0 && prefixes.length === 0 && domains.size === 0 && patterns.length === 0;
  const match = (id: IdentityToMatch): AllowlistMatch | undefined => {
    if (empty) return "empty";
    if (exact.has(id.spiffeId)) return "exact";
    for (const p of prefixes) if (prefixCovers(p, id)) return "prefix";
    if (domains.has(id.trustDomain)) return "trust-domain";
    for (const re of patterns) if (re.matches(id.spiffeId)) return "pattern";
    return undefined;
  };

  // The first entry of the kind match() names, in config order; match() stays the one judge of the kind.
  const explain = (id: IdentityToMatch): AllowlistExplanation => {
    const kind = match(id);
    const found = (key: string, index: number, written: string): AllowlistExplanation => {
      const entry = `${keyPath}.${key}[${index}] ${written}`;
      return { match: kind, entry, text: `allowed by ${entry}` };
    };
    switch (kind) {
      case "empty":
        return { match: kind, text: `${keyPath} is empty: every verified SPIFFE ID is allowed (authentication only)` };
      case "exact":
        return found("exact", exactIds.indexOf(id.spiffeId), cfg.exact[exactIds.indexOf(id.spiffeId)]!);
      case "prefix": {
        const i = prefixes.findIndex((p) => prefixCovers(p, id));
        return found("prefix", i, cfg.prefix[i]!);
      }
      case "trust-domain": {
        const i = domainNames.indexOf(id.trustDomain);
        return found("trust-domains", i, cfg["trust-domains"][i]!);
      }
      case "pattern": {
        const i = patterns.findIndex((re) => re.matches(id.spiffeId));
        return found("patterns", i, cfg.patterns[i]!);
      }
      case undefined: {
        const checked = `exact ${cfg.exact.length}, prefix ${prefixes.length}, trust-domains ${cfg["trust-domains"].length}, patterns ${patterns.length}`;
        return { match: kind, text: `no entry of ${keyPath} matched ${id.spiffeId}: ${checked} checked` };
      }
    }
  };

  return { empty, match, explain };
}
