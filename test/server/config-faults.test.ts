// Issue #10 item 4: config faults. Already covered elsewhere, not repeated here:
//   - invalid config file at start → exit 2 with one line naming the key: test/server/serve.test.ts
//     ("bad config, missing config and bad flags exit 2 with one clear line"), test/cli/check.test.ts,
//     and every key's message in test/config/config.test.ts;
//   - SIGHUP reload in-process (good, bad and deleted file; the policy object stays): test/server/reload.test.ts;
//   - invalid Zentinel Configure on the door (error named per key, old policy decides on that stream):
//     test/adapters/zentinel/configure.test.ts and handshake.test.ts.
// Added here: the same faults against a real `spiffe-authz serve` process signalled with a real SIGHUP, each
// proven with decisions (not the policy object), and more ways a file can be bad (a typo that would fail
// open, a pattern that only fails to compile, broken YAML, an empty file); and a bad Zentinel Configure on the
// full server, proven by the Envoy door's decisions (one config for both doors).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { CLI } from "../helpers/cli.js";
import { checkRequest, envoyClient, freePort, healthClient, unary, type CheckResponseObj } from "../helpers/clients.js";
import { connectAsProxy, headersEvent, zentinelClient } from "../helpers/zentinel.js";
import { outcomeOf, poll, startStack, WEB } from "../helpers/server-harness.js";

const OTHER = "spiffe://example.org/other";

/** Bad files for a SIGHUP reload, the log line each must produce, and what that line must name. */
const BAD_FILES: Array<{ name: string; text: string | null; msg: string; names: RegExp }> = [
  {
    name: "a typo in the failure mode (would it fail open?)",
    text: "allowlist: { exact: [spiffe://example.org/other] }\nfailure: { spire-unavailable: fail_opn }\n",
    msg: "config file reload failed; previous config stays in force",
    names: /failure\.spire-unavailable/,
  },
  {
    name: "a wrong type",
    text: "allowlist: { exact: 42 }\n",
    msg: "config file reload failed; previous config stays in force",
    names: /allowlist\.exact/,
  },
  {
    name: "an unknown key",
    text: "allowlist: { exact: [spiffe://example.org/web] }\nalowlist: {}\n",
    msg: "config file reload failed; previous config stays in force",
    names: /alowlist/,
  },
  {
    name: "a pattern that passes the schema but not the compiler",
    text: "allowlist: { patterns: ['spiffe://example\\.org/(a)\\1'] }\n",
    msg: "config rejected; previous config stays in force",
    names: /allowlist\.patterns\[0\]/,
  },
  {
    name: "broken YAML (a half-written file)",
    text: "allowlist:\n  exact: [spiffe://example.org/web\n",
    msg: "config file reload failed; previous config stays in force",
    names: /not valid YAML/,
  },
  // An empty file is what a non-atomic write (open with O_TRUNC, then write) leaves for a moment. Applied, it
  // would be "all defaults": an empty allowlist, i.e. every verified identity allowed.
  { name: "an empty file", text: "", msg: "config file reload failed; previous config stays in force", names: /empty/ },
  {
    name: "the file deleted",
    text: null,
    msg: "config file reload failed; previous config stays in force",
    names: /no such file/,
  },
];

