// The bundle watcher against a Workload API that this test drives message by message (test/helpers/workload-api-
// script.ts): what each stream's messages, silences, ends and refusals make it do, say and report, in this process.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { DevCertificateAuthority, DevJwtAuthority } from "../../../src/dev-ca/index.js";
import { WorkloadApiWatcher, type WatcherEvent, type WatcherOptions } from "../../../src/trust/workload-api/watcher.js";
import { TrustStore } from "../../../src/trust/store.js";
import { capturedLogger, sleep, until } from "../../helpers/log-capture.js";
import { scriptedWorkloadApi } from "../../helpers/workload-api-script.js";

const X509 = "FetchX509Bundles";
const JWT = "FetchJWTBundles";

async function setup(refuse: Parameters<typeof scriptedWorkloadApi>[0] = {}, o: Partial<WatcherOptions> = {}) {
  const agent = await scriptedWorkloadApi(refuse);
  const store = new TrustStore("fail_closed", 3600);
  const { log, lines } = capturedLogger();
  const events: WatcherEvent[] = [];
  const updates: string[] = [];
  const watcher = new WorkloadApiWatcher({
    target: agent.target,
    store,
    log,
    resyncIntervalMs: 60_000,
    initialBackoffMs: 50,
    maxBackoffMs: 400,
    rejectedBackoffMs: 1000,
    random: () => 0.9999, // the top of the jitter: delays are exact
    onEvent: (e) => events.push(e),
    onUpdate: (k) => updates.push(k),
    ...o,
  });
  const ca = await DevCertificateAuthority.createRoot("example.org");
  const jwks = new TextEncoder().encode((await DevJwtAuthority.create("example.org")).jwks());
  const x509 = () => agent.send(X509, { bundles: { "spiffe://example.org": ca.der } });
  const jwt = () => agent.send(JWT, { bundles: { "spiffe://example.org": jwks } });
  const done = () => (watcher.close(), store.close(), agent.close());
  return { agent, store, lines, events, updates, watcher, x509, jwt, done };
}

test("messages: a JWT bundle alone is not the first bundle; each message is applied, reported and logged; up is said once", async () => {
  const { agent, store, lines, events, updates, watcher, x509, jwt, done } = await setup();
  try {
    watcher.start();
    watcher.start(); // again: no second pair of streams
    await until(() => agent.calls[X509].length === 1 && agent.calls[JWT].length === 1, 2000, "both streams");
    await sleep(50);
    assert.deepEqual(watcher.attempts, { x509: 1, jwt: 1 });
    assert.equal(agent.calls[X509].length + agent.calls[JWT].length, 2);
    for (const c of [agent.calls[X509][0]!, agent.calls[JWT][0]!])
      assert.deepEqual(c.metadata.get("workload.spiffe.io"), ["true"], "the header SPIRE requires, on every call");
    assert.equal(watcher.connected, false);
    assert.deepEqual(watcher.streamState("x509"), { connected: false, lastCode: undefined });

    jwt();
    await until(() => updates.length === 1, 2000, "JWT applied");
    assert.equal(await watcher.waitForFirstBundle(200), false, "waits for X.509, the bundle that decides");
    assert.deepEqual(watcher.streamState("jwt"), { connected: true, lastCode: undefined });
    assert.equal(watcher.connected, false, "connected is the X.509 stream");

    x509();
    assert.equal(await watcher.waitForFirstBundle(2000), true);
    x509();
    jwt();
    await until(() => updates.length === 4, 2000, "all four applied");
    assert.deepEqual(updates, ["jwt", "x509", "x509", "jwt"]);
    assert.equal(watcher.connected, true);
    assert.deepEqual(watcher.streamState("x509"), { connected: true, lastCode: undefined });
    assert.ok(store.current().bundles.x509Bundle("example.org"));
    assert.ok(store.current().bundles.jwtBundle("example.org"));
    assert.deepEqual(events, [
      { type: "connected", kind: "jwt" },
      { type: "bundles", kind: "jwt", trustDomains: ["example.org"], problems: 0 },
      { type: "connected", kind: "x509" },
      { type: "bundles", kind: "x509", trustDomains: ["example.org"], problems: 0 },
      { type: "bundles", kind: "x509", trustDomains: ["example.org"], problems: 0 },
      { type: "bundles", kind: "jwt", trustDomains: ["example.org"], problems: 0 },
    ]);
    const up = lines().filter((l) => l["msg"] === "Workload API stream up");
    assert.deepEqual(
      up.map((l) => [l["level"], l["stream"], l["target"]]),
      [
        [30, JWT, agent.target],
        [30, X509, agent.target],
      ],
    );
    const applied = lines().filter((l) => l["msg"] === "bundles updated from the Workload API");
    assert.equal(applied.length, 4);
    assert.deepEqual(applied[1], { ...applied[1], level: 20, stream: X509, trustDomains: ["example.org"] });
  } finally {
    done();
  }
});

