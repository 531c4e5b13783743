// The real Zentinel proxy running deploy/zentinel/zentinel.kdl, with only its addresses and paths substituted.
import { writeFileSync } from "node:fs";
import { freePort } from "../../test/helpers/clients.js";
import { http } from "./parts.js";
import { exec, until, type Proc, type Scene } from "./proc.js";
import { deployFile, replaceAll } from "./templates.js";

export interface ZentinelTargets {
  authzPort: number;
  backendPort: number;
}

export class Zentinel {
  proc!: Proc;
  port = 0;
  private metricsPort = 0;

  constructor(
    private readonly scene: Scene,
    private readonly bin: string,
  ) {}

  config(t: ZentinelTargets): string {
    let kdl = deployFile("zentinel/zentinel.kdl");
    kdl = replaceAll(kdl, 'address "0.0.0.0:8080"', `address "127.0.0.1:${this.port}"`, "listener address");
    kdl = replaceAll(kdl, 'target "127.0.0.1:8081"', `target "127.0.0.1:${t.backendPort}"`, "upstream target");
    kdl = replaceAll(
      kdl,
      'grpc address="http://127.0.0.1:50051"',
      `grpc address="http://127.0.0.1:${t.authzPort}"`,
      "agent address",
    );
    kdl = replaceAll(kdl, 'address "127.0.0.1:9090"', `address "127.0.0.1:${this.metricsPort}"`, "metrics address");
    kdl = replaceAll(
      kdl,
      'file "/var/log/zentinel/error.log"',
      `file ${JSON.stringify(this.scene.path("zentinel-error.log"))}`,
      "error log",
    );
    return kdl;
  }

  /** Checks the config with `zentinel -t`, starts the proxy, and waits until its listener answers. */
  async start(t: ZentinelTargets): Promise<void> {
    if (this.port === 0) {
      this.port = await freePort();
      this.metricsPort = await freePort();
    }
    const file = this.scene.path("zentinel.kdl");
    writeFileSync(file, this.config(t));
    await exec(this.bin, ["-t", "-c", file]);
    this.proc = this.scene.spawn("zentinel", this.bin, ["-c", file]);
    await until("Zentinel's listener", () => http(this.port, "/__e2e_probe").then(() => true), 60_000, 200);
  }
}
