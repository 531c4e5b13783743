import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { CLI, runCli } from "../helpers/cli.js";
import { until } from "../helpers/log-capture.js";

test("npm run demo: exits 0 and prints the scripted decisions, through both doors and a rotation", async () => {
  const r = await runCli(["demo"], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  const row = (label: string) => lines.find((l) => l.includes(label)) ?? "";
  assert.match(row("services/web   "), /ALLOW\s+200/);
  assert.match(row("intruder"), /DENY\s+403.*not_allowed/);
  assert.match(row("expired certificate"), /DENY\s+401.*expired/);
  assert.match(row("rogue CA"), /DENY\s+401.*untrusted/);
  assert.match(row("no client certificate"), /DENY\s+401.*no_certificate/);
  assert.match(row("Zentinel door"), /ALLOW\s+200/);
  assert.match(row("from the old CA"), /DENY\s+401.*untrusted/);
  assert.match(row("from the new CA"), /ALLOW\s+200/);
  assert.match(r.stdout, /done\.\n$/);
});

test("demo --keep --out DIR: writes the certificates it used, serves /metrics, and check allows with those files", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "demo-keep-")), "files");
  const child = spawn(process.execPath, ["--import", "tsx", CLI, "demo", "--keep", "--out", out], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  try {
    await until(() => stdout.includes("Server kept running"), 60_000, `demo --keep to keep running; ${stderr}`);
    await until(() => /Try:[\s\S]*Authorization\/Check/.test(stdout), 5000, "the instructions");
    assert.ok(stdout.includes(`files in     ${out}`), stdout);
    for (const f of ["bundle.pem", "web.pem", "web.key", "config.yaml"]) assert.ok(existsSync(join(out, f)), f);
    assert.equal(statSync(join(out, "web.key")).mode & 0o077, 0, "the key is the owner's only");

    // The printed check command, run as printed but through this tree's CLI: the files decide allow.
    const checkLine = stdout.split("\n").find((l) => l.includes(" check --config "))!;
    const args = checkLine
      .slice(checkLine.indexOf(" check ") + 1)
      .trim()
      .split(/\s+/);
    const allowed = await runCli(args);
    assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);
    assert.match(allowed.stdout, /allow/i);
    // And the same bundle refuses a certificate it did not issue (the files are what decided, not a default).
    const rogueDir = mkdtempSync(join(tmpdir(), "demo-rogue-"));
    const rogue = await (
      await DevCertificateAuthority.createRoot("example.org")
    ).issueX509Svid("spiffe://example.org/services/web");
    writeFileSync(join(rogueDir, "rogue.pem"), rogue.pem);
    const denied = await runCli([...args.map((a) => (a.endsWith("web.pem") ? join(rogueDir, "rogue.pem") : a))]);
    assert.equal(denied.code, 1, denied.stdout + denied.stderr);

    // /metrics answers on the printed address, with the decisions the demo made.
    const metricsUrl = /metrics\s+(http:\/\/\S+\/metrics)/.exec(stdout)?.[1];
    assert.ok(metricsUrl, stdout);
    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^spiffe_authz_decisions_total\{decision="allow",reason="ok",transport="envoy"\} [1-9]/m);
    assert.match(text, /^spiffe_authz_build_info\{/m);

    child.kill("SIGTERM");
    assert.equal(await exited, 0, stderr);
    assert.ok(existsSync(join(out, "web.pem")), "the files outlive the demo");
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

test("demo --out refuses a directory already holding its files, or a file in its place, before running (exit 2)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "demo-out-"));
  writeFileSync(join(dir, "config.yaml"), "mine: true\n");
  symlinkSync("/etc/hostname", join(dir, "bundle.pem"));
  const r = await runCli(["demo", "--out", dir]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /--out: .* already holds bundle\.pem, config\.yaml; choose another directory/);
  assert.equal(readFileSync(join(dir, "config.yaml"), "utf8"), "mine: true\n", "the user's file is left as it was");
  assert.equal(r.stdout, "", "refused before the demo ran");
  const notDir = join(dir, "config.yaml");
  const f = await runCli(["demo", "--out", notDir]);
  assert.equal(f.code, 2);
  assert.match(f.stderr, /exists and is not a directory/);
});
