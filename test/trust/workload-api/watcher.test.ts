// The Workload API watcher against the dev server over a real unix socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { DevWorkloadApi, type DevWorkloadApiOptions } from "../../../src/trust/dev-workload-api/server.js";
import { WorkloadApiWatcher, type WatcherEvent, type WatcherOptions } from "../../../src/trust/workload-api/watcher.js";
import { workloadApiClient } from "../../../src/trust/workload-api/client.js";
import { TrustStore, type FailurePolicy } from "../../../src/trust/store.js";
import { verifyX509Svid } from "../../../src/spiffe/index.js";
import { capturedLogger, sleep, until } from "../../helpers/log-capture.js";

function sock(): string {
  return `unix://${join(mkdtempSync(join(tmpdir(), "wl-")), "agent.sock")}`;
}

interface Setup {
  failure?: FailurePolicy;
  cacheTtl?: number;
  api?: Partial<DevWorkloadApiOptions>;
  watcher?: Partial<WatcherOptions>;
  /** Change the server before the watcher connects. */
  before?: (api: DevWorkloadApi) => void;
}

async function setup(o: Setup = {}) {
  const api = await DevWorkloadApi.start({ trustDomain: "example.org", address: sock(), ...o.api });
  o.before?.(api);
  const store = new TrustStore(o.failure ?? "fail_closed", o.cacheTtl ?? 3600);
  const { log, lines } = capturedLogger();
  const events: WatcherEvent[] = [];
  const watcher = new WorkloadApiWatcher({
    target: api.target,
    store,
    log,
    resyncIntervalMs: 60_000,
    initialBackoffMs: 50,
    maxBackoffMs: 200,
    rejectedBackoffMs: 1000,
    reconnectGraceMs: 300,
    onEvent: (e) => events.push(e),
    ...o.watcher,
  });
  watcher.start();
  const done = async () => {
    watcher.close();
    store.close();
    await api.close();
  };
  return { api, store, watcher, lines, events, done };
}

const hasRoot = (store: TrustStore, api: DevWorkloadApi) =>
  store
    .current()
    .bundles.x509Bundle("example.org")
    ?.authorities.some((c) => c.equals(api.root.certificate)) ?? false;
const onlyNewest = (store: TrustStore, api: DevWorkloadApi) =>
  hasRoot(store, api) && store.current().bundles.x509Bundle("example.org")?.authorities.length === 1;

test("watcher receives bundles (X.509 and JWT) and a CA rotation shows up in under a second", async () => {
  const { api, store, watcher, events, done } = await setup();
  try {
    assert.equal(await watcher.waitForFirstBundle(3000), true);
    assert.equal(store.current().spireAvailable, true);
    assert.equal(store.workloadApiConnected, true);
    assert.ok(hasRoot(store, api));
    await until(
      () => store.current().bundles.jwtBundle("example.org")?.findAuthority(api.jwtAuthority.keyId) !== undefined,
      2000,
      "JWT bundle",
    );
    const gen = store.current().generation;
    await api.rotateCa();
    await until(
      () => store.current().bundles.x509Bundle("example.org")?.authorities.length === 2,
      1000,
      "old and new roots",
    );
    api.dropOldAuthorities();
    const ms = await until(() => onlyNewest(store, api), 1000, "rotation");
    assert.ok(ms < 1000);
    assert.ok(store.current().generation > gen);
    await until(
      () =>
        store.current().bundles.jwtBundle("example.org")?.size === 1 &&
        store.current().bundles.jwtBundle("example.org")?.findAuthority(api.jwtAuthority.keyId) !== undefined,
      1000,
      "JWT key rotation",
    );
    assert.deepEqual(
      events
        .filter((e) => e.type === "connected")
        .map((e) => e.kind)
        .sort(),
      ["jwt", "x509"],
    );
  } finally {
    await done();
  }
});

test("an SVID from an intermediate verifies against the watched bundle; after rotation and drop only the new one does", async () => {
  const { api, store, watcher, done } = await setup({ api: { intermediate: true } });
  try {
    await watcher.waitForFirstBundle(3000);
    const old = await api.issueX509Svid("spiffe://example.org/web");
    assert.equal(old.chain.length, 2, "leaf + intermediate");
    assert.equal(
      verifyX509Svid(old.chain, store.current().bundles, new Date()).id.toString(),
      "spiffe://example.org/web",
    );
    await api.rotateCa();
    api.dropOldAuthorities();
    await until(() => onlyNewest(store, api), 1000, "rotation");
    assert.throws(() => verifyX509Svid(old.chain, store.current().bundles, new Date()), /untrusted|signed/i);
    const fresh = await api.issueX509Svid("spiffe://example.org/web");
    assert.ok(verifyX509Svid(fresh.chain, store.current().bundles, new Date()));
  } finally {
    await done();
  }
});

