// Config pushed over the network (Configure events, handshake config_json) through the real server: ignored
// unless the config FILE says zentinel.accept-configure: true, and then tighten-only over the file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevCertificateAuthority } from "../../../src/dev-ca/index.js";
import {
  blockOf,
  headersEvent,
  openStream,
  PROXY_HANDSHAKE,
  type Msg,
  type ProxyStream,
} from "../../helpers/zentinel.js";
import { INTRUDER, WEB, startServerDoor } from "../../helpers/zentinel-server.js";
import { unary, type Client } from "../../helpers/clients.js";
import { sleep, until } from "../../helpers/log-capture.js";

/** What an attacker would push: every request passes. */
const LOOSEN = JSON.stringify({ failure: { "validation-failure": "log_and_allow" }, tls: { "require-mtls": false } });
const IGNORED = "Zentinel pushed config ignored";

/** The proxy's connect, with our own config_json in the handshake. */
async function connectWith(client: Client, configJson: string): Promise<ProxyStream> {
  const s = openStream(client);
  await until(s.headersReceived, 3000, "response headers");
  s.call.write({ handshake: { ...PROXY_HANDSHAKE.handshake, config_json: configJson } });
  await until(() => s.got.length >= 1, 3000, "HandshakeResponse");
  return s;
}

/** Decides on the top-level allowlist (no route_id), so the answer shows the policy in force. */
async function decide(s: ProxyStream, cid: string, cert: string | undefined): Promise<Record<string, unknown>> {
  s.call.write(headersEvent(cid, cert, { route: "" }));
  await until(() => s.responses().some((r) => r["correlation_id"] === cid), 3000, `answer to ${cid}`);
  return s.responses().find((r) => r["correlation_id"] === cid)!;
}

const configErrors = (s: ProxyStream) =>
  s
    .of("config_update")
    .map((u) => ({ id: u["request_id"], ...(u["config_error"] as { error: string; field?: string }) }));

