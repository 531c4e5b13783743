// Rotation latency: the dev Workload API rotates its CA and drops the old one → time until the trust store's
// snapshot holds only the new root (what the engine then verifies against). 20 rotations; goal ≤ 100 ms.
// Run: npx tsx bench/rotation.ts [--json]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../src/trust/dev-workload-api/server.js";
import { WorkloadApiWatcher } from "../src/trust/workload-api/watcher.js";
import { TrustStore } from "../src/trust/store.js";
import { silentLogger } from "../src/log.js";

const api = await DevWorkloadApi.start({
  trustDomain: "example.org",
  address: `unix://${join(mkdtempSync(join(tmpdir(), "rot-")), "agent.sock")}`,
});
const store = new TrustStore("fail_closed", 3600);
const watcher = new WorkloadApiWatcher({ target: api.target, store, log: silentLogger(), resyncIntervalMs: 300_000 });
watcher.start();
if (!(await watcher.waitForFirstBundle(5000))) throw new Error("no first bundle");

const onlyNewRoot = () => {
  const b = store.current().bundles.x509Bundle("example.org");
  return b !== undefined && b.authorities.length === 1 && b.authorities[0]!.equals(api.ca.certificate);
};
const samples: number[] = [];
for (let i = 0; i < 20; i++) {
  await api.rotateCa(); // key generation is not part of what we measure: the clock starts after it
  const t0 = performance.now();
  api.dropOldAuthorities();
  while (!onlyNewRoot()) await new Promise((r) => setImmediate(r));
  samples.push(performance.now() - t0);
}
watcher.close();
store.close();
await api.close();
samples.sort((a, b) => a - b);
const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))]!.toFixed(2);
console.log(
  `rotation visible in the trust store over ${samples.length} rotations: p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${samples.at(-1)!.toFixed(2)} ms (goal ≤ 100 ms)`,
);
// --json: one machine-readable line last (bench/run.ts reads it).
if (process.argv.includes("--json"))
  console.log(
    JSON.stringify({
      bench: "rotation",
      rotations: samples.length,
      p50Ms: Number(pct(0.5)),
      p95Ms: Number(pct(0.95)),
      maxMs: samples.at(-1)!,
    }),
  );
process.exit(0);
