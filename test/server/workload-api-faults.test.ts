// Issue #10 item 2: the Workload API fault matrix, end to end. Each row is one fault injected into the dev
// Workload API (src/trust/dev-workload-api); each row runs under fail_closed, fail_open and cache at once,
// each cell with its own real server (startServer: watcher → trust store → engine → Envoy and Zentinel doors,
// /metrics). For every cell we check, while the fault lasts and after it heals:
//   - the Envoy Check decision for a valid SVID against the table in docs/architecture.md (503 spire_unavailable /
//     200 fail_open without identity headers / 200 ok with identity from the cache within cache-ttl);
//   - gRPC health and /readyz, the Zentinel door's HealthStatus, and /metrics
//     (spiffe_authz_workload_api_connected, spiffe_authz_trust_domains, spiffe_authz_decisions_total);
//   - how long the server took to decide normally again once the Workload API was back.
// The watcher's own behaviour (backoff, first-message timeout, bundle decoding) is unit-tested in
// test/trust/workload-api/watcher.test.ts; this file proves the composition through the server.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import type { FailurePolicy } from "../../src/trust/store.js";
import {
  poll,
  startStack,
  WEB,
  type Outcome,
  type Stack,
  type StackOptions,
  type ZentinelHealth,
} from "../helpers/server-harness.js";
import { sleep } from "../helpers/log-capture.js";

const MODES: FailurePolicy[] = ["fail_closed", "fail_open", "cache"];
/** cache-ttl for the cache cells: long enough to see an allow from the cache, short enough to see it run out. */
const CACHE_TTL_S = 2;
/**
 * After an outage, reconnecting waits out the watcher's backoff (cap 500 ms) and the channel's (500 ms ± 20 %):
 * about 1.1 s at worst, typically 0.2-0.7 s. 2 s leaves room for a loaded 2-core machine; a fault healed by a
 * message on an open stream is held to 1 s.
 */
const OUTAGE_RECOVERY_MS = 2000;

interface Expect {
  http: number;
  reason: string;
  /** Identity headers set (X-SPIFFE-Id present). */
  identity: boolean;
}
const OK: Expect = { http: 200, reason: "ok", identity: true };
const UNAVAILABLE: Expect = { http: 503, reason: "spire_unavailable", identity: false };
const FAIL_OPEN: Expect = { http: 200, reason: "fail_open", identity: false };
const UNKNOWN_TD: Expect = { http: 401, reason: "unknown_trust_domain", identity: false };

/** What the server must say while a fault lasts. */
interface Phase {
  decision: Expect;
  /** Which certificate is presented (default the example.org SVID). */
  cert?: "web" | "partner";
  /** gRPC health SERVING and /readyz 200 (else NOT_SERVING / 503). */
  ready: boolean;
  zentinel: ZentinelHealth;
  connected: 0 | 1;
  trustDomains: number;
  /** A time-driven phase (cache-ttl running out): poll this long for the decision. Else the first answer must match. */
  pollMs?: number;
}

interface Cell {
  mode: FailurePolicy;
  stack: Stack;
  api: DevWorkloadApi;
  certs: { web: string; partner?: string };
  /** When the fault was injected (or the server started, for faults present at start). */
  faultAt: number;
  notes: string[];
}

interface Fault {
  name: string;
  stack?: Partial<StackOptions>;
  /** A fault present before the server starts. */
  atStart?: (api: DevWorkloadApi) => Promise<void> | void;
  /** A fault injected into a healthy, deciding server. */
  inject?: (c: Cell) => Promise<void> | void;
  /** Decision right after inject, before the server can have noticed (a stall looks like a quiet stream). */
  beforeNoticed?: Expect;
  /** Resolves once the server has noticed the fault (a gauge, a log line); polled. */
  noticed?: { probe: (c: Cell) => Promise<boolean>; timeoutMs: number; what: string };
  phases: (mode: FailurePolicy) => Phase[];
  /** A log line the fault must produce (msg), with optional fields. */
  logged?: { msg: string; fields?: Record<string, unknown> };
  /** Keep the Workload API faulty at least this long after the fault began (an outage of realistic length). */
  minFaultMs?: number;
  heal: (c: Cell) => Promise<void> | void;
  /** The certificate that must be allowed with identity after the heal (default: the web SVID). */
  healedCert?: (c: Cell) => Promise<string>;
  trustDomainsAfter?: number;
  /** Upper bound on heal → first normal decision. */
  recoveryBoundMs: number;
}

