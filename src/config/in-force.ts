// A new config measured against the config in force, beside the file (tighten.ts measures a push against the
// file only). What the config in force has closed must not open again by the way: a push after a push could
// otherwise undo the first by leaving a key out, which then falls back to the file's value.
import type { Config } from "./schema.js";

type Allowlist = Config["allowlist"];
// A route without an allowlist uses the top-level one, which is checked on its own.
const isEmpty = (a: Allowlist | undefined) =>
  a !== undefined && a.exact.length + a.prefix.length + a["trust-domains"].length + a.patterns.length === 0;

type Route = Config["routes"][number];
const hasRules = (r: Route) => r.match["path-prefix"] !== undefined || r.match.methods !== undefined;

/**
 * Allowlists (top level, and routes by name) that have entries now and none in `next`; and routes with entries
 * now that `next` drops where their requests could fall to an empty allowlist.
 */
export function openedAllowlists(current: Config, next: Config): string[] {
  const out: string[] = [];
  if (!isEmpty(current.allowlist) && isEmpty(next.allowlist)) out.push("allowlist");
  for (const r of next.routes) {
    const before = current.routes.find((c) => c.name === r.name);
    // A route without an allowlist of its own decides with the top-level one.
    if (before && !isEmpty(before.allowlist ?? current.allowlist) && isEmpty(r.allowlist ?? next.allowlist))
      out.push(`routes[${JSON.stringify(r.name)}].allowlist`);
  }
  // A file cut off mid-write loses its last routes and still parses. What a dropped route matched by path or
  // method is then decided by whatever else matches it, the top level at least; not worked out request by
  // request: any empty allowlist it could fall to counts. A route only a proxy names is an unknown route (403).
  const fallbacks = [next.allowlist, ...next.routes.filter(hasRules).map((r) => r.allowlist ?? next.allowlist)];
  if (fallbacks.some(isEmpty))
    for (const r of current.routes)
      if (hasRules(r) && !isEmpty(r.allowlist ?? current.allowlist) && !next.routes.some((n) => n.name === r.name))
        out.push(`routes[${JSON.stringify(r.name)}].allowlist`);
  return out;
}

/**
 * Scopes (top level, and routes by name) enforced now and dry-run in `next`, by their enforcement key. A route
 * with no enforcement of its own has the top level's; a dry-run route the config in force lacks counts as
 * enforced now (its requests are decided by an enforced scope or denied as an unknown route).
 */
export function restartedDryRun(current: Config, next: Config): string[] {
  const out: string[] = [];
  if (current.enforcement === "enforce" && next.enforcement === "dry-run") out.push("enforcement");
  for (const r of next.routes) {
    if ((r.enforcement ?? next.enforcement) !== "dry-run") continue;
    const before = current.routes.find((c) => c.name === r.name);
    if (!before || (before.enforcement ?? current.enforcement) === "enforce")
      out.push(`routes[${JSON.stringify(r.name)}].enforcement`);
  }
  return out;
}
