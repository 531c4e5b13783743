// Child-process entry: an open-loop gRPC load generator over node:http2. Requests go out on a fixed schedule
// (rate R: request i is due at t0 + i/R) whatever the server does, and latency runs from the *scheduled* time
// to the end of the answer, so a stalled server cannot hide its stall by slowing the generator down
// (no coordinated omission). The generator's own lateness (actual send − scheduled) is reported as sendLag.
// Between due requests it spins on setImmediate when the next one is less than ~1.5 ms away (Node timers have
// 1 ms resolution, which would add up to a millisecond of lag to every request): the generator then keeps one
// core busy, the price of sub-millisecond accuracy. `spin: false` uses timers only.
// Calls go over bench/lib/h2-raw.ts (a minimal HTTP/2 client: ~10× cheaper per call than node:http2's).
// Each body carries an expected outcome (allow / deny / any); an answer that contradicts the expectation
// current at send time is a mismatch. Driven over IPC by OpenLoopDriver in ./processes.ts.
import { performance } from "node:perf_hooks";
import { CHECK_PATH, type Outcome } from "./grpc-wire.js";
import { RawH2Connection, requestTemplate, type RequestTemplate } from "./h2-raw.js";
import { Histogram, type LatencySummary } from "./stats.js";

export type Expect = "allow" | "deny" | "any";

export interface BodySpec {
  id: string;
  /** A gRPC frame, base64. */
  frame: string;
  expect: Expect;
  /** Relative share of requests (integer ≥ 1). */
  weight: number;
}

export interface DriverStats {
  seconds: number;
  sent: number;
  completed: number;
  allow: number;
  deny: number;
  /** gRPC errors and resets (a gRPC error status arrives as an answer without a CheckResponse). */
  errors: number;
  /** Calls still unanswered 10 s after the end of the run. */
  unanswered: number;
  /** Answers contradicting the expectation at send time: allowed where deny was expected + the reverse. */
  mismatches: number;
  allowedExpectedDeny: number;
  deniedExpectedAllow: number;
  mismatchById: Record<string, number>;
  achievedRps: number;
  latency: LatencySummary;
  sendLag: LatencySummary;
  maxOutstanding: number;
}

export type DriverRequest =
  | { type: "connect"; seq: number; target: string; conns: number }
  | { type: "bodies"; seq: number; bodies: BodySpec[] }
  | { type: "expect"; seq: number; id: string; expect: Expect }
  | { type: "run"; seq: number; rate: number; seconds: number; spin?: boolean }
  | { type: "window"; seq: number }
  | { type: "exit"; seq: number };

interface Body {
  id: string;
  frame: Buffer;
  template: RequestTemplate;
  expect: Expect;
  /** Calls in flight, by the expectation they were sent with. */
  inFlight: Record<Expect, number>;
}

class Tally {
  readonly latency = new Histogram();
  readonly sendLag = new Histogram();
  sent = 0;
  completed = 0;
  allow = 0;
  deny = 0;
  errors = 0;
  mismatches = 0;
  allowedExpectedDeny = 0;
  deniedExpectedAllow = 0;
  mismatchById: Record<string, number> = {};
  maxOutstanding = 0;
  readonly start = performance.now();

  stats(): DriverStats {
    const seconds = (performance.now() - this.start) / 1000;
    return {
      seconds,
      sent: this.sent,
      completed: this.completed,
      allow: this.allow,
      deny: this.deny,
      errors: this.errors,
      unanswered: 0,
      mismatches: this.mismatches,
      allowedExpectedDeny: this.allowedExpectedDeny,
      deniedExpectedAllow: this.deniedExpectedAllow,
      mismatchById: this.mismatchById,
      achievedRps: this.completed / seconds,
      latency: this.latency.summary(),
      sendLag: this.sendLag.summary(),
      maxOutstanding: this.maxOutstanding,
    };
  }
}

let sessions: RawH2Connection[] = [];
let target = "";
let bodies: Body[] = [];
let cycle: Body[] = [];
let window = new Tally();
let outstanding = 0;

function setBodies(specs: BodySpec[]): void {
  bodies = specs.map((b) => {
    const frame = Buffer.from(b.frame, "base64");
    const prev = bodies.find((old) => old.id === b.id); // calls in flight keep counting against the same body
    return {
      id: b.id,
      frame,
      template: requestTemplate(target, CHECK_PATH, frame),
      expect: b.expect,
      inFlight: prev?.inFlight ?? { allow: 0, deny: 0, any: 0 },
    };
  });
  // Interleave by weight so that every stretch of the schedule carries the same mix.
  const weights = specs.map((b) => Math.max(1, Math.round(b.weight)));
  const total = weights.reduce((a, w) => a + w, 0);
  const credit = weights.map(() => 0);
  cycle = [];
  for (let n = 0; n < total; n++) {
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      credit[i]! += weights[i]!;
      if (credit[i]! > credit[best]!) best = i;
    }
    credit[best]! -= total;
    cycle.push(bodies[best]!);
  }
}

