// What the Envoy door tells Envoy to do with the request's headers, read from the CheckResponse of a real server
// (startServer, dev Workload API, gRPC on loopback): on an allow with identity, ours are set (overwriting) and
// every other spelling of every identity header is in headers_to_remove, so no client-sent identity header
// survives; on a deny (401, 403, 503), no ok_response at all (nothing goes upstream) and the denied response
// carries only its content type, never an identity header.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { checkRequest, unary, type CheckResponseObj } from "../../helpers/clients.js";
import { DEFAULT_IDENTITY_HEADERS, everySpelling, spoofedIdentityHeaders } from "../../helpers/identity-spellings.js";
import { DevCertificateAuthority } from "../../../src/dev-ca/index.js";
import { poll, startStack, WEB, type Stack } from "../../helpers/server-harness.js";
import { status as grpcStatus } from "@grpc/grpc-js";

let stack: Stack;
const spoofs = spoofedIdentityHeaders();
const spoofHeaders = Object.fromEntries(spoofs.map((h) => [h.name, h.value]));

before(async () => {
  stack = await startStack({ failure: "fail_closed" });
});

after(async () => {
  await stack.close();
});

const check = (certPem: string | undefined) =>
  unary<CheckResponseObj>(
    stack.envoy,
    "Check",
    checkRequest({ ...(certPem ? { certPem } : {}), headers: spoofHeaders }),
  );

test("allow: our five identity headers overwrite, every other spelling is in headers_to_remove, nothing is both", async () => {
  const res = await check((await stack.api.issueX509Svid(WEB)).pem);
  assert.equal(res.status.code, 0, res.status.message);
  const ok = res.ok_response!;
  const set = new Map(ok.headers.map((h) => [h.header.key.toLowerCase(), h]));
  assert.deepEqual([...set.keys()].sort(), DEFAULT_IDENTITY_HEADERS.map((n) => n.toLowerCase()).sort());
  for (const h of set.values()) assert.equal(h.append_action, "OVERWRITE_IF_EXISTS_OR_ADD", h.header.key);
  assert.equal(set.get("x-spiffe-id")!.header.value, WEB);
  const removed = new Set(ok.headers_to_remove.map((n) => n.toLowerCase()));
  for (const n of DEFAULT_IDENTITY_HEADERS.flatMap(everySpelling).map((x) => x.toLowerCase())) {
    // Envoy applies headers_to_remove after the set headers: a name in both would lose ours.
    assert.ok(set.has(n) !== removed.has(n), `${n}: set ${set.has(n)}, removed ${removed.has(n)}`);
  }
  for (const h of spoofs)
    assert.ok(set.has(h.name.toLowerCase()) || removed.has(h.name.toLowerCase()), `the client's ${h.name} survives`);
});

function assertDeny(res: CheckResponseObj, code: number, http: string, reason: string): void {
  assert.equal(res.status.code, code, res.status.message);
  assert.equal(res.http_response, "denied_response");
  assert.ok(!res.ok_response, "a deny carries no ok_response, so no headers_to_remove or headers to set");
  assert.equal(res.denied_response!.status.code, http);
  assert.equal(JSON.parse(res.denied_response!.body).reason, reason);
  assert.deepEqual(
    res.denied_response!.headers.map((h) => h.header.key),
    ["content-type"],
    "no identity header on a denied response",
  );
}

test("deny 401 (no credential) and 403 (verified, not allowed): no ok_response, no identity header", async () => {
  assertDeny(await check(undefined), 16, "Unauthorized", "no_certificate");
  assertDeny(
    await check((await stack.api.issueX509Svid("spiffe://example.org/intruder")).pem),
    7,
    "Forbidden",
    "not_allowed",
  );
});

test("deny 503 (SPIRE gone, trust domain unknown, fail_closed): no ok_response, no identity header", async () => {
  const stranger = (
    await (await DevCertificateAuthority.createRoot("stranger.org")).issueX509Svid("spiffe://stranger.org/web")
  ).pem;
  await stack.api.close();
  const res = (
    await poll(
      () => check(stranger),
      (r) => r.status.code === grpcStatus.UNAVAILABLE,
      15_000,
      "503 once SPIRE is unavailable",
    )
  ).value;
  assertDeny(res, 14, "ServiceUnavailable", "spire_unavailable");
});