test("accept-configure off (the default): Configure and handshake config_json change nothing, answered with config_error, logged once per connection", async () => {
  const d = await startServerDoor({ allowlist: { exact: [WEB] } });
  try {
    const version = d.server.config.applied.version;

    // The handshake succeeds all the same (a refused one would leave the proxy without us), the config is not applied.
    const s = await connectWith(d.client, LOOSEN);
    const hs = s.got[0]!["handshake"] as Record<string, unknown>;
    assert.equal(hs["success"], true);
    const caps = hs["capabilities"] as { supported_events: number[]; features: { config_push: boolean } };
    assert.equal(caps.features.config_push, false, "config push not announced while it is off");
    assert.deepEqual(caps.supported_events, [1], "REQUEST_HEADERS only");
    await until(() => configErrors(s).length === 1, 3000, "config_error for the handshake config_json");
    assert.equal(configErrors(s)[0]!.field, "zentinel.accept-configure");
    assert.match(
      configErrors(s)[0]!.error,
      /accept-configure: is false in the config file: handshake config_json ignored/,
    );

    // Configure events on the same stream: answered every time, logged no more.
    s.call.write({ configure: { config_json: LOOSEN, config_version: "evil-1" } });
    s.call.write({ configure: { config_json: LOOSEN, config_version: "evil-2" } });
    await until(() => configErrors(s).length === 3, 3000, "config_error per Configure");
    assert.deepEqual(
      configErrors(s)
        .slice(1)
        .map((e) => [e.id, e.field]),
      [
        ["evil-1", "zentinel.accept-configure"],
        ["evil-2", "zentinel.accept-configure"],
      ],
    );
    assert.match(
      configErrors(s)[1]!.error,
      /accept-configure: is false in the config file: Configure event ignored; the config in force stays$/,
    );
    assert.equal(d.logged(IGNORED).length, 1, "one warning for the connection");
    assert.equal(d.logged(IGNORED)[0]!["level"], 40);
    assert.equal(d.logged(IGNORED)[0]!["source"], "handshake");

    // ProcessEvent: the same answer; a peer is told once too.
    for (const v of ["u-1", "u-2"]) {
      const res = await unary<Msg>(d.client, "ProcessEvent", { configure: { config_json: LOOSEN, config_version: v } });
      assert.equal(res.message, "config_update");
      assert.equal((res["config_update"] as Record<string, unknown>)["request_id"], v);
      assert.equal(
        ((res["config_update"] as Record<string, unknown>)["config_error"] as { field: string }).field,
        "zentinel.accept-configure",
      );
    }
    assert.equal(d.logged(IGNORED).length, 2, "one more for the ProcessEvent peer, not one per call");
    assert.deepEqual([d.logged(IGNORED)[1]!["source"], d.logged(IGNORED)[1]!["version"]], ["configure", "u-1"]);

    // Nothing changed: still no credential → 401, intruder → 403, web allowed.
    assert.equal(blockOf(await decide(s, "none", undefined)).status, 401);
    assert.equal(blockOf(await decide(s, "intruder", d.certs.intruder)).status, 403);
    assert.equal((await decide(s, "web", d.certs.web))["decision"], "allow");
    assert.equal(d.server.config.applied.version, version);
    assert.equal(d.server.config.applied.source, "file");
    assert.equal(d.server.config.applied.config.tls["require-mtls"], true);

    // Another connection is another warning.
    const s2 = await connectWith(d.client, LOOSEN);
    await until(() => configErrors(s2).length === 1, 3000, "config_error on the second stream");
    assert.equal(d.logged(IGNORED).length, 3);

    // What the real proxy sends ("{}"), or nothing at all: success, no config_error, no warning.
    for (const empty of ["{}", "", " null "]) {
      const q = await connectWith(d.client, empty);
      assert.equal((q.got[0]!["handshake"] as Record<string, unknown>)["success"], true, JSON.stringify(empty));
      s.call.write({ configure: { config_json: empty } }); // and as a Configure event on the first stream
      await sleep(50);
      assert.equal(configErrors(q).length, 0);
      q.call.end();
    }
    assert.equal(configErrors(s).length, 3, "an empty Configure has nothing to refuse");
    assert.equal(d.logged(IGNORED).length, 3);
    s.call.end();
    s2.call.end();
  } finally {
    await d.close();
  }
});

