// `check`: what would the server decide for this certificate? Exit 0 allow, 1 deny, 2 usage/config error.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { UsageError } from "./errors.js";
import { loadConfigFile } from "../config/load.js";
import { CheckInputError, checkOffline } from "../engine/offline.js";

export const CHECK_USAGE = `Usage: spiffe-authz check --config FILE --cert LEAF.pem [options]

  --config FILE        YAML or JSON config (the allowlist, routes and failure options decide)
  --cert FILE          client certificate (PEM; may contain the intermediates after the leaf)
  --chain FILE         intermediates (PEM)
  --bundle TD=FILE     trust bundle for trust domain TD (PEM, DER or SPIFFE bundle JSON); repeatable;
                       the config's trust-bundles entries are read too
  --route NAME         route name, as Envoy context_extensions["route"] would give it
  --method M           request method for route matching (default GET)
  --path P             request path for route matching (default /)
  --explain            add an "explain" object to the JSON: the route chosen and why, and the allowlist
                       entry that allowed the identity (or what was checked), or why verification failed
  -h, --help           this help

Prints the decision as JSON. Exit code: 0 allow, 1 deny, 2 usage or config error. Under enforcement
dry-run the server lets every request pass; the exit code is then what enforcement would decide ("dryRun").
`;

function readFile(path: string, what: string, encoding?: "utf8"): string | Buffer {
  try {
    return encoding ? readFileSync(path, encoding) : readFileSync(path);
  } catch (err) {
    throw new UsageError(`${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export async function checkCommand(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: "string" },
        cert: { type: "string" },
        chain: { type: "string" },
        bundle: { type: "string", multiple: true },
        route: { type: "string" },
        method: { type: "string" },
        path: { type: "string" },
        explain: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0] ?? "bad arguments");
  }
  if (v.help) {
    process.stdout.write(CHECK_USAGE);
    return 0;
  }
  if (!v.config) throw new UsageError("check: --config is required");
  if (!v.cert) throw new UsageError("check: --cert is required");
  const config = loadConfigFile(v.config);
  const bundles = new Map<string, string | Uint8Array>();
  // Where each trust domain's bundle came from, for messages about it.
  const origin = new Map<string, string>();
  config["trust-bundles"].forEach((b, i) => {
    bundles.set(b["trust-domain"], readFile(b.path, `config: trust-bundles[${i}].path`));
    origin.set(b["trust-domain"], `config trust-bundles[${i}].path ${b.path}`);
  });
  for (const spec of v.bundle ?? []) {
    const eq = spec.indexOf("=");
    if (eq <= 0 || eq === spec.length - 1) throw new UsageError(`--bundle: expected TD=FILE, got "${spec}"`);
    bundles.set(spec.slice(0, eq), readFile(spec.slice(eq + 1), "--bundle"));
    origin.set(spec.slice(0, eq), `--bundle ${spec}`);
  }
  try {
    const decision = await checkOffline({
      config,
      certPem: readFile(v.cert, "--cert", "utf8") as string,
      ...(v.chain ? { chainPem: readFile(v.chain, "--chain", "utf8") as string } : {}),
      bundles,
      ...(v.route ? { route: v.route } : {}),
      method: v.method ?? "GET",
      path: v.path ?? "/",
      explain: v.explain === true,
    });
    process.stdout.write(`${JSON.stringify(decision, null, 2)}\n`);
    if (decision.reason === "unknown_trust_domain") {
      const td = decision.detail.match(/trust domain "?([^\s"]+)"?/)?.[1] ?? "TD";
      process.stderr.write(
        `spiffe-authz: hint: no bundle for ${td}: pass --bundle ${td}=FILE or list it under trust-bundles in the config\n`,
      );
    }
    // A policy watched in dry-run is checked for what it will do once enforced.
    return (decision.dryRun ?? decision).allow ? 0 : 1;
  } catch (err) {
    if (err instanceof CheckInputError) {
      const td = /^bundle for (\S+): /.exec(err.message)?.[1];
      throw new UsageError(td && origin.has(td) ? `${origin.get(td)}: ${err.message}` : err.message);
    }
    throw err;
  }
}
