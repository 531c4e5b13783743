// Config → Policy, once per config version. Everything that can be wrong with the allowlists and routes is
// found here and reported as a ConfigError naming the key path, so a bad reload never reaches requests.
import { sameHeaderName, type Config } from "../config/schema.js";
import { ConfigError } from "../config/errors.js";
import { compileAllowlist, type Allowlist } from "./allowlist.js";
import { canonicalPrefix } from "./routes.js";

export interface CompiledRoute {
  readonly name: string;
  /** Canonical prefix (normalised, no trailing slash), or undefined for any path. */
  readonly pathPrefix: string | undefined;
  /** The same, lower-cased: what a case-insensitive upstream matches. */
  readonly pathPrefixFolded: string | undefined;
  /** Upper-cased methods, or undefined for any method. */
  readonly methods: ReadonlySet<string> | undefined;
  /** Its own, or the top-level allowlist when the config gives the route none. */
  readonly allowlist: Allowlist;
  /** `enforcement: dry-run` applies (its own, else the top level's): decisions are recorded, never enforced. */
  readonly dryRun: boolean;
}

export interface IdentityHeaderNames {
  spiffeId: string;
  trustDomain: string;
  workloadId: string;
  authMethod: string;
  authTimestamp: string;
}

export interface Policy {
  /** The validated config this policy was compiled from (failure modes, tls, jwt, audit are read from it). */
  readonly config: Config;
  readonly allowlist: Allowlist;
  readonly routes: readonly CompiledRoute[];
  /** Identity header names as configured (for headers to set). */
  readonly headers: Readonly<IdentityHeaderNames>;
  /**
   * Every spelling of the five identity header names a client must never smuggle upstream: lower-cased (header
   * names are case-insensitive) and with each `-` also as `_` (CGI, WSGI, PHP and nginx-to-FastCGI upstreams
   * fold both onto HTTP_X_SPIFFE_ID). The configured spellings come first.
   */
  readonly identityHeaderNames: readonly string[];
  /** Things worth one line in the start-up/reload log, e.g. empty allowlists (authentication only). */
  readonly warnings: readonly string[];
  /** Top-level `enforcement: dry-run`: requests decided by the top-level allowlist (or no route) are not denied. */
  readonly dryRun: boolean;
  /**
   * The top level and every route are dry-run. Only then does a route name the config lacks pass under dry-run:
   * with any route enforced, a mistyped name must not slip out of enforcement by falling to the top level.
   */
  readonly allDryRun: boolean;
  /** Where dry-run is in force: `(top-level)` and route names; empty when everything is enforced. */
  readonly dryRunScopes: readonly string[];
}

export interface RouteSelection {
  /**
   * The route whose allowlist applies, or undefined for the top-level allowlist. When readings of the path
   * select several, a route of its own (stable per policy) whose allowlist requires all of theirs.
   */
  readonly route: CompiledRoute | undefined;
  readonly allowlist: Allowlist;
  /** A route name the request gave that the config does not define: denied 403 unknown_route. */
  readonly unknownRoute?: string;
}

/** How the top-level allowlist is named where routes are listed (route-selection.ts, the dry-run warning). */
export const TOP_LEVEL = "(top-level)";

const EMPTY_WARNING = "is empty: every verified SPIFFE ID is allowed (authentication only)";

