// The whole path a request takes in production, made of real processes: SPIRE server and agent, spiffe-authz on
// the agent's socket, Envoy with SVIDs from the agent's SDS, and an upstream that records what reached it.
import { realpathSync } from "node:fs";
import { Envoy } from "./envoy.js";
import { Authz, AUTHZ_CONFIG, Echo } from "./parts.js";
import { requirePeers, type Peers } from "./peers.js";
import { Scene } from "./proc.js";
import { id, Spire, type Workload } from "./spire.js";

export const ENVOY_ID = id("envoy");
export const JWT_AUDIENCE = id("backend");

export interface StackOptions {
  envoy?: boolean;
  workloads?: string[];
  /** spiffe-authz's --config; default deploy/compose/spiffe-authz.yaml as shipped. */
  authzConfig?: string;
}

export class Stack {
  readonly peers: Peers;
  readonly scene: Scene;
  readonly spire: Spire;
  readonly echo = new Echo();
  authz!: Authz;
  envoy!: Envoy;
  readonly workloads = new Map<string, Workload>();
  failed = false;

  constructor(name: string) {
    this.peers = requirePeers();
    this.scene = new Scene(name);
    this.spire = new Spire(this.scene, this.peers);
  }

  /** SPIRE, entries for spiffe-authz, Envoy and the client workloads, then spiffe-authz (and Envoy). */
  async start(opts: StackOptions = {}): Promise<this> {
    // A stack that fails to come up keeps its logs too.
    return this.step(() => this.bringUp(opts));
  }

  private async bringUp(opts: StackOptions): Promise<this> {
    await this.spire.start();
    // spiffe-authz runs on this very node binary; Envoy is registered by its real executable.
    await this.spire.register(id("spiffe-authz"), realpathSync(process.execPath));
    if (opts.envoy !== false) await this.spire.register(ENVOY_ID, this.peers.envoy);
    for (const w of opts.workloads ?? []) this.workloads.set(w, await this.spire.workload(w));
    await this.echo.start();
    this.authz = new Authz(this.scene, this.spire.agentSocket, opts.authzConfig ?? AUTHZ_CONFIG);
    await this.authz.start();
    if (opts.envoy !== false) {
      this.envoy = new Envoy(this.scene, this.peers);
      await this.envoy.start({
        authzPort: this.authz.port,
        backendPort: this.echo.port,
        agentSocket: this.spire.agentSocket,
      });
    }
    return this;
  }

  workload(name: string): Workload {
    const w = this.workloads.get(name);
    if (!w) throw new Error(`no workload ${name} in this stack`);
    return w;
  }

  /** Runs a scenario step, remembering a failure so that teardown keeps the logs. */
  async step<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.echo.stop().catch(() => undefined);
    await this.scene.teardown(this.failed);
  }
}
