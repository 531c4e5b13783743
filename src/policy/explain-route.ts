// Why selectRoute() chose the routes it chose, for the offline commands (`check --explain`, `test --explain`).
// It walks the same readings with the same helpers as route-selection.ts, recording which reading selected each
// route; selectRoute itself stays as it is, since it runs per request.
import type { CompiledRoute, Policy } from "./policy.js";
import { MAX_READ_PATH_LENGTH, methodReadings, routeForPath, type RequestToRoute } from "./route-selection.js";
import { pathReadings } from "./routes.js";

export type RouteChoice = "named" | "unknown-name" | "no-routes" | "path-too-long" | "by-path";

export interface RouteExplanation {
  readonly how: RouteChoice;
  /** The routes whose allowlists apply, in config order, "(top-level)" for the top-level allowlist; none for an unknown name. */
  readonly routes: readonly string[];
  /** One line per route chosen: which rule selected it, on which reading of the request. */
  readonly reasons: readonly string[];
}

export const TOP_LEVEL = "(top-level)";

/** `routes[0] "payments" (path-prefix /payments, methods POST)`: the route as the config writes it. */
function ruleText(policy: Policy, r: CompiledRoute): string {
  const i = policy.routes.indexOf(r);
  const rules: string[] = [];
  if (r.pathPrefix !== undefined) rules.push(`path-prefix ${r.pathPrefix}`);
  if (r.methods !== undefined) rules.push(`methods ${[...r.methods].join(",")}`);
  return `routes[${i}] ${JSON.stringify(r.name)}${rules.length > 0 ? ` (${rules.join(", ")})` : ""}`;
}

interface Reading {
  path: string;
  method: string;
  folded: boolean;
}

function readingText(req: RequestToRoute, r: Reading): string {
  const notes: string[] = [];
  if (r.path !== req.path) notes.push(`path read as ${r.path}`);
  if (r.method !== req.method.toUpperCase()) notes.push(`method read as ${r.method}`);
  if (r.folded) notes.push("case-folded");
  return `${req.method.toUpperCase()} ${req.path}${notes.length > 0 ? ` (${notes.join(", ")})` : ""}`;
}

export function explainRoute(policy: Policy, req: RequestToRoute): RouteExplanation {
  if (req.routeName !== undefined && req.routeName !== "") {
    const named = policy.routes.find((r) => r.name === req.routeName);
    if (!named) {
      const reason = `route ${JSON.stringify(req.routeName)} named by the request is not in the config: 403 unknown_route`;
      return { how: "unknown-name", routes: [], reasons: [reason] };
    }
    return { how: "named", routes: [named.name], reasons: [`${ruleText(policy, named)} named by the request`] };
  }
  if (policy.routes.length === 0) {
    return { how: "no-routes", routes: [TOP_LEVEL], reasons: ["the config has no routes: the top-level allowlist"] };
  }
  const withRules = policy.routes.filter((r) => r.pathPrefix !== undefined || r.methods !== undefined);
  if (req.path.length > MAX_READ_PATH_LENGTH) {
    const why = `path longer than ${MAX_READ_PATH_LENGTH} bytes: every route with match rules applies, and the top-level allowlist`;
    return { how: "path-too-long", routes: [...withRules.map((r) => r.name), TOP_LEVEL], reasons: [why] };
  }
  // The same order of readings as selectRoute: the first reading's route, then every other one any reading selects.
  const chosen = new Map<CompiledRoute | undefined, Reading>();
  for (const path of pathReadings(req.path)) {
    for (const method of methodReadings(req.method, req.headers)) {
      for (const folded of [false, true]) {
        const r = routeForPath(policy, folded ? path.toLowerCase() : path, method, folded);
        if (!chosen.has(r)) chosen.set(r, { path, method, folded });
      }
    }
  }
  const rank = (r: CompiledRoute | undefined) => (r === undefined ? policy.routes.length : policy.routes.indexOf(r));
  const picked = [...chosen.keys()].sort((a, b) => rank(a) - rank(b));
  const reasons = picked.map((r) => {
    const reading = readingText(req, chosen.get(r)!);
    if (r !== undefined) return `${ruleText(policy, r)} matches ${reading}`;
    return `no route's match rule covers ${reading} (${withRules.length} ${withRules.length === 1 ? "route" : "routes"} with rules checked): the top-level allowlist`;
  });
  if (picked.length > 1) reasons.push("several readings select different routes: every one of them must allow");
  return { how: "by-path", routes: picked.map((r) => (r === undefined ? TOP_LEVEL : r.name)), reasons };
}
