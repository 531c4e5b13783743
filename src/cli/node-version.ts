// The Node.js versions we support, as package.json `engines` says: our OpenTelemetry packages declare
// >= 22.15. Older ones (Node 20 is past end of life) still run the CLI, with one warning line.
export const MIN_NODE_VERSION = "22.15.0";

function parts(v: string): number[] {
  return v
    .replace(/^v/, "")
    .split(".")
    .map((n) => Number.parseInt(n, 10) || 0);
}

/** The warning for a Node.js older than MIN_NODE_VERSION, or undefined. */
export function nodeVersionWarning(version: string = process.versions.node): string | undefined {
  const have = parts(version);
  const need = parts(MIN_NODE_VERSION);
  for (let i = 0; i < need.length; i++) {
    const a = have[i] ?? 0;
    const b = need[i]!;
    if (a > b) return undefined;
    if (a < b) {
      return `spiffe-authz: warning: Node.js ${version.replace(/^v?/, "v")} is unsupported (past end of life or below engines >=${MIN_NODE_VERSION}); use Node.js 24 LTS (\`bash scripts/peers.sh node\` installs one)`;
    }
  }
  return undefined;
}
