// Allows that carry NO identity (tls.require-mtls false with no credential; failure.validation-failure
// log_and_allow; failure.spire-unavailable fail_open) set no identity header, so nothing overwrites what the
// client sent: both doors must remove every spelling of every identity header, or a client-sent X-SPIFFE-Id
// (or x_spiffe_id, which CGI-style upstreams fold onto it) reaches the upstream as if we had set it.
// Through a real server (startServer, dev Workload API, gRPC on loopback), Envoy Check and Zentinel ProcessStream.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { checkRequest, unary, zentinelClient, type CheckResponseObj, type Client } from "../helpers/clients.js";
import { connectAsProxy, headerOps, headersEvent, type ProxyStream } from "../helpers/zentinel.js";
import { until } from "../helpers/log-capture.js";
import { DEFAULT_IDENTITY_HEADERS, everySpelling, spoofedIdentityHeaders } from "../helpers/identity-spellings.js";
import { poll, startStack, type Stack } from "../helpers/server-harness.js";

let stack: Stack;
let zentinel: Client;
let stream: ProxyStream;
/** A well-formed SVID of a trust domain the server has no bundle for. */
let stranger: string;
const spoofs = spoofedIdentityHeaders();
const allSpellings = DEFAULT_IDENTITY_HEADERS.flatMap(everySpelling).map((n) => n.toLowerCase());

before(async () => {
  stranger = (
    await (await DevCertificateAuthority.createRoot("stranger.org")).issueX509Svid("spiffe://stranger.org/web")
  ).pem;
  stack = await startStack({
    failure: "fail_open",
    config: {
      tls: { "require-mtls": false },
      failure: { "spire-unavailable": "fail_open", "validation-failure": "log_and_allow" },
      // The route_id the Zentinel events name (as zentinel.kdl's route); it uses the top-level allowlist.
      routes: [{ name: "api" }],
    },
  });
  zentinel = zentinelClient(stack.server.grpcTargets[0]!);
  stream = await connectAsProxy(zentinel);
});

after(async () => {
  stream.call.end();
  zentinel.close();
  await stack.close();
});

async function envoyCheck(certPem: string | undefined): Promise<CheckResponseObj> {
  return unary<CheckResponseObj>(
    stack.envoy,
    "Check",
    checkRequest({
      ...(certPem ? { certPem } : {}),
      headers: Object.fromEntries(spoofs.map((h) => [h.name, h.value])),
    }),
  );
}

function assertEnvoyStrips(res: CheckResponseObj, reason: string): void {
  assert.equal(res.status.code, 0, res.status.message);
  assert.equal(res.http_response, "ok_response");
  const md = res.dynamic_metadata?.fields ?? {};
  assert.equal(md["reason"]?.stringValue ?? md["reason"]?.string_value, reason);
  assert.deepEqual(res.ok_response!.headers, [], "an allow without identity sets no header");
  const removed = new Set(res.ok_response!.headers_to_remove.map((n) => n.toLowerCase()));
  for (const n of allSpellings)
    assert.ok(removed.has(n), `${reason}: ${n} is not in headers_to_remove (${[...removed].join(",")})`);
  for (const h of spoofs) assert.ok(removed.has(h.name.toLowerCase()), `${reason}: the client's ${h.name} survives`);
}

let seq = 0;
async function zentinelDecide(certPem: string | undefined): Promise<Record<string, unknown>> {
  const cid = `strip-${++seq}`;
  stream.call.write(headersEvent(cid, certPem, { headers: spoofs }));
  await until(() => stream.responses().some((r) => r["correlation_id"] === cid), 5000, `answer to ${cid}`);
  return stream.responses().find((r) => r["correlation_id"] === cid)!;
}

function assertZentinelStrips(r: Record<string, unknown>, reason: string): void {
  assert.equal(r["decision"], "allow", JSON.stringify(r));
  assert.deepEqual((r["audit"] as { reason_codes: string[] }).reason_codes, [reason]);
  const ops = headerOps(r);
  assert.ok(ops.length > 0, `${reason}: no header operations at all`);
  assert.ok(
    ops.every(([op]) => op === "remove"),
    `${reason}: an allow without identity only removes (${JSON.stringify(ops)})`,
  );
  const removed = new Set(ops.map(([, name]) => name.toLowerCase()));
  for (const n of allSpellings) assert.ok(removed.has(n), `${reason}: ${n} is not removed`);
  for (const h of spoofs) assert.ok(removed.has(h.name.toLowerCase()), `${reason}: the client's ${h.name} survives`);
}

test("require-mtls false, no credential: 200 no_certificate, and every spelling of every identity header is removed (Envoy, Zentinel)", async () => {
  assertEnvoyStrips(await envoyCheck(undefined), "no_certificate");
  assertZentinelStrips(await zentinelDecide(undefined), "no_certificate");
});

test("validation-failure log_and_allow, a certificate nobody vouches for: 200 log_and_allow, every identity header removed (Envoy, Zentinel)", async () => {
  assertEnvoyStrips(await envoyCheck(stranger), "log_and_allow");
  assertZentinelStrips(await zentinelDecide(stranger), "log_and_allow");
});

test("baseline: a verified allow overwrites ours and removes the other spellings, so the checks above can pass", async () => {
  const web = (await stack.api.issueX509Svid("spiffe://example.org/web")).pem;
  const res = await envoyCheck(web);
  assert.equal(res.status.code, 0, res.status.message);
  const set = new Set(res.ok_response!.headers.map((h) => h.header.key.toLowerCase()));
  const removed = new Set(res.ok_response!.headers_to_remove.map((n) => n.toLowerCase()));
  for (const n of allSpellings) assert.ok(set.has(n) !== removed.has(n), `${n}: exactly one of set / removed`);
});

test("spire-unavailable fail_open, SPIRE gone: 200 fail_open, every identity header removed (Envoy, Zentinel)", async () => {
  await stack.api.close();
  // The server notices the agent is gone; until then the unknown trust domain is an authentication failure.
  await poll(
    async () => {
      const res = await envoyCheck(stranger);
      const md = res.dynamic_metadata?.fields ?? {};
      return md["reason"]?.stringValue ?? md["reason"]?.string_value;
    },
    (reason) => reason === "fail_open",
    15_000,
    "fail_open once SPIRE is unavailable",
  );
  assertEnvoyStrips(await envoyCheck(stranger), "fail_open");
  assertZentinelStrips(await zentinelDecide(stranger), "fail_open");
});