test("federated bundle delivered by the Workload API appears as its own trust domain, and goes away", async () => {
  const { api, store, watcher, done } = await setup();
  try {
    await watcher.waitForFirstBundle(3000);
    const partner = await api.addFederatedDomain("partner.org");
    await until(
      () => store.current().bundles.x509Bundle("partner.org")?.authorities[0]?.equals(partner.certificate) ?? false,
      1000,
      "federated bundle",
    );
    await until(() => store.current().bundles.jwtBundle("partner.org") !== undefined, 1000, "federated JWT bundle");
    assert.equal(
      store
        .current()
        .bundles.x509Bundle("example.org")
        ?.authorities.some((c) => c.equals(partner.certificate)),
      false,
      "never mixed into our domain",
    );
    api.removeTrustDomain("partner.org");
    await until(
      () => store.current().bundles.x509Bundle("partner.org") === undefined,
      1000,
      "federated bundle removed",
    );
  } finally {
    await done();
  }
});

test("bundle map keys as bare trust domain names are accepted too", async () => {
  const { api, store, watcher, done } = await setup({ before: (a) => a.useBareKeys() });
  try {
    await watcher.waitForFirstBundle(3000);
    const partner = await api.addFederatedDomain("partner.org");
    await until(
      () =>
        hasRoot(store, api) &&
        (store.current().bundles.x509Bundle("partner.org")?.authorities[0]?.equals(partner.certificate) ?? false),
      1000,
      "bare keys",
    );
    await until(() => store.current().bundles.jwtBundle("example.org") !== undefined, 1000, "bare JWT key");
  } finally {
    await done();
  }
});

test("fail_closed: server killed → unavailable after the reconnect grace; restarted on the same path → reconnects and resyncs", async () => {
  const { api, store, watcher, lines, done } = await setup({ failure: "fail_closed" });
  try {
    await watcher.waitForFirstBundle(3000);
    await api.close();
    await sleep(100);
    assert.equal(store.current().spireAvailable, true, "within reconnectGraceMs (300) the last bundles still count");
    await until(() => !store.current().spireAvailable, 1500, "unavailable");
    assert.equal(store.current().bundles.x509Bundle("example.org"), undefined);
    assert.equal(store.workloadApiConnected, false);
    assert.ok(lines().some((l) => l["msg"] === "Workload API stream lost; reconnecting" && l["level"] === 40));
    await api.restart();
    await api.rotateCa();
    await until(() => store.current().spireAvailable && hasRoot(store, api), 3000, "resync after restart");
    await until(() => store.workloadApiConnected, 3000, "both streams back (each on its own backoff)");
  } finally {
    await done();
  }
});

test("SPIRE ending the streams with PERMISSION_DENIED for a moment (SVIDs re-issued after a CA taint) never makes fail_closed unavailable", async () => {
  const { api, store, watcher, lines, done } = await setup({
    failure: "fail_closed",
    watcher: { reconnectGraceMs: 1000 },
  });
  try {
    await watcher.waitForFirstBundle(3000);
    let dropped = 0;
    const off = store.onChange((snap) => {
      if (!snap.spireAvailable) dropped++;
    });
    const attempts = watcher.attempts.x509;
    api.denyFor(150);
    await until(() => watcher.attempts.x509 > attempts && store.workloadApiConnected, 3000, "streams re-opened");
    await sleep(1200);
    off();
    assert.equal(dropped, 0, "no snapshot without SPIRE's bundles: no 503 window");
    assert.equal(store.current().spireAvailable, true);
    const denied = lines().filter((l) => String(l["msg"]).startsWith("Workload API denied the call for now"));
    assert.equal(denied[0]?.["level"], 30, "a brief denial is one info line per stream, not an operator error");
    assert.ok(denied.every((l) => Number(l["level"]) <= 30));
    assert.equal(lines().filter((l) => l["msg"] === "Workload API refused the call").length, 0);
  } finally {
    await done();
  }
});

test("cache: server killed → the last bundles serve until cache-ttl, then unavailable; restart → available again", async () => {
  const { api, store, watcher, done } = await setup({ failure: "cache", cacheTtl: 1 });
  try {
    await watcher.waitForFirstBundle(3000);
    await api.close();
    await until(() => !store.workloadApiConnected, 2000, "disconnect seen");
    const lostAt = Date.now();
    assert.equal(store.current().spireAvailable, true);
    assert.ok(hasRoot(store, api));
    await until(() => !store.current().spireAvailable, 3000, "cache-ttl expiry");
    assert.ok(Date.now() - lostAt >= 900, "served from cache for about cache-ttl");
    assert.equal(store.current().bundles.x509Bundle("example.org"), undefined);
    await api.restart();
    await until(() => store.current().spireAvailable && hasRoot(store, api), 3000, "resync after restart");
  } finally {
    await done();
  }
});

