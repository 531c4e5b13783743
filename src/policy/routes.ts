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
