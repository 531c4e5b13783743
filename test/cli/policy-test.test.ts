// `spiffe-authz test`: the real CLI on real files, with certificates and tokens minted by the run itself or
// (cert/bundle cases) by a CA made here; and `check --explain`.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { parsePolicyTestText } from "../../src/engine/policy-test/file.js";
import { preparePolicyTestFile, runPolicyTests } from "../../src/engine/policy-test/run.js";
import { spawn } from "node:child_process";
import { CLI, runCli } from "../helpers/cli.js";

const ROOT = join(import.meta.dirname, "../..");
let dir: string;
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "policy-test-cli-"));
  const root = await DevCertificateAuthority.createRoot("example.org");
  const inter = await root.createIntermediate();
  const other = await DevCertificateAuthority.createRoot("example.org");
  file("web.pem", (await inter.issueX509Svid("spiffe://example.org/web")).pem);
  file("inter.pem", inter.pem);
  file("bundle.pem", root.pem);
  file("other-bundle.pem", other.pem);
  file(
    "config.yaml",
    [
      "allowlist: { exact: [spiffe://example.org/web], trust-domains: [partner.example] }",
      "jwt: { enabled: true, audiences: [api] }",
      "routes:",
      "  - { name: admin, match: { path-prefix: /admin }, allowlist: { prefix: [spiffe://example.org/ops/] } }",
      "",
    ].join("\n"),
  );
});

test("the shipped deploy/config.example.test.yaml passes: one PASS line per case, a summary, exit 0", async () => {
  const shipped = join(ROOT, "deploy/config.example.test.yaml");
  const cases = (parseYaml(readFileSync(shipped, "utf8")) as { cases: unknown[] }).cases.length;
  const r = await runCli(["test", shipped]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.filter((l) => l.startsWith(`PASS ${shipped}:`)).length, cases);
  assert.equal(lines.at(-1), `${cases} passed, 0 failed`);
});

