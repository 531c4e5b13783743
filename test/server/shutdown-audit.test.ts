// Every decision a stopping server answered is in its audit log: `serve` drains the log (held audit batches, then
// pino's stream) before the process exits, so a SIGTERM right after a burst loses no line and reorders none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { spawnServe } from "../helpers/cli.js";
import { checkRequest, envoyClient, freePort, healthClient, unary, type CheckResponseObj } from "../helpers/clients.js";
import { sleep } from "../helpers/log-capture.js";

for (const workers of [[], ["--workers", "2"]]) {
  test(`SIGTERM right after a burst of Checks${workers.length ? " (serve --workers 2)" : ""}: each answered request has exactly one audit line`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "shutdown-audit-"));
    const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "a.sock")}` });
    const file = join(dir, "config.yaml");
    // No client certificates: every request is an allow (no_certificate), audited as the defaults say.
    writeFileSync(file, "tls:\n  require-mtls: false\n");
    const target = `127.0.0.1:${await freePort()}`;
    const s = spawnServe(["--config", file, "--grpc-address", target, "--spire-socket", spire.target, ...workers]);
    const client = envoyClient(target);
    try {
      const h = healthClient(target);
      for (let t0 = Date.now(); ; await sleep(50)) {
        const up = await unary<{ status: string }>(h, "Check", { service: "" }).then(
          (r) => r.status === "SERVING",
          () => false,
        );
        if (up) break;
        if (Date.now() - t0 > 30_000) throw new Error(`not serving:\n${s.logs()}`);
      }
      h.close();
      const ids: string[] = [];
      for (let round = 0; round < 10; round++) {
        const batch = Array.from({ length: 300 }, (_, i) => `burst-${round}-${i}`);
        const codes = await Promise.all(
          batch.map((id) =>
            unary<CheckResponseObj>(client, "Check", checkRequest({ headers: { "x-request-id": id } })).then(
              (r) => r.status.code,
            ),
          ),
        );
        assert.deepEqual(new Set(codes), new Set([0]));
        ids.push(...batch);
      }
      s.child.kill("SIGTERM");
      const exit = await s.exit;
      assert.equal(exit.code, 0, s.logs().slice(-2000));
      // 'exit' can come before the last of the pipe is read: read stdout to its end.
      const out = s.child.stdout!;
      if (!out.readableEnded) await new Promise((resolve) => out.once("end", resolve));
      const audited = s
        .logs()
        .split("\n")
        .filter((l) => l.includes('"type":"audit"'))
        .map((l) => (JSON.parse(l) as { request_id: string }).request_id);
      const seen = new Set(audited);
      assert.equal(
        audited.length,
        ids.length,
        `one audit line per answered request; missing: ${ids
          .filter((i) => !seen.has(i))
          .slice(0, 30)
          .join(" ")}`,
      );
      assert.deepEqual(new Set(audited), new Set(ids));
      if (workers.length === 0) assert.match(s.logs(), /"msg":"stopped"/);
    } finally {
      client.close();
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
      await spire.close();
    }
  });
}
