// A CA rotation forced on the real SPIRE server (localauthority x509 prepare → activate → taint → revoke):
// spiffe-authz must accept the fresh SVIDs at once and refuse the revoked CA's as soon as the agent says so.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { checkRequest, envoyClient, unary, type CheckResponseObj } from "../test/helpers/clients.js";
import { https, rid } from "./lib/parts.js";
import { until } from "./lib/proc.js";
import type { X509Svid } from "./lib/spire.js";
import { ENVOY_ID, Stack } from "./lib/stack.js";
import { record } from "./lib/timings.js";
import { status as grpcStatus } from "@grpc/grpc-js";

interface Authorities {
  active?: { authority_id: string };
  prepared?: { authority_id: string };
  old?: { authority_id: string };
}

describe("CA rotation forced on the real SPIRE server", () => {
  const stack = new Stack("rotation");
  before(() => stack.start({ workloads: ["frontend"] }));
  after(() => stack.stop());

  /** spiffe-authz's own answer for a certificate, straight over gRPC (Envoy would refuse a revoked one in TLS). */
  async function direct(svid: X509Svid): Promise<CheckResponseObj> {
    // Through Envoy's loopback egress listener: spiffe-authz's own port admits only Envoy's SVID.
    const c = envoyClient(`127.0.0.1:${stack.envoy.ports.egress}`);
    try {
      return await unary<CheckResponseObj>(c, "Check", checkRequest({ certPem: svid.certPem, path: "/api/rotation" }));
    } finally {
      c.close();
    }
  }

  it("fresh SVIDs are accepted at once; the revoked CA's SVIDs are refused; times measured", () =>
    stack.step(async () => {
      const frontend = stack.workload("frontend");
      const old = await frontend.x509();
      const tlsOf = (s: X509Svid) => ({
        certPem: s.chainPem,
        keyPem: s.keyPem,
        caPem: s.bundlePem,
        serverId: ENVOY_ID,
      });
      assert.equal((await https(stack.envoy.ports.mtls, "/api/before", tlsOf(old))).status, 200);
      assert.equal((await direct(old)).status.code, grpcStatus.OK);

      const show = async () =>
        JSON.parse(await stack.spire.serverCli(["localauthority", "x509", "show", "-output", "json"])) as Authorities;
      const before = await show();
      const oldAuthority = before.active!.authority_id;
      const updates = async () =>
        Number(
          /^spiffe_authz_bundle_updates_total\{[^}]*source="spire"[^}]*\} (\d+)/m.exec(
            await stack.authz.metrics(),
          )?.[1] ?? 0,
        );
      const updatesBefore = await updates();
      const tPrepare = Date.now();
      await stack.spire.serverCli(["localauthority", "x509", "prepare"]);
      const prepared = (await show()).prepared!.authority_id;
      assert.notEqual(prepared, oldAuthority);
      // As an operator would: activate only once the new root has reached the workloads (the agent syncs with
      // the server every few seconds). spiffe-authz hears of it on its bundle stream as soon as the agent does.
      const roots = (pem: string) => pem.split("-----BEGIN CERTIFICATE-----").length - 1;
      await until(
        "the agent's bundle to carry the prepared root",
        async () => (roots((await frontend.x509()).bundlePem) === 2 ? true : undefined),
        60_000,
        100,
      );
      const agentHasRootMs = Date.now() - tPrepare;
      await until(
        "spiffe-authz to apply the agent's new bundle",
        async () => ((await updates()) > updatesBefore ? true : undefined),
        10_000,
        20,
      );
      const authzHasRootMs = Date.now() - tPrepare;

      const tActivate = Date.now();
      await stack.spire.serverCli(["localauthority", "x509", "activate", "-authorityID", prepared]);
      await stack.spire.serverCli(["localauthority", "x509", "taint", "-authorityID", oldAuthority]);
      // The tainted authority makes the agent re-issue every SVID at once; wait for frontend's new one.
      const fresh = await until(
        "a re-issued frontend SVID",
        async () => {
          const s = await frontend.x509();
          return s.certPem !== old.certPem ? s : undefined;
        },
        60_000,
        200,
      );
      const reissuedMs = Date.now() - tActivate;
      // Accepted at once: the new root reached spiffe-authz with `prepare`, before any SVID was signed by it.
      const tFresh = Date.now();
      const res = await https(stack.envoy.ports.mtls, "/api/after", tlsOf(fresh), {
        headers: { "x-request-id": rid("fresh") },
      });
      assert.equal(res.status, 200, res.body);
      assert.equal((await direct(fresh)).status.code, 0, "the first direct Check of the fresh SVID is allowed");
      const freshAcceptedMs = Date.now() - tFresh;

      const tRevoke = Date.now();
      await stack.spire.serverCli(["localauthority", "x509", "revoke", "-authorityID", oldAuthority]);
      let agentDroppedMs = 0;
      let revokedMs = 0;
      const [, refused] = await Promise.all([
        until(
          "the agent's bundle to drop the revoked root",
          async () =>
            roots((await frontend.x509()).bundlePem) === 1 ? (agentDroppedMs = Date.now() - tRevoke) : undefined,
          60_000,
          50,
        ),
        until(
          "spiffe-authz to refuse the revoked CA's SVID",
          async () => {
            const r = await direct(old);
            if (r.status.code === grpcStatus.OK) return undefined;
            revokedMs = Date.now() - tRevoke;
            return r;
          },
          60_000,
          20,
        ),
      ]);
      assert.equal(refused.status.code, 16, "UNAUTHENTICATED");
      assert.match(refused.status.message, /untrusted/);
      // Through Envoy the old SVID no longer gets a 200 either (refused in TLS once SDS drops the old root, or 401).
      const r = rid("revoked");
      const viaEnvoy = await https(stack.envoy.ports.mtls, "/api/revoked", tlsOf(old), {
        headers: { "x-request-id": r },
      }).then(
        (x) => x.status,
        () => "tls-refused",
      );
      assert.ok(viaEnvoy === 401 || viaEnvoy === "tls-refused", `old SVID through Envoy: ${viaEnvoy}`);
      assert.equal(stack.echo.byRequestId(r), undefined);
      // And the fresh one still passes.
      assert.equal((await direct(fresh)).status.code, grpcStatus.OK);

      record("rotation", {
        agentHasRootMs,
        authzHasRootMs,
        reissuedAfterTaintMs: reissuedMs,
        freshAcceptedFirstTryMs: freshAcceptedMs,
        agentDroppedRevokedRootMs: agentDroppedMs,
        authzRefusesRevokedMs: revokedMs,
      });
    }));
});
