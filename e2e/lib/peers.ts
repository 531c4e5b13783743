// Where the pinned real peers live (scripts/peers.sh puts them there). A missing peer is one line naming it and
// the command that installs it: the e2e tier never skips.
import { accessSync, constants, readFileSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export type PeerName = "envoy" | "spire" | "zentinel" | "node";

function pins(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(ROOT, "scripts/peers.env"), "utf8").split("\n")) {
    const m = /^([A-Z_]+)=(\S+)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export const PINS = pins();
export const PEERS_DIR = process.env["SPIFFE_AUTHZ_PEERS"] || join(homedir(), ".cache/spiffe-authz/peers");

export interface Peers {
  envoy: string;
  spireServer: string;
  spireAgent: string;
  zentinel: string;
}

const LABEL: Record<PeerName, string> = {
  envoy: `Envoy ${PINS["ENVOY_VERSION"]}`,
  spire: `SPIRE ${PINS["SPIRE_VERSION"]}`,
  zentinel: `Zentinel proxy ${PINS["ZENTINEL_VERSION"]}`,
  node: `Node.js ${PINS["NODE_VERSION"]}`,
};

export function peerPaths(): Peers & { node: string } {
  return {
    envoy: join(PEERS_DIR, `envoy-${PINS["ENVOY_VERSION"]}`, "bin/envoy"),
    spireServer: join(PEERS_DIR, `spire-${PINS["SPIRE_VERSION"]}`, "bin/spire-server"),
    spireAgent: join(PEERS_DIR, `spire-${PINS["SPIRE_VERSION"]}`, "bin/spire-agent"),
    zentinel: join(PEERS_DIR, `zentinel-${PINS["ZENTINEL_VERSION"]}`, "bin/zentinel"),
    node: join(PEERS_DIR, `node-${PINS["NODE_VERSION"]}`, "bin/node"),
  };
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The peers' paths (symlinks resolved), or one line naming the first missing peer. */
export function missingPeer(names: PeerName[]): string | undefined {
  const p = peerPaths();
  const files: Record<PeerName, string[]> = {
    envoy: [p.envoy],
    spire: [p.spireServer, p.spireAgent],
    zentinel: [p.zentinel],
    node: [p.node],
  };
  for (const n of names) {
    const absent = files[n].find((f) => !executable(f));
    if (absent)
      return `e2e: ${LABEL[n]} is not installed (${absent} missing): run \`npm run peers\` (or \`bash scripts/peers.sh ${n}\`)`;
  }
  return undefined;
}

/** The peers' paths; throws the one-line message when one of `names` is missing. */
export function requirePeers(names: PeerName[] = ["spire", "envoy"]): Peers {
  const missing = missingPeer(names);
  if (missing) throw new Error(missing);
  const p = peerPaths();
  return { envoy: realpathSync(p.envoy), spireServer: p.spireServer, spireAgent: p.spireAgent, zentinel: p.zentinel };
}
