import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { WorkloadApiWatcher } from "../../src/trust/workload-api/watcher.js";
import { workloadApiClient } from "../../src/trust/workload-api/client.js";
import { TrustStore, type FailurePolicy } from "../../src/trust/store.js";
import { capturedLogger, sleep, until } from "../helpers/log-capture.js";

function sock(): string {
  return `unix://${join(mkdtempSync(join(tmpdir(), "wl-")), "agent.sock")}`;
}

async function setup(failure: FailurePolicy = "fail_closed", cacheTtl = 3600, identities?: string[]) {
  const api = await DevWorkloadApi.start({ trustDomain: "example.org", address: sock(), ...(identities ? { identities } : {}) });
  const store = new TrustStore(failure, cacheTtl);
  const { log, lines } = capturedLogger();
  const watcher = new WorkloadApiWatcher({ target: api.target, store, log, resyncIntervalMs: 60_000, initialBackoffMs: 50, maxBackoffMs: 200, rejectedBackoffMs: 1000 });
  watcher.start();
  const done = async () => {
    watcher.close();
    store.close();
    await api.close();
  };
  return { api, store, watcher, lines, done };
}

const hasRoot = (store: TrustStore, api: DevWorkloadApi) =>
  store.current().bundles.x509Bundle("example.org")?.authorities.some((c) => c.equals(api.ca.certificate)) ?? false;

test("watcher receives bundles (X.509 and JWT) and a CA rotation shows up in under a second", async () => {
  const { api, store, watcher, done } = await setup();
  try {
    assert.equal(await watcher.waitForFirstBundle(3000), true);
    assert.equal(store.current().spireAvailable, true);
    assert.ok(hasRoot(store, api));
    await until(() => store.current().bundles.jwtBundle("example.org") !== undefined, 2000, "JWT bundle");
    const gen = store.current().generation;
    await api.rotateCa();
    api.dropOldAuthorities();
    const ms = await until(() => hasRoot(store, api) && store.current().bundles.x509Bundle("example.org")!.authorities.length === 1, 1000, "rotation");
    assert.ok(ms < 1000);
    assert.ok(store.current().generation > gen);
  } finally {
    await done();
  }
});

test("federated bundle delivered by the Workload API appears as its own trust domain, and goes away", async () => {
  const { api, store, watcher, done } = await setup();
  try {
    await watcher.waitForFirstBundle(3000);
    const partner = await api.addFederatedDomain("partner.org");
    await until(() => store.current().bundles.x509Bundle("partner.org")?.authorities[0]?.equals(partner.certificate) ?? false, 1000, "federated bundle");
    api.removeTrustDomain("partner.org");
    await until(() => store.current().bundles.x509Bundle("partner.org") === undefined, 1000, "federated bundle removed");
  } finally {
    await done();
  }
});

test("fail_closed: Workload API lost → unavailable at once; restarted → reconnects and resyncs", async () => {
  const { api, store, watcher, done } = await setup("fail_closed");
  try {
    await watcher.waitForFirstBundle(3000);
    await api.close();
    await until(() => !store.current().spireAvailable, 1000, "unavailable");
    assert.equal(store.current().bundles.x509Bundle("example.org"), undefined);
    await api.restart();
    await api.rotateCa();
    await until(() => store.current().spireAvailable && hasRoot(store, api), 3000, "resync after restart");
  } finally {
    await done();
  }
});

test("cache: the last bundles serve until cache-ttl, then unavailable", async () => {
  const { api, store, watcher, done } = await setup("cache", 1);
  try {
    await watcher.waitForFirstBundle(3000);
    await api.close();
    await until(() => !store.workloadApiConnected, 1000, "disconnect seen");
    assert.equal(store.current().spireAvailable, true);
    assert.ok(hasRoot(store, api));
    await until(() => !store.current().spireAvailable, 2500, "cache-ttl expiry");
    assert.equal(store.current().bundles.x509Bundle("example.org"), undefined);
  } finally {
    await done();
  }
});

test("an unregistered workload gets a loud, clear log line and no tight retry loop", async () => {
  const { watcher, lines, store, done } = await setup("fail_closed", 3600, []);
  try {
    await sleep(1500);
    const refused = lines().filter((l) => l["msg"] === "Workload API refused the call");
    assert.ok(refused.length >= 1);
    assert.equal(refused[0]!["code"], "PERMISSION_DENIED");
    assert.match(String(refused[0]!["hint"]), /registration entry/);
    assert.equal(refused[0]!["level"], 50);
    // 1.5 s with a 1 s backoff floor: the first attempt and at most a couple of retries per stream.
    assert.ok(watcher.attempts.x509 <= 3, `x509 attempts ${watcher.attempts.x509}`);
    assert.ok(watcher.attempts.jwt <= 3, `jwt attempts ${watcher.attempts.jwt}`);
    assert.equal(store.current().spireAvailable, false);
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
        const s = (client["FetchX509Bundles"] as (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>).call(client, {}, md);
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
    const md = new grpc.Metadata();
    md.set("workload.spiffe.io", "true");
    assert.equal(await call(md), "data");
  } finally {
    client.close();
    await api.close();
  }
});

test("a malformed bundle is logged and the previous one kept; an empty map is legal", async () => {
  const { api, store, watcher, lines, done } = await setup();
  try {
    await watcher.waitForFirstBundle(3000);
    const gen = store.current().generation;
    api.sendMalformed();
    await until(() => lines().some((l) => l["msg"] === "malformed bundle from the Workload API"), 1000, "malformed log");
    await until(() => store.current().generation > gen, 1000, "new snapshot");
    assert.ok(hasRoot(store, api), "previous bundle kept");
    api.sendMalformed(false);
    api.sendEmpty();
    await until(() => store.current().bundles.x509Bundle("example.org") === undefined, 1000, "empty map applied");
    assert.equal(store.current().spireAvailable, true);
  } finally {
    await done();
  }
});
