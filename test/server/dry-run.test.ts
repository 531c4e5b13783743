// enforcement: dry-run through the real server (startServer beside a dev Workload API, both doors, /metrics):
// a would-be deny passes with 200, is audited as one and counted apart from enforced decisions, carries no
// identity it did not prove, and a pushed config can neither start dry-run, nor widen it, nor restart it after
// an earlier push ended it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkRequest, unary, zentinelClient, type CheckResponseObj } from "../helpers/clients.js";
import { connectAsProxy, headerOps, headersEvent, openStream, type ProxyStream } from "../helpers/zentinel.js";
import { poll, startStack, WEB } from "../helpers/server-harness.js";
import { until } from "../helpers/log-capture.js";

const OTHER = "spiffe://example.org/other";
const DRY = "spiffe_authz_dry_run_decisions_total";
const ENFORCED = "spiffe_authz_decisions_total";

async function answer(s: ProxyStream, ev: ReturnType<typeof headersEvent>): Promise<Record<string, unknown>> {
  const cid = ev.request_headers.metadata.correlation_id;
  s.call.write(ev);
  await until(() => s.responses().some((r) => r["correlation_id"] === cid), 3000, `answer to ${cid}`);
  return s.responses().find((r) => r["correlation_id"] === cid)!;
}

test("full server: a dry-run route passes what it would deny, audits and counts it apart; the enforced route still denies; both doors", async () => {
  const stack = await startStack({
    failure: "fail_closed",
    config: {
      allowlist: { exact: [WEB] },
      routes: [
        { name: "canary", match: { "path-prefix": "/canary" }, enforcement: "dry-run" },
        { name: "api", match: { "path-prefix": "/api" } },
      ],
      audit: { "log-success": false, "log-failure": true },
      zentinel: { "accept-configure": true },
    },
  });
  const z = zentinelClient(stack.server.grpcTargets[0]!);
  try {
    const other = (await stack.api.issueX509Svid(OTHER)).pem;
    const spoof = { "x-spiffe-id": WEB, x_spiffe_id: WEB };
    const warn = stack.lines().find((l) => String(l["msg"]).startsWith("enforcement dry-run: requests are not denied"));
    assert.ok(warn, "one warn line at start names where dry-run is in force");
    assert.equal(warn["level"], 40);
    assert.match(String(warn["msg"]), /\(routes: canary\)/);
    assert.equal(await stack.metric("spiffe_authz_dry_run_in_force"), 1);

    // Envoy: a verified identity the allowlist refuses, on the dry-run route: 200, its own identity, spoofs removed.
    const dry = await unary<CheckResponseObj>(
      stack.envoy,
      "Check",
      checkRequest({ certPem: other, path: "/canary/x", headers: spoof }),
    );
    assert.equal(dry.status.code, 0);
    assert.equal(dry.http_response, "ok_response");
    const set = Object.fromEntries(dry.ok_response!.headers.map((h) => [h.header.key.toLowerCase(), h.header.value]));
    assert.equal(set["x-spiffe-id"], OTHER, "the verified identity, not the spoofed one");
    assert.ok(dry.ok_response!.headers_to_remove.includes("x_spiffe_id"));
    const md = dry.dynamic_metadata!.fields as Record<string, Record<string, unknown>>;
    assert.equal(md["enforcement"]?.["stringValue"] ?? md["enforcement"]?.["string_value"], "dry-run");
    assert.equal(md["would_allow"]?.["boolValue"] ?? md["would_allow"]?.["bool_value"], false);

    // No certificate on the dry-run route: passes, with no identity at all and every spoofed header removed.
    const bare = await unary<CheckResponseObj>(
      stack.envoy,
      "Check",
      checkRequest({ path: "/canary/y", headers: spoof }),
    );
    assert.equal(bare.status.code, 0);
    assert.deepEqual(bare.ok_response!.headers, []);
    for (const h of ["x-spiffe-id", "x_spiffe_id", "x-auth-method"])
      assert.ok(bare.ok_response!.headers_to_remove.includes(h), h);

    // The enforced route: the same identity is denied.
    assert.equal((await stack.check({ certPem: other })).http, 403);

    // Zentinel: the same through the agent protocol.
    const s = await connectAsProxy(z);
    const zdry = await answer(
      s,
      headersEvent("z-dry", other, {
        route: "canary",
        uri: "/canary/z",
        headers: [{ name: "X-SPIFFE-Id", value: WEB }],
      }),
    );
    assert.equal(zdry["decision"], "allow");
    const ops = headerOps(zdry);
    assert.ok(
      ops.findIndex((o) => o[0] === "remove" && o[1] === "x-spiffe-id") < ops.findIndex((o) => o[1] === "X-SPIFFE-Id"),
    );
    assert.deepEqual(
      ops.find((o) => o[0] === "set" && o[1] === "X-SPIFFE-Id"),
      ["set", "X-SPIFFE-Id", OTHER],
    );
    const zaudit = zdry["audit"] as { tags: string[]; reason_codes: string[]; custom: Record<string, string> };
    assert.deepEqual(zaudit.tags, ["spiffe", "dry-run"]);
    assert.deepEqual(zaudit.reason_codes, ["not_allowed"]);
    assert.equal(zaudit.custom["would_allow"], "false");
    const zbare = await answer(
      s,
      headersEvent("z-bare", undefined, { route: "canary", headers: [{ name: "X-SPIFFE-Id", value: WEB }] }),
    );
    assert.equal(zbare["decision"], "allow");
    assert.deepEqual(
      headerOps(zbare).filter((o) => o[0] !== "remove"),
      [],
      "no identity set without a verified one",
    );
    assert.ok(headerOps(zbare).some((o) => o[0] === "remove" && o[1] === "x-spiffe-id"));
    assert.ok("block" in (await answer(s, headersEvent("z-api", other, { route: "api" }))), "enforced route blocks");

    // Audit: each would-be deny is a warn line saying so; the enforced deny's line claims no dry-run.
    const audit = stack.lines().filter((l) => l["type"] === "audit");
    const wouldDeny = audit.filter((l) => l["enforcement"] === "dry-run" && l["would_allow"] === false);
    assert.deepEqual(
      wouldDeny.map((l) => [
        l["transport"],
        l["reason"],
        l["status"],
        l["would_status"],
        l["decision"],
        l["route"],
        l["level"],
        l["msg"],
      ]),
      [
        ["envoy", "not_allowed", 200, 403, "allow", "canary", 40, "authz decision (dry-run: would deny, not enforced)"],
        [
          "envoy",
          "no_certificate",
          200,
          401,
          "allow",
          "canary",
          40,
          "authz decision (dry-run: would deny, not enforced)",
        ],
        [
          "zentinel",
          "not_allowed",
          200,
          403,
          "allow",
          "canary",
          40,
          "authz decision (dry-run: would deny, not enforced)",
        ],
        [
          "zentinel",
          "no_certificate",
          200,
          401,
          "allow",
          "canary",
          40,
          "authz decision (dry-run: would deny, not enforced)",
        ],
      ],
    );
    assert.equal(wouldDeny[0]!["spiffe_id"], OTHER);
    const enforced = audit.filter((l) => l["decision"] === "deny");
    assert.equal(enforced.length, 2);
    for (const l of enforced) assert.equal("enforcement" in l || "would_allow" in l, false, JSON.stringify(l));

    // Metrics: would-be decisions in their own counter; the enforced counter holds only enforced ones.
    for (const transport of ["envoy", "zentinel"]) {
      assert.equal(await stack.metric(DRY, { would: "deny", reason: "not_allowed", transport }), 1, transport);
      assert.equal(await stack.metric(DRY, { would: "deny", reason: "no_certificate", transport }), 1, transport);
      assert.equal(await stack.metric(ENFORCED, { decision: "deny", reason: "not_allowed", transport }), 1, transport);
      assert.equal(await stack.metric(ENFORCED, { decision: "allow", reason: "not_allowed", transport }), undefined);
      assert.equal(await stack.metric(ENFORCED, { decision: "allow", reason: "no_certificate", transport }), undefined);
    }

    // Pushed config: never starts dry-run, at the top level or on a route; ending it is fine.
    const errors = () => s.of("config_update").map((u) => u["config_error"] as { error: string; field?: string });
    const version = stack.server.config.applied.version;
    const refused: Array<[unknown, string]> = [
      [{ enforcement: "dry-run" }, "enforcement"],
      [
        {
          routes: [
            { name: "canary", match: { "path-prefix": "/canary" }, enforcement: "dry-run" },
            { name: "api", match: { "path-prefix": "/api" }, enforcement: "dry-run" },
          ],
        },
        'routes["api"].enforcement',
      ],
      [
        {
          routes: [
            { name: "canary", match: { "path-prefix": "/" }, enforcement: "dry-run" },
            { name: "api", match: { "path-prefix": "/api" } },
          ],
        },
        "routes",
      ],
    ];
    for (const [i, [pushed, field]] of refused.entries()) {
      s.call.write({ configure: { config_json: JSON.stringify(pushed), config_version: `loose-${i}` } });
      await until(() => errors().length === i + 1, 3000, `config_error for ${JSON.stringify(pushed)}`);
      assert.equal(errors()[i]!.field, field);
    }
    assert.equal(stack.server.config.applied.version, version, "nothing applied");
    assert.equal((await stack.check({ certPem: other })).http, 403, "the api route is still enforced");
    s.call.write({
      configure: {
        config_json: JSON.stringify({
          routes: [
            { name: "canary", match: { "path-prefix": "/canary" }, enforcement: "enforce" },
            { name: "api", match: { "path-prefix": "/api" } },
          ],
        }),
        config_version: "enforce-canary",
      },
    });
    await poll(
      async () => stack.server.config.applied.version,
      (v) => v === "enforce-canary",
      3000,
      "the tightening push",
    );
    const after = await unary<CheckResponseObj>(
      stack.envoy,
      "Check",
      checkRequest({ certPem: other, path: "/canary/x" }),
    );
    assert.equal(after.status.code, 7, "canary now enforces");
    assert.equal(await stack.metric("spiffe_authz_dry_run_in_force"), 0);
    // A later push about something else, leaving canary's enforcement out (the file's dry-run), may not restart it.
    s.call.write({
      configure: {
        config_json: JSON.stringify({ allowlist: { exact: [WEB, "spiffe://example.org/extra"] } }),
        config_version: "unrelated",
      },
    });
    await until(() => errors().length === refused.length + 1, 3000, "config_error for the push restarting dry-run");
    assert.equal(errors()[refused.length]!.field, 'routes["canary"].enforcement');
    assert.equal(stack.server.config.applied.version, "enforce-canary");
    const still = await unary<CheckResponseObj>(
      stack.envoy,
      "Check",
      checkRequest({ certPem: other, path: "/canary/x" }),
    );
    assert.equal(still.status.code, 7, "canary still enforces");
    assert.equal(await stack.metric("spiffe_authz_dry_run_in_force"), 0);
    s.call.end();
  } finally {
    z.close();
    await stack.close();
  }
});

test("full server: a handshake config_json may not start dry-run either", async () => {
  const stack = await startStack({ failure: "fail_closed", config: { zentinel: { "accept-configure": true } } });
  const z = zentinelClient(stack.server.grpcTargets[0]!);
  try {
    const s = openStream(z);
    await until(s.headersReceived, 3000, "response headers");
    s.call.write({
      handshake: {
        supported_versions: [2],
        proxy_id: "zentinel-proxy",
        config_json: JSON.stringify({ enforcement: "dry-run" }),
      },
    });
    await until(() => s.of("config_update").length === 1, 3000, "config_error for the handshake config_json");
    assert.equal((s.of("config_update")[0]!["config_error"] as { field: string }).field, "enforcement");
    assert.equal(stack.server.engine.policy.dryRunScopes.length, 0);
    const intruder = (await stack.api.issueX509Svid("spiffe://example.org/intruder")).pem;
    assert.equal((await stack.check({ certPem: intruder })).http, 403);
    assert.equal(await stack.metric("spiffe_authz_dry_run_in_force"), 0);
    s.call.end();
  } finally {
    z.close();
    await stack.close();
  }
});
