import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { runCli } from "../helpers/cli.js";

let dir: string;
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "check-cli-"));
  const root = await DevCertificateAuthority.createRoot("example.org");
  const inter = await root.createIntermediate();
  const web = await inter.issueX509Svid("spiffe://example.org/services/web");
  const admin = await root.issueX509Svid("spiffe://example.org/admin");
  file("bundle.pem", root.pem);
  file("web.pem", web.pem);
  file("web-chain.pem", web.chainPem);
  file("inter.pem", inter.pem);
  file("admin.pem", admin.pem);
  file(
    "config.yaml",
    "allowlist: { prefix: ['spiffe://example.org/services/'] }\nroutes:\n  - { name: admin-only, allowlist: { exact: [spiffe://example.org/admin] } }\n",
  );
  file("bad.yaml", "failure: { spire-unavailable: sometimes }\n");
});

test("allow: exit 0 and the decision as JSON", async () => {
  const r = await runCli([
    "check",
    "--config",
    join(dir, "config.yaml"),
    "--cert",
    join(dir, "web.pem"),
    "--chain",
    join(dir, "inter.pem"),
    "--bundle",
    `example.org=${join(dir, "bundle.pem")}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.equal(d.allow, true);
  assert.equal(d.reason, "ok");
  assert.equal(d.identity.spiffeId, "spiffe://example.org/services/web");
});

test("deny: exit 1 (not allowed, route, missing intermediate, no bundle)", async () => {
  const base = ["check", "--config", join(dir, "config.yaml"), "--bundle", `example.org=${join(dir, "bundle.pem")}`];
  let r = await runCli([...base, "--cert", join(dir, "admin.pem")]);
  assert.equal(r.code, 1);
  assert.equal(JSON.parse(r.stdout).reason, "not_allowed");
  r = await runCli([...base, "--cert", join(dir, "admin.pem"), "--route", "admin-only"]);
  assert.equal(r.code, 0);
  r = await runCli([...base, "--cert", join(dir, "web.pem")]);
  assert.equal(r.code, 1);
  assert.equal(JSON.parse(r.stdout).reason, "untrusted");
  r = await runCli(["check", "--config", join(dir, "config.yaml"), "--cert", join(dir, "web-chain.pem")]);
  assert.equal(r.code, 1);
  assert.equal(JSON.parse(r.stdout).reason, "unknown_trust_domain");
});

test("usage and config errors: exit 2 with one line naming the problem", async () => {
  let r = await runCli(["check", "--cert", join(dir, "web.pem")]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--config is required/);
  r = await runCli(["check", "--config", join(dir, "bad.yaml"), "--cert", join(dir, "web.pem")]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr.trim(),
    "spiffe-authz: config: failure.spire-unavailable: expected fail_closed|fail_open|cache",
  );
  r = await runCli([
    "check",
    "--config",
    join(dir, "config.yaml"),
    "--cert",
    join(dir, "web.pem"),
    "--bundle",
    "example.org",
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--bundle: expected TD=FILE/);
  r = await runCli(["check", "--config", join(dir, "config.yaml"), "--cert", join(dir, "nope.pem")]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--cert: cannot read .*nope\.pem: ENOENT/);
  r = await runCli([
    "check",
    "--config",
    join(dir, "config.yaml"),
    "--cert",
    join(dir, "web.pem"),
    "--bundle",
    `example.org=${join(dir, "config.yaml")}`,
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bundle for example\.org/);
  r = await runCli(["frobnicate"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
});
