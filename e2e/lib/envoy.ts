// Real Envoy running deploy/envoy/envoy.yaml, with only its addresses and paths pointed into the scenario.
import { writeFileSync } from "node:fs";
import { request } from "node:http";
import { parse } from "yaml";
import { freePort } from "../../test/helpers/clients.js";
import type { Peers } from "./peers.js";
import { until, type Proc, type Scene } from "./proc.js";
import { deployFile } from "./templates.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- the Envoy config is walked as plain YAML data */

export interface EnvoyPorts {
  mtls: number;
  jwt: number;
  /** Loopback plaintext → mTLS to spiffe-authz: Zentinel's way in, and the tests' direct calls. */
  egress: number;
  admin: number;
}

export interface EnvoyTargets {
  authzPort: number;
  backendPort: number;
  agentSocket: string;
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined || v === null) throw new Error(`template: deploy/envoy/envoy.yaml has no ${what}`);
  return v;
}

/** The shipped file with listeners, clusters and the admin port substituted. */
export function envoyConfig(ports: EnvoyPorts, t: EnvoyTargets): unknown {
  const cfg = parse(deployFile("envoy/envoy.yaml"), { merge: true }) as any;
  const listeners: any[] = need(cfg.static_resources?.listeners, "listeners");
  const byName = (n: string) =>
    need(
      listeners.find((l) => l.name === n),
      `listener ${n}`,
    );
  byName("inbound_mtls").address.socket_address = { address: "127.0.0.1", port_value: ports.mtls };
  byName("inbound_jwt").address.socket_address = { address: "127.0.0.1", port_value: ports.jwt };
  byName("zentinel_agent_egress").address.socket_address = { address: "127.0.0.1", port_value: ports.egress };
  const clusters: any[] = need(cfg.static_resources?.clusters, "clusters");
  const endpoint = (n: string) =>
    need(
      clusters.find((c) => c.name === n),
      `cluster ${n}`,
    ).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address;
  endpoint("spiffe_authz").socket_address = { address: "127.0.0.1", port_value: t.authzPort };
  endpoint("backend").socket_address = { address: "127.0.0.1", port_value: t.backendPort };
  endpoint("spire_agent").pipe = { path: t.agentSocket };
  need(cfg.admin?.address?.socket_address, "admin address").port_value = ports.admin;
  return cfg;
}

export class Envoy {
  proc!: Proc;
  ports!: EnvoyPorts;

  constructor(
    private readonly scene: Scene,
    private readonly peers: Peers,
  ) {}

  /** The access log's JSON lines (Envoy writes them to its stdout; its own log goes to stderr). */
  accessLog(): Array<Record<string, unknown>> {
    return this.proc.output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async start(t: EnvoyTargets): Promise<void> {
    // A port freePort saw free can be taken before Envoy binds it (every test connection takes an ephemeral
    // port): when Envoy exits at start, try again with fresh ports.
    for (let attempt = 1; ; attempt++) {
      this.ports = { mtls: await freePort(), jwt: await freePort(), egress: await freePort(), admin: await freePort() };
      const file = this.scene.path("envoy.json");
      writeFileSync(file, JSON.stringify(envoyConfig(this.ports, t), null, 2));
      // --disable-hot-restart: several Envoys on one machine must not share the hot-restart shared memory.
      this.proc = this.scene.spawn("envoy", this.peers.envoy, [
        "-c",
        file,
        "--disable-hot-restart",
        "--log-level",
        "info",
      ]);
      // Listeners warm until SDS delivers the SVID and the bundle; the spiffe_authz cluster needs its own SDS
      // secrets for mTLS and one passing gRPC health check. All of it before traffic, or the first requests 503.
      const proc = this.proc;
      const active = await until(
        "Envoy listeners active (SDS secrets delivered)",
        async () =>
          !proc.running
            ? "exited"
            : (await this.stat("listener_manager.total_listeners_active").catch(() => undefined)) === 3
              ? "up"
              : undefined,
        60_000,
        200,
      );
      if (active === "up") break;
      if (attempt === 3) throw new Error(`Envoy exited at start three times:\n${proc.tail()}`);
    }
    await until(
      "Envoy LIVE",
      async () => ((await this.admin("/ready")).trim() === "LIVE" ? true : undefined),
      30_000,
      100,
    );
    await until(
      "spiffe-authz healthy in Envoy (mTLS + gRPC health check)",
      async () => ((await this.stat("cluster.spiffe_authz.membership_healthy")) === 1 ? true : undefined),
      30_000,
      100,
    );
  }

  admin(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: this.ports.admin, path }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve(body));
      });
      req.on("error", reject);
      req.end();
    });
  }

  async stat(name: string): Promise<number | undefined> {
    const text = await this.admin(`/stats?filter=^${name.replace(/\./g, "\\.")}$`);
    const m = new RegExp(`^${name.replace(/\./g, "\\.")}: (\\d+)$`, "m").exec(text);
    return m ? Number(m[1]) : undefined;
  }
}
