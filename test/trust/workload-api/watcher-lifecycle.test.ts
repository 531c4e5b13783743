// The bundle watcher's own timing against the dev Workload API on a unix socket, in this process: the backoff
// schedule and when it starts over, the reconnect grace, and close() (also from inside its own event callback).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../../src/trust/dev-workload-api/server.js";
import { WorkloadApiWatcher, type WatcherEvent, type WatcherOptions } from "../../../src/trust/workload-api/watcher.js";
import { TrustStore } from "../../../src/trust/store.js";
import { capturedLogger, sleep, until } from "../../helpers/log-capture.js";
import { timersLeftBy } from "../../helpers/timers.js";
import { unixRelay } from "../../helpers/workload-api-script.js";

type Lost = Extract<WatcherEvent, { type: "disconnected" }>;

async function setup(o: Partial<WatcherOptions> & { via?: (target: string) => Promise<string> } = {}) {
  const api = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(mkdtempSync(join(tmpdir(), "wl-life-")), "agent.sock")}`,
  });
  const store = new TrustStore("fail_closed", 3600);
  const { log, lines } = capturedLogger();
  const events: WatcherEvent[] = [];
  const watcher = new WorkloadApiWatcher({
    target: o.via ? await o.via(api.target) : api.target,
    store,
    log,
    resyncIntervalMs: 60_000,
    random: () => 0.9999, // the top of the jitter: every delay is exact
    onEvent: (e) => events.push(e),
    ...o,
  });
  const x509Lost = () => events.filter((e): e is Lost => e.type === "disconnected" && e.kind === "x509");
  const x509Up = () => events.filter((e) => e.type === "connected" && e.kind === "x509").length;
  const done = async () => (watcher.close(), store.close(), await api.close());
  return { api, store, lines, events, watcher, x509Lost, x509Up, done };
}

test(
  "backoff: doubles from initialBackoffMs to maxBackoffMs; starts over only after a stream stayed up healthyAfterMs",
  { timeout: 15_000 },
  async () => {
    const { api, lines, watcher, x509Lost, x509Up, done } = await setup({
      initialBackoffMs: 50,
      maxBackoffMs: 400,
      healthyAfterMs: 300,
    });
    try {
      watcher.start();
      assert.equal(await watcher.waitForFirstBundle(3000), true);
      await api.close();
      await until(() => x509Lost().length >= 5, 3000, "five failed attempts");
      assert.deepEqual(
        x509Lost()
          .slice(0, 5)
          .map((e) => e.retryInMs),
        [50, 100, 200, 400, 400],
      );
      // The cut stream (CANCELLED), the first failed call (a new code: a warning), then the same again at debug.
      const said = lines()
        .filter((l) => l["stream"] === "FetchX509Bundles" && "retryInMs" in l)
        .slice(0, 3);
      assert.deepEqual(
        said.map((l) => [l["level"], l["code"], l["msg"]]),
        [
          [40, "CANCELLED", "Workload API stream lost; reconnecting"],
          [40, "UNAVAILABLE", "Workload API unreachable; retrying"],
          [20, "UNAVAILABLE", "Workload API still unreachable; retrying"],
        ],
      );

      // Up for 400 ms (more than healthyAfterMs), the agent pushing every 50 ms: the backoff starts over.
      await api.restart();
      await until(() => x509Up() === 2, 3000, "up again");
      for (let i = 0; i < 8; i++) {
        await sleep(50);
        api.stall(false); // publishes the current state
      }
      let before = x509Lost().length;
      await api.close();
      await until(() => x509Lost().length > before, 2000, "loss after a healthy run");
      assert.equal(x509Lost()[before]!.retryInMs, 50, "back to initialBackoffMs");
      await until(() => x509Lost().length > before + 1, 2000, "a failed retry");

      // Up for a moment only (a flapping agent): the backoff goes on from where it was.
      await api.restart();
      await until(() => x509Up() === 3, 3000, "up again");
      before = x509Lost().length;
      await api.close();
      await until(() => x509Lost().length > before, 2000, "loss after a flap");
      assert.ok(x509Lost()[before]!.retryInMs >= 200, `retry in ${x509Lost()[before]!.retryInMs} ms`);
    } finally {
      await done();
    }
  },
);

test(
  "reconnect grace: the store hears of a loss reconnectGraceMs after it, counted from the latest loss",
  { timeout: 15_000 },
  async () => {
    const { api, store, watcher, x509Lost, x509Up, done } = await setup({
      initialBackoffMs: 20,
      maxBackoffMs: 40,
      reconnectGraceMs: 400,
    });
    let unavailableAt = 0;
    const off = store.onChange((s) => {
      if (!s.spireAvailable && unavailableAt === 0) unavailableAt = Date.now();
    });
    try {
      watcher.start();
      assert.equal(await watcher.waitForFirstBundle(3000), true);
      // Lost, a retry fails, the agent is back: up again well within the grace.
      await api.close();
      await until(() => x509Lost().length >= 2, 2000, "a failed retry");
      await api.restart();
      await until(() => x509Up() === 2, 2000, "up again");
      assert.equal(unavailableAt, 0, "never unavailable: the stream came back within the grace");
      // Lost again: the grace runs from now, not from the first loss.
      const lostAt = Date.now();
      await api.close();
      await until(() => unavailableAt > 0, 3000, "unavailable after the grace");
      const after = unavailableAt - lostAt;
      assert.ok(after >= 350 && after < 900, `unavailable ${after} ms after the second loss (grace 400 ms)`);
    } finally {
      off();
      await done();
    }
  },
);

test(
  "close(): the streams and the connection go; nothing reaches the store, the log or the callbacks after it",
  { timeout: 15_000 },
  async () => {
    let relay: Awaited<ReturnType<typeof unixRelay>> | undefined;
    const updates: string[] = [];
    const { api, store, lines, events, watcher, done } = await setup({
      via: async (t) => (relay = await unixRelay(t)).target,
      onUpdate: (k) => updates.push(k),
    });
    try {
      watcher.start();
      assert.equal(await watcher.waitForFirstBundle(3000), true);
      // Already delivered: true at once, and its timer (60 s here) is not left behind.
      const wait = await timersLeftBy(() => watcher.waitForFirstBundle(60_000));
      assert.deepEqual(wait, { value: true, started: 1, pending: 0 });
      await until(() => store.workloadApiConnected, 2000, "both streams");
      assert.equal(relay!.open(), 1);
      const seen = {
        gen: store.current().generation,
        lines: lines().length,
        events: events.length,
        updates: updates.length,
      };
      watcher.close();
      await until(() => relay!.open() === 0, 2000, "the connection to the agent closed");
      await api.rotateCa();
      watcher.start();
      watcher.close();
      await sleep(300);
      assert.deepEqual(
        { gen: store.current().generation, lines: lines().length, events: events.length, updates: updates.length },
        seen,
      );
      assert.deepEqual(watcher.attempts, { x509: 1, jwt: 1 });
    } finally {
      await done();
      await relay?.close();
    }
  },
);

test(
  "close() from inside the watcher's own disconnected event: no retry is left to run",
  { timeout: 15_000 },
  async () => {
    const self: { watcher?: WorkloadApiWatcher } = {};
    const { api, watcher, done } = await setup({
      initialBackoffMs: 20,
      maxBackoffMs: 40,
      onEvent: (e) => e.type === "disconnected" && self.watcher?.close(),
    });
    self.watcher = watcher;
    try {
      watcher.start();
      assert.equal(await watcher.waitForFirstBundle(3000), true);
      await api.close();
      await sleep(300);
      assert.deepEqual(watcher.attempts, { x509: 1, jwt: 1 });
    } finally {
      await done();
    }
  },
);

test(
  "the watcher's timers never keep the process alive: not while up (resync), not while lost (grace, retry)",
  { timeout: 15_000 },
  async () => {
    let lostSeen: () => void = () => undefined;
    const lost = new Promise<void>((r) => (lostSeen = r));
    const { api, store, watcher, done } = await setup({
      initialBackoffMs: 2000,
      maxBackoffMs: 2000,
      reconnectGraceMs: 5000,
      onEvent: (e) => e.type === "disconnected" && lostSeen(),
    });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    try {
      const base = timers();
      watcher.start();
      assert.equal(await watcher.waitForFirstBundle(3000), true);
      await until(() => store.workloadApiConnected, 2000, "both streams delivered");
      assert.equal(timers(), base, "up: two 60 s resync timers");
      await api.close();
      await lost; // (no timer of our own meanwhile: it would count)
      await new Promise((r) => setImmediate(r)); // the retry timer is set right after the event
      assert.equal(timers(), base, "lost: both streams wait out a 5 s grace and a 2 s retry");
    } finally {
      await done();
    }
  },
);
