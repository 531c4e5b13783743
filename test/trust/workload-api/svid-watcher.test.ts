// The SvidWatcher (our own X509-SVID for server.tls.mode spiffe) in this process, against the dev Workload API over
// a real unix socket: the first SVID, a re-issued one, an empty answer, the agent going away and coming back, and
// close(). server-tls.test.ts covers the same through `serve` in a child process, where a mutation run cannot see it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../../src/trust/dev-workload-api/server.js";
import { SvidWatcher, type OwnSvid } from "../../../src/trust/workload-api/svid-watcher.js";
import { capturedLogger, sleep, until } from "../../helpers/log-capture.js";
import { timersLeftBy } from "../../helpers/timers.js";
import { unixRelay } from "../../helpers/workload-api-script.js";

const ID = "spiffe://example.org/spiffe-authz";
const pemsOf = (chainPem: string) =>
  chainPem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [];

/**
 * A watcher whose backoff draws the top of its jitter every time (Backoff takes Math.random when the watcher is
 * built), so the retry delays are exact: 200, 400, 500, 500 … ms, and 200 again after a reset.
 */
function worstCaseWatcher(target: string) {
  const { log, lines } = capturedLogger();
  const random = Math.random;
  Math.random = () => 0.9999;
  try {
    return { watcher: new SvidWatcher(target, log), lines };
  } finally {
    Math.random = random;
  }
}

