// Every bench verdict can fail: each is fed fabricated numbers it must reject (a deny-everything server, a slower
// server, a negative cost, a cached run, a leaking soak, a MISS in the suite). No benchmark runs here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { judge, sampleWhile } from "../../bench/lib/outcome-sampler.js";
import {
  addedLatencyVerdict,
  atMost,
  coldVerdict,
  correctRps,
  soakVerdict,
  suiteOutcome,
  telemetryCostVerdict,
  throughputVerdict,
  type OutcomeSample,
} from "../../bench/lib/verdicts.js";

const ID = "spiffe://example.org/services/web";
const allAllow = (n: number): OutcomeSample => ({ checked: n, correct: n, allow: n, deny: 0, error: 0 });
const allDeny = (n: number): OutcomeSample => ({ checked: n, correct: 0, allow: 0, deny: n, error: 0 });

test("throughput: a deny-everything server at full h2load speed counts 0 correct answers and misses", () => {
  const v = throughputVerdict({
    rps: 14_000,
    sample: allDeny(2000),
    baselineRps: 14_000,
    baselineSample: allAllow(2000),
    goal: 0.9,
  });
  assert.equal(v.ok, false);
  assert.equal(v.ratio, 0);
  assert.match(v.why, /2000 of 2000 sampled answers were wrong/);
  assert.equal(correctRps(14_000, allDeny(10)), 0);
});

test("throughput: gRPC errors (HTTP 200 with a trailer status), a single wrong answer, or no sample at all miss", () => {
  const errors: OutcomeSample = { checked: 100, correct: 0, allow: 0, deny: 0, error: 100 };
  assert.equal(
    throughputVerdict({ rps: 9e3, sample: errors, baselineRps: 9e3, baselineSample: allAllow(100), goal: 0.9 }).ok,
    false,
  );
  const oneWrong: OutcomeSample = { checked: 100, correct: 99, allow: 99, deny: 1, error: 0 };
  assert.equal(
    throughputVerdict({ rps: 9e3, sample: oneWrong, baselineRps: 9e3, baselineSample: allAllow(100), goal: 0.9 }).ok,
    false,
  );
  assert.equal(
    throughputVerdict({ rps: 9e3, sample: allAllow(0), baselineRps: 9e3, baselineSample: allAllow(100), goal: 0.9 }).ok,
    false,
  );
  // A baseline that answers wrongly makes the ratio meaningless too.
  assert.equal(
    throughputVerdict({ rps: 9e3, sample: allAllow(100), baselineRps: 9e3, baselineSample: allDeny(100), goal: 0.9 })
      .ok,
    false,
  );
});

test("throughput: a slower server misses, a fast and correct one passes (warm ≥ 0.90, workers ≥ 1.6)", () => {
  assert.equal(
    throughputVerdict({
      rps: 7000,
      sample: allAllow(500),
      baselineRps: 14_000,
      baselineSample: allAllow(500),
      goal: 0.9,
    }).ok,
    false,
  );
  assert.equal(
    throughputVerdict({
      rps: 19_000,
      sample: allAllow(500),
      baselineRps: 14_000,
      baselineSample: allAllow(500),
      goal: 1.6,
    }).ok,
    false,
  );
  const ok = throughputVerdict({
    rps: 13_500,
    sample: allAllow(500),
    baselineRps: 14_000,
    baselineSample: allAllow(500),
    goal: 0.9,
  });
  assert.equal(ok.ok, true, ok.why);
});

test("the sampler's judge: a deny, an error, or an allow without the expected identity is not a correct answer", () => {
  const frame = (msg: number[]) => Buffer.from([0, 0, 0, 0, msg.length, ...msg]);
  const deny = frame([0x0a, 0x02, 0x08, 0x07]); // status { code: 7 }
  const allowWithId = frame([0x0a, 0x00, 0x1a, ID.length, ...Buffer.from(ID)]);
  const allowOther = frame([0x0a, 0x00, 0x1a, 5, ...Buffer.from("other")]);
  assert.equal(judge("deny", deny, { outcome: "allow", contains: ID }), false);
  assert.equal(judge("error", undefined, { outcome: "allow" }), false);
  assert.equal(judge("allow", allowOther, { outcome: "allow", contains: ID }), false);
  assert.equal(judge("allow", allowWithId, { outcome: "allow", contains: ID }), true);
  assert.equal(judge("deny", deny, { outcome: "deny" }), true);
});

