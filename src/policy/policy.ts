// Config → Policy, once per config version. Everything that can be wrong with the allowlists and routes is
// found here and reported as a ConfigError naming the key path, so a bad reload never reaches requests.
import type { Config } from "../config/schema.js";
import { ConfigError } from "../config/errors.js";
import { compileAllowlist, type Allowlist } from "./allowlist.js";
import { canonicalPrefix, pathHasPrefix, pathReadings } from "./routes.js";

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
  for (const [key, name] of Object.entries(h)) {
    // Every spelling an upstream may fold onto the name must be removable (2^separators of them).
    if (name.split(/[-_]/).length - 1 > MAX_HEADER_SEPARATORS) {
      throw new ConfigError(`headers.${key}`, `"${name}" has more than ${MAX_HEADER_SEPARATORS} '-' or '_' separators`);
    }
  }
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
    identityHeaderNames: Object.freeze(spellings(lower)),
    warnings: Object.freeze(warnings),
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

const NOTHING_ALLOWED: Allowlist = Object.freeze({ empty: false, match: () => undefined });

/**
 * Longest path read every way: pathReadings costs about a microsecond per byte of a path full of escapes, and
 * Envoy passes up to 60 KiB of headers by default. 8 KiB is far above real paths.
 */
const MAX_READ_PATH_LENGTH = 8192;

/** Selections made of several routes, per policy: decide() memoises decisions by route object identity. */
const combined = new WeakMap<Policy, Map<string, RouteSelection>>();
const MAX_COMBINED_PER_POLICY = 256;

/** The route a normalised path and method select by prefix, or undefined for the top-level allowlist. */
function routeForPath(policy: Policy, path: string, method: string, foldCase: boolean): CompiledRoute | undefined {
  for (const r of policy.routes) {
    // A route without match conditions is one the proxy names (context_extensions / route_id); it must not
    // capture every unnamed request.
    if (r.pathPrefix === undefined && r.methods === undefined) continue;
    if (r.pathPrefix !== undefined && !pathHasPrefix(path, foldCase ? r.pathPrefixFolded! : r.pathPrefix)) continue;
    if (r.methods !== undefined && !r.methods.has(method)) continue;
    return r;
  }
  return undefined;
}

/** Headers by which method-override middleware (Express, Rails, Spring's HiddenHttpMethodFilter, …) changes the method. */
const METHOD_OVERRIDE_HEADERS = ["x-http-method-override", "x-http-method", "x-method-override"];

/**
 * Every method the upstream may run the request as: the one sent; GET for HEAD (most frameworks run the GET
 * handler); whatever a method-override header names.
 */
function methodReadings(method: string, headers: ReadonlyMap<string, string> | undefined): string[] {
  const out = new Set([method.toUpperCase()]);
  if (out.has("HEAD")) out.add("GET");
  for (const h of METHOD_OVERRIDE_HEADERS) {
    const v = headers?.get(h);
    if (v) for (const m of v.split(",")) if (m.trim()) out.add(m.trim().toUpperCase().slice(0, 32));
  }
  return [...out];
}

/** One selection requiring every chosen allowlist (undefined = the top-level one). */
function combine(policy: Policy, chosen: ReadonlyArray<CompiledRoute | undefined>): RouteSelection {
  // Config order, the top level last: the same set of routes is the same selection, whatever the readings' order.
  const rank = (r: CompiledRoute | undefined) => (r === undefined ? policy.routes.length : policy.routes.indexOf(r));
  const picked = [...chosen].sort((a, b) => rank(a) - rank(b));
  const key = picked.map(rank).join(",");
  let perPolicy = combined.get(policy);
  const hit = perPolicy?.get(key);
  if (hit) return hit;
  const lists = picked.map((r) => (r === undefined ? policy.allowlist : r.allowlist));
  const allowlist: Allowlist = Object.freeze({
    empty: lists.every((l) => l.empty),
    match(id: Parameters<Allowlist["match"]>[0]) {
      let first: ReturnType<Allowlist["match"]>;
      for (const l of lists) {
        const m = l.match(id);
        if (m === undefined) return undefined;
        first ??= m;
      }
      return first;
    },
  });
  const names = picked.map((r) => (r === undefined ? "(top-level)" : r.name));
  const route: CompiledRoute = Object.freeze({
    name: names.join("+"),
    pathPrefix: undefined,
    pathPrefixFolded: undefined,
    methods: undefined,
    allowlist,
  });
  const sel: RouteSelection = Object.freeze({ route, allowlist });
  if (!perPolicy) combined.set(policy, (perPolicy = new Map()));
  if (perPolicy.size < MAX_COMBINED_PER_POLICY) perPolicy.set(key, sel);
  return sel;
}

/** What route selection looks at; the engine's AuthzRequest is one. */
export interface RequestToRoute {
  /** Envoy `context_extensions["route"]` or Zentinel `RequestMetadata.route_id`. */
  routeName?: string;
  path: string;
  method: string;
  headers?: ReadonlyMap<string, string>;
}

/**
 * The route named by the request (an undefined name is unknown_route, never the top-level allowlist); else the
 * first route each plausible reading of the path and method falls under, else the top-level allowlist. When
 * readings disagree, the request must be allowed under every route they select.
 */
export function selectRoute(policy: Policy, req: RequestToRoute): RouteSelection {
  if (req.routeName !== undefined && req.routeName !== "") {
    const named = policy.routes.find((r) => r.name === req.routeName);
    if (named) return { route: named, allowlist: named.allowlist };
    return { route: undefined, allowlist: NOTHING_ALLOWED, unknownRoute: req.routeName };
  }
  if (policy.routes.length === 0) return { route: undefined, allowlist: policy.allowlist };
  if (req.path.length > MAX_READ_PATH_LENGTH) {
    // Too long to read every way cheaply: it must be allowed under every route it could fall under.
    return combine(policy, [
      ...policy.routes.filter((r) => r.pathPrefix !== undefined || r.methods !== undefined),
      undefined,
    ]);
  }
  const methods = methodReadings(req.method, req.headers);
  const readings = pathReadings(req.path);
  const first = routeForPath(policy, readings[0]!, methods[0]!, false);
  let picked: Array<CompiledRoute | undefined> | undefined;
  // Case-insensitive upstreams (Express by default, ASP.NET, IIS) serve /PAYMENTS as /payments: a folded
  // reading selects too.
  for (const path of readings) {
    const folded = path.toLowerCase();
    for (const method of methods) {
      for (const fold of [false, true]) {
        const r = routeForPath(policy, fold ? folded : path, method, fold);
        if (r === first || picked?.includes(r)) continue;
        (picked ??= [first]).push(r);
      }
    }
  }
  if (picked) return combine(policy, picked);
  return { route: first, allowlist: first === undefined ? policy.allowlist : first.allowlist };
}
