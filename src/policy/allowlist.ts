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
  /** Which kind of entry allowed the ID, or undefined when none did. */
  match(id: IdentityToMatch): AllowlistMatch | undefined;
}

export type AllowlistMatch = "empty" | "exact" | "prefix" | "trust-domain" | "pattern";

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function compileAllowlist(cfg: AllowlistConfig, keyPath: string): Allowlist {
  const exact = new Set<string>();
  cfg.exact.forEach((s, i) => {
    try {
      exact.add(parseConfigId(s).id);
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
  cfg["trust-domains"].forEach((s, i) => {
    try {
      domains.add(parseConfigTrustDomain(s));
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
  return {
    empty,
    match(id) {
      if (empty) return "empty";
      if (exact.has(id.spiffeId)) return "exact";
      for (const p of prefixes) {
        if (p.trustDomain !== id.trustDomain) continue;
        if (p.path === "") return "prefix";
        if (id.path === p.path ? !p.strict : id.path.startsWith(p.path) && id.path[p.path.length] === "/") {
          return "prefix";
        }
      }
      if (domains.has(id.trustDomain)) return "trust-domain";
      for (const re of patterns) if (re.matches(id.spiffeId)) return "pattern";
      return undefined;
    },
  };
}
