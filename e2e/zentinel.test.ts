// The Zentinel proxy (zentinel-proxy from crates.io) running deploy/zentinel/zentinel.kdl, its agent filter
// calling spiffe-authz over the v2 gRPC transport. Zentinel hands agents no TLS client certificate, so the test
// plays the trusted hop in front of it and sets X-Forwarded-Client-Cert from a real SPIRE SVID.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { http, https, rid, type Reply } from "./lib/parts.js";
import { requirePeers } from "./lib/peers.js";
import { until } from "./lib/proc.js";
import { id, type X509Svid } from "./lib/spire.js";
import { ENVOY_ID, JWT_AUDIENCE, Stack } from "./lib/stack.js";
import { Zentinel } from "./lib/zentinel.js";

/** The XFCC element an mTLS-terminating Envoy (SANITIZE_SET, cert + uri) would set for this SVID. */
function xfcc(svid: X509Svid): string {
  const cert = new X509Certificate(svid.certPem);
  const hash = createHash("sha256").update(cert.raw).digest("hex");
  const uri = /URI:([^,\s]+)/.exec(cert.subjectAltName ?? "")?.[1] ?? "";
  return `By=${ENVOY_ID};Hash=${hash};Cert="${encodeURIComponent(svid.certPem)}";URI=${uri}`;
}

