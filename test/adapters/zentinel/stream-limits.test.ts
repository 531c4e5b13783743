// zentinel.handshake-timeout-ms and zentinel.max-streams through the real server, seen from the client and
// from spiffe_authz_zentinel_streams.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connectAsProxy, headersEvent, openStream, type Msg } from "../../helpers/zentinel.js";
import { WEB, openControl, startServerDoor } from "../../helpers/zentinel-server.js";
import { unary } from "../../helpers/clients.js";
import { sleep, until } from "../../helpers/log-capture.js";

const DEADLINE_EXCEEDED = 4;
const RESOURCE_EXHAUSTED = 8;

test("a ProcessStream without a handshake within handshake-timeout-ms is ended with DEADLINE_EXCEEDED and released; one that handshook stays", async () => {
  const d = await startServerDoor({ allowlist: { exact: [WEB] }, zentinel: { "handshake-timeout-ms": 200 } });
  try {
    const early = await connectAsProxy(d.client);
    const silent = openStream(d.client);
    await until(silent.headersReceived, 3000, "response headers");
    assert.equal(await d.streamsGauge(), 2);

    const t0 = Date.now();
    await until(() => silent.status() !== undefined, 3000, "the silent stream ended");
    const waited = Date.now() - t0;
    assert.equal(silent.status()!.code, DEADLINE_EXCEEDED);
    assert.match(silent.status()!.details, /no HandshakeRequest within 200 ms \(zentinel\.handshake-timeout-ms\)/);
    assert.ok(waited < 1500, `ended after ${waited} ms`);
    assert.equal(silent.got.length, 0);
    assert.equal(await d.streamsGauge(), 1, "its session is gone");
    assert.deepEqual(
      d.logged("Zentinel stream ended: no handshake").map((l) => [l["level"], l["timeoutMs"]]),
      [[40, 200]],
    );

    // Past the timeout, the stream that did its handshake still decides.
    await sleep(300);
    assert.equal(early.status(), undefined);
    early.call.write(headersEvent("later", d.certs.web, { route: "" }));
    await until(() => early.responses().length === 1, 3000, "answer");
    assert.equal(early.responses()[0]!["decision"], "allow");
    early.call.end();
    await until(() => early.status() !== undefined, 3000, "closed");
    assert.equal(early.status()!.code, 0);
  } finally {
    await d.close();
  }
});

test("max-streams counts ProcessStreams and ControlStreams; beyond it a new one is refused at once with RESOURCE_EXHAUSTED", async () => {
  const d = await startServerDoor({ allowlist: { exact: [WEB] }, zentinel: { "max-streams": 3 } });
  try {
    assert.equal(await d.streamsGauge(), 0);
    const a = await connectAsProxy(d.client);
    const b = await connectAsProxy(d.client);
    const ctl = openControl(d.client);
    await until(ctl.headersReceived, 3000, "control stream admitted");
    assert.equal(await d.streamsGauge(), 3);

    const over = openStream(d.client);
    await until(() => over.status() !== undefined, 1000, "refused at once");
    assert.equal(over.status()!.code, RESOURCE_EXHAUSTED);
    assert.match(over.status()!.details, /at most 3 Zentinel streams at once \(zentinel\.max-streams\)/);
    assert.equal(over.got.length, 0);
    const overCtl = openControl(d.client);
    await until(() => overCtl.status() !== undefined, 1000, "control refused at once");
    assert.equal(overCtl.status()!.code, RESOURCE_EXHAUSTED);
    assert.equal(await d.streamsGauge(), 3, "refused streams hold nothing");
    assert.equal(
      d.logged("Zentinel stream refused: zentinel.max-streams reached").length,
      1,
      "said once, not per refused stream",
    );
    const refusedLine = d.logged("Zentinel stream refused: zentinel.max-streams reached")[0]!;
    assert.deepEqual([refusedLine["level"], refusedLine["streams"], refusedLine["maxStreams"]], [40, 3, 3]);
    assert.match(String(refusedLine["peer"]), /^127\.0\.0\.1:\d+$/);

    // ProcessEvent is no stream: it still works at the cap.
    const res = await unary<Msg>(d.client, "ProcessEvent", headersEvent("unary", d.certs.web, { route: "" }));
    assert.equal((res["response"] as Record<string, unknown>)["decision"], "allow");

    // A stream that goes frees its slot.
    a.call.end();
    await until(() => a.status() !== undefined, 3000, "a closed");
    assert.equal(await d.streamsGauge(), 2);
    const again = await connectAsProxy(d.client);
    assert.equal(await d.streamsGauge(), 3);
    for (const s of [b, again]) s.call.end();
    ctl.call.end();
  } finally {
    await d.close();
  }
});

test("a refused stream leaves the admitted ones on the same connection alone", async () => {
  const d = await startServerDoor({ allowlist: { exact: [WEB] }, zentinel: { "max-streams": 1 } });
  try {
    const a = await connectAsProxy(d.client);
    const over = openStream(d.client);
    await until(() => over.status() !== undefined, 1000, "refused");
    assert.equal(over.status()!.code, RESOURCE_EXHAUSTED);
    a.call.write(headersEvent("still", d.certs.web, { route: "" }));
    await until(() => a.responses().length === 1, 3000, "the admitted stream still decides");
    a.call.end();
  } finally {
    await d.close();
  }
});
