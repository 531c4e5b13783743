// Config pushed over the network (Zentinel Configure events, handshake config_json) is laid over the config
// FILE and may tighten it, never loosen it. Anyone who reaches the port can send one, so what it may change is
// limited to what an attacker could not use to let a request through that the file would stop.
//
// What a push may change: the allowlists' entries and the routes' matches (that is what pushing config is for),
// and any switch towards stricter. What it may not: turn a check off or soften a failure mode, empty an
// allowlist, drop a route, move where credentials are read from or where identities are written to, or touch
// anything the file alone governs (the Workload API, bundle files, our own port, the Zentinel door itself).
import { isDeepStrictEqual } from "node:util";
import type { AllowlistConfig, Config, RouteConfig } from "./schema.js";

/** One way a pushed config would loosen the file's: the key path and what is wrong with it. */
export interface Loosening {
  field: string;
  problem: string;
}

type Check<T> = (file: T, next: T, at: string, out: Loosening[]) => void;
/**
 * A check for every key. Mapped over the schema's output type, so a key added to the schema is a type error
 * here until someone decides whether a push may change it.
 */
type Rules<T> = { [K in keyof T & string]-?: Check<T[K]> };

const json = (v: unknown) => JSON.stringify(v) ?? "nothing";

function section<T>(rules: Rules<T>): Check<T> {
  return (file, next, at, out) => {
    for (const key of Object.keys(rules) as Array<keyof T & string>)
      rules[key](file[key], next[key], `${at}.${key}`, out);
  };
}

/** Only the file may change it. */
function fileOnly(why: string): Check<unknown> {
  return (file, next, at, out) => {
    if (!isDeepStrictEqual(file, next))
      out.push({ field: at, problem: `${why}; only the config file may change it (file: ${json(file)})` });
  };
}

/** A switch that may be turned on by a push, not off. */
const noTurnOff: Check<boolean> = (file, next, at, out) => {
  if (file && !next) out.push({ field: at, problem: "false would loosen the config file's true" });
};

/** Values ordered strictest first: a push may move towards the front, not back. */
function ranked<T extends string>(order: readonly T[]): Check<T> {
  return (file, next, at, out) => {
    if (order.indexOf(next) > order.indexOf(file))
      out.push({ field: at, problem: `${next} would loosen the config file's ${file}` });
  };
}

const isEmpty = (a: AllowlistConfig) =>
  a.exact.length + a.prefix.length + a["trust-domains"].length + a.patterns.length === 0;

/** An empty allowlist allows every verified identity: emptying one is the widest opening there is. */
const notEmptied: Check<AllowlistConfig> = (file, next, at, out) => {
  if (!isEmpty(file) && isEmpty(next))
    out.push({
      field: at,
      problem: "would become empty (every verified SPIFFE ID allowed); the config file's has entries",
    });
};

const ROUTE: Rules<RouteConfig> = {
  name: () => {}, // the identity of a route: routes are paired by name
  match: () => {}, // where a route applies, like an allowlist's entries, is what a push may change
  allowlist: (file, next, at, out) => {
    if (file && next) notEmptied(file, next, at, out);
  },
  enforcement: (file, next, at, out) => enforcement(file ?? "enforce", next ?? "enforce", at, out),
};

/** Every route of the file stays (a request named for it would otherwise fall to another allowlist). */
const routes: Check<RouteConfig[]> = (file, next, at, out) => {
  for (const r of file) {
    const where = `${at}[${JSON.stringify(r.name)}]`;
    const kept = next.find((n) => n.name === r.name);
    if (!kept) out.push({ field: where, problem: "is in the config file; a pushed config may not remove it" });
    else section(ROUTE)(r, kept, where, out);
  }
};

/** dry-run lets every request through: a push may end it, never start it. */
const enforcement = ranked<Config["enforcement"]>(["enforce", "dry-run"]);

