// Cost of telemetry on the decision hot path: ns per recordDecision (a decision-tally increment read by an
// observable counter, plus one histogram record) with telemetry on, with OTLP push configured as well (a
// second reader, so a second histogram storage), and with the no-op; plus the synchronous-Counter designs
// we measured against.
// Usage: npx tsx bench/telemetry-record.ts [--seconds N] [--markdown] [--json]
import { cpus } from "node:os";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import type { Reason, Transport } from "../src/engine/contract.js";
import { createTelemetry, DURATION_BUCKETS_SECONDS, METRIC, type Telemetry } from "../src/telemetry/index.js";
import { PullMetricReader } from "../src/telemetry/pull-reader.js";

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf("--seconds") + 1]) || 2;
const markdown = args.includes("--markdown");

// A realistic mix: mostly allowed, a few denials of several kinds, both doors.
const OUTCOMES: { transport: Transport; decision: { allow: boolean; reason: Reason }; seconds: number }[] = [];
for (let i = 0; i < 64; i++) {
  const transport: Transport = i % 4 === 0 ? "zentinel" : "envoy";
  const deny = i % 8 === 7;
  const reason: Reason = deny
    ? ((["not_allowed", "expired", "untrusted", "no_certificate"] as const)[(i >> 3) % 4] ?? "not_allowed")
    : "ok";
  OUTCOMES.push({ transport, decision: { allow: !deny, reason }, seconds: 0.00002 + (i % 7) * 0.00003 });
}

interface Result {
  name: string;
  nsPerOp: number;
}

function run(name: string, fn: (i: number) => void): Result {
  for (let i = 0; i < 200_000; i++) fn(i); // JIT warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 10_000; i++) fn(n + i);
    n += 10_000;
    now = process.hrtime.bigint();
  }
  return { name, nsPerOp: Number(now - start) / n };
}

function viaTelemetry(t: Telemetry): (i: number) => void {
  return (i) => {
    const o = OUTCOMES[i & 63] as (typeof OUTCOMES)[number];
    t.recordDecision(o.transport, o.decision, o.seconds);
  };
}

async function main(): Promise<void> {
  const results: Result[] = [];

  const off = createTelemetry({ enabled: false });
  results.push(run("telemetry off (no-op)", viaTelemetry(off)));

  const on = createTelemetry({ enabled: true, otlp: false, processMetrics: false });
  results.push(run("telemetry on: pull reader (/metrics)", viaTelemetry(on)));
  const counted = (await on.decisionCounts()).reduce((a, c) => a + c.value, 0);
  await on.shutdown();

  // OTLP configured but never due during the run: measures the second reader's storage, not the network.
  const both = createTelemetry({
    enabled: true,
    processMetrics: false,
    otlp: {
      protocol: "http/json",
      url: "http://127.0.0.1:9/v1/metrics",
      intervalMillis: 3_600_000,
      timeoutMillis: 1000,
    },
  });
  results.push(run("telemetry on: pull reader + OTLP reader", viaTelemetry(both)));
  await both.shutdown().catch(() => {}); // the final push has nowhere to go

  // The alternatives we did not take: a synchronous Counter (the SDK hashes the attribute set on every
  // add), with attribute objects built once, and with attribute objects allocated per call.
  const provider = new MeterProvider({ readers: [new PullMetricReader()] });
  const meter = provider.getMeter("bench");
  const counter = meter.createCounter(METRIC.decisions);
  const histogram = meter.createHistogram(METRIC.decisionDuration, {
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  const prebound = OUTCOMES.map((o) => ({
    counter: Object.freeze({
      decision: o.decision.allow ? "allow" : "deny",
      reason: o.decision.reason,
      transport: o.transport,
    }),
    histogram: Object.freeze({ transport: o.transport }),
  }));
  results.push(
    run("alternative: sync Counter, prebound attributes", (i) => {
      const o = OUTCOMES[i & 63] as (typeof OUTCOMES)[number];
      const a = prebound[i & 63] as (typeof prebound)[number];
      counter.add(1, a.counter);
      histogram.record(o.seconds, a.histogram);
    }),
  );
  results.push(
    run("naive: sync Counter, attributes allocated per call", (i) => {
      const o = OUTCOMES[i & 63] as (typeof OUTCOMES)[number];
      counter.add(1, {
        decision: o.decision.allow ? "allow" : "deny",
        reason: o.decision.reason,
        transport: o.transport,
      });
      histogram.record(o.seconds, { transport: o.transport });
    }),
  );
  await provider.shutdown();

  const cpu = cpus()[0]?.model ?? "unknown CPU";
  if (markdown) {
    console.log(`Node ${process.version}, ${cpus().length} CPUs (${cpu}), ${seconds} s per row\n`);
    console.log("| variant | ns/decision | decisions/s (one core, telemetry only) |");
    console.log("|---|---:|---:|");
    for (const r of results)
      console.log(`| ${r.name} | ${r.nsPerOp.toFixed(1)} | ${Math.round(1e9 / r.nsPerOp).toLocaleString("en-US")} |`);
  } else {
    for (const r of results) console.log(`${r.name.padEnd(44)} ${r.nsPerOp.toFixed(1).padStart(8)} ns/op`);
  }
  if (counted <= 0) throw new Error("bench: the enabled telemetry counted nothing");
  // --json: one machine-readable line last (bench/run.ts reads it).
  if (args.includes("--json")) console.log(JSON.stringify({ bench: "telemetry-record", seconds, results }));
}

await main();
