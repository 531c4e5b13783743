// The audit line's auth_method and credential_source, from real decisions: an Engine with its chain cache and
// the audit listener, fed requests that carry a real SVID as Envoy's source certificate, in XFCC, as a JWT-SVID,
// a garbled one of each, and none. A cache hit (a hot client's shared decision) must name the same source.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { pino } from "pino";
import { Engine } from "../../src/engine/engine.js";
import { createAuditListener } from "../../src/engine/audit.js";
import type { AuthzRequest } from "../../src/engine/contract.js";
import { DevJwtAuthority } from "../../src/dev-ca/index.js";
import {
  NOW,
  bareRequest,
  policyOf,
  sharedCas,
  snapshotOf,
  sourceCertRequest,
  xfccRequest,
} from "../helpers/engine.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: pino({ level: "info" }, stream) };
}

test("audit lines name the auth method as auth_method and where the credential came from", async () => {
  const { example } = await sharedCas();
  const iss = await DevJwtAuthority.create("example.org");
  const svid = await example.issueX509Svid("/web");
  const token = await iss.issue({ subject: "spiffe://example.org/web", audience: "orders", now: NOW });
  const snap = snapshotOf([example.x509Bundle(), iss.jwtBundle()]);
  const engine = new Engine({
    policy: policyOf({
      jwt: { enabled: true, audiences: ["orders"] },
      allowlist: { exact: ["spiffe://example.org/web"] },
    }),
    trust: { current: () => snap },
    clock: () => NOW,
  });
  const { lines, logger } = capture();
  engine.onDecision(createAuditListener(logger));

  const cases: Array<[string, AuthzRequest, Record<string, unknown>]> = [
    [
      "peer certificate",
      sourceCertRequest(svid.pem),
      { reason: "ok", auth_method: "spiffe", credential_source: "peer_certificate" },
    ],
    ["xfcc", xfccRequest(svid.pem), { reason: "ok", auth_method: "spiffe", credential_source: "xfcc" }],
    [
      "jwt",
      bareRequest({ authorization: `Bearer ${token}` }),
      { reason: "ok", auth_method: "spiffe-jwt", credential_source: "jwt" },
    ],
    ["none", bareRequest(), { reason: "no_certificate", credential_source: "none" }],
    // A present but unreadable credential still names its source, and has no auth method (nothing verified).
    [
      "garbled source certificate",
      { ...sourceCertRequest(svid.pem), sourceCertificate: "%%%" },
      { reason: "malformed_certificate", credential_source: "peer_certificate" },
    ],
    [
      "garbled xfcc",
      bareRequest({ "x-forwarded-client-cert": 'Cert="%%%"' }),
      { reason: "malformed_certificate", credential_source: "xfcc" },
    ],
    [
      "garbled bearer",
      bareRequest({ authorization: "Bearer not-a-jws" }),
      { reason: "malformed_certificate", credential_source: "jwt" },
    ],
    // Another scheme is not a SPIFFE credential at all.
    [
      "basic auth",
      bareRequest({ authorization: "Basic dXNlcjpwYXNz" }),
      { reason: "no_certificate", credential_source: "none" },
    ],
  ];
  for (const [name, req, want] of cases) {
    // Three times each: the second and third come from the chain cache (and its shared-decision memo).
    for (let i = 0; i < 3; i++) {
      lines.length = 0;
      await engine.decide(req);
      assert.equal(lines.length, 1, name);
      const line = lines[0]!;
      for (const [k, v] of Object.entries(want)) assert.equal(line[k], v, `${name} #${i}: ${k}`);
      if (!("auth_method" in want)) assert.equal(line["auth_method"], undefined, `${name}: no auth_method`);
      assert.equal(line["method"], undefined, `${name}: the old field name is gone`);
    }
  }
});
