// The Node.js version warning: one line below engines, nothing at or above it, and the CLI really prints it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { MIN_NODE_VERSION, nodeVersionWarning } from "../../src/cli/node-version.js";
import { runCli } from "../helpers/cli.js";

describe("node version warning", () => {
  it("warns below engines and is silent at or above it", () => {
    assert.match(
      nodeVersionWarning("20.20.2")!,
      /^spiffe-authz: warning: Node\.js v20\.20\.2 is unsupported .*Node\.js 24 LTS/,
    );
    assert.ok(nodeVersionWarning("22.14.9"));
    assert.equal(nodeVersionWarning("22.15.0"), undefined);
    assert.equal(nodeVersionWarning("v24.22.3"), undefined);
    assert.equal(nodeVersionWarning("100.0.0"), undefined);
    assert.equal(nodeVersionWarning("20.20.2")!.split("\n").length, 1);
  });

  it("matches package.json engines", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      engines: { node: string };
    };
    assert.equal(pkg.engines.node, `>=${MIN_NODE_VERSION}`);
  });

  it("the CLI prints it once on stderr when the runner has not, and only on an old Node.js", async () => {
    const res = await runCli(["--help"], { env: { SPIFFE_AUTHZ_NODE_WARNED: "" } });
    const lines = res.stderr.split("\n").filter((l) => l.includes("is unsupported"));
    assert.equal(lines.length, nodeVersionWarning() ? 1 : 0, res.stderr);
  });
});
