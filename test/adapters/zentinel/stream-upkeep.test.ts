// A ProcessStream's upkeep, through a real GrpcHost with a stand-in engine and metrics source: MetricsReport under
// a slow or failing source, the timers a stream keeps (none left behind), and what it writes to our log (the
// operator's view of a proxy connection).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { ZentinelService } from "../../../src/adapters/zentinel/service.js";
import { ALLOWED, type Decision } from "../../../src/engine/contract.js";
import { connectAsProxy, headersEvent, openStream, startStubDoor, type StubDoor } from "../../helpers/zentinel.js";
import type { Client } from "../../helpers/clients.js";
import { sleep, until } from "../../helpers/log-capture.js";

const ALLOW: Decision = { ...ALLOWED, allow: true, reason: "ok", detail: "", headersToSet: [], headersToRemove: [] };

/** How the metrics source behaves for the next call: its delay, and whether it fails. */
const source = { delayMs: 0, fail: false, calls: 0, running: 0, maxRunning: 0 };
const gates = new Map<string, Promise<void>>();

let door: StubDoor;
let zentinel: ZentinelService;
let client: Client;
let lines: () => Array<Record<string, unknown>>;

before(async () => {
  door = await startStubDoor({
    decide: async (req) => (await gates.get(req.correlationId ?? ""), ALLOW),
    metrics: async () => {
      source.calls++;
      source.maxRunning = Math.max(source.maxRunning, ++source.running);
      try {
        await sleep(source.delayMs);
        if (source.fail) throw new Error("metrics source down");
        return [];
      } finally {
        source.running--;
      }
    },
    metricsIntervalMs: 20,
  });
  ({ zentinel, client, lines } = door);
});

after(() => door.stop());

const logged = (msg: string, from = 0) =>
  lines()
    .slice(from)
    .filter((l) => l["msg"] === msg);

test("a metrics source slower than the report interval is never asked twice at once; reports keep coming", async () => {
  Object.assign(source, { delayMs: 150, fail: false, calls: 0, running: 0, maxRunning: 0 });
  const s = await connectAsProxy(client);
  await until(() => s.of("metrics").length >= 3, 5000, "three reports, 20 ms apart, each taking 150 ms");
  assert.equal(source.maxRunning, 1);
  assert.ok(source.calls <= s.of("metrics").length + 1, `${source.calls} calls for ${s.of("metrics").length} reports`);
  s.call.end();
  await until(s.ended, 3000, "closed");
});

test("a failing metrics source: warned with its error, the stream stays open, reports resume when it recovers", async () => {
  Object.assign(source, { delayMs: 0, fail: true, calls: 0, running: 0, maxRunning: 0 });
  const from = lines().length;
  const s = await connectAsProxy(client);
  await until(() => source.calls >= 3, 3000, "three failed reports");
  assert.equal(s.of("metrics").length, 0);
  const warned = logged("Zentinel MetricsReport failed", from);
  assert.ok(warned.length >= 1);
  assert.equal((warned[0]!["err"] as { message: string }).message, "metrics source down");
  assert.equal(warned[0]!["level"], 40);
  source.fail = false;
  await until(() => s.of("metrics").length >= 1, 3000, "a report once the source recovered");
  assert.equal(s.status(), undefined);
  s.call.end();
  await until(s.ended, 3000, "closed");
});

