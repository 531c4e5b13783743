// Reads and checks answers while a closed-loop load generator (h2load) runs: h2load counts HTTP/2 status 200 as
// "succeeded", and a gRPC deny, or a gRPC error in trailers, is an HTTP 200 too. The sampler keeps one call in
// flight on each of its own connections to the same server for as long as the load runs, and judges every answer:
// the expected outcome and, for an allow, the expected identity among the CheckResponse's headers. Throughput
// figures are then scaled by the share of correct answers and a run with any wrong one misses
// (bench/lib/verdicts.ts: throughputVerdict).
import { CHECK_PATH, type Outcome } from "./grpc-wire.js";
import { RawH2Connection, requestTemplate } from "./h2-raw.js";
import { emptySample, type OutcomeSample } from "./verdicts.js";

export interface Expectation {
  outcome: Outcome;
  /** For an allow: a string (the SPIFFE ID) the CheckResponse must carry, e.g. in its identity header. */
  contains?: string;
}

/** Is this answer the expected one? Pure: the CheckResponse bytes are searched for `contains`. */
export function judge(outcome: Outcome, body: Buffer | undefined, want: Expectation): boolean {
  if (outcome !== want.outcome) return false;
  if (want.contains === undefined) return true;
  return body !== undefined && body.includes(Buffer.from(want.contains, "latin1"));
}

/** Samples answers from `target` on `conns` connections until `until` settles; returns the tally and its result. */
export async function sampleWhile<T>(
  target: string,
  frame: Uint8Array,
  want: Expectation,
  until: Promise<T>,
  conns = 1,
): Promise<{ result: T; sample: OutcomeSample }> {
  const sample = emptySample();
  let done = false;
  const finished = until.finally(() => (done = true));
  const template = requestTemplate(target, CHECK_PATH, frame);
  const loops = Array.from({ length: conns }, async () => {
    const c = await RawH2Connection.connect(target);
    try {
      while (!done) {
        const [o, body] = await new Promise<[Outcome, Buffer | undefined]>((resolve) =>
          c.call(template, (x, b) => resolve([x, b])),
        );
        sample.checked++;
        sample[o]++;
        if (judge(o, body, want)) sample.correct++;
        if (o === "error") await new Promise((r) => setTimeout(r, 5)); // a dead connection answers at once
      }
    } finally {
      c.close();
    }
  });
  const result = await finished;
  await Promise.all(loops);
  return { result, sample };
}
