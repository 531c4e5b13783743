import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { pino } from "pino";
import { parseConfig } from "../../src/config/load.js";
import { compilePolicy } from "../../src/policy/index.js";
import { createAuditListener } from "../../src/engine/audit.js";
import type { DecisionContext } from "../../src/engine/engine.js";
import type { AuthzRequest, Decision } from "../../src/engine/contract.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: "info", formatters: { level: (label) => ({ level: label }) } }, stream);
  return { lines, logger };
}

const req: AuthzRequest = {
  transport: "envoy",
  headers: new Map([
    ["x-forwarded-client-cert", "Cert=secret"],
    ["authorization", "Bearer secret.token.here"],
  ]),
  method: "POST",
  path: "/payments/1?token=supersecret",
  requestId: "req-1",
  traceparent: "00-abc-def-01",
};

const allow: Decision = {
  httpStatus: 200,
  grpcCode: 0,
  allow: true,
  reason: "ok",
  detail: "spiffe://td/a",
  identity: { spiffeId: "spiffe://td/a", trustDomain: "td", path: "/a", method: "spiffe" },
  headersToSet: [],
  headersToRemove: [],
  route: "payments",
  certInfo: { serial: "0a", issuer: "CN=ca", notAfter: "2030-01-01T00:00:00.000Z", sha256: "ff".repeat(32) },
};
const deny: Decision = {
  httpStatus: 401,
  grpcCode: 16,
  allow: false,
  reason: "expired",
  detail: "leaf expired",
  headersToSet: [],
  headersToRemove: [],
};
const bypass: Decision = {
  ...deny,
  httpStatus: 200,
  grpcCode: 0,
  allow: true,
  reason: "log_and_allow",
  detail: "expired: leaf expired",
} as Decision;

function ctx(audit: object): DecisionContext {
  return { policy: compilePolicy(parseConfig({ audit })), policyVersion: "v7" };
}

test("one structured line per decision with the documented fields; no secrets", () => {
  const { lines, logger } = capture();
  const l = createAuditListener(logger);
  l(req, allow, 0.0012, ctx({ "include-cert-info": true }));
  logger.flush();
  assert.equal(lines.length, 1);
  const r = lines[0]!;
  assert.equal(r.type, "audit");
  assert.equal(r.level, "info");
  assert.equal(r.decision, "allow");
  assert.equal(r.reason, "ok");
  assert.equal(r.status, 200);
  assert.equal(r.spiffe_id, "spiffe://td/a");
  assert.equal(r.trust_domain, "td");
  assert.equal(r.auth_method, "spiffe");
  assert.equal(r.method, undefined);
  assert.equal(r.route, "payments");
  assert.equal(r.transport, "envoy");
  assert.equal(r.path, "/payments/1");
  assert.equal(r.request_method, "POST");
  assert.equal(r.request_id, "req-1");
  assert.equal(r.traceparent, "00-abc-def-01");
  assert.equal(r.policy_version, "v7");
  assert.deepEqual(r.cert, {
    serial: "0a",
    issuer: "CN=ca",
    not_after: "2030-01-01T00:00:00.000Z",
    sha256: "ff".repeat(32),
  });
  const text = JSON.stringify(r);
  assert.ok(!text.includes("secret"), text);
});

test("cert info only when include-cert-info is on", () => {
  const { lines, logger } = capture();
  createAuditListener(logger)(req, allow, 0, ctx({ "include-cert-info": false }));
  assert.equal(lines[0]!.cert, undefined);
});

test("log-success / log-failure are honoured", () => {
  const { lines, logger } = capture();
  const l = createAuditListener(logger);
  l(req, allow, 0, ctx({ "log-success": false }));
  l(req, deny, 0, ctx({ "log-success": false }));
  l(req, allow, 0, ctx({ "log-failure": false }));
  l(req, deny, 0, ctx({ "log-failure": false }));
  assert.deepEqual(
    lines.map((r) => r.reason),
    ["expired", "ok"],
  );
  assert.equal(lines[0]!.decision, "deny");
  assert.equal(lines[0]!.detail, "leaf expired");
});

test("log_and_allow and fail_open always log, at warn", () => {
  const { lines, logger } = capture();
  const l = createAuditListener(logger);
  l(req, bypass, 0, ctx({ "log-success": false, "log-failure": false }));
  l(req, { ...bypass, reason: "fail_open", detail: "SPIRE unavailable" }, 0, ctx({ "log-success": false }));
  assert.equal(lines.length, 2);
  assert.ok(lines.every((r) => r.level === "warn" && r.decision === "allow"));
  assert.equal(lines[0]!.detail, "expired: leaf expired");
});

test("long attacker-controlled fields are capped", () => {
  const { lines, logger } = capture();
  createAuditListener(logger)({ ...req, path: "/" + "a".repeat(5000), requestId: "r".repeat(5000) }, allow, 0, ctx({}));
  assert.ok((lines[0]!.path as string).length < 600);
  assert.ok((lines[0]!.request_id as string).length < 600);
});