const gauge = async (c: Cell, name: string) => c.stack.metric(name);
const connectedIs = (v: number) => async (c: Cell) => (await gauge(c, "spiffe_authz_workload_api_connected")) === v;
const trustDomainsAre = (v: number) => async (c: Cell) => (await gauge(c, "spiffe_authz_trust_domains")) === v;
const loggedMsg = (msg: string) => async (c: Cell) => c.stack.lines().some((l) => l["msg"] === msg);

/** Lost Workload API, per docs/architecture.md: 503 at once / allow without identity / the cached bundles until cache-ttl, then 503. */
const lostPhases = (mode: FailurePolicy): Phase[] => {
  const common = { ready: true, zentinel: "degraded" as const, connected: 0 as const, trustDomains: 0 };
  // The gauge reads 0 when either stream (X.509 or JWT bundles) is lost; X.509 decisions follow when the X.509
  // stream's own reconnect grace (1 s) runs out, which on a loaded machine can come a moment after the JWT one.
  const graceMs = 3000;
  if (mode === "fail_closed") return [{ ...common, decision: UNAVAILABLE, pollMs: graceMs }];
  if (mode === "fail_open") return [{ ...common, decision: FAIL_OPEN, pollMs: graceMs }];
  return [
    { ...common, decision: OK, trustDomains: 1 },
    { ...common, decision: UNAVAILABLE, pollMs: CACHE_TTL_S * 1000 + 4000 },
  ];
};

/** No bundle ever delivered: fail_closed and cache are not ready (nothing to cache), fail_open is. */
const neverDeliveredPhases = (mode: FailurePolicy): Phase[] => [
  mode === "fail_open"
    ? { decision: FAIL_OPEN, ready: true, zentinel: "degraded", connected: 0, trustDomains: 0 }
    : { decision: UNAVAILABLE, ready: false, zentinel: "unhealthy", connected: 0, trustDomains: 0 },
];

/** SPIRE is up and says something we must believe (no bundle for example.org): 401 under every policy. */
const connectedNoBundle: Phase[] = [
  { decision: UNKNOWN_TD, ready: true, zentinel: "healthy", connected: 1, trustDomains: 0 },
];