async function run(rate: number, seconds: number, spin: boolean): Promise<DriverStats> {
  const tally = new Tally();
  const interval = 1000 / rate;
  const t0 = performance.now() + 2;
  const end = t0 + seconds * 1000;
  let i = 0;
  let conn = 0;
  const send = (scheduled: number) => {
    const body = cycle[i % cycle.length]!;
    const expect = body.expect; // the expectation at send time decides what is a mismatch
    const sentAt = performance.now();
    const session = sessions[conn++ % sessions.length]!;
    for (const t of [tally, window]) {
      t.sent++;
      t.sendLag.record((sentAt - scheduled) * 1000);
    }
    outstanding++;
    body.inFlight[expect]++;
    if (outstanding > tally.maxOutstanding) tally.maxOutstanding = outstanding;
    if (outstanding > window.maxOutstanding) window.maxOutstanding = outstanding;
    session.call(body.template, (o: Outcome) => {
      outstanding--;
      body.inFlight[expect]--;
      const us = (performance.now() - scheduled) * 1000;
      const mismatch = (expect === "allow" && o === "deny") || (expect === "deny" && o === "allow");
      for (const t of [tally, window]) {
        t.completed++;
        t.latency.record(us);
        if (o === "allow") t.allow++;
        else if (o === "deny") t.deny++;
        else t.errors++;
        if (mismatch) {
          t.mismatches++;
          if (o === "allow") t.allowedExpectedDeny++;
          else t.deniedExpectedAllow++;
          t.mismatchById[body.id] = (t.mismatchById[body.id] ?? 0) + 1;
        }
      }
    });
  };
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (t0 + i * interval <= now) {
        for (const s of sessions) s.cork(); // one write per connection for a burst of due requests
        for (let due = t0 + i * interval; due <= now && due < end; due = t0 + i * interval) {
          send(due);
          i++;
        }
        for (const s of sessions) s.uncork();
      }
      const next = t0 + i * interval;
      if (next >= end) return resolve();
      const wait = next - performance.now();
      if (spin && wait < 1.5) setImmediate(tick);
      else setTimeout(tick, Math.max(0, spin ? wait - 1 : wait));
    };
    setTimeout(tick, 2);
  });
  // Wait for stragglers (bounded); anything still open is reported as unanswered.
  const deadline = performance.now() + 10_000;
  while (outstanding > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const stats = tally.stats();
  stats.seconds = seconds;
  stats.achievedRps = stats.completed / seconds;
  stats.unanswered = outstanding;
  return stats;
}

async function reconnect(t: string, n: number): Promise<void> {
  for (const s of sessions) s.close();
  target = t;
  sessions = await Promise.all(Array.from({ length: n }, () => RawH2Connection.connect(target)));
  for (const b of bodies) b.template = requestTemplate(target, CHECK_PATH, b.frame);
}

process.on("message", (m: DriverRequest) => {
  const reply = (extra: Record<string, unknown> = {}) => process.send?.({ type: "reply", seq: m.seq, ...extra });
  switch (m.type) {
    case "connect":
      void reconnect(m.target, m.conns).then(
        () => reply(),
        (err: unknown) => reply({ error: String(err) }),
      );
      break;
    case "bodies":
      setBodies(m.bodies);
      reply();
      break;
    case "expect": {
      // Answered once no call of that body sent under another expectation is still in flight, so that the
      // caller can change what the server trusts right after, without judging older calls by the new rule.
      const b = bodies.find((x) => x.id === m.id);
      if (!b) {
        reply({ error: `no body ${m.id}` });
        break;
      }
      b.expect = m.expect;
      const deadline = performance.now() + 300_000; // only a hung server takes this long
      const settled = () => (Object.keys(b.inFlight) as Expect[]).every((e) => e === m.expect || b.inFlight[e] === 0);
      const wait = () =>
        settled() || performance.now() > deadline ? reply({ settled: settled() }) : setTimeout(wait, 1);
      wait();
      break;
    }
    case "run":
      void run(m.rate, m.seconds, m.spin ?? true).then((stats) => reply({ stats }));
      break;
    case "window": {
      const stats = window.stats();
      window = new Tally();
      reply({ stats });
      break;
    }
    case "exit":
      for (const s of sessions) s.close();
      reply();
      setTimeout(() => process.exit(0), 10);
      break;
  }
});
process.on("disconnect", () => process.exit(0));
process.send?.({ type: "ready", pid: process.pid });
