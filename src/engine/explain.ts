// Why a decision came out as it did, for the offline commands (`check --explain`, `test --explain`): which
// route was chosen and why, and which allowlist entry allowed the identity or what was checked when none did,
// or why the credential never reached an allowlist. Built beside decide(), after it, from the same policy:
// nothing here runs per request.
import { explainRoute, TOP_LEVEL, type Policy, type RouteExplanation } from "../policy/index.js";
import type { AllowlistMatch } from "../policy/index.js";
import type { AuthzRequest, Decision } from "./contract.js";

export interface AllowlistVerdict {
  /** The route whose allowlist this is, "(top-level)" for the top-level one. */
  readonly route: string;
  /** What the allowlist's match() said: the kind of entry that allowed the identity, or none. */
  readonly match: AllowlistMatch | null;
  /** The entry that allowed it, by key path and as written. */
  readonly entry?: string;
  readonly text: string;
}

export interface DecisionExplanation {
  readonly route: RouteExplanation;
  /** The verified identity against each chosen route's allowlist (all must allow). */
  readonly allowlists?: readonly AllowlistVerdict[];
  /** Why no verified identity reached an allowlist: the decision's reason and detail. */
  readonly credential?: string;
}

export function explainDecision(policy: Policy, req: AuthzRequest, decision: Decision): DecisionExplanation {
  const route = explainRoute(policy, req);
  const identity = decision.identity;
  if (identity === undefined) {
    const credential =
      decision.reason === "unknown_route"
        ? "not looked at: the route is unknown"
        : `${decision.reason}: ${decision.detail}${withoutIdentity(decision)}`;
    return { route, credential };
  }
  const allowlists = route.routes.map((name): AllowlistVerdict => {
    const list = name === TOP_LEVEL ? policy.allowlist : policy.routes.find((r) => r.name === name)!.allowlist;
    const e = list.explain(identity);
    return { route: name, match: e.match ?? null, ...(e.entry !== undefined ? { entry: e.entry } : {}), text: e.text };
  });
  return { route, allowlists };
}

/** A request let through with no identity: by the policy, or (a would-be deny) only because of dry-run. */
function withoutIdentity(d: Decision): string {
  if ((d.dryRun ?? d).allow) return " (allowed without an identity)";
  return d.allow ? " (would be denied; passes under dry-run)" : "";
}

/** The explanation as indented text lines, for `test --explain`. */
export function explanationLines(e: DecisionExplanation): string[] {
  const out = e.route.reasons.map((r) => `route: ${r}`);
  for (const a of e.allowlists ?? []) {
    out.push(`allowlist ${a.route === TOP_LEVEL ? a.route : `(route ${a.route})`}: ${a.text}`);
  }
  if (e.credential !== undefined) out.push(`credential: ${e.credential}`);
  return out;
}
