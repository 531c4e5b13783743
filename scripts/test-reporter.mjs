// `npm test`'s reporter: the failures, each with its error, and the summary; nothing for tests that pass.
// Node's own spec reporter does the formatting: it is fed only the failed tests and the run's summary lines.
// The full per-test output: `npm test -- --verbose` (or TEST_VERBOSE=1).
import { Readable } from "node:stream";
import { spec } from "node:test/reporters";

async function* failuresAndSummary(source) {
  for await (const event of source) {
    if (event.type === "test:fail") {
      // A suite (or parent test) fails because a child did: the child is reported, the parent adds nothing.
      if (event.data.details?.error?.failureType === "subtestsFailed") continue;
      yield event;
    } else if (event.type === "test:diagnostic" && event.data.nesting === 0 && event.data.file === undefined) {
      yield event; // the run's summary (tests, pass, fail, cancelled, skipped, duration_ms), not a test's own notes
    }
  }
}

export default async function* reporter(source) {
  for await (const chunk of Readable.from(failuresAndSummary(source)).pipe(new spec())) yield chunk;
}