/** A gRPC server over node:http2 that answers every Check with the given CheckResponse bytes, HTTP 200, grpc-status 0. */
async function fixedServer(message: number[]): Promise<{ server: Http2Server; target: string }> {
  const server = createServer();
  server.on("stream", (stream) => {
    stream.on("data", () => undefined);
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.from([0, 0, 0, 0, message.length, ...message]));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, target: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

test("a real deny-everything server (HTTP 200, grpc-status 0, CheckResponse code 7): the sampler finds no correct answer", async () => {
  const { server, target } = await fixedServer([0x0a, 0x02, 0x08, 0x07]);
  try {
    const { sample } = await sampleWhile(
      target,
      Buffer.from([0, 0, 0, 0, 0]),
      { outcome: "allow", contains: ID },
      new Promise((r) => setTimeout(r, 200)),
      2,
    );
    assert.ok(sample.checked > 0);
    assert.equal(sample.correct, 0);
    assert.equal(sample.deny, sample.checked);
    const v = throughputVerdict({ rps: 15_000, sample, baselineRps: 15_000, baselineSample: allAllow(100), goal: 0.9 });
    assert.equal(v.ok, false);
  } finally {
    server.close();
  }
});

test("telemetry cost: a negative cost beyond the noise band misses (the old PASS at −12.5 %)", () => {
  const v = telemetryCostVerdict([16_000, 16_100, 15_900], [14_200, 14_300, 14_100]);
  assert.ok(v.value < -10);
  assert.equal(v.ok, false);
  assert.match(v.why, /negative beyond the noise band/);
});

test("telemetry cost: above 5 %, noise wider than the goal, or one round only, misses; a small cost within noise passes", () => {
  assert.equal(telemetryCostVerdict([9000, 9050, 8950], [10_000, 10_000, 10_000]).ok, false); // 10 %
  const noisy = telemetryCostVerdict([16_800, 17_100], [15_100, 18_600]); // −11 % and +8 %
  assert.equal(noisy.ok, false);
  assert.match(noisy.why, /wider than the goal/);
  assert.equal(telemetryCostVerdict([9800], [10_000]).ok, false);
  const ok = telemetryCostVerdict([9800, 9750, 9850], [10_000, 10_000, 10_000]);
  assert.equal(ok.ok, true, ok.why);
  assert.equal(telemetryCostVerdict([10_050, 9980, 10_010], [10_000, 10_000, 10_000]).ok, true); // ≈ 0, within the 1 % floor
});

test("added latency: different offered rates, a slower server, a negative figure beyond noise, or bad answers miss", () => {
  const base = { authzRate: 5000, baselineRate: 5000, bad: 0, goalMs: 2 };
  // The old comparison: one run after the other at different rates (a "PASS" at −87 ms).
  assert.equal(
    addedLatencyVerdict({ ...base, authzP99Ms: [95.5], baselineP99Ms: [173.3], baselineRate: 8667 }).ok,
    false,
  );
  assert.equal(addedLatencyVerdict({ ...base, authzP99Ms: [6.1, 5.9, 6.0], baselineP99Ms: [1.0, 1.1, 0.9] }).ok, false); // +5 ms
  const negative = addedLatencyVerdict({ ...base, authzP99Ms: [1.0, 1.1, 0.9], baselineP99Ms: [9.0, 9.2, 8.8] });
  assert.equal(negative.ok, false);
  assert.match(negative.why, /negative/);
  assert.equal(addedLatencyVerdict({ ...base, authzP99Ms: [1.2, 1.3], baselineP99Ms: [1.0, 1.1], bad: 3 }).ok, false);
  const noisy = addedLatencyVerdict({ ...base, authzP99Ms: [40, 2], baselineP99Ms: [2, 40] });
  assert.equal(noisy.ok, false);
  const ok = addedLatencyVerdict({ ...base, authzP99Ms: [1.4, 1.5, 1.3], baselineP99Ms: [1.0, 1.1, 0.9] });
  assert.equal(ok.ok, true, ok.why);
});

test("absolute bounds: over the goal, or with wrong answers, miss", () => {
  assert.equal(atMost(95.5, 2, "ms").ok, false);
  assert.equal(atMost(1.5, 2, "ms", 1).ok, false);
  assert.equal(atMost(NaN, 2, "ms").ok, false);
  assert.equal(atMost(1.5, 2, "ms").ok, true);
});

test("cold: a run with any warm cache misses whatever its ratio; a truly cold 0.37 misses ≥ 0.60", () => {
  const cached = coldVerdict(0.61, 0.6, ["verified-CA key cache"]);
  assert.equal(cached.ok, false);
  assert.match(cached.why, /verified-CA key cache warm/);
  assert.equal(coldVerdict(0.37, 0.6, []).ok, false);
  assert.equal(coldVerdict(0.65, 0.6, []).ok, true);
});

test("soak: 0 mismatches and 0 errors are not enough; a leaking RSS or a too-large RSS misses", () => {
  const clean = {
    sent: 1e6,
    completed: 1e6,
    mismatches: 0,
    errors: 0,
    unanswered: 0,
    rotationsSettled: true,
    rssTrendMbPerMin: 0.2,
    rssMaxMb: 120,
    maxRefusedMs: 8,
  };
  assert.equal(soakVerdict(clean).ok, true);
  const leak = soakVerdict({ ...clean, rssTrendMbPerMin: 3.3 });
  assert.equal(leak.ok, false);
  assert.match(leak.why, /RSS trend 3\.30 MB\/min/);
  assert.equal(soakVerdict({ ...clean, rssMaxMb: 151 }).ok, false);
  assert.equal(soakVerdict({ ...clean, rssTrendMbPerMin: NaN }).ok, false);
  assert.equal(soakVerdict({ ...clean, mismatches: 1 }).ok, false);
  assert.equal(soakVerdict({ ...clean, maxRefusedMs: 150 }).ok, false);
});

test("the suite exits non-zero on any MISS or ERROR and says so in its last line", () => {
  const miss = suiteOutcome(["PASS", "MISS", "info"]);
  assert.equal(miss.exitCode, 1);
  assert.match(miss.line, /^bench: FAIL \(1 PASS, 1 MISS, 0 ERROR\): exit 1$/);
  assert.equal(suiteOutcome(["PASS", "ERROR"]).exitCode, 1);
  assert.equal(suiteOutcome(["skipped", "info"]).exitCode, 1);
  const pass = suiteOutcome(["PASS", "PASS", "info"]);
  assert.equal(pass.exitCode, 0);
  assert.match(pass.line, /^bench: PASS/);
});