const TOP: Rules<Config> = {
  spire: fileOnly("the Workload API connection is set up at start-up"),
  "trust-bundles": fileOnly("which bundles are trusted"),
  tls: section<Config["tls"]>({
    "require-mtls": noTurnOff,
    // Where the client certificate is read from: a header or element the hop in front does not replace is
    // one the client writes itself.
    "client-cert-format": fileOnly("how client certificates are read"),
    "client-cert-header": fileOnly("where client certificates are read from"),
    "client-cert-chain-header": fileOnly("where client certificate chains are read from"),
    "xfcc-element": fileOnly("which XFCC element is trusted"),
  }),
  allowlist: notEmptied,
  enforcement, // before routes, which inherit it: the top-level key is the one an error names first
  jwt: section<Config["jwt"]>({
    enabled: (file, next, at, out) => {
      if (!file && next)
        out.push({ field: at, problem: "true would accept JWT-SVIDs, which the config file does not" });
    },
    header: fileOnly("where JWT-SVIDs are read from"),
    audiences: (file, next, at, out) => {
      const added = next.filter((a) => !file.includes(a));
      if (added.length > 0)
        out.push({ field: at, problem: `${json(added)} would accept tokens for audiences the config file does not` });
    },
  }),
  routes,
  failure: section<Config["failure"]>({
    "spire-unavailable": ranked(["fail_closed", "cache", "fail_open"] as const),
    "validation-failure": ranked(["reject", "log_and_allow"] as const),
    "cache-ttl": (file, next, at, out) => {
      if (next > file)
        out.push({
          field: at,
          problem: `${next} would trust bundles longer after SPIRE is lost than the config file's ${file}`,
        });
    },
  }),
  // The names upstreams trust for identity, and strip from clients; renamed, the old names would pass through.
  headers: fileOnly("identity header names"),
  audit: section<Config["audit"]>({
    "log-success": noTurnOff,
    "log-failure": noTurnOff,
    "include-cert-info": noTurnOff,
  }),
  server: fileOnly("our own port's TLS and authorized clients"),
  zentinel: fileOnly("the Zentinel door's own settings"),
};

/** A route without an allowlist or enforcement of its own has the top level's: compare what decides. */
function effective(c: Config): Config {
  return {
    ...c,
    routes: c.routes.map((r) => ({
      ...r,
      allowlist: r.allowlist ?? c.allowlist,
      enforcement: r.enforcement ?? c.enforcement,
    })),
  };
}

/**
 * While anything is in dry-run, which requests fall under it must stay the file's: a push that re-matched,
 * re-ordered or added routes could move requests from an enforced route into a dry-run one (or to a dry-run
 * top level). So the routes' names, order and matches are then the file's alone.
 */
function routingKept(file: Config, next: Config, out: Loosening[]): void {
  const dry = next.enforcement === "dry-run" || next.routes.some((r) => r.enforcement === "dry-run");
  const routing = (c: Config) => c.routes.map((r) => ({ name: r.name, match: r.match }));
  if (dry && !isDeepStrictEqual(routing(file), routing(next)))
    out.push({
      field: "routes",
      problem: `names, order and matches may not change while enforcement dry-run is in force (file: ${json(routing(file))})`,
    });
}

/** Ways `next` (a pushed config, already merged over the file) would loosen `file`; empty when it does not. */
export function loosenings(file: Config, next: Config): Loosening[] {
  const out: Loosening[] = [];
  const [f, n] = [effective(file), effective(next)];
  for (const key of Object.keys(TOP) as Array<keyof Config>) (TOP[key] as Check<unknown>)(f[key], n[key], key, out);
  routingKept(f, n, out);
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The pushed object laid over the file's config: mappings merge key by key, anything else (arrays included)
 * replaces. Keys the push leaves out keep the file's values, so a push can never reset one to its default.
 * Built with Object.fromEntries, which defines own properties: a `__proto__` key stays a key (and the schema
 * then rejects it) instead of reaching a prototype.
 */
export function mergeOverFile(file: unknown, pushed: unknown): unknown {
  if (!isObject(file) || !isObject(pushed)) return pushed === undefined ? file : pushed;
  const keys = new Set([...Object.keys(file), ...Object.keys(pushed)]);
  return Object.fromEntries(
    [...keys].map((k) => [
      k,
      Object.hasOwn(pushed, k) ? mergeOverFile(Object.hasOwn(file, k) ? file[k] : undefined, pushed[k]) : file[k],
    ]),
  );
}
