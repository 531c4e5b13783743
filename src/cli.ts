// `spiffe-authz serve | check | demo`: argument dispatch only; each command lives in src/cli/.
import { runCommand } from "./cli/main.js";

process.exitCode = await runCommand(process.argv.slice(2));
// A cluster worker that failed to start still holds its IPC channel to the primary, and disconnecting would
// make node:cluster exit with 0; exit with the real code instead.
if (process.exitCode !== 0 && process.connected) process.exit();