export function compilePolicy(config: Config): Policy {
  const warnings: string[] = [];
  const allowlist = compileAllowlist(config.allowlist, "allowlist");
  if (allowlist.empty) warnings.push(`allowlist ${EMPTY_WARNING}`);

  const seen = new Map<string, number>();
  const routes = config.routes.map((r, i): CompiledRoute => {
    const prev = seen.get(r.name);
    if (prev !== undefined) {
      throw new ConfigError(`routes[${i}].name`, `duplicate route name "${r.name}" (also routes[${prev}])`);
    }
    seen.set(r.name, i);
    const rawPrefix = r.match["path-prefix"];
    const methods = r.match.methods;
    if (methods && methods.length === 0) {
      throw new ConfigError(`routes[${i}].match.methods`, "must not be empty (leave it out to match any method)");
    }
    const ra = r.allowlist === undefined ? allowlist : compileAllowlist(r.allowlist, `routes[${i}].allowlist`);
    if (r.allowlist !== undefined && ra.empty) warnings.push(`routes[${i}] ("${r.name}") allowlist ${EMPTY_WARNING}`);
    return {
      name: r.name,
      pathPrefix: rawPrefix === undefined ? undefined : canonicalPrefix(rawPrefix),
      pathPrefixFolded: rawPrefix === undefined ? undefined : canonicalPrefix(rawPrefix).toLowerCase(),
      methods: methods ? new Set(methods.map((m) => m.toUpperCase())) : undefined,
      allowlist: ra,
      dryRun: (r.enforcement ?? config.enforcement) === "dry-run",
    };
  });
  const dryRun = config.enforcement === "dry-run";
  const dryRunScopes = [...(dryRun ? [TOP_LEVEL] : []), ...routes.filter((r) => r.dryRun).map((r) => r.name)];
  if (dryRunScopes.length > 0)
    warnings.push(
      `enforcement dry-run: requests are not denied (routes: ${dryRunScopes.join(", ")}); the decisions they would get are audited ("would_allow") and counted in spiffe_authz_dry_run_decisions_total`,
    );

  // The JWT verifier accepts a token only if its aud names one of ours; with none configured every
  // JWT-SVID would be rejected, which is surely not what enabling JWT meant.
  if (config.jwt.enabled && config.jwt.audiences.length === 0) {
    throw new ConfigError("jwt.audiences", "must name at least one audience when jwt.enabled is true");
  }

  const h = config.headers;
  const headers: IdentityHeaderNames = {
    spiffeId: h["spiffe-id"],
    trustDomain: h["trust-domain"],
    workloadId: h["workload-id"],
    authMethod: h["auth-method"],
    authTimestamp: h["auth-timestamp"],
  };
  const lower = Object.values(headers).map((n) => n.toLowerCase());
  for (const [key, name] of Object.entries(h)) {
    // Every spelling an upstream may fold onto the name must be removable (2^separators of them).
    if (name.split(/[-_]/).length - 1 > MAX_HEADER_SEPARATORS) {
      throw new ConfigError(`headers.${key}`, `"${name}" has more than ${MAX_HEADER_SEPARATORS} '-' or '_' separators`);
    }
  }
  const dupe = lower.find((n, k) => lower.indexOf(n) !== k);
  if (dupe !== undefined) throw new ConfigError("headers", `header name "${dupe}" is used for two identity headers`);
  // The client-cert headers are what a trusted hop writes for us to read; an identity header is what we write
  // for the upstream (and strip from clients). One name for both would have us strip our own input.
  for (const key of ["client-cert-header", "client-cert-chain-header"] as const) {
    const name = config.tls[key];
    const clash = name === undefined ? undefined : lower.find((n) => sameHeaderName(n, name));
    if (clash !== undefined) throw new ConfigError("headers", `"${clash}" is also tls.${key} (${name})`);
  }

  return Object.freeze({
    config,
    allowlist,
    routes: Object.freeze(routes),
    headers: Object.freeze(headers),
    identityHeaderNames: Object.freeze(spellings(lower)),
    warnings: Object.freeze(warnings),
    dryRun,
    allDryRun: dryRun && routes.every((r) => r.dryRun),
    dryRunScopes: Object.freeze(dryRunScopes),
  });
}

/** Most `-`/`_` separators in an identity header name: 2^6 spellings each to remove. Longer names are refused at load. */
export const MAX_HEADER_SEPARATORS = 6;

/** `a-b_c` → a-b-c, a_b-c, a-b_c, a_b_c: every `-`/`_` choice, configured names first, no duplicates. */
function spellings(names: readonly string[]): string[] {
  const out = new Set<string>(names);
  for (const name of names) {
    const parts = name.split(/[-_]/);
    const seps = parts.length - 1;
    if (seps === 0) continue;
    for (let mask = 0; mask < 1 << seps; mask++) {
      let n = parts[0]!;
      for (let k = 0; k < seps; k++) n += (mask & (1 << k) ? "_" : "-") + parts[k + 1]!;
      out.add(n);
    }
  }
  return [...out];
}
