// Run by aggregate.test.ts: a node:cluster primary with two workers, each recording different telemetry;
// the primary serves the merged /metrics and prints its URL as one JSON line.
import cluster from "node:cluster";
import {
  clusterMetricsSource,
  createTelemetry,
  serveSnapshotsToPrimary,
  startMetricsServer,
} from "../../src/telemetry/index.js";

const NOW = 1_000_000_000;

if (cluster.isPrimary) {
  let ready = 0;
  const start = async () => {
    const own = createTelemetry({ enabled: true, otlp: false });
    const server = await startMetricsServer({
      host: "127.0.0.1",
      port: 0,
      source: clusterMetricsSource({ own: () => own.snapshot(), timeoutMs: 5000 }),
    });
    process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  };
  for (let i = 0; i < 2; i++) {
    const w = cluster.fork({ WORKER_INDEX: String(i) });
    w.on("message", (m: unknown) => {
      if (m === "ready" && ++ready === 2) void start();
    });
  }
  process.on("SIGTERM", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const idx = Number(process.env["WORKER_INDEX"]);
  const t = createTelemetry({ enabled: true, otlp: false, now: () => NOW });
  for (let i = 0; i <= idx; i++) t.recordDecision("envoy", { allow: true, reason: "ok" }, 0.0001); // 1 + 2
  t.recordDecision("zentinel", { allow: false, reason: "expired" }, 0.003); // 1 + 1
  t.setWorkloadApiConnected(idx === 0); // worst: 0
  t.observeBundles(() => [{ trustDomain: "example.org", updatedAt: new Date(NOW - (idx + 1) * 10_000) }]); // worst: 20 s
  t.observeCache(() => ({ hits: 5, misses: 1 })); // 10, 2
  serveSnapshotsToPrimary(t);
  process.send?.("ready");
}
