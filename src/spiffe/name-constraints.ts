// URI and DNS name constraints of the CAs in a path, applied to the leaf's names (as Go's crypto/x509
// does). X509-SVID.md §4.2 lets signing certificates carry URI name constraints to fence a CA into its
// trust domain; a constraint kind we do not evaluate fails the path instead of being ignored.
import type { Certificate } from "./certificate.js";

/** RFC 5280 §4.2.1.10 URI rule: `.example.org` matches subdomains only, `example.org` exactly that host. */
function uriHostMatches(host: string, constraint: string): boolean {
  if (constraint.startsWith(".")) return host.length > constraint.length && host.endsWith(constraint);
  return host === constraint;
}

/** DNS rule: a name matches if adding labels on the left of the constraint yields it; `""` matches all. */
function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase();
  if (constraint === "") return true;
  if (constraint.startsWith(".")) return n.length > constraint.length && n.endsWith(constraint);
  return n === constraint || n.endsWith(`.${constraint}`);
}

function check(
  names: readonly string[],
  permitted: readonly string[],
  excluded: readonly string[],
  match: (name: string, constraint: string) => boolean,
  kind: string,
): string | undefined {
  for (const name of names) {
    if (excluded.some((c) => match(name, c))) return `${kind} ${name} is excluded by a name constraint`;
    if (permitted.length > 0 && !permitted.some((c) => match(name, c))) {
      return `${kind} ${name} is not permitted by a name constraint`;
    }
  }
  return undefined;
}

/** Why the leaf's names violate a constraint of `ca`, or undefined. `trustDomain` is the SPIFFE ID host. */
export function nameConstraintProblem(ca: Certificate, trustDomain: string, leaf: Certificate): string | undefined {
  const nc = ca.nameConstraints;
  if (!nc) return undefined;
  if (nc.unsupported) return `unsupported ${nc.unsupported}`;
  return (
    check([trustDomain], nc.permittedUris, nc.excludedUris, uriHostMatches, "URI host") ??
    check(leaf.dnsNames, nc.permittedDns, nc.excludedDns, dnsMatches, "DNS name")
  );
}
