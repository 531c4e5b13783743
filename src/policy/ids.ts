// The one place policy code parses SPIFFE IDs and trust domain names from config.
// TEMPORARY: local spec-following parser until src/spiffe lands; then this delegates to it.

export interface ParsedId {
  trustDomain: string;
  /** "" for a trust domain ID, else "/seg/seg". */
  path: string;
  id: string;
}

const TD = /^[a-z0-9._-]+$/;
const SEG = /^[A-Za-z0-9._-]+$/;

export function parseConfigId(s: string): ParsedId {
  if (!s.startsWith("spiffe://")) throw new Error("scheme is missing or invalid");
  if (s.length > 2048) throw new Error("longer than 2048 bytes");
  const rest = s.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  const td = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash);
  parseTd(td);
  if (path !== "") {
    const segs = path.slice(1).split("/");
    for (const seg of segs) {
      if (seg === "") throw new Error("path cannot contain empty segments or a trailing slash");
      if (seg === "." || seg === "..") throw new Error("path cannot contain dot segments");
      if (!SEG.test(seg)) throw new Error("path segment has characters outside [A-Za-z0-9._-]");
    }
  }
  return { trustDomain: td, path, id: `spiffe://${td}${path}` };
}

function parseTd(td: string): string {
  if (td === "") throw new Error("trust domain is missing");
  if (!TD.test(td)) throw new Error("trust domain has characters outside [a-z0-9._-]");
  return td;
}

export function parseConfigTrustDomain(s: string): string {
  if (s.startsWith("spiffe://")) {
    const p = parseConfigId(s.endsWith("/") ? s.slice(0, -1) : s);
    if (p.path !== "") throw new Error("expected a trust domain, got a SPIFFE ID with a path");
    return p.trustDomain;
  }
  return parseTd(s);
}