async function agent(o: { intermediate?: boolean } = {}) {
  return DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(mkdtempSync(join(tmpdir(), "svid-")), "agent.sock")}`,
    intermediate: o.intermediate ?? false,
  });
}

test(
  "the first SVID: chain, key, SPIFFE ID and expiry as the agent issued them; listeners before and after",
  { timeout: 15_000 },
  async () => {
    const api = await agent({ intermediate: true });
    const { watcher, lines } = worstCaseWatcher(api.target);
    const early: Array<OwnSvid | undefined> = [];
    watcher.onSvid((s) => early.push(s));
    assert.equal(watcher.current, undefined);
    try {
      watcher.start();
      watcher.start(); // a second start while the stream is open opens nothing more
      assert.equal(await watcher.waitForFirst(3000), true);
      const svid = watcher.current as OwnSvid | undefined; // (the assertion above narrowed the getter)
      assert.ok(svid);
      assert.equal(svid.spiffeId, ID);
      const [leafPem, caPem, ...rest] = pemsOf(svid.certChainPem);
      assert.equal(rest.length, 0);
      assert.equal(svid.certChainPem, `${leafPem}${caPem}`, "leaf then intermediate, nothing between them");
      const leaf = new X509Certificate(leafPem!);
      assert.equal(leaf.subjectAltName, `URI:${ID}`);
      assert.ok(new X509Certificate(caPem!).raw.equals(api.ca.der), "the intermediate that signed it");
      assert.ok(leaf.verify(new X509Certificate(caPem!).publicKey));
      assert.match(svid.keyPem, /^-----BEGIN PRIVATE KEY-----\n/, "PKCS#8 PEM");
      assert.ok(leaf.checkPrivateKey(createPrivateKey(svid.keyPem)), "the key belongs to the leaf");
      assert.equal(svid.notAfter.getTime(), new Date(leaf.validTo).getTime());
      assert.ok(svid.notAfter.getTime() > Date.now() + 50 * 60_000, "SVIDs from the dev agent live an hour");
      assert.deepEqual(early, [svid], "a listener added before the first SVID hears of it once, never of undefined");
      const late: OwnSvid[] = [];
      watcher.onSvid((s) => late.push(s));
      assert.deepEqual(late, [svid], "a listener added later gets the current SVID at once");
      assert.equal(
        api.calls["FetchX509SVID"],
        1,
        "one stream, with the security header (the agent refuses it without)",
      );
      const info = lines().filter((l) => l["msg"] === "own X509-SVID from the Workload API");
      assert.deepEqual(
        info.map((l) => [l["level"], l["spiffeId"]]),
        [[30, ID]],
      );
    } finally {
      watcher.close();
      await api.close();
    }
  },
);

test(
  "waitForFirst: true at once when the SVID is there, false after its timeout when none comes; no timer left",
  { timeout: 15_000 },
  async () => {
    const api = await agent();
    api.identities = []; // not registered: every call PERMISSION_DENIED
    const { watcher } = worstCaseWatcher(api.target);
    try {
      watcher.start();
      const t0 = Date.now();
      assert.equal(await watcher.waitForFirst(200), false);
      assert.ok(Date.now() - t0 < 1000, `false after ${Date.now() - t0} ms`);
      api.identities = [ID];
      assert.equal(await watcher.waitForFirst(3000), true);
      // Already there: answers true without waiting, and clears its own timer (a 60 s one would hold the process).
      const t1 = Date.now();
      const wait = await timersLeftBy(() => watcher.waitForFirst(60_000));
      assert.ok(Date.now() - t1 < 500);
      assert.deepEqual(wait, { value: true, started: 1, pending: 0 });
    } finally {
      watcher.close();
      await api.close();
    }
  },
);

test(
  "a re-issued SVID reaches every listener still subscribed; an empty answer (no SVID for us) is ignored",
  { timeout: 15_000 },
  async () => {
    const api = await agent();
    const { watcher, lines } = worstCaseWatcher(api.target);
    try {
      watcher.start();
      assert.equal(await watcher.waitForFirst(3000), true);
      const first = watcher.current!;
      const kept: OwnSvid[] = [];
      const gone: OwnSvid[] = [];
      watcher.onSvid((s) => kept.push(s));
      const off = watcher.onSvid((s) => gone.push(s));
      off();
      await api.rotateCa(); // the agent re-issues from the new CA and pushes it
      await until(() => kept.length === 2, 2000, "re-issued SVID");
      const second = watcher.current!;
      assert.notEqual(second.certChainPem, first.certChainPem);
      assert.equal(kept[1], second);
      assert.ok(
        new X509Certificate(second.certChainPem).verify(new X509Certificate(api.ca.der).publicKey),
        "from the new CA",
      );
      assert.deepEqual(gone, [first], "unsubscribed: only the at-once call");
      // The entry goes away: the agent's next message carries no SVID. The last one keeps serving, quietly.
      api.identities = [];
      await api.rotateCa();
      await sleep(300);
      assert.equal(watcher.current, second);
      assert.equal(kept.length, 2);
      assert.deepEqual(
        lines().filter((l) => Number(l["level"]) >= 40),
        [],
      );
      api.identities = [ID];
      await api.rotateCa();
      await until(() => kept.length === 3, 2000, "SVID again");
      assert.equal(kept.filter((s) => s === undefined).length, 0);
    } finally {
      watcher.close();
      await api.close();
    }
  },
);

test(
  "the agent goes away: the SVID keeps serving, retries back off (one warning, then debug), reconnects when it is back",
  { timeout: 15_000 },
  async () => {
    const api = await agent();
    const { watcher, lines } = worstCaseWatcher(api.target);
    const seen: OwnSvid[] = [];
    watcher.onSvid((s) => seen.push(s));
    const lost = () =>
      lines().filter((l) => String(l["msg"]).startsWith("own X509-SVID stream lost") || "retryInMs" in l);
    try {
      watcher.start();
      assert.equal(await watcher.waitForFirst(3000), true);
      const first = watcher.current!;
      for (const round of [1, 2]) {
        const before = lost().length;
        await api.close();
        // Retries at the top of the jitter: 200, 400, 500 ms (the backoff was reset by the last SVID).
        await until(() => lost().length >= before + 3, 3000, `three failed attempts (round ${round})`);
        const mine = lost().slice(before, before + 3);
        assert.deepEqual(
          mine.map((l) => l["retryInMs"]),
          [200, 400, 500],
          `round ${round}`,
        );
        // The cut stream ends CANCELLED, the calls after it fail UNAVAILABLE (nothing listens): a warning per new
        // code, the same code again at debug.
        assert.deepEqual(
          mine.map((l) => [l["level"], l["code"]]),
          [
            [40, 1],
            [40, 14],
            [20, 14],
          ],
        );
        assert.ok(mine.every((l) => l["msg"] === "own X509-SVID stream lost; the current SVID keeps serving"));
        assert.match(String(mine[1]!["details"]), /ENOENT/);
        assert.equal(watcher.current, round === 1 ? first : seen.at(-1), "the last SVID keeps serving");
        const n = seen.length;
        await api.restart();
        await until(() => seen.length === n + 1, 3000, "SVID after the agent's return");
        assert.notEqual(watcher.current!.certChainPem, first.certChainPem);
      }
    } finally {
      watcher.close();
      await api.close();
    }
  },
);

test(
  "before any SVID: a refusal is one warning that none came yet, its repeats debug",
  { timeout: 15_000 },
  async () => {
    const api = await agent();
    api.identities = [];
    const { watcher, lines } = worstCaseWatcher(api.target);
    try {
      watcher.start();
      await until(() => (api.calls["FetchX509SVID"] ?? 0) >= 3, 3000, "three attempts");
      const tries = lines().filter((l) => "retryInMs" in l);
      assert.ok(tries.length >= 2);
      assert.equal(tries[0]!["msg"], "no X509-SVID for this process from the Workload API yet; retrying");
      assert.equal(tries[0]!["level"], 40);
      assert.equal(tries[0]!["code"], 7, "PERMISSION_DENIED");
      assert.equal(tries[0]!["details"], "no identity issued");
      assert.equal(tries[0]!["retryInMs"], 200);
      assert.deepEqual(
        tries.slice(1).map((l) => l["level"]),
        tries.slice(1).map(() => 20),
      );
      assert.equal(watcher.current, undefined);
    } finally {
      watcher.close();
      await api.close();
    }
  },
);

test(
  "close(): the stream and the connection to the agent go, nothing is retried or logged after, start() stays a no-op",
  { timeout: 15_000 },
  async () => {
    const api = await agent();
    const hop = await unixRelay(api.target); // counts the connections to the agent
    const { watcher, lines } = worstCaseWatcher(hop.target);
    try {
      watcher.close(); // before start: nothing to cancel
      const idle = worstCaseWatcher(hop.target).watcher;
      idle.close();
      idle.start();
      assert.equal(api.calls["FetchX509SVID"], undefined, "a closed watcher never calls");

      const live = worstCaseWatcher(hop.target);
      live.watcher.start();
      assert.equal(await live.watcher.waitForFirst(3000), true);
      assert.equal(hop.open(), 1);
      const logged = live.lines().length;
      live.watcher.close();
      await until(() => hop.open() === 0, 2000, "connection to the agent closed");
      live.watcher.start();
      live.watcher.close();
      await api.rotateCa();
      await sleep(300);
      assert.equal(api.calls["FetchX509SVID"], 1);
      assert.equal(live.lines().length, logged, "nothing logged after close()");
      assert.equal(lines().length, 0);

      // Closed while waiting to retry (no call in flight): the retry never happens.
      const waiting = worstCaseWatcher(hop.target);
      waiting.watcher.start();
      assert.equal(await waiting.watcher.waitForFirst(3000), true);
      await api.close();
      await until(() => waiting.lines().some((l) => "retryInMs" in l), 2000, "loss");
      waiting.watcher.close();
      await api.restart();
      await sleep(600);
      assert.equal(api.calls["FetchX509SVID"], 2, "no call after close()");
      assert.equal(hop.open(), 0);
    } finally {
      watcher.close();
      await hop.close();
      await api.close();
    }
  },
);

test(
  "waiting to retry, the watcher holds nothing that keeps the process alive (its retry timer is unref'd)",
  { timeout: 15_000 },
  async () => {
    const api = await agent();
    const { watcher, lines } = worstCaseWatcher(api.target); // the retry waits 200 ms
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    try {
      watcher.start();
      assert.equal(await watcher.waitForFirst(3000), true);
      const base = timers();
      await api.close();
      // No timer of our own while waiting for the loss (it would count): turn the event loop until it is logged.
      while (!lines().some((l) => "retryInMs" in l)) await new Promise((r) => setImmediate(r));
      assert.equal(timers(), base);
    } finally {
      watcher.close();
      await api.close();
    }
  },
);