const FAULTS: Fault[] = [
  {
    name: "Workload API down at start",
    atStart: (api) => api.close(),
    phases: neverDeliveredPhases,
    logged: { msg: "no bundles from the Workload API yet; serving per the failure policy" },
    heal: (c) => c.api.restart(),
    recoveryBoundMs: OUTAGE_RECOVERY_MS,
  },
  {
    name: "Workload API killed mid-stream (down 4 s)",
    inject: (c) => c.api.close(),
    noticed: { probe: connectedIs(0), timeoutMs: 3000, what: "workload_api_connected 0" },
    phases: lostPhases,
    logged: { msg: "Workload API stream lost; reconnecting" },
    minFaultMs: 4000,
    heal: (c) => c.api.restart(),
    recoveryBoundMs: OUTAGE_RECOVERY_MS,
  },
  {
    name: "Workload API restarted (with a CA rotation right after)",
    inject: async (c) => {
      await c.api.restart();
      await c.api.rotateCa();
    },
    phases: () => [],
    logged: { msg: "Workload API stream lost; reconnecting" },
    heal: () => {},
    // Only an SVID from the new CA proves the resync.
    healedCert: async (c) => (await c.api.issueX509Svid(WEB)).pem,
    recoveryBoundMs: OUTAGE_RECOVERY_MS,
  },
  {
    name: "Workload API stalls from the start (accepts the stream, sends nothing)",
    atStart: (api) => api.stall(),
    phases: neverDeliveredPhases,
    heal: (c) => c.api.stall(false),
    // The stream is open: the first message lands on it at once.
    recoveryBoundMs: 1000,
  },
  {
    name: "Workload API stalls mid-stream",
    // The stall guard: a stream silent for bundle-refresh-interval (1 s here) is re-opened; a re-opened stream
    // silent for the first-message timeout is lost. That timeout is meant to be spire.api-timeout-ms (300 ms
    // here), but src/server.ts does not pass it to the watcher yet, so it is the watcher's default 5 s: noticed
    // after about 6 s rather than 1.3 s.
    stack: { refreshSeconds: 1 },
    inject: (c) => c.api.stall(),
    beforeNoticed: OK,
    noticed: { probe: connectedIs(0), timeoutMs: 15_000, what: "the stall detected (workload_api_connected 0)" },
    phases: lostPhases,
    logged: { msg: "Workload API stream lost; reconnecting", fields: { code: "DEADLINE_EXCEEDED" } },
    heal: (c) => c.api.stall(false),
    recoveryBoundMs: 1000,
  },
  {
    name: "Workload API sends a malformed bundle mid-stream",
    inject: (c) => c.api.sendMalformed(),
    noticed: {
      probe: loggedMsg("malformed bundle from the Workload API"),
      timeoutMs: 3000,
      what: "the malformed bundle logged",
    },
    // The previous bundle is kept: nothing changes for decisions or health.
    phases: () => [{ decision: OK, ready: true, zentinel: "healthy", connected: 1, trustDomains: 1 }],
    logged: {
      msg: "malformed bundle from the Workload API",
      fields: { trustDomain: "example.org", keptPrevious: true },
    },
    heal: async (c) => {
      c.api.sendMalformed(false);
      await c.api.rotateCa();
    },
    // Updates still flow after the bad message: an SVID from a CA rotated after it verifies.
    healedCert: async (c) => (await c.api.issueX509Svid(WEB)).pem,
    recoveryBoundMs: 1000,
  },
  {
    name: "Workload API sends a malformed bundle as its first message",
    atStart: (api) => api.sendMalformed(),
    // Nothing usable for example.org and nothing to keep: a connected agent without our bundle.
    phases: () => connectedNoBundle,
    logged: {
      msg: "malformed bundle from the Workload API",
      fields: { trustDomain: "example.org", keptPrevious: false },
    },
    heal: (c) => c.api.sendMalformed(false),
    recoveryBoundMs: 1000,
  },
  {
    name: "Workload API sends an empty bundle map",
    inject: (c) => c.api.sendEmpty(),
    noticed: { probe: trustDomainsAre(0), timeoutMs: 3000, what: "trust_domains 0" },
    phases: () => connectedNoBundle,
    heal: (c) => c.api.sendEmpty(false),
    recoveryBoundMs: 1000,
  },
  {
    name: "Workload API revokes (removes) a federated trust domain",
    atStart: async (api) => {
      await api.addFederatedDomain("partner.org");
    },
    inject: (c) => c.api.removeTrustDomain("partner.org"),
    noticed: { probe: trustDomainsAre(1), timeoutMs: 3000, what: "trust_domains 1" },
    // Never served from a cache or failed open: the agent is up and says the domain is gone.
    phases: () => [
      { decision: UNKNOWN_TD, cert: "partner", ready: true, zentinel: "healthy", connected: 1, trustDomains: 1 },
    ],
    heal: async (c) => {
      await c.api.addFederatedDomain("partner.org");
    },
    healedCert: async (c) => (await c.api.federatedCa("partner.org")!.issueX509Svid("spiffe://partner.org/web")).pem,
    trustDomainsAfter: 2,
    recoveryBoundMs: 1000,
  },
];

