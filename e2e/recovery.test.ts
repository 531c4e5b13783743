// Losing a peer: the SPIRE agent killed and restarted, spiffe-authz killed, spiffe-authz stopped with SIGTERM
// under load. Envoy must fail closed, and every decision spiffe-authz made must reach the caller.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { https, rid, type ClientTls, type Reply } from "./lib/parts.js";
import { until } from "./lib/proc.js";
import { id } from "./lib/spire.js";
import { ENVOY_ID, Stack } from "./lib/stack.js";
import { record } from "./lib/timings.js";

describe("peers lost and back", () => {
  const stack = new Stack("recovery");
  let tls: ClientTls;
  before(async () => {
    await stack.start({ workloads: ["frontend"] });
    const s = await stack.workload("frontend").x509();
    tls = { certPem: s.chainPem, keyPem: s.keyPem, caPem: s.bundlePem, serverId: ENVOY_ID };
  });
  after(() => stack.stop());

  const call = (tag: string): Promise<Reply & { rid: string }> => {
    const r = rid(tag);
    return https(stack.envoy.ports.mtls, "/api/recovery", tls, { headers: { "x-request-id": r } }).then((x) => ({
      ...x,
      rid: r,
    }));
  };

  it("SPIRE agent killed → 503 spire_unavailable (fail_closed); restarted → decisions back; times measured", () =>
    stack.step(async () => {
      assert.equal((await call("agent-up")).status, 200);
      const tKill = Date.now();
      stack.spire.agent.kill("SIGKILL");
      await stack.spire.agent.exited;
      const down = await until("a 503 after the agent died", async () => {
        const r = await call("agent-down");
        return r.status === 503 ? r : undefined;
      });
      const failClosedMs = Date.now() - tKill;
      assert.equal(JSON.parse(down.body).reason, "spire_unavailable");
      assert.equal(stack.echo.byRequestId(down.rid), undefined);
      assert.equal(
        await stack.authz.readyz(),
        200,
        "losing SPIRE later does not pull spiffe-authz out of its load balancer",
      );
      assert.match(await stack.authz.metrics(), /^spiffe_authz_workload_api_connected(\{[^}]*\})? 0$/m);

      const tRestart = Date.now();
      await stack.spire.startAgent();
      const up = await until(
        "a 200 after the agent came back",
        async () => {
          const r = await call("agent-back");
          return r.status === 200 ? r : undefined;
        },
        60_000,
        100,
      );
      const recoveredMs = Date.now() - tRestart;
      assert.equal(stack.echo.byRequestId(up.rid)?.headers["x-spiffe-id"], id("frontend"));
      record("spire-agent-restart", { failClosedAfterKillMs: failClosedMs, allowedAgainAfterRestartMs: recoveredMs });
    }));

  it("spiffe-authz killed → Envoy denies (failure_mode_allow: false); restarted → allowed again", () =>
    stack.step(async () => {
      assert.equal((await call("authz-up")).status, 200);
      stack.authz.proc.kill("SIGKILL");
      await stack.authz.proc.exited;
      const r = await call("authz-dead");
      assert.equal(r.status, 503, `Envoy must fail closed with status_on_error, got ${r.status}`);
      assert.equal(
        stack.echo.byRequestId(r.rid),
        undefined,
        "nothing reaches the upstream while the authorizer is down",
      );
      await stack.authz.start();
      const back = await until("a 200 after spiffe-authz restarted", async () => {
        const x = await call("authz-back");
        return x.status === 200 ? x : undefined;
      });
      assert.equal(stack.echo.byRequestId(back.rid)?.headers["x-spiffe-id"], id("frontend"));
    }));

  it("SIGTERM under load: spiffe-authz drains, exits 0, and every decision it made reached the caller", () =>
    stack.step(async () => {
      const from = stack.authz.proc.output.length;
      const results: Array<Reply & { rid: string }> = [];
      let stop = false;
      let sigtermAt = 0;
      const worker = async () => {
        while (!stop)
          results.push(
            await call("drain").catch((e: Error) => ({ status: -1, headers: {}, body: e.message, rid: "" })),
          );
      };
      const workers = Array.from({ length: 8 }, worker);
      let exit: { code: number | null; signal: NodeJS.Signals | null };
      try {
        await until(
          "load flowing",
          async () => (results.filter((r) => r.status === 200).length >= 40 ? true : undefined),
          30_000,
          50,
        );
        sigtermAt = results.length;
        stack.authz.proc.kill("SIGTERM");
        exit = await stack.authz.proc.exited;
      } finally {
        // Always stop the load, or a failed step leaves the loops (and the test process) running forever.
        stop = true;
        await Promise.all(workers);
      }
      assert.equal(exit.code, 0, `spiffe-authz exit: ${JSON.stringify(exit)}\n${stack.authz.proc.tail()}`);
      assert.match(stack.authz.proc.output.slice(from), /"msg":"shutting down"/);

      // This step's requests only: an audit line may be written a few milliseconds after its answer (lines are
      // held to share writes, src/log.ts), so the previous step's last line can land past `from`.
      const audited = stack.authz
        .audit(from)
        .filter((a) => a["decision"] === "allow" && String(a["request_id"]).startsWith("e2e-drain-"))
        .map((a) => String(a["request_id"]));
      assert.ok(audited.length >= 40);
      const byRid = new Map(results.map((r) => [r.rid, r]));
      for (const r of audited) {
        assert.equal(byRid.get(r)?.status, 200, `spiffe-authz allowed ${r} but the caller got ${byRid.get(r)?.status}`);
        assert.ok(stack.echo.byRequestId(r), `spiffe-authz allowed ${r} but the upstream never saw it`);
      }
      // Whatever was not decided was refused, never let through: 200 only with a decision behind it.
      for (const res of results) {
        assert.ok(res.status === 200 || res.status === 503, `unexpected ${res.status}: ${res.body}`);
        if (res.status === 200) assert.ok(audited.includes(res.rid), `${res.rid} got 200 without an audited allow`);
      }
      assert.ok(results.length > sigtermAt, "requests were still being answered while spiffe-authz drained");
      await stack.authz.start();
    }));
});
