// A busy metrics port is a start-up failure like a busy gRPC port: one line naming the address, exit 1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { runCli } from "../helpers/cli.js";
import { freePort } from "../helpers/clients.js";

test("serve with its metrics port in use: one clear line on stderr, no stack trace, exit 1", async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
  const port = (taken.address() as { port: number }).port;
  try {
    for (const workers of ["1", "2"]) {
      const r = await runCli([
        "serve",
        "--workers",
        workers,
        "--grpc-address",
        `127.0.0.1:${await freePort()}`,
        "--metrics-address",
        `127.0.0.1:${port}`,
        "--spire-socket",
        "/nonexistent/agent.sock",
      ]);
      assert.equal(r.code, 1, `--workers ${workers}: ${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `--workers ${workers}: no stack trace, got:\n${r.stderr}`);
      assert.match(
        lines[0]!,
        new RegExp(`^spiffe-authz: metrics: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
      );
    }
  } finally {
    taken.close();
  }
});