test("resync: a stream that keeps talking stays; one silent for bundle-refresh-interval is cancelled and re-opened quietly", async () => {
  const { agent, store, lines, events, watcher, x509, jwt, done } = await setup({}, { resyncIntervalMs: 300 });
  try {
    watcher.start();
    await until(() => agent.calls[X509].length === 1 && agent.calls[JWT].length === 1, 2000, "both streams");
    x509();
    jwt();
    // Talking every 100 ms for 700 ms: each message pushes the 300 ms resync back.
    for (let i = 0; i < 7; i++) {
      await sleep(100);
      x509();
    }
    assert.equal(agent.calls[X509].length, 1, "a talking stream is never re-opened");
    await until(() => agent.calls[X509].length === 2, 1000, "silent: re-opened");
    await until(() => agent.calls[X509][0]!.wasCancelled, 1000, "the silent call cancelled at the agent");
    const line = lines().find(
      (l) => String(l["msg"]).includes("silent for bundle-refresh-interval") && l["stream"] === X509,
    );
    assert.deepEqual(
      [line?.["level"], line?.["stream"], line?.["silentForMs"], line?.["msg"]],
      [30, X509, 300, "Workload API stream silent for bundle-refresh-interval; re-opening"],
      "(the JWT stream, silent after its one message, was re-opened too)",
    );
    x509();
    await sleep(50);
    assert.equal(events.filter((e) => e.type === "connected").length, 2, "one connected per kind: a resync is quiet");
    assert.equal(events.filter((e) => e.type === "disconnected").length, 0);
    assert.equal(store.workloadApiConnected, true);
  } finally {
    done();
  }
});

test("the agent ends a stream with OK: UNAVAILABLE 'stream ended by the agent', reported and retried", async () => {
  const { agent, lines, events, watcher, x509, jwt, done } = await setup();
  try {
    watcher.start();
    await until(() => agent.calls[X509].length === 1 && agent.calls[JWT].length === 1, 2000, "both streams");
    x509();
    jwt();
    assert.equal(await watcher.waitForFirstBundle(2000), true);
    agent.calls[X509][0]!.end();
    await until(() => events.some((e) => e.type === "disconnected"), 2000, "loss");
    assert.deepEqual(events.at(-1), {
      type: "disconnected",
      kind: "x509",
      code: "UNAVAILABLE",
      details: "stream ended by the agent",
      retryInMs: 50,
      refused: false,
    });
    assert.equal(watcher.connected, false);
    assert.deepEqual(watcher.streamState("x509"), { connected: false, lastCode: "UNAVAILABLE" });
    const lost = lines().find((l) => l["details"] === "stream ended by the agent");
    assert.deepEqual(
      [lost?.["level"], lost?.["msg"], lost?.["stream"], lost?.["code"], lost?.["retryInMs"]],
      [40, "Workload API stream lost; reconnecting", X509, "UNAVAILABLE", 50],
    );
    await until(() => agent.calls[X509].length === 2, 2000, "retried");
    x509();
    await until(() => watcher.connected, 2000, "up again");
    assert.deepEqual(watcher.streamState("x509"), { connected: true, lastCode: undefined });
  } finally {
    done();
  }
});

test("an agent without FetchJWTBundles (UNIMPLEMENTED): a warning saying so, retried on the slow path; X.509 unaffected", async () => {
  const { agent, lines, events, watcher, x509, done } = await setup({ [JWT]: grpc.status.UNIMPLEMENTED });
  try {
    watcher.start();
    await until(() => agent.calls[X509].length === 1, 2000, "X.509 stream");
    x509();
    assert.equal(await watcher.waitForFirstBundle(2000), true);
    await until(() => events.some((e) => e.type === "disconnected"), 2000, "JWT refused");
    const refused = events.find((e) => e.type === "disconnected");
    assert.deepEqual(refused, { ...refused, kind: "jwt", code: "UNIMPLEMENTED", refused: true });
    assert.ok(refused?.type === "disconnected" && refused.retryInMs >= 1000, "the rejectedBackoffMs floor");
    const line = lines().find((l) => l["code"] === "UNIMPLEMENTED");
    assert.equal(line?.["level"], 40);
    assert.equal(line?.["msg"], "Workload API method not implemented");
    assert.match(String(line?.["hint"]), /does not implement this Workload API method/);
    assert.equal(watcher.connected, true);
    assert.deepEqual(watcher.streamState("jwt"), { connected: false, lastCode: "UNIMPLEMENTED" });
  } finally {
    done();
  }
});

test("an agent that accepts the stream and says nothing: DEADLINE_EXCEEDED with its hint, the silent call cancelled", async () => {
  const { agent, lines, watcher, done } = await setup({}, { firstMessageTimeoutMs: 150 });
  try {
    watcher.start();
    await until(() => lines().some((l) => l["code"] === "DEADLINE_EXCEEDED"), 2000, "first-message timeout");
    const line = lines().find((l) => l["code"] === "DEADLINE_EXCEEDED");
    assert.equal(line?.["details"], "no message within 150 ms of opening the stream");
    assert.match(String(line?.["hint"]), /accepted the stream but sent nothing/);
    await until(() => agent.calls[X509][0]!.wasCancelled, 1000, "silent call cancelled");
  } finally {
    done();
  }
});
