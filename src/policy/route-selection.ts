// Which allowlist decides a request: the route the proxy names, else every route some plausible reading of the
// path and method falls under (all of them must allow), else the top-level allowlist. Readings are routes.ts's.
import type { Allowlist } from "./allowlist.js";
import { TOP_LEVEL, type CompiledRoute, type Policy, type RouteSelection } from "./policy.js";
import { pathHasPrefix, pathReadings } from "./routes.js";

const NOTHING_ALLOWED: Allowlist = Object.freeze({
  empty: false,
  match: () => undefined,
  explain: () => ({ match: undefined, text: "no allowlist applies: the route is not defined in the config" }),
});

/**
 * Longest path read every way: pathReadings costs about a microsecond per byte of a path full of escapes, and
 * Envoy passes up to 60 KiB of headers by default. 8 KiB is far above real paths.
 */
export const MAX_READ_PATH_LENGTH = 8192;

/** Selections made of several routes, per policy: decide() memoises decisions by route object identity. */
const combined = new WeakMap<Policy, Map<string, RouteSelection>>();
const MAX_COMBINED_PER_POLICY = 256;

/** The route a normalised path and method select by prefix, or undefined for the top-level allowlist. */
export function routeForPath(
  policy: Policy,
  path: string,
  method: string,
  foldCase: boolean,
): CompiledRoute | undefined {
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
export function methodReadings(method: string, headers: ReadonlyMap<string, string> | undefined): string[] {
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
    explain(id: Parameters<Allowlist["match"]>[0]) {
      const each = lists.map((l) => l.explain(id));
      const denied = each.find((e) => e.match === undefined);
      return denied ?? { match: each[0]!.match, text: each.map((e) => e.text).join("; and ") };
    },
  });
  const names = picked.map((r) => (r === undefined ? TOP_LEVEL : r.name));
  const route: CompiledRoute = Object.freeze({
    name: names.join("+"),
    pathPrefix: undefined,
    pathPrefixFolded: undefined,
    methods: undefined,
    allowlist,
    // Not enforced only if no route it combines is: one enforced route among them enforces.
    dryRun: picked.every((r) => (r === undefined ? policy.dryRun : r.dryRun)),
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
