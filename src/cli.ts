// `spiffe-authz serve | check | demo`: argument dispatch only; each command lives in src/cli/.
import { runCommand } from "./cli/main.js";

process.exitCode = await runCommand(process.argv.slice(2));