test("serve + SIGHUP: a good file is applied; each bad one (and a deleted one) is logged naming the problem while the previous config keeps deciding", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "hardening-sighup-"));
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
  });
  const cfg = join(dir, "config.yaml");
  writeFileSync(
    cfg,
    "allowlist: { exact: [spiffe://example.org/web] }\naudit: { log-success: false, log-failure: false }\n",
  );
  const port = await freePort();
  const target = `127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      CLI,
      "serve",
      "--grpc-address",
      target,
      "--spire-socket",
      spire.target,
      "--config",
      cfg,
      "--metrics-address",
      "off",
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const logs = () =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const envoy = envoyClient(target);
  const health = healthClient(target);
  try {
    await poll(
      () => unary<{ status: string }>(health, "Check", { service: "" }),
      (r) => r.status === "SERVING",
      20_000,
      "SERVING",
    );
    const web = (await spire.issueX509Svid(WEB)).pem;
    const other = (await spire.issueX509Svid(OTHER)).pem;
    const decide = async () => {
      const [w, o] = await Promise.all(
        [web, other].map(async (pem) =>
          outcomeOf(await unary<CheckResponseObj>(envoy, "Check", checkRequest({ certPem: pem }))),
        ),
      );
      return `web ${w!.http}, other ${o!.http}`;
    };
    assert.equal(await decide(), "web 200, other 403");

    // A good file is applied: the reload path works, so "unchanged" below means "refused".
    writeFileSync(
      cfg,
      "allowlist: { exact: [spiffe://example.org/other] }\naudit: { log-success: false, log-failure: false }\n",
    );
    child.kill("SIGHUP");
    await poll(decide, (d) => d === "web 403, other 200", 5000, "the new allowlist deciding");

    for (const bad of BAD_FILES) {
      const before = logs().filter((l) => l["msg"] === bad.msg).length;
      if (bad.text === null) rmSync(cfg, { force: true });
      else writeFileSync(cfg, bad.text);
      child.kill("SIGHUP");
      const { value: lines } = await poll(
        async () => logs().filter((l) => l["msg"] === bad.msg),
        (ls) => ls.length > before,
        5000,
        `${bad.name}: "${bad.msg}"`,
      );
      const line = lines.at(-1)!;
      assert.equal(line["level"], "error", bad.name);
      assert.match(String(line["error"]), bad.names, `${bad.name}: the log line names the problem`);
      assert.equal(await decide(), "web 403, other 200", `${bad.name}: the previous config still decides`);
      t.diagnostic(`${bad.name}: ${String(line["error"])}`);
    }
    assert.equal(child.exitCode, null, "still running");
    child.kill("SIGTERM");
    assert.equal(await exited, 0, out.slice(-2000));
  } finally {
    envoy.close();
    health.close();
    if (child.exitCode === null) child.kill("SIGKILL");
    await spire.close();
  }
});

test("full server: a bad Zentinel Configure is refused with its key; both doors keep deciding with the previous config", async () => {
  // Pushed configs are heard only when the file says so (zentinel.accept-configure, off by default).
  const stack = await startStack({ failure: "fail_closed", config: { zentinel: { "accept-configure": true } } });
  const z = zentinelClient(stack.server.grpcTargets[0]!);
  try {
    const web = (await stack.api.issueX509Svid(WEB)).pem;
    const other = (await stack.api.issueX509Svid(OTHER)).pem;
    const envoyDecisions = async () =>
      `web ${(await stack.check({ certPem: web })).http}, other ${(await stack.check({ certPem: other })).http}`;
    assert.equal(await envoyDecisions(), "web 200, other 403");
    const version = stack.server.config.applied.version;

    const s = await connectAsProxy(z);
    const bad: Array<[string, RegExp]> = [
      [
        JSON.stringify({ allowlist: { exact: [OTHER] }, failure: { "spire-unavailable": "fail_opn" } }),
        /failure\.spire-unavailable/,
      ],
      [JSON.stringify({ allowlist: { patterns: ["(a)\\1"] } }), /allowlist\.patterns/],
      ['{"allowlist": {"exact": [', /not valid JSON/],
    ];
    for (const [i, [json, key]] of bad.entries()) {
      s.call.write({ configure: { config_json: json, config_version: `bad-${i}` } });
      await poll(
        async () => s.of("config_update").length,
        (n) => n === i + 1,
        3000,
        `config_error for bad-${i}`,
      );
      const upd = s.of("config_update")[i]!;
      assert.equal(upd["update_type"], "config_error");
      assert.match(String((upd["config_error"] as { error: string }).error), key);
    }
    assert.equal(stack.server.config.applied.version, version, "nothing applied");
    assert.equal(await envoyDecisions(), "web 200, other 403", "Envoy door: previous config");
    s.call.write(headersEvent("z-other", other));
    await poll(
      async () => s.responses().length,
      (n) => n === 1,
      3000,
      "Zentinel answer",
    );
    assert.equal((s.responses()[0]!["block"] as { status: number }).status, 403, "Zentinel door: previous config");

    // And a good one reaches the Envoy door too.
    s.call.write({
      configure: { config_json: JSON.stringify({ allowlist: { exact: [OTHER] } }), config_version: "good" },
    });
    await poll(envoyDecisions, (d) => d === "web 403, other 200", 3000, "the good Configure applied to the Envoy door");
    s.call.end();
  } finally {
    z.close();
    await stack.close();
  }
});
