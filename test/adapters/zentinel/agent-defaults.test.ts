// A Zentinel door whose deps name no settings and no drain timeout (src/adapters/zentinel/agent.ts, deps.ts),
// through a real GrpcHost around a stand-in engine: pushed config is refused by default, drain's ETA counts down
// from the default 5 s, and ProcessEvent peers are told about a refused push once per address, in a memory of
// 1024 addresses that is forgotten when full.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import {
  blockOf,
  connectAsProxy,
  headersEvent,
  openStream,
  startStubDoor,
  stubAllow,
  zentinelClient,
  PROXY_HANDSHAKE,
  type Msg,
  type StubDoor,
} from "../../helpers/zentinel.js";
import { unary, type Client } from "../../helpers/clients.js";
import { until } from "../../helpers/log-capture.js";

const ALLOW = stubAllow();
const PUSH = JSON.stringify({ allowlist: { exact: [] } });
const IGNORED = "Zentinel pushed config ignored";

let door: StubDoor;
const gates = new Map<string, Promise<void>>();
const seen: string[] = [];
before(async () => {
  door = await startStubDoor({
    decide: async (req) => {
      seen.push(req.correlationId ?? "");
      await gates.get(req.correlationId ?? "");
      return ALLOW;
    },
  });
});
after(() => door.stop());

const configErrorOf = (m: Record<string, unknown>) =>
  (m["config_update"] as Record<string, unknown>)["config_error"] as { error: string; field?: string };

test("no settings given: pushed config is refused (accept-configure defaults to false), not announced, never applied", async () => {
  const s = openStream(door.client);
  await until(s.headersReceived, 3000, "response headers");
  s.call.write({ handshake: { ...PROXY_HANDSHAKE.handshake, config_json: PUSH } });
  await until(() => s.of("config_update").length === 1, 3000, "config_error for the handshake config_json");
  const hs = s.got[0]!["handshake"] as Record<string, unknown>;
  assert.equal(hs["success"], true);
  const caps = hs["capabilities"] as { supported_events: number[]; features: { config_push: boolean } };
  assert.equal(caps.features.config_push, false);
  assert.deepEqual(caps.supported_events, [1], "REQUEST_HEADERS only, no CONFIGURE");
  assert.equal(configErrorOf(s.got.find((m) => m.message === "config_update")!).field, "zentinel.accept-configure");

  s.call.write({ configure: { config_json: PUSH, config_version: "v1" } });
  await until(() => s.of("config_update").length === 2, 3000, "config_error for the Configure event");
  const res = await unary<Msg>(door.client, "ProcessEvent", { configure: { config_json: PUSH } });
  assert.equal(configErrorOf(res).field, "zentinel.accept-configure");
  assert.equal(door.applyCalls(), 0, "deps.applyConfig is never called");
  s.call.end();
  await until(s.ended, 3000, "closed");
});

