// Loaded into spiffe-authz's process by bench/envoy-e2e with BENCH_ENVOY_SPLIT=1 (`node --import`): what the
// authorizer itself saw of each Check, to split the latency Envoy's clients see into the authorizer's own share
// and the rest. Records, with wall-clock times so the bench can cut them by step:
//   s   one HTTP/2 stream: from the moment Node handed it to JavaScript (its HEADERS read) to its close (the
//       answer's last frame written), from node:http2's diagnostics channels;
//   gap the event loop late by more than 5 ms (a 1 ms interval timer that fired late: the thread was busy or not
//       scheduled), during which arriving requests could not even be read;
//   gc  a garbage-collection pause over 1 ms (kind as perf_hooks gives it: 1 minor, 4 major, 8 incremental).
// Written as JSON to BENCH_STREAM_SPLIT_OUT when the process exits. It costs the process a few µs per stream.
import dc from "node:diagnostics_channel";
import { writeFileSync } from "node:fs";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { setInterval } from "node:timers";

const out = process.env.BENCH_STREAM_SPLIT_OUT;
if (out) {
  const wall = Date.now() - performance.now();
  const opened = new WeakMap();
  const events = [];
  dc.subscribe("http2.server.stream.created", ({ stream }) => opened.set(stream, performance.now()));
  dc.subscribe("http2.server.stream.close", ({ stream }) => {
    const t = opened.get(stream);
    if (t !== undefined) events.push(["s", wall + t, performance.now() - t]);
  });
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 5) events.push(["gap", wall + last, now - last]);
    last = now;
  }, 1).unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if (e.duration > 1) events.push(["gc", wall + e.startTime, e.duration, e.detail?.kind]);
  }).observe({ entryTypes: ["gc"] });
  process.once("exit", () => writeFileSync(out, JSON.stringify(events)));
}
