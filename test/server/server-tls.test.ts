// server.tls.mode: spiffe through the real `serve` process: our own SVID from the (dev) Workload API on the port,
// only authorized client SVIDs get an answer, and a re-issued SVID reaches new connections without dropping
// open ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { CLI } from "../helpers/cli.js";
import { checkRequest, envoyClient, freePort, unary, type CheckResponseObj, type Client } from "../helpers/clients.js";
import { sleep, until } from "../helpers/log-capture.js";
import { status as grpcStatus } from "@grpc/grpc-js";

const SERVER_ID = "spiffe://example.org/spiffe-authz";

/** An Envoy-like client presenting `svid` and checking that the server presents our SPIFFE ID. */
function tlsClient(
  target: string,
  svid: { chainPem: string; keyPem: string } | undefined,
  rootsPem: string,
  seen?: (serial: string) => void,
): Client {
  const creds = grpc.credentials.createSsl(
    Buffer.from(rootsPem),
    svid ? Buffer.from(svid.keyPem) : null,
    svid ? Buffer.from(svid.chainPem) : null,
    {
      checkServerIdentity: (_host, cert) => {
        seen?.(cert.serialNumber);
        return cert.subjectaltname === `URI:${SERVER_ID}`
          ? undefined
          : new Error(`server presented ${cert.subjectaltname}`);
      },
    },
  );
  // A fresh channel (no sharing between clients): each client is its own connection.
  // The SVID names no DNS host: send a fixed server name rather than the IP (RFC 6066 forbids IPs in SNI).
  return envoyClient(target, creds, {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.ssl_target_name_override": "spiffe-authz",
  });
}

test("server.tls.mode spiffe: only authorized client SVIDs are answered; our own SVID rotates for new connections, open ones stay", async () => {
  const dir = mkdtempSync(join(tmpdir(), "server-tls-"));
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
    identities: [SERVER_ID],
  });
  const port = await freePort();
  const cfg = join(dir, "config.yaml");
  writeFileSync(
    cfg,
    "allowlist: { exact: [spiffe://example.org/frontend] }\nserver:\n  tls:\n    mode: spiffe\n    authorized-clients: { exact: [spiffe://example.org/envoy] }\n",
  );
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      CLI,
      "serve",
      "--grpc-address",
      `0.0.0.0:${port}`,
      "--spire-socket",
      spire.target,
      "--config",
      cfg,
      "--metrics-address",
      "off",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let logs = "";
  child.stdout.on("data", (d: Buffer) => (logs += d.toString()));
  child.stderr.on("data", (d: Buffer) => (logs += d.toString()));
  const target = `127.0.0.1:${port}`;
  const clients: Client[] = [];
  try {
    const envoy = await spire.issueX509Svid("spiffe://example.org/envoy");
    const intruder = await spire.issueX509Svid("spiffe://example.org/intruder");
    const frontend = await spire.issueX509Svid("spiffe://example.org/frontend");
    const roots = envoy.bundlePem;
    const call = (c: Client, certPem = frontend.pem) => unary<CheckResponseObj>(c, "Check", checkRequest({ certPem }));

    const serials: string[] = [];
    const first = tlsClient(target, { chainPem: envoy.chainPem, keyPem: envoy.keyPem }, roots, (s) => serials.push(s));
    clients.push(first);
    // Start-up (the SVID first, then the port): poll until the authorized client gets a decision.
    const t0 = Date.now();
    for (;;) {
      const r = await call(first).catch(() => undefined);
      if (r?.status.code === grpcStatus.OK) break;
      if (Date.now() - t0 > 15_000) throw new Error(`no decision for the authorized client:\n${logs}`);
      await sleep(100);
    }
    assert.match(logs, /"tls":"spiffe-mtls"/);
    assert.doesNotMatch(logs, /listens beyond loopback in plaintext/);

    // A verified SVID that is not an authorized client: refused before any handler runs.
    const bad = tlsClient(target, { chainPem: intruder.chainPem, keyPem: intruder.keyPem }, roots);
    clients.push(bad);
    await assert.rejects(
      call(bad),
      (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && /authorized-clients/.test(e.details),
    );
    // No client certificate at all: the TLS handshake itself fails (UNAVAILABLE on the client side).
    const none = tlsClient(target, undefined, roots);
    clients.push(none);
    await assert.rejects(call(none), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    // A client chained to a CA of another trust domain is refused in TLS too (not in the roots).
    const otherSpire = await DevWorkloadApi.start({
      trustDomain: "example.org",
      address: `unix://${join(dir, "other.sock")}`,
    });
    const forged = await otherSpire.issueX509Svid("spiffe://example.org/envoy");
    const forgedClient = tlsClient(target, { chainPem: forged.chainPem, keyPem: forged.keyPem }, roots);
    clients.push(forgedClient);
    await assert.rejects(call(forgedClient));
    await otherSpire.close();

    // Our SVID is re-issued (a CA rotation): the open connection keeps working, a new one sees the new SVID.
    const before = serials.at(-1)!;
    await spire.rotateCa();
    await until(
      () => /"msg":"own X509-SVID from the Workload API"[\s\S]*"msg":"own X509-SVID from the Workload API"/.test(logs),
      5000,
      "the re-issued SVID reached the server",
    );
    await sleep(100);
    assert.equal((await call(first)).status.code, 0, "the connection opened before the rotation still answers");
    const newRoots = spire.roots.map((r) => r.pem).join("");
    const envoy2 = await spire.issueX509Svid("spiffe://example.org/envoy");
    const afterSerials: string[] = [];
    const second = tlsClient(target, { chainPem: envoy2.chainPem, keyPem: envoy2.keyPem }, newRoots, (s) =>
      afterSerials.push(s),
    );
    clients.push(second);
    assert.equal((await call(second)).status.code, grpcStatus.OK);
    assert.ok(
      afterSerials.length > 0 && afterSerials.at(-1) !== before,
      "a new connection is served the re-issued SVID",
    );

    // The agent goes away: under fail_closed decisions become 503 spire_unavailable, and the proxy must still get
    // them as answers (its SVID judged by the last bundles SPIRE gave us), not as refused calls.
    await spire.close();
    await sleep(1500);
    const lost = await call(second);
    assert.equal(lost.status.code, 14, `an answer, not a refused call: ${JSON.stringify(lost.status)}`);
    assert.equal(JSON.parse(lost.denied_response!.body).reason, "spire_unavailable");
    const fresh = tlsClient(target, { chainPem: envoy2.chainPem, keyPem: envoy2.keyPem }, newRoots);
    clients.push(fresh);
    assert.equal((await call(fresh)).status.code, 14, "a new connection from the proxy is admitted too");
  } finally {
    for (const c of clients) c.close();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await spire.close();
  }
});

test("server.tls.mode off on a non-loopback address: the start-up log warns that the port is plaintext", async () => {
  const dir = mkdtempSync(join(tmpdir(), "server-plain-"));
  const spire = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: `unix://${join(dir, "agent.sock")}`,
  });
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      CLI,
      "serve",
      "--grpc-address",
      `0.0.0.0:${port}`,
      "--spire-socket",
      spire.target,
      "--metrics-address",
      "off",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let logs = "";
  child.stdout.on("data", (d: Buffer) => (logs += d.toString()));
  try {
    await until(() => logs.includes("spiffe-authz serving"), 15_000, "serving");
    assert.match(logs, /"tls":"plaintext"/);
    assert.match(logs, /listens beyond loopback in plaintext/);
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await spire.close();
  }
});