test("ProcessEvent: a refused push is logged once per peer address; 1024 addresses are remembered, then forgotten", async () => {
  // A fresh connection (its own source port) per client: grpc-js would otherwise share one per target.
  const peer = () =>
    zentinelClient(door.target, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  const push = (c: Client, version: string) =>
    unary<Msg>(c, "ProcessEvent", { configure: { config_json: PUSH, config_version: version } });
  const loggedFor = (...prefixes: string[]) =>
    door
      .lines()
      .filter(
        (l) => String(l["msg"]).startsWith(IGNORED) && prefixes.some((p) => String(l["version"] ?? "").startsWith(p)),
      );

  const open: Client[] = [];
  const a = peer();
  const b = peer();
  open.push(a, b);
  try {
    await push(door.client, "own"); // the door's own client is a peer too (remembered already if told before)
    await push(a, "a-1");
    await push(a, "a-2");
    await push(b, "b-1");
    await push(a, "a-3");
    assert.deepEqual(
      loggedFor("a-", "b-").map((l) => [l["version"], l["source"], l["level"]]),
      [
        ["a-1", "configure", 40],
        ["b-1", "configure", 40],
      ],
      "each peer told once; a new peer does not make the first one new again",
    );

    // Three addresses so far (own, a, b): fill the memory to 1024 exactly. Every connection stays open until
    // the end: on loopback Linux may hand a closed connection's port (in TIME_WAIT) to the next one, and a
    // reused address is not a new peer.
    const others = 1024 - 3;
    for (let i = 0; i < others; i += 32) {
      await Promise.all(
        Array.from({ length: Math.min(32, others - i) }, (_, k) => {
          const c = peer();
          open.push(c);
          return push(c, `p-${i + k}`);
        }),
      );
    }
    assert.equal(loggedFor("p-").length, others, "every new address is told");
    await push(a, "a-4");
    assert.equal(loggedFor("a-").length, 1, "1024 addresses: the first is still remembered");

    // The 1025th address finds the memory full: it is cleared, so the first peer is told again.
    const last = peer();
    open.push(last);
    await push(last, "last");
    await push(a, "a-5");
    assert.deepEqual(
      loggedFor("a-").map((l) => l["version"]),
      ["a-1", "a-5"],
    );
  } finally {
    for (const c of open) c.close();
  }
});

test("drain without a timeout of its own or in the deps: DRAINING carries an ETA counting down from 5 s; said once; leaves no timer (last: drain is final)", async () => {
  let release!: () => void;
  gates.set("held", new Promise<void>((r) => (release = r)));
  const s = await connectAsProxy(door.client);
  s.call.write(headersEvent("held", undefined));
  await until(() => seen.includes("held"), 3000, "being decided");
  const { started, live, restore } = trackTimers("src/adapters/zentinel/sessions.ts");
  try {
    const drained = door.zentinel.drain();
    await until(() => s.of("health").some((h) => h["state"] === 3), 3000, "DRAINING");
    const draining = s.of("health").find((h) => h["state"] === 3)!;
    const eta = Number(draining["drain_eta_ms"]);
    assert.ok(eta > 4000 && eta <= 5000, `drain_eta_ms ${eta}: sent as the drain began, 5 s ahead`);
    assert.equal(draining["message"], "draining: finishing in-flight events, then ending streams");
    assert.equal((draining["load"] as { in_flight: number }).in_flight, 1, "the held event");
    assert.equal(draining["unhealthy_reason"], undefined);
    // A second drain (a second SIGTERM) joins the first: not begun again, not said again.
    const again = door.zentinel.drain();
    release();
    assert.ok(await returns(Promise.all([drained, again]), 3000), "both drains returned once the event was answered");
    await until(s.ended, 3000, "ended by the drain");
    assert.deepEqual(
      s.responses().map((r) => [r["correlation_id"], r["decision"]]),
      [["held", "allow"]],
    );
    assert.deepEqual(
      door
        .lines()
        .filter((l) => l["msg"] === "Zentinel door draining")
        .map((l) => [l["level"], l["streams"], l["inFlight"]]),
      [[30, 1, 1]],
    );
    assert.equal(s.of("health").filter((h) => h["state"] === 3).length, 1, "DRAINING reported once");
    assert.equal(door.lines().filter((l) => String(l["msg"]).startsWith("Zentinel drain timeout")).length, 0);
    assert.equal(started(), 2, "each drain waited with a timer of its own");
    // ProcessEvent while draining: the same fail-closed 503, under the event's correlation_id ("" without metadata).
    const { metadata: _dropped, ...bare } = headersEvent("x", undefined).request_headers;
    for (const [ev, cid] of [
      [headersEvent("unary-late", undefined), "unary-late"],
      [{ request_headers: bare }, ""],
    ] as const) {
      const r = (await unary<Msg>(door.client, "ProcessEvent", ev))["response"] as Record<string, unknown>;
      assert.equal(r["correlation_id"], cid);
      assert.deepEqual([blockOf(r).status, JSON.parse(blockOf(r).body).reason], [503, "draining"]);
    }
    assert.ok(!seen.includes("unary-late"), "not decided");
    assert.equal(live(), 0, "and stopped it when the events were answered (a live one would hold the process 5 s)");
  } finally {
    restore();
  }
});

test("a drain whose events outlive its timeout ends the streams anyway and says how many it left unanswered", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let deciding = 0;
  const own = await startStubDoor({ decide: async () => (deciding++, await gate, ALLOW) });
  try {
    const s = await connectAsProxy(own.client);
    s.call.write(headersEvent("stuck", undefined));
    s.call.write(headersEvent("stuck-too", undefined));
    await until(() => deciding === 2, 3000, "both being decided");
    assert.ok(await returns(own.zentinel.drain(100), 3000), "drain(100) returned");
    await until(s.ended, 3000, "ended");
    const warned = own.lines().filter((l) => String(l["msg"]).startsWith("Zentinel drain timeout"));
    assert.deepEqual(
      warned.map((l) => [l["msg"], l["level"], l["inFlight"], l["timeoutMs"]]),
      [["Zentinel drain timeout; ending streams with events unanswered", 40, 2, 100]],
    );
    release();
  } finally {
    release();
    await own.stop();
  }
});

/** Whether `p` settles within `ms` (a drain that never returns fails the test instead of hanging the file). */
async function returns(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const out = await Promise.race([p.then(() => true), late]);
  clearTimeout(timer);
  return out;
}

/** Counts the timers `file` starts itself (the caller's frame) and how many of them are still pending. */
function trackTimers(file: string): { started: () => number; live: () => number; restore: () => void } {
  type Timer = ReturnType<typeof setTimeout>;
  const made = new Set<Timer>();
  const done = new Set<Timer>();
  const orig = { setTimeout, clearTimeout };
  globalThis.setTimeout = ((fn: (...x: unknown[]) => void, ms?: number, ...rest: unknown[]) => {
    if (!new Error().stack?.split("\n")[2]?.includes(file)) return orig.setTimeout(fn, ms, ...rest);
    const t: Timer = orig.setTimeout((...x: unknown[]) => (done.add(t), fn(...x)), ms, ...rest);
    made.add(t);
    return t;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((t: Timer) => (done.add(t), orig.clearTimeout(t))) as typeof clearTimeout;
  return {
    started: () => made.size,
    live: () => [...made].filter((t) => !done.has(t)).length,
    restore: () => Object.assign(globalThis, orig),
  };
}