const same = (o: Outcome, e: Expect) =>
  o.http === e.http && o.reason === e.reason && (o.spiffeId !== undefined) === e.identity;
const show = (o: Outcome) => `${o.http} ${o.reason}${o.spiffeId ? " +id" : ""}`;

async function decisionCount(c: Cell, e: Expect): Promise<number> {
  return (
    (await c.stack.metric("spiffe_authz_decisions_total", {
      decision: e.http === 200 ? "allow" : "deny",
      reason: e.reason,
      transport: "envoy",
    })) ?? 0
  );
}

async function expectState(
  c: Cell,
  p: Pick<Phase, "ready" | "zentinel" | "connected" | "trustDomains">,
  when: string,
): Promise<void> {
  const tag = `${c.mode}, ${when}`;
  // State follows events at once, but the Zentinel report is periodic (50 ms): poll, briefly.
  await poll(
    () => c.stack.health(),
    (h) => h === (p.ready ? "SERVING" : "NOT_SERVING"),
    2000,
    `${tag}: gRPC health`,
  );
  assert.equal(await c.stack.readyz(), p.ready ? 200 : 503, `${tag}: /readyz`);
  await poll(
    async () => c.stack.zentinelHealth(),
    (h) => h === p.zentinel,
    2000,
    `${tag}: Zentinel HealthStatus ${p.zentinel}`,
  );
  // The X.509 and JWT streams are lost (and their cache-ttl runs out) a few ms apart: let the gauges settle.
  await poll(
    () => gauge(c, "spiffe_authz_workload_api_connected"),
    (v) => v === p.connected,
    2000,
    `${tag}: workload_api_connected ${p.connected}`,
  );
  await poll(
    () => gauge(c, "spiffe_authz_trust_domains"),
    (v) => v === p.trustDomains,
    2000,
    `${tag}: trust_domains ${p.trustDomains}`,
  );
}

