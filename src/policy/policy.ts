// Config → Policy, once per config version. Everything that can be wrong with the allowlists and routes is
// found here and reported as a ConfigError naming the key path, so a bad reload never reaches requests.
import type { Config } from "../config/schema.js";
import { ConfigError } from "../config/errors.js";
import type { AuthzRequest } from "../engine/types.js";
import { compileAllowlist, type Allowlist } from "./allowlist.js";
import { canonicalPrefix, normalizePath, pathHasPrefix } from "./routes.js";

export interface CompiledRoute {
  readonly name: string;
  /** Canonical prefix (normalised, no trailing slash), or undefined for any path. */
  readonly pathPrefix: string | undefined;
  /** Upper-cased methods, or undefined for any method. */
  readonly methods: ReadonlySet<string> | undefined;
  readonly allowlist: Allowlist;
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
  /** All five identity header names, lower-cased: what a client must never smuggle upstream. */
  readonly identityHeaderNames: readonly string[];
  /** Things worth one line in the start-up/reload log, e.g. empty allowlists (authentication only). */
  readonly warnings: readonly string[];
}

export interface RouteSelection {
  /** The route whose allowlist applies, or undefined for the top-level allowlist. */
  route: CompiledRoute | undefined;
  allowlist: Allowlist;
}

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
    const ra = compileAllowlist(r.allowlist, `routes[${i}].allowlist`);
    if (ra.empty) warnings.push(`routes[${i}] ("${r.name}") allowlist ${EMPTY_WARNING}`);
    return {
      name: r.name,
      pathPrefix: rawPrefix === undefined ? undefined : canonicalPrefix(rawPrefix),
      methods: methods ? new Set(methods.map((m) => m.toUpperCase())) : undefined,
      allowlist: ra,
    };
  });

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
  const dupe = lower.find((n, k) => lower.indexOf(n) !== k);
  if (dupe !== undefined) throw new ConfigError("headers", `header name "${dupe}" is used for two identity headers`);
  const clientCertHeader = config.tls["client-cert-header"].toLowerCase();
  if (lower.includes(clientCertHeader)) {
    throw new ConfigError("headers", `"${clientCertHeader}" is also tls.client-cert-header`);
  }

  return Object.freeze({
    config,
    allowlist,
    routes: Object.freeze(routes),
    headers: Object.freeze(headers),
    identityHeaderNames: Object.freeze(lower),
    warnings: Object.freeze(warnings),
  });
}

/** First route named by the request, else first matching path/method, else the top-level allowlist. */
export function selectRoute(policy: Policy, req: Pick<AuthzRequest, "routeName" | "path" | "method">): RouteSelection {
  if (req.routeName !== undefined && req.routeName !== "") {
    const named = policy.routes.find((r) => r.name === req.routeName);
    if (named) return { route: named, allowlist: named.allowlist };
  }
  if (policy.routes.length > 0) {
    const path = normalizePath(req.path);
    const method = req.method.toUpperCase();
    for (const r of policy.routes) {
      // A route without match conditions is one the proxy names (context_extensions / route_id); it must not
      // capture every unnamed request.
      if (r.pathPrefix === undefined && r.methods === undefined) continue;
      if (r.pathPrefix !== undefined && !pathHasPrefix(path, r.pathPrefix)) continue;
      if (r.methods !== undefined && !r.methods.has(method)) continue;
      return { route: r, allowlist: r.allowlist };
    }
  }
  return { route: undefined, allowlist: policy.allowlist };
}
