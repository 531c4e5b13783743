// ProcessStream sessions (src/adapters/zentinel/stream.ts) at their edges, through a real GrpcHost: what a stream
// does with messages the proxy does not send in order (an empty one, a second handshake, events after a refusal,
// an event without metadata), when its first HealthStatus goes out, how drain hears that the last answer went
// (or that the proxy went away), and MetricsReport under a slow or failing source. Reports are 60 s apart on the
// main door, so "nothing else was sent" is exact.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  BASE_CONFIG,
  blockOf,
  connectAsProxy,
  headersEvent,
  openStream,
  startDoor,
  zentinelClient,
  PROXY_HANDSHAKE,
  type Door,
} from "../../helpers/zentinel.js";
import type { Client } from "../../helpers/clients.js";
import { sleep, until } from "../../helpers/log-capture.js";

let door: Door;
let c: Client;
before(async () => {
  door = await startDoor({ healthIntervalMs: 60_000, metricsIntervalMs: 60_000 });
  c = zentinelClient(door.tcp);
});
after(async () => {
  c.close();
  await door.close();
});

/** Resolves true if `p` settles within `ms`, false otherwise. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const out = await Promise.race([p.then(() => true), late]);
  clearTimeout(timer);
  return out;
}

test("the first HealthStatus goes out right after the HandshakeResponse, not one report interval later", async () => {
  const s = await connectAsProxy(c);
  await until(() => s.got.length >= 2, 2000, "a HealthStatus with the handshake (the interval is 60 s)");
  assert.equal(s.got[1]!.message, "health");
  assert.equal((s.got[1]!["health"] as { state: number }).state, 1);
  s.call.end();
  await until(s.ended, 3000, "closed");
});

test("an empty first message is refused by name; what follows a refused first message is never decided", async () => {
  const empty = openStream(c);
  empty.call.write({});
  await until(empty.ended, 3000, "ended");
  const hs = empty.got[0]!["handshake"] as Record<string, unknown>;
  assert.equal(hs["success"], false);
  assert.equal(hs["error"], "expected a HandshakeRequest as the first message, got an empty message");

  // The proxy pipelines: events (and even a handshake) may already be on the wire when the refusal goes out.
  const seen = door.seen.length;
  const s = openStream(c);
  s.call.write(headersEvent("first", door.certs.web));
  s.call.write(PROXY_HANDSHAKE);
  for (let i = 0; i < 5; i++) s.call.write(headersEvent(`after-${i}`, door.certs.web));
  await until(s.ended, 3000, "ended");
  await sleep(100);
  assert.equal(door.seen.length, seen, "no event of a refused stream reaches the engine");
  assert.deepEqual(
    s.got.map((m) => m.message),
    ["handshake"],
    "the refusal is all it gets",
  );
  assert.equal(s.status()?.code, 0);
});

test("on an open stream: an empty message and an accepted Configure get no answer at all, and the stream still decides", async () => {
  const s = await connectAsProxy(c);
  await until(() => s.got.length === 2, 2000, "handshake and first health");
  s.call.write({});
  s.call.write({ configure: { config_json: JSON.stringify(BASE_CONFIG), config_version: "same" } });
  s.call.write(headersEvent("still", door.certs.web));
  await until(() => s.responses().length === 1, 3000, "answer");
  await sleep(50);
  assert.deepEqual(
    s.got.map((m) => m.message),
    ["handshake", "health", "response"],
  );
  assert.deepEqual(door.applied.at(-1), ["configure", "same"]);
  assert.equal(s.responses()[0]!["decision"], "allow");
  s.call.end();
  await until(s.ended, 3000, "closed");
});

test("a second handshake on an open stream is answered as the first: config applied or reported, refusal without ending", async () => {
  const s = await connectAsProxy(c);
  await until(() => s.got.length === 2, 2000, "handshake and first health");
  const answers = () => s.of("handshake");

  // Accepted, with a config: answered success, then applied (the intruder is now allowed); no new HealthStatus.
  s.call.write({
    handshake: {
      ...PROXY_HANDSHAKE.handshake,
      config_json: JSON.stringify({ allowlist: { exact: ["spiffe://example.org/intruder"] } }),
    },
  });
  s.call.write(headersEvent("applied", door.certs.intruder));
  await until(() => s.responses().length === 1, 3000, "answer");
  assert.equal(answers().length, 2);
  assert.equal(answers()[1]!["success"], true);
  assert.equal((answers()[1]!["capabilities"] as { name: string }).name, "spiffe-authz");
  assert.deepEqual(door.applied.at(-1), ["handshake", undefined]);
  assert.equal(s.responses()[0]!["decision"], "allow");

  // Accepted with a bad config: success, then the config_error; the config in force stays.
  s.call.write({
    handshake: { ...PROXY_HANDSHAKE.handshake, config_json: JSON.stringify({ allowlist: { exact: "x" } }) },
  });
  await until(() => s.of("config_update").length === 1, 3000, "config error");
  assert.equal(answers()[2]!["success"], true);
  assert.equal((s.of("config_update")[0]!["config_error"] as { field: string }).field, "allowlist.exact");

  // Refused (unsupported versions): success=false naming them, its config not even read, the stream stays open.
  const applied = door.applied.length;
  s.call.write({
    handshake: { supported_versions: [1], proxy_id: "p", config_json: JSON.stringify(BASE_CONFIG) },
  });
  s.call.write(headersEvent("open", door.certs.intruder));
  await until(() => s.responses().length === 2, 3000, "answer after the refused handshake");
  assert.equal(answers()[3]!["success"], false);
  assert.match(String(answers()[3]!["error"]), /unsupported protocol versions \[1\]/);
  assert.equal(door.applied.length, applied);
  assert.equal(s.responses()[1]!["decision"], "allow", "the intruder-allowing config is still in force");
  assert.equal(s.status(), undefined);
  assert.deepEqual(
    s.got.map((m) => m.message),
    ["handshake", "health", "handshake", "response", "handshake", "config_update", "handshake", "response"],
  );

  s.call.write({ configure: { config_json: JSON.stringify(BASE_CONFIG) } });
  s.call.end();
  await until(s.ended, 3000, "closed");
});

test('request_headers without metadata is decided and answered under correlation_id ""; the stream lives on', async () => {
  const s = await connectAsProxy(c);
  const ev = headersEvent("x", undefined);
  const { metadata: _dropped, ...bare } = ev.request_headers;
  s.call.write({ request_headers: bare });
  s.call.write(headersEvent("next", undefined));
  await until(() => s.responses().length === 2, 3000, "answers");
  const r = s.responses()[0]!;
  assert.equal(r["correlation_id"], "");
  assert.equal(blockOf(r).status, 401);
  assert.equal(s.responses()[1]!["correlation_id"], "next");
  s.call.end();
  await until(s.ended, 3000, "closed");
});

test("request_complete naming an event still in flight does not cancel it", async () => {
  const s = await connectAsProxy(c);
  const release = door.hold("rc");
  s.call.write(headersEvent("rc", door.certs.web));
  await until(() => door.seen.some((r) => r.correlationId === "rc"), 3000, "being decided");
  s.call.write({ request_complete: { correlation_id: "rc", status_code: 200, duration_ms: "3" } });
  s.call.write({ ping: { sequence: "1" } });
  await until(() => s.of("pong").length === 1, 3000, "request_complete read");
  release();
  await until(() => s.responses().length === 1, 3000, "answer");
  assert.equal(s.responses()[0]!["correlation_id"], "rc");
  assert.equal(s.responses()[0]!["decision"], "allow");
  s.call.end();
  await until(s.ended, 3000, "closed");
});

test("drain ends as soon as the last answer is out, not at its timeout; a stream still at its handshake hears only the refusal", async () => {
  const d = await startDoor({ healthIntervalMs: 60_000, metricsIntervalMs: 60_000 });
  const dc = zentinelClient(d.tcp);
  try {
    const s = await connectAsProxy(dc);
    const late = openStream(dc);
    await until(late.headersReceived, 3000, "response headers");
    const release = d.hold("held");
    s.call.write(headersEvent("held", d.certs.web));
    await until(() => d.seen.length === 1, 3000, "being decided");
    const drained = d.zentinel.drain(30_000);
    assert.equal(await within(drained, 200), false, "drain waits while an answer is owed");
    // DRAINING goes to open streams only: the first message a proxy reads must be the HandshakeResponse.
    assert.equal(s.of("health").at(-1)?.["state"], 3);
    late.call.write(PROXY_HANDSHAKE);
    await until(late.ended, 3000, "refused");
    assert.deepEqual(
      late.got.map((m) => m.message),
      ["handshake"],
    );
    assert.match(String((late.got[0]!["handshake"] as Record<string, unknown>)["error"]), /draining/);
    // A new event is refused at once, under its own correlation_id ("" when it came without metadata).
    const { metadata: _dropped, ...bare } = headersEvent("x", d.certs.web).request_headers;
    s.call.write({ request_headers: bare });
    await until(() => s.responses().length === 1, 3000, "the draining answer");
    assert.equal(s.responses()[0]!["correlation_id"], "");
    assert.equal(blockOf(s.responses()[0]!).status, 503);
    release();
    assert.ok(await within(drained, 5000), "drain returned once the answer was sent (timeout 30 s)");
    await until(s.ended, 3000, "ended");
    assert.deepEqual(
      s.responses().map((r) => [r["correlation_id"], r["decision"]]),
      [
        ["", "block"],
        ["held", "allow"],
      ],
    );
  } finally {
    dc.close();
    await d.close();
  }
});

test("a proxy that cancels its stream frees its slot at once, and a drain waiting on its events returns", async () => {
  const d = await startDoor({ healthIntervalMs: 60_000, metricsIntervalMs: 60_000 });
  const dc = zentinelClient(d.tcp);
  try {
    const kept = await connectAsProxy(dc);
    const gone = await connectAsProxy(dc);
    assert.equal(d.zentinel.streams(), 2);
    const releaseGone = d.hold("gone");
    gone.call.write(headersEvent("gone", d.certs.web));
    await until(() => d.seen.length === 1, 3000, "being decided");
    gone.call.cancel();
    await until(
      () => d.zentinel.streams() === 1,
      3000,
      "the cancelled stream's session released, its event still held",
    );

    const orphaned = await connectAsProxy(dc);
    const releaseOrphan = d.hold("orphan");
    orphaned.call.write(headersEvent("orphan", d.certs.web));
    await until(() => d.seen.length === 2, 3000, "being decided");
    const drained = d.zentinel.drain(30_000);
    assert.equal(await within(drained, 200), false, "drain waits while an answer is owed");
    orphaned.call.cancel();
    assert.ok(await within(drained, 5000), "drain returned: nobody is owed an answer any more (timeout 30 s)");
    assert.equal(d.zentinel.streams(), 0, "drain released every session itself, not when grpc-js reports the close");
    await until(kept.ended, 3000, "the other stream ended by the drain");
    assert.equal(kept.status()?.code, 0);
    assert.equal(d.zentinel.streams(), 0);
    releaseGone();
    releaseOrphan();
    await sleep(50);
    assert.equal(gone.responses().length + orphaned.responses().length, 0);
  } finally {
    dc.close();
    await d.close();
  }
});
