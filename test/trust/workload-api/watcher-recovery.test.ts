// Regression: the watcher with the backoff the server uses (defaults) must be back within about a second of
// the agent returning, however long the agent was gone. With a 30 s backoff cap (and a 2 s channel reconnect
// cap) a 3 s outage left the streams down for 3 s more after the agent was back. Worst-case jitter is drawn
// on purpose (random → 1), so the old schedule (retries at +0.2, +0.6, +1.4, +3.0, +6.2 s) fails this at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../../src/trust/dev-workload-api/server.js";
import { WorkloadApiWatcher } from "../../../src/trust/workload-api/watcher.js";
import { TrustStore } from "../../../src/trust/store.js";
import { silentLogger } from "../../../src/log.js";
import { sleep, until } from "../../helpers/log-capture.js";

test("after a 3.2 s outage the watcher (default backoff, worst-case jitter) is up again within 2 s of the agent's return", async () => {
  const api = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(mkdtempSync(join(tmpdir(), "recovery-")), "agent.sock")}`,
  });
  const store = new TrustStore("fail_closed", 3600);
  const watcher = new WorkloadApiWatcher({
    target: api.target,
    store,
    log: silentLogger(),
    resyncIntervalMs: 60_000,
    random: () => 0.9999,
  });
  watcher.start();
  try {
    assert.equal(await watcher.waitForFirstBundle(3000), true);
    await api.close();
    await until(() => !store.current().spireAvailable, 2000, "loss seen");
    // The outage itself (not an ordering wait): long enough for the old doubling to reach multi-second gaps.
    await sleep(3200);
    assert.equal(store.current().spireAvailable, false);
    const back = Date.now();
    await api.restart();
    await until(() => store.current().spireAvailable && store.workloadApiConnected, 5000, "reconnected");
    const took = Date.now() - back;
    // Watcher cap 500 ms + channel cap 500 ms (±20 %) ≈ 1.1 s at worst; 2 s leaves room for a loaded machine.
    assert.ok(took < 2000, `reconnected ${took} ms after the agent returned`);
  } finally {
    watcher.close();
    store.close();
    await api.close();
  }
});
