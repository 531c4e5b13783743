// The shipped deploy files, changed only where an address or a path must point into the scenario's directory.
// Each substitution must find its target: a renamed key in deploy/ fails the e2e tier instead of being skipped.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./peers.js";

export function deployFile(rel: string): string {
  return readFileSync(join(ROOT, "deploy", rel), "utf8");
}

/** Sets `key = "value"` in a SPIRE HCL file; the key must appear exactly once. */
export function setHcl(text: string, key: string, value: string): string {
  const re = new RegExp(`^(\\s*${key}\\s*=\\s*)"[^"]*"`, "gm");
  const hits = text.match(re)?.length ?? 0;
  if (hits !== 1) throw new Error(`template: expected one \`${key} = "..."\` in the SPIRE config, found ${hits}`);
  return text.replace(re, (_m, lead: string) => `${lead}${JSON.stringify(value)}`);
}

/** Replaces a literal string that must occur at least once (KDL addresses and paths). */
export function replaceAll(text: string, from: string, to: string, what: string): string {
  if (!text.includes(from)) throw new Error(`template: ${what}: "${from}" not found`);
  return text.split(from).join(to);
}
