// Envoy 1.40 running deploy/envoy/envoy.yaml in front of an upstream, its SVID and bundle from the real SPIRE
// agent's SDS, every request checked by spiffe-authz over ext_authz gRPC. Assertions are on what the upstream
// received and what Envoy logged, not only on status codes.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { checkRequest, envoyClient, unary, type Client } from "../test/helpers/clients.js";
import { https, rid, type ClientTls } from "./lib/parts.js";
import { id, type X509Svid } from "./lib/spire.js";
import { ENVOY_ID, JWT_AUDIENCE, Stack } from "./lib/stack.js";

describe("Envoy ext_authz → spiffe-authz, SVIDs from SPIRE", () => {
  const stack = new Stack("envoy");
  const svid: Record<string, X509Svid> = {};
  const tlsOf = (name: string): ClientTls => ({
    certPem: svid[name]!.chainPem,
    keyPem: svid[name]!.keyPem,
    caPem: svid[name]!.bundlePem,
    serverId: ENVOY_ID,
  });

  before(async () => {
    await stack.start({ workloads: ["frontend", "intruder", "checkout", "batch"] });
    for (const w of ["frontend", "intruder", "checkout"]) svid[w] = await stack.workload(w).x509();
  });
  after(() => stack.stop());

  it("allowed SVID → 200; the upstream sees our identity headers and not the client's forged ones", () =>
    stack.step(async () => {
      const r = rid("allow");
      const res = await https(stack.envoy.ports.mtls, "/api/orders", tlsOf("frontend"), {
        headers: {
          "x-request-id": r,
          "x-spiffe-id": "spiffe://example.org/admin",
          "x-auth-method": "forged",
          "x-spiffe-trust-domain": "evil.org",
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
      // Envoy's own XFCC (SANITIZE_SET) names the caller too.
      assert.match(
        String(up.headers["x-forwarded-client-cert"]),
        new RegExp(`URI=${id("frontend").replace(/[/.]/g, "\\$&")}`),
      );
    }));

  it("intruder SVID (valid, not on the allowlist) → 403 and never reaches the upstream", () =>
    stack.step(async () => {
      const r = rid("intruder");
      const res = await https(stack.envoy.ports.mtls, "/api/orders", tlsOf("intruder"), {
        headers: { "x-request-id": r },
      });
      assert.equal(res.status, 403);
      assert.equal(JSON.parse(res.body).reason, "not_allowed");
      assert.equal(stack.echo.byRequestId(r), undefined);
    }));

  it("no client certificate on the JWT listener → 401 no_certificate; the mTLS listener refuses the handshake", () =>
    stack.step(async () => {
      const r = rid("nocert");
      const tls = { caPem: svid["frontend"]!.bundlePem, serverId: ENVOY_ID };
      const res = await https(stack.envoy.ports.jwt, "/api/orders", tls, { headers: { "x-request-id": r } });
      assert.equal(res.status, 401);
      assert.equal(JSON.parse(res.body).reason, "no_certificate");
      assert.equal(stack.echo.byRequestId(r), undefined);
      await assert.rejects(
        https(stack.envoy.ports.mtls, "/api/orders", tls),
        /certificate|handshake|socket hang up|ECONNRESET/i,
      );
    }));

  it("JWT-SVID fetched from the real agent → 200 with X-Auth-Method spiffe-jwt; wrong audience → 401", () =>
    stack.step(async () => {
      const tls = { caPem: svid["frontend"]!.bundlePem, serverId: ENVOY_ID };
      const token = await stack.workload("batch").jwt(JWT_AUDIENCE);
      const r = rid("jwt");
      const ok = await https(stack.envoy.ports.jwt, "/api/jobs", tls, {
        headers: { "x-request-id": r, authorization: `Bearer ${token}` },
      });
      assert.equal(ok.status, 200, ok.body);
      const up = stack.echo.byRequestId(r);
      assert.ok(up);
      assert.equal(up.headers["x-spiffe-id"], id("batch"));
      assert.equal(up.headers["x-auth-method"], "spiffe-jwt");

      const wrong = await stack.workload("batch").jwt(id("somebody-else"));
      const r2 = rid("jwt-aud");
      const bad = await https(stack.envoy.ports.jwt, "/api/jobs", tls, {
        headers: { "x-request-id": r2, authorization: `Bearer ${wrong}` },
      });
      assert.equal(bad.status, 401, bad.body);
      assert.equal(stack.echo.byRequestId(r2), undefined);
    }));

  it("per-route rules named through envoy.yaml's context_extensions: only checkout reaches /payments", () =>
    stack.step(async () => {
      const r1 = rid("pay-frontend");
      const denied = await https(stack.envoy.ports.mtls, "/payments/charge", tlsOf("frontend"), {
        method: "POST",
        headers: { "x-request-id": r1 },
      });
      assert.equal(denied.status, 403, "frontend is allowed on the top-level allowlist but not on the payments route");
      assert.equal(stack.echo.byRequestId(r1), undefined);

      const r2 = rid("pay-checkout");
      const allowed = await https(stack.envoy.ports.mtls, "/payments/charge", tlsOf("checkout"), {
        method: "POST",
        headers: { "x-request-id": r2 },
      });
      assert.equal(allowed.status, 200, allowed.body);
      assert.equal(stack.echo.byRequestId(r2)?.headers["x-spiffe-id"], id("checkout"));

      const r3 = rid("api-checkout");
      const elsewhere = await https(stack.envoy.ports.mtls, "/api/orders", tlsOf("checkout"), {
        headers: { "x-request-id": r3 },
      });
      assert.equal(elsewhere.status, 403, "checkout is not on the top-level allowlist");
      const audit = await stack.authz.auditLine(r1, (a) => a["request_id"] === r1);
      assert.equal(audit?.["route"], "payments");
      // Envoy sends the peer certificate it verified (include_peer_certificate), which wins over its XFCC header.
      assert.equal(audit?.["credential_source"], "peer_certificate");
      assert.equal(audit?.["auth_method"], "spiffe");
    }));

  it("a caller refused on /payments is refused under every spelling of it, by Envoy's normalisation or by spiffe-authz", () =>
    stack.step(async () => {
      for (const path of [
        "/PAYMENTS/charge",
        "/payments;v=1",
        "/payments%2Fcharge",
        "/api/%2e%2e/payments/charge",
        "//payments/charge",
        "/api/..%2Fpayments",
        "/payments/./charge",
      ]) {
        const r = rid("spelling");
        const res = await https(stack.envoy.ports.mtls, path, tlsOf("frontend"), {
          method: "POST",
          headers: { "x-request-id": r },
        });
        assert.notEqual(res.status, 200, `${path} reached the upstream`);
        assert.ok([400, 403].includes(res.status), `${path}: ${res.status}`);
        assert.equal(stack.echo.byRequestId(r), undefined, `${path} reached the upstream`);
      }
    }));

  it("spiffe-authz's own port speaks SPIFFE mTLS: Envoy's SVID is admitted (every 200 above came that way), other SVIDs are refused", () =>
    stack.step(async () => {
      assert.match(stack.authz.proc.output, /"address":"127\.0\.0\.1:\d+","tls":"spiffe-mtls"/);
      for (const w of ["frontend", "intruder"]) {
        const c = mtlsClient(`127.0.0.1:${stack.authz.port}`, svid[w]!);
        try {
          await assert.rejects(
            unary(c, "Check", checkRequest({ certPem: svid["frontend"]!.certPem })),
            (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && /authorized-clients/.test(e.details),
            `${w} reached spiffe-authz's decisions`,
          );
        } finally {
          c.close();
        }
      }
      // Envoy's health checks and Check calls arrive over mTLS: its cluster is healthy.
      assert.match(await stack.envoy.admin("/clusters"), /spiffe_authz::[\d.:]+::health_flags::healthy/);
    }));

  it("Envoy's access log shows the caller's SPIFFE ID from the ext_authz dynamic metadata", () =>
    stack.step(async () => {
      const r = rid("accesslog");
      const res = await https(stack.envoy.ports.mtls, "/api/log-me", tlsOf("frontend"), {
        headers: { "x-request-id": r },
      });
      assert.equal(res.status, 200);
      const rd = rid("accesslog-deny");
      await https(stack.envoy.ports.mtls, "/api/log-me", tlsOf("intruder"), { headers: { "x-request-id": rd } });
      const lines = await waitForLog(() => stack.envoy.accessLog(), [r, rd]);
      const allow = lines.find((l) => l["request_id"] === r)!;
      assert.equal(allow["spiffe_id"], id("frontend"));
      assert.equal(allow["authz_decision"], "allow");
      assert.equal(allow["status"], 200);
      const deny = lines.find((l) => l["request_id"] === rd)!;
      assert.equal(deny["status"], 403);
      assert.equal(deny["peer_uri_san"], id("intruder"));
    }));
});

/** A gRPC client presenting a workload's SVID to spiffe-authz and requiring spiffe-authz's own SVID back. */
function mtlsClient(target: string, s: X509Svid): Client {
  const creds = grpc.credentials.createSsl(Buffer.from(s.bundlePem), Buffer.from(s.keyPem), Buffer.from(s.chainPem), {
    checkServerIdentity: (_host, cert) =>
      cert.subjectaltname === `URI:${id("spiffe-authz")}`
        ? undefined
        : new Error(`server presented ${cert.subjectaltname}`),
  });
  return envoyClient(target, creds, { "grpc.ssl_target_name_override": "spiffe-authz" });
}

/** Envoy flushes its access log on a timer: wait until every request id has a line. */
async function waitForLog(
  read: () => Array<Record<string, unknown>>,
  ids: string[],
  timeoutMs = 15_000,
): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = read();
    if (ids.every((i) => lines.some((l) => l["request_id"] === i))) return lines;
    if (Date.now() > deadline) throw new Error(`Envoy's access log lacks ${ids.join(", ")} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
