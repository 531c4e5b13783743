import { packageVersion } from "../version.js";
import { UsageError } from "./errors.js";
import { ConfigError } from "../config/errors.js";
import { MetricsListenError, TelemetryConfigError } from "../telemetry/index.js";
import { ListenError } from "../grpc/errors.js";

const USAGE = `Usage: spiffe-authz <command> [options]

Commands:
  serve    run the gRPC authorization server (Envoy ext_authz + Zentinel agent v2)
  check    decide one certificate offline against a config: exit 0 allow, 1 deny, 2 usage
  test     run policy test files against their configs: exit 0 all pass, 1 any fail, 2 a bad file
  demo     embedded dev Workload API + server + a few real decisions

Run 'spiffe-authz <command> --help' for a command's options.
`;

/** Runs a command and returns its exit code; usage and config errors are one line on stderr, exit 2. */
export async function runCommand(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "serve":
        return await (await import("./serve.js")).serveCommand(rest);
      case "check":
        return await (await import("./check.js")).checkCommand(rest);
      case "test":
        return await (await import("./test.js")).testCommand(rest);
      case "demo":
        return await (await import("./demo.js")).demoCommand(rest);
      case "--version":
      case "-v":
        process.stdout.write(`${packageVersion()}\n`);
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}" (expected serve, check, test or demo)`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`spiffe-authz: ${err.message}\n`);
      return 2;
    }
    if (err instanceof TelemetryConfigError) {
      process.stderr.write(`spiffe-authz: ${err.message}\n`);
      return 2;
    }
    if (err instanceof ListenError || err instanceof MetricsListenError) {
      process.stderr.write(`spiffe-authz: ${err.message}\n`);
      return 1;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`spiffe-authz: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
