// What `demo --keep` leaves a newcomer to try by hand: the certificates the demo used, written to a directory it
// names, and the commands that use them against the still-running server (check offline, curl /metrics).
import { existsSync, lstatSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { stringify } from "yaml";

export interface DemoFiles {
  dir: string;
  bundle: string;
  cert: string;
  key: string;
  config: string;
}

const NAMES = ["bundle.pem", "web.pem", "web.key", "config.yaml"] as const;

/**
 * Why `--out DIR` cannot take the demo's files, or undefined when it can: it must be a directory (or not exist yet)
 * holding none of them. Checked before the demo runs; the files are still created exclusively (no overwrite, no
 * symlink followed), so the check is for a clear message, not the guard.
 */
export function demoOutProblem(out: string): string | undefined {
  if (out.trim() === "") return "--out: expected a directory";
  const dir = resolve(out);
  if (existsSync(dir) && !lstatSync(dir).isDirectory()) return `--out: ${dir} exists and is not a directory`;
  const taken = NAMES.filter((n) => existsSync(join(dir, n)) || isLink(join(dir, n)));
  return taken.length > 0 ? `--out: ${dir} already holds ${taken.join(", ")}; choose another directory` : undefined;
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Writes the trust bundle (the dev Workload API's roots for example.org), an X509-SVID (leaf and intermediates)
 * with its private key, and the demo's policy as a config file, into `out` (created if missing) or a new
 * temporary directory. Each file is created new ("wx": an existing file or a symlink in its place is an error,
 * never overwritten or followed), the key readable by its owner only.
 */
export function writeDemoFiles(
  out: string | undefined,
  svid: { chainPem: string; keyPem: string; bundlePem: string },
  config: object,
): DemoFiles {
  const dir = out !== undefined ? resolve(out) : mkdtempSync(join(tmpdir(), "spiffe-authz-demo-files-"));
  mkdirSync(dir, { recursive: true });
  const files: DemoFiles = {
    dir,
    bundle: join(dir, "bundle.pem"),
    cert: join(dir, "web.pem"),
    key: join(dir, "web.key"),
    config: join(dir, "config.yaml"),
  };
  writeFileSync(files.bundle, svid.bundlePem, { flag: "wx" });
  writeFileSync(files.cert, svid.chainPem, { flag: "wx" });
  writeFileSync(files.key, svid.keyPem, { flag: "wx", mode: 0o600 });
  writeFileSync(files.config, stringify(config), { flag: "wx" });
  return files;
}

/** How to run this CLI again as it was run: the bundle through node, the sources (npm run demo) through tsx. */
function selfCommand(): string {
  const entry = process.argv[1] ?? "bin/spiffe-authz.js";
  return entry.endsWith(".ts") ? `npx tsx ${relative(process.cwd(), entry)}` : `node ${entry}`;
}

/** The lines `demo --keep` prints while it keeps serving. */
export function keepInstructions(o: { grpc: string; metricsUrl: string | undefined; files: DemoFiles }): string {
  const f = o.files;
  return [
    "",
    "Server kept running (Ctrl-C to stop).",
    `  metrics      ${o.metricsUrl ? `${o.metricsUrl}/metrics` : "off"}`,
    `  files in     ${f.dir} (kept after the demo stops)`,
    "    bundle.pem   example.org's trust bundle, as the dev Workload API serves it now (after the rotation)",
    "    web.pem      an X509-SVID for spiffe://example.org/services/web (leaf, then intermediates); web.key its key",
    "    config.yaml  the demo's policy",
    "Try:",
    ...(o.metricsUrl ? [`  curl -s ${o.metricsUrl}/metrics | grep '^spiffe_authz_decisions_total'`] : []),
    `  ${selfCommand()} check --config ${f.config} --cert ${f.cert} --bundle example.org=${f.bundle}`,
    `  grpcurl -plaintext ${o.grpc} list`,
    `  grpcurl -plaintext -d '{"attributes":{"request":{"http":{"path":"/"}}}}' ${o.grpc} envoy.service.auth.v3.Authorization/Check`,
  ].join("\n");
}
