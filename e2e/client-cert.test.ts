// RFC 9440 through the real Envoy 1.40: the test plays the trusted TLS-terminating hop in front of Envoy and sets
// Client-Cert (the leaf's DER as a structured-field byte sequence) from a real SPIRE SVID; Envoy's ext_authz
// filter hands every request header to spiffe-authz, which runs deploy/compose/spiffe-authz.yaml with one change,
// tls.client-cert-format: rfc9440. Requests go to Envoy's listener that asks for no client certificate (port
// 8444), so no source certificate outranks the header. Assertions are on what the upstream received.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { https, rid } from "./lib/parts.js";
import { id, type X509Svid } from "./lib/spire.js";
import { ENVOY_ID, Stack } from "./lib/stack.js";
import { deployFile } from "./lib/templates.js";

/** Client-Cert as a trusted hop sets it: `:base64(DER):`. */
const clientCert = (svid: X509Svid) => `:${new X509Certificate(svid.certPem).raw.toString("base64")}:`;

describe("RFC 9440 Client-Cert set by the hop in front of Envoy → ext_authz → spiffe-authz (client-cert-format: rfc9440)", () => {
  const stack = new Stack("client-cert");
  const svid: Record<string, X509Svid> = {};

  before(async () => {
    const config = parse(deployFile("compose/spiffe-authz.yaml")) as Record<string, unknown>;
    assert.equal(config["tls"], undefined, "the shipped config sets no tls block: this test adds the only one");
    config["tls"] = { "client-cert-format": "rfc9440" };
    const file = stack.scene.path("spiffe-authz-rfc9440.yaml");
    writeFileSync(file, stringify(config));
    await stack.start({ workloads: ["frontend", "intruder"], authzConfig: file });
    for (const w of ["frontend", "intruder"]) svid[w] = await stack.workload(w).x509();
  });
  after(() => stack.stop());

  const tls = () => ({ caPem: svid["frontend"]!.bundlePem, serverId: ENVOY_ID });

  it("frontend's Client-Cert → 200; the upstream gets frontend's identity headers, not the client's forged ones", () =>
    stack.step(async () => {
      const r = rid("rfc9440-allow");
      const res = await https(stack.envoy.ports.jwt, "/api/orders", tls(), {
        headers: {
          "x-request-id": r,
          "client-cert": clientCert(svid["frontend"]!),
          "x-spiffe-id": "spiffe://example.org/admin",
          "x-auth-method": "forged",
        },
      });
      assert.equal(res.status, 200, res.body);
      const up = stack.echo.byRequestId(r);
      assert.ok(up, "the upstream never saw the allowed request");
      assert.equal(up.headers["x-spiffe-id"], id("frontend"));
      assert.equal(up.headers["x-spiffe-trust-domain"], "example.org");
      assert.equal(up.headers["x-spiffe-workload-id"], "/frontend");
      assert.equal(up.headers["x-auth-method"], "spiffe");
      assert.match(String(up.headers["x-auth-timestamp"]), /^\d{10}$/);
      const audit = await stack.authz.auditLine(r, (a) => a["request_id"] === r);
      assert.equal(audit["spiffe_id"], id("frontend"), JSON.stringify(audit));
      assert.equal(audit["credential_source"], "rfc9440");
    }));

  it("intruder's Client-Cert (a valid SVID, not on the allowlist) → 403; a malformed one → 401; neither reaches the upstream", () =>
    stack.step(async () => {
      const r1 = rid("rfc9440-intruder");
      const denied = await https(stack.envoy.ports.jwt, "/api/orders", tls(), {
        headers: { "x-request-id": r1, "client-cert": clientCert(svid["intruder"]!) },
      });
      assert.equal(denied.status, 403, denied.body);
      assert.equal(JSON.parse(denied.body).reason, "not_allowed");
      assert.equal(stack.echo.byRequestId(r1), undefined);

      const r2 = rid("rfc9440-malformed");
      const bad = await https(stack.envoy.ports.jwt, "/api/orders", tls(), {
        headers: { "x-request-id": r2, "client-cert": `${clientCert(svid["frontend"]!)};by=me` },
      });
      assert.equal(bad.status, 401, bad.body);
      assert.equal(JSON.parse(bad.body).reason, "malformed_certificate");
      assert.equal(stack.echo.byRequestId(r2), undefined);
    }));
});