test("no agent at the address: start-up waits at most api-timeout-ms, then the failure policy decides; no hot loop", async () => {
  const target = sock(); // nothing listens there
  for (const failure of ["fail_closed", "fail_open"] as const) {
    const store = new TrustStore(failure, 3600);
    const { log, lines } = capturedLogger();
    const watcher = new WorkloadApiWatcher({
      target,
      store,
      log,
      resyncIntervalMs: 60_000,
      initialBackoffMs: 100,
      maxBackoffMs: 30_000,
      random: () => 0.9999,
    });
    watcher.start();
    try {
      const t0 = Date.now();
      assert.equal(await watcher.waitForFirstBundle(300), false);
      assert.ok(Date.now() - t0 < 600);
      assert.equal(store.ready(), failure === "fail_open", failure);
      assert.equal(store.current().spireAvailable, false);
      await sleep(1200);
      // Retries at +100, +300, +700, +1500 ms (doubling ceilings, top of the jitter): a handful, not hundreds.
      assert.ok(watcher.attempts.x509 <= 5, `x509 attempts ${watcher.attempts.x509}`);
      const warn = lines().find((l) => l["msg"] === "Workload API unreachable; retrying");
      assert.equal(warn?.["code"], "UNAVAILABLE");
      assert.match(String(warn?.["hint"]), /socket path/);
      assert.ok(lines().filter((l) => l["level"] === 40).length <= 2, "repeats of the same failure go to debug");
    } finally {
      watcher.close();
      store.close();
    }
  }
});

test("an unregistered workload (PERMISSION_DENIED) gets a loud, clear log line once the denial lasts, and no tight retry loop", async () => {
  const { api, watcher, lines, store, done } = await setup({ api: { identities: [] } });
  try {
    await sleep(2500);
    const refused = lines().filter((l) => l["msg"] === "Workload API refused the call");
    assert.ok(refused.length >= 1);
    assert.equal(refused[0]!["code"], "PERMISSION_DENIED");
    assert.equal(refused[0]!["details"], "no identity issued");
    assert.match(String(refused[0]!["hint"]), /registration entry/);
    assert.equal(refused[0]!["level"], 50);
    // 2.5 s: retried at the normal pace (full jitter under 50…200 ms) for rejectedBackoffMs (1 s), then on the
    // 1 s floor: a handful of attempts, never a loop.
    assert.ok(watcher.attempts.x509 <= 25, `x509 attempts ${watcher.attempts.x509}`);
    assert.ok(watcher.attempts.jwt <= 25, `jwt attempts ${watcher.attempts.jwt}`);
    assert.ok((api.calls["FetchX509Bundles"] ?? 0) <= 25);
    const before = watcher.attempts.x509;
    await sleep(1000);
    assert.ok(watcher.attempts.x509 - before <= 2, "on the slow path now");
    assert.equal(store.current().spireAvailable, false);
    // Registering the workload is picked up on the next (slow) retry.
    api.identities = ["spiffe://example.org/spiffe-authz"];
    assert.equal(await watcher.waitForFirstBundle(3000), true);
  } finally {
    await done();
  }
});

test("a hop that strips the security header (INVALID_ARGUMENT) is logged at error with what to check, retried slowly", async () => {
  const { api, watcher, lines, store, done } = await setup({ before: (a) => a.simulateHeaderStripped() });
  try {
    await sleep(1500);
    const refused = lines().filter((l) => l["msg"] === "Workload API refused the call");
    assert.equal(refused[0]?.["code"], "INVALID_ARGUMENT");
    assert.equal(refused[0]?.["details"], "security header missing from request");
    assert.match(String(refused[0]?.["hint"]), /workload\.spiffe\.io/);
    assert.equal(refused[0]?.["level"], 50);
    assert.ok((api.calls["FetchX509Bundles"] ?? 0) <= 2, `calls ${api.calls["FetchX509Bundles"]}`);
    assert.equal(store.ready(), false);
    api.simulateHeaderStripped(false);
    assert.equal(await watcher.waitForFirstBundle(3000), true, "our own calls carry the header");
  } finally {
    await done();
  }
});