test("accept-configure on: a push is merged over the file and may tighten, never loosen; refusals keep the previous config", async () => {
  const partner = await DevCertificateAuthority.createRoot("partner.org");
  const bundle = join(mkdtempSync(join(tmpdir(), "partner-")), "partner.pem");
  writeFileSync(bundle, partner.pem);
  const file = {
    zentinel: { "accept-configure": true },
    "trust-bundles": [{ "trust-domain": "partner.org", path: bundle }],
    allowlist: { exact: [WEB] },
    routes: [{ name: "pay", match: { "path-prefix": "/pay" }, allowlist: { exact: [WEB] } }],
    failure: { "spire-unavailable": "cache" },
  };
  const d = await startServerDoor(file);
  try {
    const fileConfig = d.server.config.applied.config;
    const s = await connectWith(d.client, "{}");
    assert.equal(
      ((s.got[0]!["handshake"] as Record<string, unknown>)["capabilities"] as { features: { config_push: boolean } })
        .features.config_push,
      true,
    );

    const refused: Array<[unknown, string, RegExp]> = [
      [
        JSON.parse(LOOSEN),
        "tls.require-mtls",
        /false would loosen the config file's true; also failure\.validation-failure log_and_allow would loosen the config file's reject/,
      ],
      [
        { failure: { "spire-unavailable": "fail_open" } },
        "failure.spire-unavailable",
        /fail_open would loosen the config file's cache/,
      ],
      [{ tls: { "require-mtls": false } }, "tls.require-mtls", /loosen/],
      [{ allowlist: { exact: [] } }, "allowlist", /would become empty/],
      [
        { routes: [{ name: "pay", match: { "path-prefix": "/pay" }, allowlist: {} }] },
        'routes["pay"].allowlist',
        /would become empty/,
      ],
      [{ routes: [{ name: "other", allowlist: { exact: [WEB] } }] }, 'routes["pay"]', /may not remove it/],
      [{ headers: { "spiffe-id": "X-Peer-Id" } }, "headers", /identity header names/],
      [{ "trust-bundles": [] }, "trust-bundles", /only the config file/],
      [{ spire: { "api-timeout-ms": 1000 } }, "spire", /only the config file/],
      [{ server: { tls: { "authorized-clients": { exact: [WEB] } } } }, "server", /only the config file/],
      [{ zentinel: { "max-streams": 1 } }, "zentinel", /only the config file/],
      // Validated as a file is: the key path the sender wrote.
      [{ allowlist: { exact: "not-a-list" } }, "allowlist.exact", /expected array/],
    ];
    const version = d.server.config.applied.version;
    for (const [i, [pushed, field, problem]] of refused.entries()) {
      s.call.write({ configure: { config_json: JSON.stringify(pushed), config_version: `bad-${i}` } });
      await until(() => configErrors(s).length === i + 1, 3000, `config_error for ${JSON.stringify(pushed)}`);
      const e = configErrors(s)[i]!;
      assert.equal(e.id, `bad-${i}`);
      assert.equal(e.field, field, JSON.stringify(pushed));
      assert.match(e.error, problem);
    }
    assert.equal(d.server.config.applied.version, version, "nothing applied");
    assert.equal(blockOf(await decide(s, "none", undefined)).status, 401);
    assert.equal(d.logged(IGNORED).length, 0, "accepted pushes are not 'ignored'");
    // Each refusal is in our log too, with what the sender is told.
    const rejected = d.logged("Zentinel config rejected; the previous config stays in force");
    assert.equal(rejected.length, refused.length);
    assert.deepEqual(
      [rejected[0]!["level"], rejected[0]!["source"], rejected[0]!["version"], rejected[0]!["field"]],
      [50, "configure", "bad-0", "tls.require-mtls"],
    );
    assert.equal(rejected[0]!["error"], configErrors(s)[0]!.error);

    // Handshake config_json is held to the same rules.
    const h = await connectWith(d.client, LOOSEN);
    await until(() => configErrors(h).length === 1, 3000, "config_error for the handshake config_json");
    assert.equal(configErrors(h)[0]!.field, "tls.require-mtls");
    h.call.end();

    // A push that changes entries and tightens: applied; the keys it leaves out keep the FILE's values.
    s.call.write({
      configure: {
        config_json: JSON.stringify({
          allowlist: { exact: [INTRUDER] },
          failure: { "spire-unavailable": "fail_closed", "cache-ttl": 60 },
        }),
        config_version: "good",
      },
    });
    await until(() => d.server.config.applied.version === "good", 3000, "the good push applied");
    const applied = d.server.config.applied.config;
    assert.equal(d.server.config.applied.source, "configure");
    assert.deepEqual(applied["trust-bundles"], fileConfig["trust-bundles"], "the file's trust-bundles are kept");
    assert.deepEqual(applied.routes, fileConfig.routes);
    assert.deepEqual(applied.zentinel, fileConfig.zentinel);
    assert.deepEqual(applied.failure, {
      "spire-unavailable": "fail_closed",
      "validation-failure": "reject",
      "cache-ttl": 60,
    });
    assert.equal(d.server.config.fileConfig, fileConfig, "the file's config is still what pushes are measured against");
    assert.equal(blockOf(await decide(s, "web-after", d.certs.web)).status, 403);
    assert.equal((await decide(s, "intruder-after", d.certs.intruder))["decision"], "allow");
    assert.equal(configErrors(s).length, refused.length, "an accepted push gets no answer");

    // Measured against the FILE, not the push in force: back to cache is fine, fail_open is not.
    s.call.write({
      configure: { config_json: JSON.stringify({ failure: { "spire-unavailable": "cache" } }), config_version: "back" },
    });
    await until(() => d.server.config.applied.version === "back", 3000, "back to the file's failure mode");
    assert.deepEqual(
      d.server.config.applied.config.allowlist,
      fileConfig.allowlist,
      "each push is laid over the file, not over the previous push",
    );
    s.call.end();
  } finally {
    await d.close();
  }
});
