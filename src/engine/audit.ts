// Audit log: one structured JSON line per decision, shaped for log pipelines (type="audit").
// It records who (SPIFFE ID), what (request method, path without query), the outcome and why; never
// certificates, headers or tokens. Bypass decisions (log_and_allow, fail_open) are security-relevant and
// always logged at warn, whatever `audit.log-success` says.
import type { Logger } from "../log.js";
import type { DecisionContext, DecisionListener } from "./engine.js";
import type { AuthzRequest, Decision } from "./types.js";

export interface AuditRecord {
  type: "audit";
  decision: "allow" | "deny";
  reason: Decision["reason"];
  status: number;
  transport: AuthzRequest["transport"];
  request_method: string;
  path: string;
  detail: string;
  duration_ms: number;
  spiffe_id?: string;
  trust_domain?: string;
  method?: string;
  route?: string;
  request_id?: string;
  correlation_id?: string;
  traceparent?: string;
  policy_version?: string;
  cert?: { serial: string; issuer: string; not_after: string; sha256: string };
}

const MAX_FIELD = 512;

/** Caps attacker-controlled strings so one request cannot write an arbitrarily long log line. */
function cap(s: string): string {
  return s.length > MAX_FIELD ? `${s.slice(0, MAX_FIELD)}…` : s;
}

/** Query strings often carry secrets (tokens, signatures); the audit trail needs only the path. */
function pathOnly(path: string): string {
  const q = path.search(/[?#]/);
  return cap(q >= 0 ? path.slice(0, q) : path);
}

export function auditRecord(
  req: AuthzRequest,
  d: Decision,
  durationSeconds: number,
  ctx?: DecisionContext,
): AuditRecord {
  const rec: AuditRecord = {
    type: "audit",
    decision: d.allow ? "allow" : "deny",
    reason: d.reason,
    status: d.httpStatus,
    transport: req.transport,
    request_method: cap(req.method),
    path: pathOnly(req.path),
    detail: cap(d.detail),
    duration_ms: Math.round(durationSeconds * 1e6) / 1e3,
  };
  if (d.identity) {
    rec.spiffe_id = d.identity.spiffeId;
    rec.trust_domain = d.identity.trustDomain;
    rec.method = d.identity.method;
  }
  if (d.route !== undefined) rec.route = d.route;
  if (req.requestId) rec.request_id = cap(req.requestId);
  if (req.correlationId) rec.correlation_id = cap(req.correlationId);
  if (req.traceparent) rec.traceparent = cap(req.traceparent);
  if (ctx?.policyVersion) rec.policy_version = ctx.policyVersion;
  const includeCert = ctx ? ctx.policy.config.audit["include-cert-info"] : true;
  if (includeCert && d.certInfo) {
    rec.cert = {
      serial: d.certInfo.serial,
      issuer: cap(d.certInfo.issuer),
      not_after: d.certInfo.notAfter,
      sha256: d.certInfo.sha256,
    };
  }
  return rec;
}

/**
 * A decision listener writing audit lines through `logger`. Settings come from the policy in force for
 * each decision (`ctx.policy.config.audit`), so a config reload applies without re-subscribing.
 */
export function createAuditListener(logger: Logger): DecisionListener {
  return (req, decision, durationSeconds, ctx) => {
    const audit = ctx.policy.config.audit;
    const bypass = decision.reason === "log_and_allow" || decision.reason === "fail_open";
    if (bypass) {
      logger.warn(auditRecord(req, decision, durationSeconds, ctx), "authz decision (verification bypassed)");
      return;
    }
    if (decision.allow ? !audit["log-success"] : !audit["log-failure"]) return;
    logger.info(auditRecord(req, decision, durationSeconds, ctx), "authz decision");
  };
}
