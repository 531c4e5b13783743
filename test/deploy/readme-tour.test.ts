// The README's offline tour, run as a newcomer would run it: every file it uses is made by its own commands.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../helpers/clients.js";

const ROOT = join(import.meta.dirname, "../..");

test("README offline tour: openssl makes a CA and an SVID, check allows it, serve answers /readyz and /metrics", async () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### Offline"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, "the offline tour's sh block");
  assert.match(block, /^npm ci && npm run build$/m);
  assert.match(block, /^export SPIFFE_AUTHZ=/m);
  // The build and the CLI path are the test run's own (the source through tsx); ports are free ones.
  const grpc = await freePort();
  const metrics = await freePort();
  // If a step fails, the background server must not outlive the script (it would hold the output pipe open).
  const script =
    "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n" +
    block
      .replace(/^npm ci && npm run build\n/m, "")
      .replace(/^export SPIFFE_AUTHZ=.*\n/m, "")
      .replaceAll("127.0.0.1:50051", `127.0.0.1:${grpc}`)
      .replaceAll("127.0.0.1:9464", `127.0.0.1:${metrics}`);
  const cwd = mkdtempSync(join(tmpdir(), "readme-tour-"));
  const r = spawnSync("bash", ["-e", "-c", script], {
    cwd,
    encoding: "utf8",
    timeout: 90_000,
    env: {
      ...process.env,
      // tsx by its resolved URL: the tour runs in a directory with no node_modules.
      SPIFFE_AUTHZ: `${process.execPath} --import ${import.meta.resolve("tsx")} ${join(ROOT, "src/cli.ts")}`,
      SPIFFE_AUTHZ_NODE_WARNED: "1",
    },
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /"allow": true/, "check allowed web");
  assert.match(r.stdout, /"spiffeId": "spiffe:\/\/example\.org\/web"/);
  assert.match(r.stdout, /^ready$/m, "/readyz");
  assert.match(r.stdout, /^spiffe_authz_trust_domains 1$/m, "/metrics");
  const log = readFileSync(join(cwd, "tour", "serve.log"), "utf8");
  assert.match(log, /"msg":"static bundle loaded"/);
});