test("the dev server enforces the security header as SPIRE does; our client always sends it", async () => {
  const api = await DevWorkloadApi.start({ trustDomain: "example.org", address: sock() });
  const client = workloadApiClient(api.target);
  try {
    const call = (md: grpc.Metadata) =>
      new Promise<grpc.ServiceError | "data">((resolve) => {
        const s = (
          client["FetchX509Bundles"] as (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>
        ).call(client, {}, md);
        s.on("data", () => {
          s.cancel();
          resolve("data");
        });
        s.on("error", (e: grpc.ServiceError) => resolve(e));
      });
    const without = await call(new grpc.Metadata());
    assert.notEqual(without, "data");
    assert.equal((without as grpc.ServiceError).code, grpc.status.INVALID_ARGUMENT);
    assert.match((without as grpc.ServiceError).details, /security header missing/);
    const wrong = new grpc.Metadata();
    wrong.set("workload.spiffe.io", "yes");
    assert.equal(
      ((await call(wrong)) as grpc.ServiceError).code,
      grpc.status.INVALID_ARGUMENT,
      "the value must be `true`",
    );
    const md = new grpc.Metadata();
    md.set("workload.spiffe.io", "true");
    assert.equal(await call(md), "data");
  } finally {
    client.close();
    await api.close();
  }
  // And the watcher's side: against the same server it gets bundles, i.e. it sent the header.
  const { store, watcher, done } = await setup();
  try {
    assert.equal(await watcher.waitForFirstBundle(3000), true);
    assert.equal(store.current().spireAvailable, true);
  } finally {
    await done();
  }
});

test("a malformed bundle is logged and the previous one kept; an empty map is legal", async () => {
  const { api, store, watcher, lines, done } = await setup();
  try {
    await watcher.waitForFirstBundle(3000);
    await until(() => store.current().bundles.jwtBundle("example.org") !== undefined, 1000, "JWT bundle");
    const before = store.current();
    api.sendMalformed();
    await until(
      () => lines().filter((l) => l["msg"] === "malformed bundle from the Workload API").length >= 2,
      1000,
      "malformed logs (X.509 and JWT)",
    );
    const bad = lines().find(
      (l) => l["msg"] === "malformed bundle from the Workload API" && l["stream"] === "FetchX509Bundles",
    );
    assert.equal(bad?.["trustDomain"], "example.org");
    assert.equal(bad?.["keptPrevious"], true);
    assert.equal(bad?.["level"], 50);
    assert.ok(hasRoot(store, api), "previous bundle kept");
    assert.ok(store.current().bundles.jwtBundle("example.org"), "previous JWT bundle kept");
    assert.equal(store.current().generation, before.generation, "nothing changed for the engine");
    api.sendMalformed(false);
    api.sendEmpty();
    await until(
      () =>
        store.current().bundles.x509Bundle("example.org") === undefined &&
        store.current().bundles.jwtBundle("example.org") === undefined,
      1000,
      "empty map applied",
    );
    assert.equal(store.current().spireAvailable, true);
    assert.equal(store.workloadApiConnected, true);
  } finally {
    await done();
  }
});

test("stalled stream guard: silence for bundle-refresh-interval re-opens the stream; a re-opened stream that stays silent is lost", async () => {
  const { api, store, watcher, lines, done } = await setup({
    watcher: { resyncIntervalMs: 300, firstMessageTimeoutMs: 200 },
  });
  try {
    await watcher.waitForFirstBundle(3000);
    await until(() => store.current().bundles.jwtBundle("example.org") !== undefined, 1000, "JWT bundle");
    // Healthy but quiet: the re-open re-reads the same state; nothing changes for the engine.
    const snap = store.current();
    await until(
      () => lines().some((l) => String(l["msg"]).includes("silent for bundle-refresh-interval")),
      1000,
      "resync",
    );
    await sleep(100);
    assert.equal(store.current(), snap);
    assert.equal(store.workloadApiConnected, true);
    // Wedged agent: accepts streams, sends nothing.
    api.stall();
    await until(() => !store.workloadApiConnected, 2000, "wedged agent detected");
    assert.equal(store.current().spireAvailable, false);
    const lost = lines().find((l) => l["code"] === "DEADLINE_EXCEEDED");
    assert.match(String(lost?.["details"]), /no message within 200 ms/);
    api.stall(false);
    await until(() => store.workloadApiConnected && store.current().spireAvailable, 3000, "recovered");
  } finally {
    await done();
  }
});

test("an agent that flaps (accepts, sends, dies at once) does not reset the backoff: retries slow down", async () => {
  const { api, watcher, done } = await setup({
    watcher: { initialBackoffMs: 50, maxBackoffMs: 10_000, healthyAfterMs: 5000, random: () => 0.9999 },
  });
  try {
    await watcher.waitForFirstBundle(3000);
    const t0 = Date.now();
    // Every time the stream comes up, the agent dies again right away.
    while (Date.now() - t0 < 1500) {
      await api.restart();
      await sleep(20);
    }
    // With a reset on every message this would be ~1500/70 ≈ 20 attempts; doubling keeps it to a few.
    assert.ok(watcher.attempts.x509 <= 8, `x509 attempts ${watcher.attempts.x509}`);
  } finally {
    await done();
  }
});
