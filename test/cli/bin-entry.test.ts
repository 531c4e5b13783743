// bin/spiffe-authz.js restarts `serve` in place with V8's young generation capped (see the comment there). Run
// here as shipped, from a scratch copy whose ../dist/spiffe-authz.mjs reports how its process was started.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { V8_AS_SERVE } from "../../bench/lib/processes.js";

const BIN = fileURLToPath(new URL("../../bin/spiffe-authz.js", import.meta.url));

function run(nodeArgs: string[], cliArgs: string[], env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "bin-entry-"));
  try {
    mkdirSync(join(dir, "bin"));
    mkdirSync(join(dir, "dist"));
    copyFileSync(BIN, join(dir, "bin/spiffe-authz.js"));
    writeFileSync(
      join(dir, "dist/spiffe-authz.mjs"),
      "console.log(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(2) }));\n",
    );
    const { NODE_OPTIONS: _inherited, ...base } = process.env;
    const r = spawnSync(process.execPath, [...nodeArgs, join(dir, "bin/spiffe-authz.js"), ...cliArgs], {
      encoding: "utf8",
      env: { ...base, ...env },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "", "nothing printed besides the bundle's own output");
    const seen = JSON.parse(r.stdout.trim()) as { pid: number; execArgv: string[]; args: string[] };
    return { ...seen, childPid: r.pid };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("serve restarts itself in place (same PID) with --max-semi-space-size=8, its arguments unchanged", () => {
  const r = run([], ["serve", "--config", "x.yaml"]);
  assert.deepEqual(r.execArgv, ["--max-semi-space-size=8"]);
  assert.deepEqual(r.execArgv, V8_AS_SERVE, "the benches start their servers as serve starts");
  assert.deepEqual(r.args, ["serve", "--config", "x.yaml"]);
  assert.equal(r.pid, r.childPid, "execve keeps the PID: signals sent to it reach the server");
});

test("node's own flags survive the restart, and other commands are not restarted", () => {
  assert.deepEqual(run(["--no-warnings"], ["serve"]).execArgv, ["--no-warnings", "--max-semi-space-size=8"]);
  assert.deepEqual(run([], ["check", "--help"]).execArgv, []);
  assert.deepEqual(run([], ["demo"]).execArgv, []);
});

test("an operator's own semi-space setting, on the command line or in NODE_OPTIONS, is left as given", () => {
  assert.deepEqual(run(["--max-semi-space-size=32"], ["serve"]).execArgv, ["--max-semi-space-size=32"]);
  assert.deepEqual(run([], ["serve"], { NODE_OPTIONS: "--max-semi-space-size=4" }).execArgv, []);
});
