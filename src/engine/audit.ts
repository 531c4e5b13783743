// Audit log: one structured JSON line per decision, shaped for log pipelines (type="audit").
// It records who (SPIFFE ID), how (auth_method; credential_source: peer certificate, the client-cert header
// by its format (XFCC, RFC 9440, URL-encoded PEM), JWT or none),
// what (request method, path without query), the outcome and why; never certificates, headers or tokens.
// Bypass decisions (log_and_allow, fail_open) and would-be denies under `enforcement: dry-run` are
// security-relevant and always logged at warn, whatever `audit.log-*` say. A dry-run line always says so
// ("enforcement":"dry-run" with "would_allow"), never passing for an enforced allow.
import { preformattedLines, type Logger } from "../log.js";
import type { DecisionContext, DecisionListener } from "./engine.js";
import { isShared, type AuthzRequest, type CredentialSource, type Decision } from "./contract.js";

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
  auth_method?: string;
  credential_source?: CredentialSource;
  route?: string;
  request_id?: string;
  correlation_id?: string;
  traceparent?: string;
  policy_version?: string;
  cert?: { serial: string; issuer: string; not_after: string; sha256: string };
  /** Only under `enforcement: dry-run`, whose decisions all pass (status 200): what enforcement would have done. */
  enforcement?: "dry-run";
  would_allow?: boolean;
  would_status?: number;
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
    rec.auth_method = d.identity.method;
  }
  if (d.credentialSource) rec.credential_source = d.credentialSource;
  if (d.route !== undefined) rec.route = d.route;
  if (req.requestId) rec.request_id = cap(req.requestId);
  if (req.correlationId) rec.correlation_id = cap(req.correlationId);
  if (req.traceparent) rec.traceparent = cap(req.traceparent);
  if (ctx?.policyVersion) rec.policy_version = ctx.policyVersion;
  if (d.dryRun) {
    rec.enforcement = "dry-run";
    rec.would_allow = d.dryRun.allow;
    rec.would_status = d.dryRun.httpStatus;
  }
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

// An audit line in two parts, each serialised on its own: the decision's share (outcome, identity, route,
// certificate, policy version) and the request's share (what differs between two requests answered alike).
// Together they are exactly the members of auditRecord(); test/engine/audit.test.ts holds them to it.
const REQUEST_KEYS = new Set<string>([
  "transport",
  "request_method",
  "path",
  "duration_ms",
  "request_id",
  "correlation_id",
  "traceparent",
] satisfies Array<keyof AuditRecord>);

const EMPTY_REQUEST: AuthzRequest = { transport: "envoy", headers: new Map(), method: "", path: "" };

function decisionShare(d: Decision, ctx: DecisionContext): string {
  let out = "";
  for (const [k, v] of Object.entries(auditRecord(EMPTY_REQUEST, d, 0, ctx))) {
    if (v === undefined || REQUEST_KEYS.has(k)) continue;
    out += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
  }
  return out.slice(1);
}

function requestShare(req: AuthzRequest, durationSeconds: number): string {
  let out =
    `"transport":${JSON.stringify(req.transport)},"request_method":${JSON.stringify(cap(req.method))}` +
    `,"path":${JSON.stringify(pathOnly(req.path))},"duration_ms":${Math.round(durationSeconds * 1e6) / 1e3}`;
  if (req.requestId) out += `,"request_id":${JSON.stringify(cap(req.requestId))}`;
  if (req.correlationId) out += `,"correlation_id":${JSON.stringify(cap(req.correlationId))}`;
  if (req.traceparent) out += `,"traceparent":${JSON.stringify(cap(req.traceparent))}`;
  return out;
}

const MSG = "authz decision";
const MSG_BYPASS = "authz decision (verification bypassed)";
const MSG_DRY_RUN_DENY = "authz decision (dry-run: would deny, not enforced)";

/**
 * A decision listener writing audit lines through `logger`. Settings come from the policy in force for
 * each decision (`ctx.policy.config.audit`), so a config reload applies without re-subscribing.
 *
 * Every decision is audited by default, so a line must cost little. A hot client gets the same SharedDecision
 * back for as long as policy, route and clock second stay the same (see decide.ts); the decision's share of its
 * line is serialised once and kept beside that Decision, and each request adds only its own fields. With a
 * logger from createLogger the line is written preformatted (log.ts preformattedLines); with any other logger
 * the record goes through the logger as an object. The record is the same either way.
 */
export function createAuditListener(logger: Logger): DecisionListener {
  const lines = preformattedLines(logger);
  const shares = new WeakMap<Decision, { ctx: DecisionContext; json: string }>();
  const shareOf = (d: Decision, ctx: DecisionContext): string => {
    // Only a SharedDecision is handed to more than one request; another is serialised for its one line.
    if (!isShared(d)) return decisionShare(d, ctx);
    const known = shares.get(d);
    if (known && known.ctx === ctx) return known.json;
    const json = decisionShare(d, ctx);
    shares.set(d, { ctx, json });
    return json;
  };
  return (req, decision, durationSeconds, ctx) => {
    const audit = ctx.policy.config.audit;
    const bypass = decision.reason === "log_and_allow" || decision.reason === "fail_open";
    // A would-be deny under dry-run is a request let through that the policy would stop: what dry-run is
    // there to show, so always written, at warn, as bypasses are.
    const wouldDeny = decision.dryRun !== undefined && !decision.dryRun.allow;
    if (!bypass && !wouldDeny && (decision.allow ? !audit["log-success"] : !audit["log-failure"])) return;
    const level = bypass || wouldDeny ? "warn" : "info";
    const msg = wouldDeny ? MSG_DRY_RUN_DENY : bypass ? MSG_BYPASS : MSG;
    if (!lines) {
      logger[level](auditRecord(req, decision, durationSeconds, ctx), msg);
      return;
    }
    lines.write(level, `${shareOf(decision, ctx)},${requestShare(req, durationSeconds)}`, msg);
  };
}
