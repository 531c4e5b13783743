// Start-up: process spawn → grpc.health.v1 SERVING, for the built CLI (`npm run build` first), against the dev
// Workload API. 10 runs; goal ≤ 500 ms. Run: npx tsx bench/startup.ts
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { DevWorkloadApi } from "../src/trust/dev-workload-api/server.js";

const bin = fileURLToPath(new URL("../bin/spiffe-authz.js", import.meta.url));
if (!existsSync(fileURLToPath(new URL("../dist/cli.js", import.meta.url)))) {
  console.error("dist/ is missing: run `npm run build` first");
  process.exit(2);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** grpc.health.v1.Health/Check with an empty request, decoded by hand (status is field 1, SERVING = 1). */
function serving(client: grpc.Client): Promise<boolean> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      () => Buffer.alloc(0),
      (b: Buffer) => b,
      {},
      { deadline: Date.now() + 200 },
      (err, res) => resolve(!err && !!res && res.length >= 2 && res[0] === 0x08 && res[1] === 0x01),
    );
  });
}

const spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(mkdtempSync(join(tmpdir(), "start-")), "agent.sock")}` });
const samples: number[] = [];
for (let i = 0; i < 10; i++) {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, "serve", "--grpc-address", `127.0.0.1:${port}`, "--spire-socket", spire.target, "--metrics-address", "off"], { stdio: "ignore" });
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  while (!(await serving(client))) await new Promise((r) => setTimeout(r, 5));
  samples.push(performance.now() - t0);
  client.close();
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
}
await spire.close();
samples.sort((a, b) => a - b);
console.log(`start → SERVING over ${samples.length} runs: p50 ${samples[5]!.toFixed(0)} ms, max ${samples.at(-1)!.toFixed(0)} ms (goal ≤ 500 ms)`);
process.exit(0);