test("what a stream logs: the proxy that connected (with the peer), a refused handshake, a cancel that hit, an empty message", async () => {
  Object.assign(source, { delayMs: 0, fail: false });
  const from = lines().length;
  const s = await connectAsProxy(client);
  const connected = logged("Zentinel proxy connected", from);
  assert.equal(connected.length, 1);
  assert.equal(connected[0]!["proxyId"], "zentinel-proxy");
  assert.equal(connected[0]!["proxyVersion"], "0.6.20");
  assert.deepEqual(connected[0]!["supportedVersions"], [2, 1]);
  assert.match(String(connected[0]!["peer"]), /127\.0\.0\.1:\d+$/);
  assert.equal(connected[0]!["door"], "zentinel");

  let release!: () => void;
  gates.set("held", new Promise<void>((r) => (release = r)));
  s.call.write(headersEvent("held", undefined));
  await sleep(50);
  s.call.write({ cancel: { correlation_id: "elsewhere", reason: 2 } });
  s.call.write({ cancel: { correlation_id: "held", reason: 2 } });
  s.call.write({});
  s.call.write({ request_complete: { correlation_id: "held", status_code: 200 } });
  s.call.write(headersEvent("done", undefined));
  await until(() => s.responses().length === 1, 3000, "done answered");
  s.call.write({ cancel: { correlation_id: "done", reason: 2 } });
  s.call.write({ ping: { sequence: "1" } });
  await until(() => s.of("pong").length === 1, 3000, "pong");
  release();
  gates.clear();
  const cancelled = logged("Zentinel event cancelled", from);
  assert.deepEqual(
    cancelled.map((l) => [l["correlationId"], l["reason"], l["level"]]),
    [["held", 2, 20]],
    "only the cancel that named an event in flight on this stream (not another stream's, not an answered one)",
  );
  // Said once per process, however many proxies connect (two did by now), with what to do about it.
  const xfcc = lines().filter((l) => String(l["msg"]).startsWith("Zentinel door: client certificates come only"));
  assert.equal(xfcc.length, 1);
  assert.equal(xfcc[0]!["level"], 40);
  assert.match(
    String(xfcc[0]!["msg"]),
    /which Zentinel neither sets nor sanitizes; a hop in front of Zentinel must terminate mTLS and replace that header, or clients can present any certificate they have seen \(docs\/security\.md\)$/,
  );
  assert.equal(
    logged("empty ProxyToAgent message ignored", from).length,
    1,
    "request_complete is not an empty message",
  );
  s.call.end();
  await until(s.ended, 3000, "closed");

  const refused = openStream(client);
  refused.call.write({ handshake: { supported_versions: [3, 1], proxy_id: "old" } });
  await until(refused.ended, 3000, "refused");
  const warned = logged("Zentinel handshake refused", from);
  assert.equal(warned.length, 1);
  assert.equal(warned[0]!["error"], "unsupported protocol versions [3, 1]; spiffe-authz speaks version 2 only");
  assert.equal(warned[0]!["level"], 40);
});

test("timers: a stream that is open keeps its two report intervals only; every stream that ends leaves none behind", async () => {
  type Timer = ReturnType<typeof setTimeout>;
  const made = new Set<Timer>();
  const cleared = new Set<Timer>();
  const orig = { setTimeout, setInterval, clearTimeout, clearInterval };
  // Only the timers stream.ts starts itself (the caller's frame); grpc-js and the test keep theirs.
  const track =
    <F extends (...a: never[]) => Timer>(f: F) =>
    (...a: Parameters<F>): Timer => {
      const t = f(...a);
      if (new Error().stack?.split("\n")[2]?.includes("src/adapters/zentinel/stream.ts")) made.add(t);
      return t;
    };
  globalThis.setTimeout = track(orig.setTimeout as never) as typeof setTimeout;
  globalThis.setInterval = track(orig.setInterval as never) as typeof setInterval;
  globalThis.clearTimeout = ((t: Timer) => (cleared.add(t), orig.clearTimeout(t))) as typeof clearTimeout;
  globalThis.clearInterval = ((t: Timer) => (cleared.add(t), orig.clearInterval(t))) as typeof clearInterval;
  const live = () => [...made].filter((t) => !cleared.has(t)).length;
  try {
    const open = await connectAsProxy(client);
    assert.equal(made.size, 3, "the handshake timeout and the two report intervals");
    assert.equal(live(), 2, "the handshake timeout is stopped once the handshake is done");
    open.call.end();
    await until(open.ended, 3000, "ended by the proxy");
    assert.equal(live(), 0);

    const cancelled = await connectAsProxy(client);
    cancelled.call.cancel();
    const refused = openStream(client);
    refused.call.write({});
    await until(() => refused.ended() && zentinel.streams() === 0, 3000, "both gone");
    assert.equal(made.size, 3 + 3 + 1);
    assert.equal(live(), 0);
  } finally {
    Object.assign(globalThis, orig);
  }
});
