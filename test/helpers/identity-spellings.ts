// Every `-`/`_` spelling of the default identity header names, computed here (not by the policy) so a test can
// tell whether the doors remove what an upstream may fold onto ours (CGI, nginx, Rails: X-SPIFFE-Id and
// x_spiffe_id both become HTTP_X_SPIFFE_ID).
export const DEFAULT_IDENTITY_HEADERS = [
  "X-SPIFFE-Id",
  "X-SPIFFE-Trust-Domain",
  "X-SPIFFE-Workload-Id",
  "X-Auth-Method",
  "X-Auth-Timestamp",
] as const;

/** `X-A-b` → X-A-b, X_A-b, X-A_b, X_A_b. */
export function everySpelling(name: string): string[] {
  const parts = name.split(/[-_]/);
  const out: string[] = [];
  for (let mask = 0; mask < 1 << (parts.length - 1); mask++) {
    out.push(parts.reduce((acc, p, k) => (k === 0 ? p : acc + (mask & (1 << (k - 1)) ? "_" : "-") + p), ""));
  }
  return out;
}

/**
 * What a hostile client sends: every spelling of every identity header, in varying letter case, each claiming
 * an identity it does not have.
 */
export function spoofedIdentityHeaders(): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (const base of DEFAULT_IDENTITY_HEADERS) {
    everySpelling(base).forEach((name, i) => {
      const cased = i % 3 === 0 ? name : i % 3 === 1 ? name.toLowerCase() : name.toUpperCase();
      out.push({ name: cased, value: base === "X-SPIFFE-Id" ? "spiffe://example.org/admin" : "spoofed" });
    });
  }
  return out;
}
