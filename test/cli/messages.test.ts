// What an operator reads when something is wrong: one line, prefixed, naming the file or flag and what to do.
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
  dir = mkdtempSync(join(tmpdir(), "messages-"));
  const root = await DevCertificateAuthority.createRoot("example.org");
  file("bundle.pem", root.pem);
  file("web.pem", (await root.issueX509Svid("spiffe://example.org/web")).pem);
  file("garbage.pem", "this is not a bundle\n");
  file("config.yaml", "allowlist: { prefix: [spiffe://example.org/web] }\n");
  file("garbage-config.yaml", `trust-bundles:\n  - { trust-domain: example.org, path: ${join(dir, "garbage.pem")} }\n`);
});

test("check without a bundle for the certificate's trust domain: deny, and a hint naming --bundle", async () => {
  const r = await runCli(["check", "--config", join(dir, "config.yaml"), "--cert", join(dir, "web.pem")]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /"reason": "unknown_trust_domain"/);
  assert.equal(
    r.stderr.trim(),
    "spiffe-authz: hint: no bundle for example.org: pass --bundle example.org=FILE or list it under trust-bundles in the config",
  );
  const ok = await runCli([
    "check",
    "--config",
    join(dir, "config.yaml"),
    "--cert",
    join(dir, "web.pem"),
    "--bundle",
    `example.org=${join(dir, "bundle.pem")}`,
  ]);
  assert.equal(ok.code, 0);
  assert.equal(ok.stderr, "", "no hint when the bundle is there");
});

test("a garbage bundle names where it came from and the format it was read as", async () => {
  const viaFlag = await runCli([
    "check",
    "--config",
    join(dir, "config.yaml"),
    "--cert",
    join(dir, "web.pem"),
    "--bundle",
    `example.org=${join(dir, "garbage.pem")}`,
  ]);
  assert.equal(viaFlag.code, 2);
  assert.match(
    viaFlag.stderr.trim(),
    /^spiffe-authz: --bundle example\.org=\S+garbage\.pem: bundle for example\.org: read as DER \(neither PEM nor SPIFFE bundle JSON\): /,
  );
  const viaConfig = await runCli([
    "check",
    "--config",
    join(dir, "garbage-config.yaml"),
    "--cert",
    join(dir, "web.pem"),
  ]);
  assert.equal(viaConfig.code, 2);
  assert.match(
    viaConfig.stderr.trim(),
    /^spiffe-authz: config trust-bundles\[0\]\.path \S+garbage\.pem: .*read as DER/,
  );
  const served = await runCli([
    "serve",
    "--config",
    join(dir, "garbage-config.yaml"),
    "--grpc-address",
    "127.0.0.1:0",
    "--metrics-address",
    "off",
  ]);
  assert.equal(served.code, 2);
  assert.match(served.stderr.trim(), /^spiffe-authz: config: trust-bundles\[0\]\.path: \S+garbage\.pem: read as DER/);
});

test("config errors carry the spiffe-authz: prefix and say YAML problems and bounds in words", async () => {
  const yaml = await runCli([
    "check",
    "--config",
    file("bad.yaml", "allowlist:\n  exact: [a\n   b: c\n"),
    "--cert",
    "x",
  ]);
  assert.equal(yaml.code, 2);
  assert.match(
    yaml.stderr.trim(),
    /^spiffe-authz: config: \S+bad\.yaml: not valid YAML\/JSON: .* at line \d+, column \d+$/,
  );
  const bound = await runCli(["check", "--config", file("zero.yaml", "spire: { api-timeout-ms: 0 }\n"), "--cert", "x"]);
  assert.equal(bound.stderr.trim(), "spiffe-authz: config: spire.api-timeout-ms: must be greater than 0, got 0");
});

test("a port out of range says so", async () => {
  const r = await runCli(["serve", "--grpc-address", "127.0.0.1:70000"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr.trim(),
    'spiffe-authz: --grpc-address: port 70000 is out of range (0 to 65535), in "127.0.0.1:70000"',
  );
});
