import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { compilePolicy } from "../../src/policy/index.js";
import { Engine, type DecisionContext } from "../../src/engine/engine.js";
import type { AuthzRequest, Decision } from "../../src/engine/contract.js";
import { BundleSet } from "../../src/spiffe/index.js";

const trust = { current: () => ({ generation: 1, bundles: BundleSet.empty, spireAvailable: true }) };
const req: AuthzRequest = {
  transport: "zentinel",
  headers: new Map([["x-spiffe-id", "spiffe://evil/x"]]),
  method: "GET",
  path: "/",
};

test("Engine.decide runs decide() and tells every listener, with duration and policy context", async () => {
  const engine = new Engine({
    policy: compilePolicy(parseConfig({ tls: { "require-mtls": false } })),
    policyVersion: "v1",
    trust,
  });
  const seen: [Decision, number, DecisionContext][] = [];
  engine.onDecision((_r, d, s, ctx) => seen.push([d, s, ctx]));
  const d = await engine.decide(req);
  assert.equal(d.allow, true);
  assert.equal(d.reason, "no_certificate");
  assert.ok(d.headersToRemove.includes("x-spiffe-id"));
  assert.equal(seen.length, 1);
  assert.equal(seen[0]![0], d);
  assert.ok(seen[0]![1] >= 0 && seen[0]![1] < 5);
  assert.equal(seen[0]![2].policyVersion, "v1");
});

test("a throwing listener neither breaks the decision nor the other listeners", async () => {
  const errors: unknown[] = [];
  const engine = new Engine({ policy: compilePolicy(parseConfig({})), trust, onListenerError: (e) => errors.push(e) });
  let called = 0;
  engine.onDecision(() => {
    throw new Error("boom");
  });
  engine.onDecision(() => called++);
  const d = await engine.decide(req);
  assert.equal(d.reason, "no_certificate");
  assert.equal(d.httpStatus, 401);
  assert.equal(called, 1);
  assert.equal(errors.length, 1);
});

test("setPolicy swaps atomically; unsubscribe works", async () => {
  const engine = new Engine({ policy: compilePolicy(parseConfig({})), trust, cache: false });
  assert.equal(engine.cache, undefined);
  const seen: string[] = [];
  const off = engine.onDecision((_r, _d, _s, ctx) => seen.push(ctx.policyVersion));
  assert.equal((await engine.decide(req)).httpStatus, 401);
  engine.setPolicy(compilePolicy(parseConfig({ tls: { "require-mtls": false } })), "v2");
  assert.equal(engine.policyVersion, "v2");
  assert.equal((await engine.decide(req)).httpStatus, 200);
  off();
  await engine.decide(req);
  assert.deepEqual(seen, ["initial", "v2"]);
});

test("the clock is injected", async () => {
  const engine = new Engine({ policy: compilePolicy(parseConfig({})), trust, clock: () => new Date(0) });
  assert.equal((await engine.decide(req)).reason, "no_certificate");
});

test("audit listener subscribed to the Engine writes one line per decision", async () => {
  const { createAuditListener } = await import("../../src/engine/audit.js");
  const { pino } = await import("pino");
  const { Writable } = await import("node:stream");
  const lines: string[] = [];
  const logger = pino(new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
  const engine = new Engine({ policy: compilePolicy(parseConfig({})), trust });
  engine.onDecision(createAuditListener(logger));
  await engine.decide({ ...req, requestId: "r-1" });
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec.type, "audit");
  assert.equal(rec.reason, "no_certificate");
  assert.equal(rec.request_id, "r-1");
  assert.equal(rec.transport, "zentinel");
});