async function runCell(fault: Fault, mode: FailurePolicy): Promise<string> {
  const stack = await startStack({
    failure: mode,
    cacheTtl: CACHE_TTL_S,
    ...fault.stack,
    ...(fault.atStart ? { beforeServer: fault.atStart } : {}),
  });
  const c: Cell = { mode, stack, api: stack.api, certs: { web: "" }, faultAt: Date.now(), notes: [] };
  try {
    c.certs.web = (await c.api.issueX509Svid(WEB)).pem;
    const partnerCa = c.api.federatedCa("partner.org");
    if (partnerCa) c.certs.partner = (await partnerCa.issueX509Svid("spiffe://partner.org/web")).pem;
    const present = (which: "web" | "partner" = "web") =>
      stack.check({ certPem: which === "web" ? c.certs.web : c.certs.partner! });

    const updatesBefore = (await c.stack.metric("spiffe_authz_bundle_updates_total", { source: "spire" })) ?? 0;
    if (fault.inject) {
      // Healthy first, and the valid SVIDs are in the verified-chain cache: a fault must not be hidden by it.
      for (const which of ["web", "partner"] as const) {
        if (which === "partner" && !c.certs.partner) continue;
        for (let i = 0; i < 2; i++)
          assert.deepEqual(
            await present(which),
            { code: 0, http: 200, reason: "ok", spiffeId: which === "web" ? WEB : "spiffe://partner.org/web" },
            `${mode}: healthy before the fault`,
          );
      }
      await expectState(
        c,
        { ready: true, zentinel: "healthy", connected: 1, trustDomains: c.certs.partner ? 2 : 1 },
        "before the fault",
      );
      c.faultAt = Date.now();
      await fault.inject(c);
      if (fault.beforeNoticed) {
        const o = await present();
        assert.ok(same(o, fault.beforeNoticed), `${mode}: right after the fault: ${show(o)}`);
      }
      if (fault.noticed) {
        const { ms } = await poll(
          () => fault.noticed!.probe(c),
          Boolean,
          fault.noticed.timeoutMs,
          `${mode}: ${fault.noticed.what}`,
        );
        c.notes.push(`noticed after ${Date.now() - c.faultAt} ms (poll ${ms} ms)`);
      }
    }

    for (const [i, p] of fault.phases(mode).entries()) {
      const before = await decisionCount(c, p.decision);
      const o = p.pollMs
        ? (
            await poll(
              () => present(p.cert),
              (x) => same(x, p.decision),
              p.pollMs,
              `${mode}: phase ${i} ${p.decision.reason}`,
            )
          ).value
        : await present(p.cert);
      assert.ok(
        same(o, p.decision),
        `${mode}: phase ${i}: expected ${p.decision.http} ${p.decision.reason}${p.decision.identity ? " +id" : ""}, got ${show(o)}`,
      );
      c.notes.push(`${show(o)} at +${Date.now() - c.faultAt} ms`);
      assert.ok(
        (await decisionCount(c, p.decision)) > before,
        `${mode}: phase ${i}: decisions_total{reason=${p.decision.reason}} counted`,
      );
      await expectState(c, p, `phase ${i}`);
      // Another trust domain is not collateral damage of a revocation.
      if (p.cert === "partner") assert.ok(same(await present("web"), OK), `${mode}: example.org still allowed`);
    }
    if (fault.phases(mode).some((p) => p.pollMs) && mode === "cache") {
      // The cache served for about cache-ttl: not dropped early.
      const expiredAt = Date.now() - c.faultAt;
      assert.ok(
        expiredAt >= CACHE_TTL_S * 1000 - 500,
        `${mode}: cache expired after ${expiredAt} ms, cache-ttl ${CACHE_TTL_S} s`,
      );
    }
    if (fault.logged) {
      const { msg, fields = {} } = fault.logged;
      const line = c.stack
        .lines()
        .find((l) => l["msg"] === msg && Object.entries(fields).every(([k, v]) => l[k] === v));
      assert.ok(line, `${mode}: logged "${msg}" ${JSON.stringify(fields)}`);
    }

    // Keep the fault for its whole intended length (an outage long enough to grow the reconnect backoff).
    if (fault.minFaultMs) {
      const left = c.faultAt + fault.minFaultMs - Date.now();
      if (left > 0) await sleep(left);
    }

    const healedAt = Date.now();
    await fault.heal(c);
    const healed = fault.healedCert ? await fault.healedCert(c) : c.certs.web;
    const expectedId = fault.healedCert && fault.name.includes("revokes") ? "spiffe://partner.org/web" : WEB;
    const { ms } = await poll(
      () => stack.check({ certPem: healed }),
      (o) => same(o, OK) && o.spiffeId === expectedId,
      10_000,
      `${mode}: recovery`,
    );
    const recoveryMs = Date.now() - healedAt;
    c.notes.push(`recovered ${recoveryMs} ms after the heal (poll ${ms} ms)`);
    assert.ok(
      recoveryMs < fault.recoveryBoundMs,
      `${mode}: recovery took ${recoveryMs} ms (bound ${fault.recoveryBoundMs} ms)`,
    );
    await expectState(
      c,
      { ready: true, zentinel: "healthy", connected: 1, trustDomains: fault.trustDomainsAfter ?? 1 },
      "after recovery",
    );
    assert.ok(
      ((await c.stack.metric("spiffe_authz_bundle_updates_total", { source: "spire" })) ?? 0) > updatesBefore,
      `${mode}: bundle_updates_total{source=spire} grew since before the fault`,
    );
    return `${mode}: ${c.notes.join("; ")}`;
  } finally {
    await stack.close();
  }
}

for (const fault of FAULTS) {
  test(`fault matrix: ${fault.name}`, async (t) => {
    const results = await Promise.allSettled(MODES.map((m) => runCell(fault, m)));
    for (const r of results) if (r.status === "fulfilled") t.diagnostic(r.value);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  });
}
