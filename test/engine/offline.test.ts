import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/config/errors.js";
import { checkOffline, CheckInputError } from "../../src/engine/offline.js";
import { DevCertificateAuthority, spiffeBundleJson } from "../../src/dev-ca/index.js";

test("checkOffline: leaf + chain against PEM and SPIFFE-bundle-JSON files, with routes", async () => {
  const root = await DevCertificateAuthority.createRoot("example.org");
  const inter = await root.createIntermediate();
  const svid = await inter.issueX509Svid("/web");
  const config = parseConfig({
    allowlist: { exact: ["spiffe://example.org/nobody"] },
    routes: [{ name: "web", match: { "path-prefix": "/web" }, allowlist: { prefix: ["spiffe://example.org/web"] } }],
  });
  const pemBundles = new Map([["example.org", root.pem]]);
  const jsonBundles = new Map([["example.org", spiffeBundleJson("example.org", { x509: [root] })]]);

  const noChain = await checkOffline({ config, certPem: svid.pem, bundles: pemBundles, route: "web" });
  assert.equal(noChain.reason, "untrusted");

  for (const bundles of [pemBundles, jsonBundles]) {
    // chain file with or without the leaf at its head
    for (const chainPem of [inter.pem, svid.chainPem]) {
      const d = await checkOffline({ config, certPem: svid.pem, chainPem, bundles, route: "web" });
      assert.equal(d.reason, "ok", d.detail);
      assert.equal(d.route, "web");
    }
  }
  const top = await checkOffline({ config, certPem: svid.chainPem, bundles: pemBundles });
  assert.equal(top.reason, "not_allowed");
});

test("checkOffline: unknown trust domain reads as such (SPIRE counts as available), clock injectable", async () => {
  const root = await DevCertificateAuthority.createRoot("example.org");
  const svid = await root.issueX509Svid("/web");
  const config = parseConfig({});
  assert.equal((await checkOffline({ config, certPem: svid.pem, bundles: new Map() })).reason, "unknown_trust_domain");
  const future = new Date(svid.certificate.notAfter.getTime() + 1000);
  assert.equal(
    (await checkOffline({ config, certPem: svid.pem, bundles: new Map([["example.org", root.pem]]), now: future }))
      .reason,
    "expired",
  );
  assert.equal((await checkOffline({ config, certPem: "junk", bundles: new Map() })).reason, "malformed_certificate");
});

test("checkOffline: bad bundle → CheckInputError naming the trust domain; bad config → ConfigError", async () => {
  const root = await DevCertificateAuthority.createRoot("example.org");
  const svid = await root.issueX509Svid("/web");
  await assert.rejects(
    checkOffline({ config: parseConfig({}), certPem: svid.pem, bundles: new Map([["example.org", "not a bundle"]]) }),
    (e: unknown) => e instanceof CheckInputError && e.message.startsWith("bundle for example.org: "),
  );
  await assert.rejects(
    checkOffline({
      config: parseConfig({ allowlist: { patterns: ["(a)\\1"] } }),
      certPem: svid.pem,
      bundles: new Map(),
    }),
    ConfigError,
  );
});