test("identity, cert + chain + bundle, jwt, none; route and path forms; a failing case shows its diff, exit 1", async () => {
  const t = file(
    "policy.test.yaml",
    [
      "config: config.yaml",
      "cases:",
      "  - { name: minted web, identity: spiffe://example.org/web, expect: allow }",
      "  - { name: partner by trust domain, identity: spiffe://partner.example/x, expect: ok }",
      "  - { name: web on admin by path, identity: spiffe://example.org/web, path: /admin/users, method: DELETE, expect: { status: 403, route: admin } }",
      "  - { name: ops on admin by name, identity: spiffe://example.org/ops/alice, route: admin, expect: allow }",
      "  - { name: own cert and bundle, cert: web.pem, chain: inter.pem, bundle: bundle.pem, expect: { allow: true, reason: ok, detail: example.org/web } }",
      "  - { name: 'own cert, wrong bundle', cert: web.pem, chain: inter.pem, bundle: other-bundle.pem, expect: untrusted }",
      "  - { name: jwt for api, jwt: spiffe://example.org/web, audience: api, expect: { allow: true, reason: ok } }",
      "  - { name: jwt for another audience, jwt: spiffe://example.org/web, audience: [billing], expect: 401 }",
      "  - { name: nothing, none: true, expect: no_certificate }",
      "  - name: wrongly expected",
      "    identity: spiffe://example.org/intruder",
      "    path: /admin",
      "    expect: { allow: true, status: 200, reason: not_allowed, route: admin }",
      "",
    ].join("\n"),
  );
  const r = await runCli(["test", t]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const out = r.stdout.split("\n");
  for (const name of [
    "minted web",
    "partner by trust domain",
    "web on admin by path",
    "ops on admin by name",
    "own cert and bundle",
    "own cert, wrong bundle",
    "jwt for api",
    "jwt for another audience",
    "nothing",
  ]) {
    assert.ok(out.includes(`PASS ${t}:${name}`), `${name}\n${r.stdout}`);
  }
  const fail = out.indexOf(`FAIL ${t}:wrongly expected`);
  assert.ok(fail >= 0, r.stdout);
  // Only the fields that differ, expected against got, then the whole decision.
  assert.deepEqual(out.slice(fail + 1, fail + 4), [
    "    allow:  expected true, got false",
    "    status: expected 200, got 403",
    '    got: allow=false status=403 reason=not_allowed route=admin detail="spiffe://example.org/intruder is not allowed on route admin"',
  ]);
  assert.equal(out.at(-2), "9 passed, 1 failed");
});

test("a bad file exits 2 with one line naming the file and the key path", async () => {
  const bad: Array<[string, string, RegExp]> = [
    [
      "unknown.yaml",
      "config: config.yaml\ncases:\n  - { name: a, identity: spiffe://example.org/web, expcet: allow }\n",
      /: cases\[0\]\.expcet: unknown key$/,
    ],
    [
      "expect.yaml",
      "config: config.yaml\ncases:\n  - { name: a, identity: spiffe://example.org/web, expect: maybe }\n",
      /: cases\[0\]\.expect: expected allow, deny, a status/,
    ],
    [
      "two.yaml",
      "config: config.yaml\ncases:\n  - { name: a, identity: spiffe://example.org/web, none: true, expect: allow }\n",
      /: cases\[0\]: give exactly one of identity, cert, jwt, none \(identity and none are given\)$/,
    ],
    [
      "aud.yaml",
      "config: config.yaml\ncases:\n  - { name: a, jwt: spiffe://example.org/web, expect: allow }\n",
      /: cases\[0\]\.audience: required with jwt$/,
    ],
    ["yaml.yaml", "config: config.yaml\ncases: [\n", /: not valid YAML/],
    [
      "noconfig.yaml",
      "config: missing.yaml\ncases:\n  - { name: a, none: true, expect: deny }\n",
      /: config: .*missing\.yaml: config: cannot read .*: no such file$/,
    ],
    [
      "nocert.yaml",
      "config: config.yaml\ncases:\n  - { name: a, cert: gone.pem, expect: deny }\n",
      /: cases\[0\]\.cert: cannot read gone\.pem: ENOENT$/,
    ],
  ];
  for (const [name, content, message] of bad) {
    const p = file(name, content);
    const r = await runCli(["test", join(dir, "policy.test.yaml"), p]);
    assert.equal(r.code, 2, `${name}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, "", `${name}: no case runs when a file is bad`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(lines[0]!.startsWith(`spiffe-authz: ${p}: `), r.stderr);
    assert.match(lines[0]!, message);
  }
  const r = await runCli(["test", join(dir, "absent.yaml")]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), `spiffe-authz: ${join(dir, "absent.yaml")}: cannot read: ENOENT`);
});

test("test --explain prints the route and the allowlist entry under each case", async () => {
  const t = file(
    "explain.test.yaml",
    [
      "config: config.yaml",
      "cases:",
      "  - { name: ops, identity: spiffe://example.org/ops/alice, path: /admin/x, expect: allow }",
      "  - { name: intruder, identity: spiffe://example.org/intruder, expect: deny }",
      "  - { name: nothing, none: true, expect: deny }",
      "",
    ].join("\n"),
  );
  const r = await runCli(["test", "--explain", t]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(
    r.stdout,
    [
      `PASS ${t}:ops`,
      '    route: routes[0] "admin" (path-prefix /admin) matches GET /admin/x',
      "    allowlist (route admin): allowed by routes[0].allowlist.prefix[0] spiffe://example.org/ops/",
      `PASS ${t}:intruder`,
      "    route: no route's match rule covers GET / (1 route with rules checked): the top-level allowlist",
      "    allowlist (top-level): no entry of allowlist matched spiffe://example.org/intruder: exact 1, prefix 0, trust-domains 1, patterns 0 checked",
      `PASS ${t}:nothing`,
      "    route: no route's match rule covers GET / (1 route with rules checked): the top-level allowlist",
      "    credential: no_certificate: no client certificate presented",
      "3 passed, 0 failed",
      "",
    ].join("\n"),
  );
});

test("check --explain adds an explain object to the decision JSON", async () => {
  const base = ["check", "--config", join(dir, "config.yaml"), "--cert", join(dir, "web.pem"), "--chain"];
  let r = await runCli([
    ...base,
    join(dir, "inter.pem"),
    "--bundle",
    `example.org=${join(dir, "bundle.pem")}`,
    "--explain",
  ]);
  assert.equal(r.code, 0, r.stderr);
  let d = JSON.parse(r.stdout);
  assert.equal(d.allow, true);
  assert.equal(d.explain.route.how, "by-path");
  assert.deepEqual(d.explain.route.routes, ["(top-level)"]);
  assert.deepEqual(d.explain.allowlists, [
    {
      route: "(top-level)",
      match: "exact",
      entry: "allowlist.exact[0] spiffe://example.org/web",
      text: "allowed by allowlist.exact[0] spiffe://example.org/web",
    },
  ]);
  r = await runCli([
    ...base,
    join(dir, "inter.pem"),
    "--bundle",
    `example.org=${join(dir, "other-bundle.pem")}`,
    "--route",
    "admin",
    "--explain",
  ]);
  assert.equal(r.code, 1);
  d = JSON.parse(r.stdout);
  assert.deepEqual(d.explain.route, {
    how: "named",
    routes: ["admin"],
    reasons: ['routes[0] "admin" (path-prefix /admin) named by the request'],
  });
  assert.equal(d.explain.allowlists, undefined);
  assert.match(d.explain.credential, /^untrusted: /);
  // Without the flag the JSON is the decision alone.
  r = await runCli([...base, join(dir, "inter.pem"), "--bundle", `example.org=${join(dir, "bundle.pem")}`]);
  assert.equal(JSON.parse(r.stdout).explain, undefined);
});

test("the README's example test file passes against deploy/config.example.yaml", async () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => /^cases:/m.test(b));
  assert.ok(block, "a yaml block with cases");
  const t = parsePolicyTestText(block, "README", join(ROOT, "deploy"));
  assert.equal(t.config, join(ROOT, "deploy/config.example.yaml"));
  const results = await runPolicyTests(await preparePolicyTestFile(t));
  assert.equal(results.length, 2);
  for (const r of results) assert.ok(r.pass, `${r.name}: ${JSON.stringify(r.mismatches)}`);
});

test("against a dry-run config a case is judged by what enforcement would decide", async () => {
  file("dry.yaml", "enforcement: dry-run\nallowlist: { exact: [spiffe://example.org/web] }\n");
  const t = file(
    "dry.test.yaml",
    [
      "config: dry.yaml",
      "cases:",
      "  - { name: listed, identity: spiffe://example.org/web, expect: allow }",
      "  - { name: unlisted, identity: spiffe://example.org/other, expect: { allow: false, status: 403, reason: not_allowed } }",
      "  - { name: unlisted said to pass, identity: spiffe://example.org/other, expect: allow }",
      "",
    ].join("\n"),
  );
  const r = await runCli(["test", t]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`PASS ${t}:unlisted\n`));
  assert.match(r.stdout, new RegExp(`FAIL ${t}:unlisted said to pass\n\\s+allow: expected true, got false`));
  assert.equal(r.stdout.trim().split("\n").at(-1), "2 passed, 1 failed");
});

test("a long report read slowly through a pipe arrives whole: the CLI waits for its output before it exits", async () => {
  const n = 300;
  const lines = ["config: config.yaml", "cases:"];
  for (let i = 0; i < n; i++) lines.push(`  - { name: case ${i}, identity: spiffe://example.org/web, expect: allow }`);
  const t = file("long.test.yaml", `${lines.join("\n")}\n`);
  const child = spawn(process.execPath, ["--import", "tsx", CLI, "test", "--explain", t], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Nobody reads for a while: the pipe fills and the rest waits in the CLI's own stream buffer.
  child.stdout.pause();
  await new Promise((r) => setTimeout(r, 1500));
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  assert.ok(out.length > 64 * 1024, `a report larger than a pipe's buffer (${out.length} bytes)`);
  assert.equal(code, 0);
  assert.equal(out.trim().split("\n").at(-1), `${n} passed, 0 failed`);
  assert.equal(out.match(/^PASS /gm)?.length, n);
});

test("a route name the config lacks applied no allowlist: expect route (none), never (top-level)", async () => {
  const t = file(
    "unknown-route.test.yaml",
    [
      "config: config.yaml",
      "cases:",
      "  - { name: none, identity: spiffe://example.org/web, route: nope, expect: { reason: unknown_route, route: (none) } }",
      "  - { name: top, identity: spiffe://example.org/web, route: nope, expect: { route: (top-level) } }",
      "",
    ].join("\n"),
  );
  const r = await runCli(["test", t]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`PASS ${t}:none\n`));
  assert.match(r.stdout, /FAIL .*:top\n\s+route: expected \(top-level\), got \(none\)/);
});
