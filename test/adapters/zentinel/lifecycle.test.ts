// Half-close, drain and shutdown. Each test gets its own door: drain and shutdown are final. Each door is closed
// in finally: one left open by a failed assertion keeps the file running (a kill would read as a timeout).
import { test } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import {
  blockOf,
  connectAsProxy,
  headersEvent,
  openStream,
  startDoor,
  zentinelClient,
  PROXY_HANDSHAKE,
} from "../../helpers/zentinel.js";
import { sleep, until } from "../../helpers/log-capture.js";

test("a proxy that half-closes still gets the answers to its in-flight events, then an OK end", async () => {
  const door = await startDoor();
  const c = zentinelClient(door.tcp);
  try {
    const s = await connectAsProxy(c);
    const release = door.hold("late");
    s.call.write(headersEvent("late", door.certs.web));
    s.call.end();
    await until(() => door.seen.length === 1, 3000, "being decided");
    await sleep(50);
    assert.equal(s.ended(), false, "not ended while an answer is owed");
    release();
    await until(s.ended, 2000, "stream ended");
    assert.deepEqual(
      s.responses().map((r) => [r["correlation_id"], r["decision"]]),
      [["late", "allow"]],
    );
    assert.equal(s.status()?.code, 0);
  } finally {
    c.close();
    await door.close();
  }
});

test("drain: DRAINING on every stream, in-flight answered, new events get 503, new handshakes refused, then OK ends", async () => {
  const door = await startDoor();
  const c = zentinelClient(door.tcp);
  try {
    const a = await connectAsProxy(c);
    const b = await connectAsProxy(zentinelClient(door.unix));
    const releaseA = door.hold("inflight-a");
    const releaseB = door.hold("inflight-b");
    a.call.write(headersEvent("inflight-a", door.certs.web));
    b.call.write(headersEvent("inflight-b", door.certs.intruder));
    await until(() => door.seen.length === 2, 3000, "both being decided");

    const drained = door.zentinel.drain();
    for (const s of [a, b]) await until(() => s.of("health").some((h) => h["state"] === 3), 3000, "DRAINING reported");
    const draining = a.of("health").find((h) => h["state"] === 3)!;
    // Sent as the drain began: the door's drain timeout (deps.drainTimeoutMs 2000 here) is still ahead.
    const eta = Number(draining["drain_eta_ms"]);
    assert.ok(eta > 1000 && eta <= 2000, `drain_eta_ms ${eta}`);
    assert.equal(draining["recoverable"], false);

    // New work while draining: an immediate fail-closed answer, no engine call.
    a.call.write(headersEvent("new", door.certs.web));
    await until(() => a.responses().some((r) => r["correlation_id"] === "new"), 3000, "503 for new event");
    const fresh = a.responses().find((r) => r["correlation_id"] === "new")!;
    assert.equal(blockOf(fresh).status, 503);
    assert.deepEqual(JSON.parse(blockOf(fresh).body), {
      reason: "draining",
      detail: "authorization agent is shutting down; retry",
    });
    assert.equal(door.seen.length, 2);

    const again = openStream(c);
    again.call.write(PROXY_HANDSHAKE);
    await until(again.ended, 3000, "refused");
    assert.equal((again.got[0]!["handshake"] as Record<string, unknown>)["success"], false);
    assert.match(String((again.got[0]!["handshake"] as Record<string, unknown>)["error"]), /draining/);

    await sleep(50);
    assert.ok(!a.ended() && !b.ended(), "streams stay open while answers are owed");
    releaseA();
    releaseB();
    await drained;
    for (const s of [a, b]) await until(s.ended, 3000, "stream ended");
    assert.deepEqual(
      a
        .responses()
        .map((r) => r["correlation_id"])
        .sort(),
      ["inflight-a", "new"],
    );
    assert.equal(a.responses().find((r) => r["correlation_id"] === "inflight-a")!["decision"], "allow");
    assert.equal(blockOf(b.responses()[0]!).status, 403);
    assert.equal(a.status()?.code, 0);
    assert.equal(b.status()?.code, 0);
  } finally {
    c.close();
    await door.close();
  }
});

test("drain with an event that outlives the timeout ends the streams anyway", async () => {
  const door = await startDoor();
  const c = zentinelClient(door.tcp);
  try {
    const s = await connectAsProxy(c);
    const release = door.hold("stuck");
    s.call.write(headersEvent("stuck", door.certs.web));
    await until(() => door.seen.length === 1, 3000, "being decided");
    const t0 = Date.now();
    // Bounded: a drain that never returns fails here, not at the runner's timeout.
    const drained = door.zentinel.drain(100).then(() => true);
    assert.ok(await Promise.race([drained, sleep(1500).then(() => false)]), "drain(100) returned within 1.5 s");
    await until(s.ended, 3000, "ended");
    assert.ok(Date.now() - t0 < 1500, "drain(100) does not wait for the held event");
    release();
    await sleep(50);
    assert.equal(s.responses().length, 0, "the late answer is dropped, not sent on a closed stream");
    assert.equal(s.status()?.code, 0);
  } finally {
    c.close();
    await door.close();
  }
});

test("shutdown: every stream (process and control) ends at once with OK; pending answers are dropped", async () => {
  const door = await startDoor();
  const c = zentinelClient(door.tcp);
  try {
    const s = await connectAsProxy(c);
    const control = (c["ControlStream"] as () => grpc.ClientDuplexStream<unknown, unknown>).call(c);
    let controlStatus: number | undefined;
    control.on("status", (st: { code: number }) => (controlStatus = st.code));
    control.on("data", () => {});
    control.on("error", () => {});
    await sleep(50);
    const release = door.hold("pending");
    s.call.write(headersEvent("pending", door.certs.web));
    await until(() => door.seen.length === 1, 3000, "being decided");
    door.zentinel.shutdown();
    await until(() => s.ended() && controlStatus !== undefined, 3000, "ended");
    assert.equal(s.status()?.code, 0);
    assert.equal(controlStatus, 0);
    // Shut down is final, as after a drain: a new stream's handshake is refused.
    const late = openStream(c);
    late.call.write(PROXY_HANDSHAKE);
    await until(late.ended, 3000, "refused");
    assert.match(String((late.got[0]!["handshake"] as Record<string, unknown>)["error"]), /draining/);
    release();
    await sleep(50);
    assert.equal(s.responses().length, 0);
  } finally {
    c.close();
    await door.close();
  }
});
