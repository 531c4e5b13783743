// Route selection: by name (Envoy context_extensions["route"], Zentinel route_id), else by path prefix and
// method, else the top-level allowlist.

/**
 * The path a route is matched on: query and fragment dropped, unreserved percent-escapes decoded, dot
 * segments resolved and repeated slashes merged (RFC 3986 §6.2.2). Without this, `/public/../payments` or
 * `/%70ayments` would pick the rules of a route other than the one the upstream ends up serving.
 * Encoded slashes (%2F) stay encoded, as Envoy leaves them by default.
 */
export function normalizePath(raw: string): string {
  let path = raw;
  const q = path.search(/[?#]/);
  if (q >= 0) path = path.slice(0, q);
  path = path.replace(/%([0-9A-Fa-f]{2})/g, (m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : m.toUpperCase();
  });
  if (!path.startsWith("/")) path = "/" + path;
  const out: string[] = [];
  const segs = path.split("/");
  for (let k = 1; k < segs.length; k++) {
    const seg = segs[k] as string;
    const last = k === segs.length - 1;
    if (seg === ".") {
      if (last) out.push("");
    } else if (seg === "..") {
      out.pop();
      if (last) out.push("");
    } else if (seg === "" && !last) {
      // merged slash
    } else {
      out.push(seg);
    }
  }
  return "/" + out.join("/");
}

/** Percent-decodes every escape (reserved ones too: %2F, %5C, %2E); a bad escape is kept as written. */
function decodeAll(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Each segment without its `;parameters` (RFC 3986 path parameters, which Tomcat and others drop). */
function stripParams(path: string): string {
  return path
    .split("/")
    .map((seg) => {
      const k = seg.indexOf(";");
      return k < 0 ? seg : seg.slice(0, k);
    })
    .join("/");
}

/** At most this many rounds of decoding: an upstream that decodes twice sees %252F as "/". */
const MAX_DECODE_ROUNDS = 3;

/**
 * Every plausible reading of a request path an upstream might route on, each normalised (normalizePath): as
 * sent; percent-decoded fully, once and repeatedly (%2F, %5C, %2E included); with `\` read as `/`; with
 * `;parameters` stripped per segment; and their combinations. The query is never part of the path. A route
 * applies when any reading falls under it (docs/architecture.md), so `/payments;v=1`, `/payments%2Fx`,
 * `/api/%2e%2e/payments/x`, `/payments\x` and `//payments/x` all count as /payments.
 */
export function pathReadings(raw: string): string[] {
  const q = raw.search(/[?#]/);
  const path = q >= 0 ? raw.slice(0, q) : raw;
  // The common case: nothing any upstream could read differently from our normal form.
  if (!/[%\\;]/.test(path) && !path.startsWith("//")) return [normalizePath(path)];
  const decoded = [path];
  for (let k = 0, cur = path; k < MAX_DECODE_ROUNDS && cur.includes("%"); k++) {
    const next = decodeAll(cur);
    if (next === cur) break;
    decoded.push(next);
    cur = next;
  }
  // First the reading routes are matched on when nothing is ambiguous (see normalizePath).
  const out = new Set<string>([normalizePath(path)]);
  decoded.forEach((d, round) => {
    const normal = round === 0 ? normalizePath : normalizeDecoded;
    for (const slashed of [d, d.replace(/\\/g, "/")]) {
      for (const p of [slashed, stripParams(slashed)]) out.add(normal(p));
    }
  });
  // A URL parser may take `//host/rest` for a network-path reference: the path is then `/rest`.
  if (/^[/\\]{2}/.test(path)) out.add(normalizePath(path.replace(/^[/\\]{2}[^/\\]*/, "") || "/"));
  return [...out];
}

/** normalizePath for a path already decoded by us: its `%` are literal, so re-encode them first. */
function normalizeDecoded(path: string): string {
  return normalizePath(path.replace(/%/g, "%25").replace(/[?#]/g, (c) => (c === "?" ? "%3F" : "%23")));
}

/** Segment-aware: prefix `/payments` (or `/payments/`) covers `/payments` and `/payments/x`, not `/paymentsx`. */
export function pathHasPrefix(normalizedPath: string, prefix: string): boolean {
  if (prefix === "/") return true;
  if (normalizedPath === prefix) return true;
  return normalizedPath.startsWith(prefix) && normalizedPath[prefix.length] === "/";
}

/** Canonical form of a configured `path-prefix`: normalised, without a trailing slash (except "/"). */
export function canonicalPrefix(prefix: string): string {
  const p = normalizePath(prefix);
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}
