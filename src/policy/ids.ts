// The one place policy code parses SPIFFE IDs and trust domain names from config, through the SPIFFE core
// so that config and certificates are held to exactly the same grammar.
import { parseSpiffeId, parseTrustDomain } from "../spiffe/index.js";

export interface ParsedId {
  trustDomain: string;
  /** "" for a trust domain ID, else "/seg/seg". */
  path: string;
  id: string;
}

export function parseConfigId(s: string): ParsedId {
  const id = parseSpiffeId(s);
  return { trustDomain: id.trustDomain.name, path: id.path, id: id.toString() };
}

/** `example.org` or `spiffe://example.org`. */
export function parseConfigTrustDomain(s: string): string {
  return parseTrustDomain(s).name;
}
