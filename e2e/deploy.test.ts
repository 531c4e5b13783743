// The shipped deploy files, untouched, read by their real consumers: Envoy's validate mode, SPIRE's `validate`
// and `entry create -data` on a running server, Zentinel's `-t`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { requirePeers, ROOT } from "./lib/peers.js";
import { exec, Scene } from "./lib/proc.js";
import { AGENT_ID, Spire } from "./lib/spire.js";

describe("deploy/ as its real consumers read it", () => {
  const peers = requirePeers(["spire", "envoy", "zentinel"]);
  const scene = new Scene("deploy");
  let failed = false;
  const step = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  };
  after(() => scene.teardown(failed));
  const file = (rel: string) => join(ROOT, "deploy", rel);

  it("Envoy 1.40 validates deploy/envoy/envoy.yaml as shipped", () =>
    step(async () => {
      const out = await exec(peers.envoy, [
        "--mode",
        "validate",
        "-c",
        file("envoy/envoy.yaml"),
        "--disable-hot-restart",
      ]);
      assert.match(out, /configuration '.*envoy\.yaml' OK/);
    }));

  it("SPIRE 1.13.3 validates deploy/spire/server.conf and agent.conf as shipped", () =>
    step(async () => {
      assert.match(
        await exec(peers.spireServer, ["validate", "-config", file("spire/server.conf")]),
        /configuration file is valid/,
      );
      assert.match(
        await exec(peers.spireAgent, ["validate", "-config", file("spire/agent.conf")]),
        /configuration file is valid/,
      );
    }));

  it("a running SPIRE server takes deploy/spire/entries.json (docker-compose.yml's registrations) as shipped", () =>
    step(async () => {
      const spire = new Spire(scene, peers);
      await spire.startServer();
      await spire.serverCli(["entry", "create", "-data", file("spire/entries.json")]);
      const shown = JSON.parse(await spire.serverCli(["entry", "show", "-output", "json"])) as {
        entries: Array<{ spiffe_id: { path: string }; parent_id: { path: string } }>;
      };
      const paths = shown.entries.map((e) => e.spiffe_id.path).sort();
      assert.deepEqual(paths, ["/envoy", "/frontend", "/intruder", "/spiffe-authz"]);
      assert.ok(shown.entries.every((e) => `spiffe://example.org${e.parent_id.path}` === AGENT_ID));
    }));

  it("the Zentinel proxy accepts deploy/zentinel/zentinel.kdl as shipped (zentinel -t)", () =>
    step(async () => {
      assert.match(await exec(peers.zentinel, ["-t", "-c", file("zentinel/zentinel.kdl")]), /test is successful/);
    }));
});