describe("Zentinel proxy → spiffe-authz (agent protocol v2 over gRPC)", () => {
  const zentinelBin = requirePeers(["spire", "envoy", "zentinel"]).zentinel;
  const stack = new Stack("zentinel");
  let zentinel: Zentinel;
  const svid: Record<string, X509Svid> = {};

  before(async () => {
    await stack.start({ workloads: ["frontend", "intruder", "batch"] });
    for (const w of ["frontend", "intruder"]) svid[w] = await stack.workload(w).x509();
    zentinel = new Zentinel(stack.scene, zentinelBin);
    // zentinel-proxy 0.6 cannot present a client certificate to its agents: it reaches the mTLS-only spiffe-authz
    // through Envoy's loopback egress listener (deploy/envoy/envoy.yaml zentinel_agent_egress).
    await zentinel.start({ authzPort: stack.envoy.ports.egress, backendPort: stack.echo.port });
  });
  after(() => stack.stop());

  const get = (path: string, headers: Record<string, string>) => http(zentinel.port, path, { headers });

  it("the real proxy's handshake: its streams are accepted, named zentinel-proxy and its version", () =>
    stack.step(async () => {
      const connected = await until(
        "Zentinel's handshakes in spiffe-authz's log",
        async () => {
          const lines = stack.authz.proc.output
            .split("\n")
            .filter((l) => l.includes('"msg":"Zentinel proxy connected"'));
          return lines.length > 0 ? lines.map((l) => JSON.parse(l) as Record<string, unknown>) : undefined;
        },
        15_000,
      );
      assert.equal(connected[0]!["proxyId"], "zentinel-proxy");
      assert.match(String(connected[0]!["proxyVersion"]), /^0\.6\./);
      assert.doesNotMatch(stack.authz.proc.output, /Zentinel handshake refused/);
    }));

  it("allowed by XFCC → 200; the real proxy applied our header operations: identity set, the client's forged one gone", () =>
    stack.step(async () => {
      const r = rid("z-allow");
      const res = await get("/api/orders", {
        "x-request-id": r,
        "x-forwarded-client-cert": xfcc(svid["frontend"]!),
        "x-spiffe-id": "spiffe://example.org/admin",
        "x-auth-method": "forged",
      });
      assert.equal(res.status, 200, res.body);
      const up = stack.echo.byRequestId(r);
      assert.ok(up, "the upstream never saw the allowed request");
      assert.equal(up.headers["x-spiffe-id"], id("frontend"));
      assert.equal(up.headers["x-spiffe-workload-id"], "/frontend");
      assert.equal(up.headers["x-auth-method"], "spiffe");
      assert.equal(up.headers["x-forwarded-by"], "Zentinel");
    }));

  it("intruder by XFCC → 403 from the proxy; no XFCC → 401; neither reaches the upstream", () =>
    stack.step(async () => {
      const r1 = rid("z-intruder");
      const denied = await get("/api/orders", {
        "x-request-id": r1,
        "x-forwarded-client-cert": xfcc(svid["intruder"]!),
      });
      assert.equal(denied.status, 403);
      assert.equal(stack.echo.byRequestId(r1), undefined);
      const r2 = rid("z-nocert");
      const none = await get("/api/orders", { "x-request-id": r2, "x-spiffe-id": id("frontend") });
      assert.equal(none.status, 401);
      assert.equal(stack.echo.byRequestId(r2), undefined);
      const audit = await stack.authz.auditLine(r1, (a) => a["correlation_id"] === r1);
      assert.equal(audit?.["reason"], "not_allowed");
      assert.equal(audit?.["transport"], "zentinel");
      assert.equal(audit?.["credential_source"], "xfcc");
    }));

  it("JWT-SVID from the real agent → 200 with X-Auth-Method spiffe-jwt; wrong audience → 401", () =>
    stack.step(async () => {
      const r = rid("z-jwt");
      const ok = await get("/api/jobs", {
        "x-request-id": r,
        authorization: `Bearer ${await stack.workload("batch").jwt(JWT_AUDIENCE)}`,
      });
      assert.equal(ok.status, 200, ok.body);
      assert.equal(stack.echo.byRequestId(r)?.headers["x-spiffe-id"], id("batch"));
      assert.equal(stack.echo.byRequestId(r)?.headers["x-auth-method"], "spiffe-jwt");
      const r2 = rid("z-jwt-aud");
      const bad = await get("/api/jobs", {
        "x-request-id": r2,
        authorization: `Bearer ${await stack.workload("batch").jwt(id("elsewhere"))}`,
      });
      assert.equal(bad.status, 401);
      assert.equal(stack.echo.byRequestId(r2), undefined);
    }));

  it("spiffe-authz SIGTERM with Envoy and Zentinel connected: in-flight decisions reach both callers; then both fail closed", () =>
    stack.step(async () => {
      const from = stack.authz.proc.output.length;
      const s = svid["frontend"]!;
      const tls = { certPem: s.chainPem, keyPem: s.keyPem, caPem: s.bundlePem, serverId: ENVOY_ID };
      const results: Array<Reply & { rid: string; via: string }> = [];
      let stop = false;
      const loop = async (via: "envoy" | "zentinel") => {
        while (!stop) {
          const r = rid(`drain-${via}`);
          const p =
            via === "envoy"
              ? https(stack.envoy.ports.mtls, "/api/drain", tls, { headers: { "x-request-id": r } })
              : get("/api/drain", { "x-request-id": r, "x-forwarded-client-cert": xfcc(s) });
          results.push({
            ...(await p.catch((e: Error) => ({ status: -1, headers: {}, body: e.message }))),
            rid: r,
            via,
          });
        }
      };
      const loops = [
        ...Array.from({ length: 4 }, () => loop("envoy")),
        ...Array.from({ length: 4 }, () => loop("zentinel")),
      ];
      let exit: { code: number | null; signal: NodeJS.Signals | null };
      try {
        await until(
          "load through both proxies",
          async () =>
            ["envoy", "zentinel"].every((v) => results.filter((x) => x.via === v && x.status === 200).length >= 20)
              ? true
              : undefined,
          30_000,
          50,
        );
        stack.authz.proc.kill("SIGTERM");
        exit = await stack.authz.proc.exited;
      } finally {
        // Always stop the load, or a failed step leaves the loops (and the test process) running forever.
        stop = true;
        await Promise.all(loops);
      }
      assert.equal(exit.code, 0, stack.authz.proc.tail());

      // Envoy passes x-request-id through as the request id; Zentinel sends it as the correlation id.
      const allowed = new Set(
        stack.authz
          .audit(from)
          .filter((a) => a["decision"] === "allow")
          .map((a) => String(a["transport"] === "zentinel" ? a["correlation_id"] : a["request_id"])),
      );
      for (const res of results) {
        if (allowed.has(res.rid)) {
          assert.equal(
            res.status,
            200,
            `spiffe-authz allowed ${res.rid} (${res.via}) but the caller got ${res.status}: ${res.body}`,
          );
          assert.ok(stack.echo.byRequestId(res.rid), `${res.rid} allowed but never reached the upstream`);
        } else {
          assert.notEqual(res.status, 200, `${res.rid} (${res.via}) got 200 without an allow from spiffe-authz`);
        }
      }
      // With spiffe-authz gone both proxies refuse: Envoy with status_on_error 503, Zentinel (filter failure-mode
      // closed) with 503.
      const viaEnvoy = await https(stack.envoy.ports.mtls, "/api/after", tls);
      const viaZentinel = await get("/api/after", { "x-forwarded-client-cert": xfcc(s) });
      assert.equal(viaEnvoy.status, 503);
      assert.equal(viaZentinel.status, 503);
    }));
});
