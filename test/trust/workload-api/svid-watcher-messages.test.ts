// What the SvidWatcher makes of each FetchX509SVID message, against a real gRPC server in this test that sends
// exactly the messages given (the dev Workload API only sends well-formed ones): a repeat of the same SVID, broken
// DER or key bytes, a message without chain or key, the stream ended with OK; and the security header on the call.
import { test } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { DevCertificateAuthority } from "../../../src/dev-ca/index.js";
import { SvidWatcher, type OwnSvid } from "../../../src/trust/workload-api/svid-watcher.js";
import { capturedLogger, sleep, until } from "../../helpers/log-capture.js";
import { scriptedWorkloadApi } from "../../helpers/workload-api-script.js";

async function issued(path: string) {
  const ca = await DevCertificateAuthority.createRoot("example.org");
  const svid = await ca.issueX509Svid(path);
  const key = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", svid.keys.privateKey));
  const x509Svid = new Uint8Array(Buffer.concat(svid.chain));
  return { spiffeId: svid.id, x509Svid, x509SvidKey: key, pem: svid.chainPem };
}

test(
  "messages: a repeat is not news, broken bytes are logged and ignored, a message without chain or key quietly ignored",
  { timeout: 15_000 },
  async () => {
    const agent = await scriptedWorkloadApi();
    const { log, lines } = capturedLogger();
    const watcher = new SvidWatcher(agent.target, log);
    const seen: OwnSvid[] = [];
    watcher.onSvid((s) => seen.push(s));
    try {
      watcher.start();
      await until(() => agent.calls.FetchX509SVID.length === 1, 2000, "FetchX509SVID call");
      assert.deepEqual(
        agent.calls.FetchX509SVID[0]!.metadata.get("workload.spiffe.io"),
        ["true"],
        "the security header SPIRE requires",
      );
      const a = await issued("/a");
      agent.send("FetchX509SVID", { svids: [a] });
      assert.equal(await watcher.waitForFirst(2000), true);
      assert.equal(watcher.current?.certChainPem, a.pem);
      assert.equal(watcher.current?.spiffeId, "spiffe://example.org/a");

      // The same SVID again (an agent re-sending its state): the listeners are not called again, nothing logged.
      const quiet = lines().length;
      agent.send("FetchX509SVID", { svids: [a] });
      const b = await issued("/b");
      // Each ignored below, then b: when b has arrived, everything before it was read (one stream, in order).
      agent.send("FetchX509SVID", { svids: [] });
      agent.send("FetchX509SVID", { svids: [{ ...a, x509Svid: new Uint8Array() }] });
      agent.send("FetchX509SVID", { svids: [{ ...a, x509SvidKey: new Uint8Array() }] });
      agent.send("FetchX509SVID", { svids: [b] });
      await until(() => seen.length === 2, 2000, "b");
      assert.deepEqual(
        seen.map((s) => s.spiffeId),
        ["spiffe://example.org/a", "spiffe://example.org/b"],
      );
      assert.deepEqual(
        lines()
          .slice(quiet)
          .map((l) => [l["level"], l["msg"], l["spiffeId"]]),
        [[30, "own X509-SVID from the Workload API", "spiffe://example.org/b"]],
        "no error for a message without an SVID in it",
      );

      // Broken DER, then a broken key: each an error line, and b keeps serving.
      const before = lines().length;
      agent.send("FetchX509SVID", { svids: [{ ...a, x509Svid: new Uint8Array([0x30, 0x03, 0x02, 0x01]) }] });
      agent.send("FetchX509SVID", { svids: [{ ...a, x509SvidKey: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]) }] });
      await until(() => lines().length >= before + 2, 2000, "two error lines");
      const errors = lines().slice(before);
      assert.deepEqual(
        errors.map((l) => [l["level"], l["msg"]]),
        [
          [50, "malformed X509-SVID from the Workload API; keeping the previous one"],
          [50, "malformed X509-SVID from the Workload API; keeping the previous one"],
        ],
      );
      assert.ok(errors.every((l) => typeof l["err"] === "string" && String(l["err"]).length > 0));
      assert.equal(watcher.current?.certChainPem, b.pem);
      assert.equal(seen.length, 2);
    } finally {
      watcher.close();
      agent.close();
    }
  },
);

test(
  "the agent ends the stream with OK: a warning (UNAVAILABLE, as the bundle watcher has it), then a new stream",
  { timeout: 15_000 },
  async () => {
    const agent = await scriptedWorkloadApi();
    const { log, lines } = capturedLogger();
    const watcher = new SvidWatcher(agent.target, log);
    try {
      watcher.start();
      await until(() => agent.calls.FetchX509SVID.length === 1, 2000, "call");
      agent.send("FetchX509SVID", { svids: [await issued("/a")] });
      assert.equal(await watcher.waitForFirst(2000), true);
      agent.calls.FetchX509SVID[0]!.end();
      await until(() => agent.calls.FetchX509SVID.length === 2, 2000, "a new stream after the end");
      const ended = lines().filter((l) => l["details"] === "stream ended by the agent");
      assert.equal(ended.length, 1);
      assert.equal(ended[0]!["level"], 40);
      assert.equal(ended[0]!["msg"], "own X509-SVID stream lost; the current SVID keeps serving");
      assert.equal(ended[0]!["code"], grpc.status.UNAVAILABLE);
      assert.ok(Number(ended[0]!["retryInMs"]) >= 0 && Number(ended[0]!["retryInMs"]) <= 200);
      await sleep(50);
      assert.equal(agent.calls.FetchX509SVID.length, 2, "one retry per loss");
    } finally {
      watcher.close();
      agent.close();
    }
  },
);
