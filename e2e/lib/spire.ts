// A real SPIRE 1.13 server and agent from deploy/spire/*.conf: sqlite datastore, join_token node attestation,
// the unix workload attestor telling workloads apart by the executable they run (unix:path).
import { copyFileSync, linkSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../test/helpers/clients.js";
import type { Peers } from "./peers.js";
import { exec, until, type Proc, type Scene } from "./proc.js";
import { deployFile, setHcl } from "./templates.js";

export const TRUST_DOMAIN = "example.org";
export const AGENT_ID = `spiffe://${TRUST_DOMAIN}/agent`;
export const id = (name: string) => `spiffe://${TRUST_DOMAIN}/${name}`;

export interface X509Svid {
  certPem: string;
  keyPem: string;
  bundlePem: string;
  /** Full chain as the agent wrote it (leaf first). */
  chainPem: string;
}

export class Spire {
  server!: Proc;
  agent!: Proc;
  readonly serverSocket: string;
  readonly agentSocket: string;
  private serverPort = 0;
  private agentConf = "";

  constructor(
    private readonly scene: Scene,
    private readonly peers: Peers,
  ) {
    // unix socket paths must stay short (108 bytes): the scene directory is under /tmp.
    this.serverSocket = scene.path("server.sock");
    this.agentSocket = scene.path("agent.sock");
  }

  /** Server, then an agent that joins it with a fresh join token. */
  async start(): Promise<void> {
    await this.startServer();
    await this.joinAgent();
  }

  /** The server alone: its API socket answers `spire-server` commands. */
  async startServer(): Promise<void> {
    this.serverPort = await freePort();
    const dataDir = this.scene.path("server-data");
    mkdirSync(dataDir, { recursive: true });
    let conf = deployFile("spire/server.conf");
    conf = setHcl(conf, "bind_address", "127.0.0.1");
    conf = setHcl(conf, "bind_port", String(this.serverPort));
    conf = setHcl(conf, "socket_path", this.serverSocket);
    conf = setHcl(conf, "data_dir", dataDir);
    conf = setHcl(conf, "connection_string", join(dataDir, "datastore.sqlite3"));
    writeFileSync(this.scene.path("server.conf"), conf);
    this.server = this.scene.spawn("spire-server", this.peers.spireServer, [
      "run",
      "-config",
      this.scene.path("server.conf"),
    ]);
    await until("spire-server healthy", () => this.serverCli(["healthcheck"]).then(() => true), 60_000, 200);
  }

  private async joinAgent(): Promise<void> {
    const agentData = this.scene.path("agent-data");
    mkdirSync(agentData, { recursive: true });
    let conf = deployFile("spire/agent.conf");
    conf = setHcl(conf, "data_dir", agentData);
    conf = setHcl(conf, "directory", agentData);
    conf = setHcl(conf, "server_address", "127.0.0.1");
    conf = setHcl(conf, "server_port", String(this.serverPort));
    conf = setHcl(conf, "socket_path", this.agentSocket);
    this.agentConf = this.scene.path("agent.conf");
    writeFileSync(this.agentConf, conf);
    const token = /Token:\s*(\S+)/.exec(await this.serverCli(["token", "generate", "-spiffeID", AGENT_ID]))?.[1];
    if (!token) throw new Error("spire-server token generate printed no token");
    await this.startAgent(["-joinToken", token]);
  }

  /** (Re)starts the agent; after the first start it resumes with the SVID and key kept in its data_dir. */
  async startAgent(extra: string[] = []): Promise<void> {
    this.agent = this.scene.spawn("spire-agent", this.peers.spireAgent, ["run", "-config", this.agentConf, ...extra]);
    await until(
      "spire-agent healthy",
      () => exec(this.peers.spireAgent, ["healthcheck", "-socketPath", this.agentSocket]).then(() => true),
      60_000,
      200,
    );
  }

  serverCli(args: string[]): Promise<string> {
    return exec(this.peers.spireServer, [...args, "-socketPath", this.serverSocket]);
  }

  /** A registration entry for whatever runs the executable at `exe` (absolute, symlinks resolved). */
  async register(spiffeId: string, exe: string): Promise<void> {
    await this.serverCli([
      "entry",
      "create",
      "-parentID",
      AGENT_ID,
      "-spiffeID",
      spiffeId,
      "-selector",
      `unix:path:${exe}`,
    ]);
  }

  /**
   * A workload of its own: a hard link (or copy) of spire-agent under <scene>/workloads/<name>/, registered as
   * spiffe://example.org/<name>. Its `api fetch` calls are attested by that path.
   */
  async workload(name: string): Promise<Workload> {
    const dir = this.scene.path(`workloads/${name}`);
    mkdirSync(dir, { recursive: true });
    const exe = join(dir, "spire-agent");
    try {
      linkSync(this.peers.spireAgent, exe);
    } catch {
      copyFileSync(this.peers.spireAgent, exe);
    }
    await this.register(id(name), exe);
    return new Workload(name, exe, this.agentSocket, dir);
  }
}

export class Workload {
  constructor(
    readonly name: string,
    readonly exe: string,
    private readonly socket: string,
    private readonly dir: string,
  ) {}

  get spiffeId(): string {
    return id(this.name);
  }

  /** Its X509-SVID from the agent; retried while the agent has not synced the entry yet. */
  async x509(timeoutMs = 30_000): Promise<X509Svid> {
    const out = join(this.dir, "svid");
    mkdirSync(out, { recursive: true });
    await until(
      `an X509-SVID for ${this.spiffeId}`,
      () => exec(this.exe, ["api", "fetch", "x509", "-socketPath", this.socket, "-write", out]).then(() => true),
      timeoutMs,
      250,
    );
    const chainPem = readFileSync(join(out, "svid.0.pem"), "utf8");
    const certPem =
      chainPem.slice(0, chainPem.indexOf("-----END CERTIFICATE-----") + "-----END CERTIFICATE-----".length) + "\n";
    return {
      certPem,
      chainPem,
      keyPem: readFileSync(join(out, "svid.0.key"), "utf8"),
      bundlePem: readFileSync(join(out, "bundle.0.pem"), "utf8"),
    };
  }

  /** A JWT-SVID for `audience` from the agent. */
  async jwt(audience: string, timeoutMs = 30_000): Promise<string> {
    const text = await until(
      `a JWT-SVID for ${this.spiffeId}`,
      () => exec(this.exe, ["api", "fetch", "jwt", "-audience", audience, "-socketPath", this.socket]),
      timeoutMs,
      250,
    );
    const token = /token\([^)]*\):\s*(\S+)/.exec(text)?.[1];
    if (!token) throw new Error(`no token in spire-agent api fetch jwt output: ${text.slice(0, 300)}`);
    return token;
  }
}
