// `spiffe-authz serve | check | demo`: argument dispatch only; each command lives in src/cli/.
import cluster from "node:cluster";
import { runCommand } from "./cli/main.js";
import { nodeVersionWarning } from "./cli/node-version.js";

// Once per process tree: `serve --workers N` workers stay quiet, and so do the CLIs a test run starts (the
// runner has said it once).
const warning = cluster.isPrimary && !process.env["SPIFFE_AUTHZ_NODE_WARNED"] ? nodeVersionWarning() : undefined;
if (warning) process.stderr.write(`${warning}\n`);

process.exitCode = await runCommand(process.argv.slice(2));
// What the command printed is written first: stdout into a pipe read slowly (`| less`, a CI log collector) can
// still hold tens of KB (a long `test` report), which process.exit would drop. Bounded, for a reader that is gone.
await Promise.all([drained(process.stdout), drained(process.stderr)]);
// A command that returned is done; nothing still pending may hold the process open: a cluster worker that failed
// to start still holds its IPC channel to the primary (and disconnecting would make node:cluster exit 0), and a
// stopped server may leave an OTLP export to a collector that never answers, already given up on and logged,
// that would otherwise keep it alive for the exporter's own timeout. Logs are flushed at exit (log.ts).
process.exit();

// The timer is what keeps the process alive meanwhile: Node does not count stdio handles as pending work, so
// without it an empty event loop would end the process (exit 13: top-level await unsettled) before the drain.
function drained(s: NodeJS.WriteStream): Promise<void> {
  if (s.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 5000);
    s.once("drain", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
