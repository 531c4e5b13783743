// The embedded dev Workload API, spoken to as any SPIFFE client would (raw grpc-js calls).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  JWTSVIDRequestSchema,
  ValidateJWTSVIDRequestSchema,
  type JWTSVIDResponse,
  type ValidateJWTSVIDResponse,
  type X509SVIDResponse,
} from "../../src/gen/spiffe/workload/workload_pb.js";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { securityMetadata, workloadApiClient, type WorkloadClient } from "../../src/trust/workload-api/client.js";
import { BundleSet, parseDerCertificates, parseX509BundleDer, verifyX509Svid } from "../../src/spiffe/index.js";

const sock = () => `unix://${join(mkdtempSync(join(tmpdir(), "devwl-")), "agent.sock")}`;

const jwtReq = (init: { audience: string[]; spiffeId?: string }) => create(JWTSVIDRequestSchema, init);
const validateReq = (init: { audience: string; svid?: string }) => create(ValidateJWTSVIDRequestSchema, init);

type Unary = (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void;
type ServerStream = (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<unknown>;

function unary<T>(client: WorkloadClient, method: string, req: object, md = securityMetadata()): Promise<T> {
  return new Promise((resolve, reject) =>
    (client[method] as Unary).call(client, req, md, (err, res) => (err ? reject(err) : resolve(res as T))),
  );
}

/** Opens a server stream and returns its first `n` messages (or its error), then cancels it. */
function firstMessages<T>(
  client: WorkloadClient,
  method: string,
  n = 1,
  md = securityMetadata(),
  during?: () => void,
): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    const s = (client[method] as ServerStream).call(client, {}, md);
    s.on("data", (m: T) => {
      out.push(m);
      if (out.length === 1) during?.();
      if (out.length === n) {
        s.cancel();
        resolve(out);
      }
    });
    s.on("error", (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
  });
}

test("FetchX509SVID: an SVID per identity that verifies against the bundle it carries; a rotation pushes a new one", async () => {
  const api = await DevWorkloadApi.start({
    trustDomain: "example.org",
    address: sock(),
    identities: ["spiffe://example.org/a", "spiffe://example.org/b"],
    intermediate: true,
  });
  const client = workloadApiClient(api.target);
  try {
    const partner = await api.addFederatedDomain("partner.org");
    const [first, second] = await firstMessages<X509SVIDResponse>(
      client,
      "FetchX509SVID",
      2,
      securityMetadata(),
      () => void api.rotateCa(),
    );
    assert.deepEqual(
      first!.svids.map((s) => s.spiffeId),
      ["spiffe://example.org/a", "spiffe://example.org/b"],
    );
    for (const res of [first!, second!]) {
      const svid = res.svids[0]!;
      const bundle = parseX509BundleDer("example.org", svid.bundle);
      const chain = parseDerCertificates(svid.x509Svid);
      assert.equal(chain.length, 2, "leaf + intermediate, no root");
      assert.equal(verifyX509Svid(chain, new BundleSet([bundle]), new Date()).id.toString(), "spiffe://example.org/a");
      assert.equal(
        createPrivateKey({ key: Buffer.from(svid.x509SvidKey), format: "der", type: "pkcs8" }).asymmetricKeyType,
        "ec",
      );
      assert.ok(
        parseX509BundleDer("partner.org", res.federatedBundles["spiffe://partner.org"]!).authorities[0]?.equals(
          partner.certificate,
        ),
      );
    }
    assert.equal(
      parseX509BundleDer("example.org", second!.svids[0]!.bundle).authorities.length,
      2,
      "rotation: old and new roots",
    );
    assert.notDeepEqual(first!.svids[0]!.x509Svid, second!.svids[0]!.x509Svid);
  } finally {
    client.close();
    await api.close();
  }
});

test("FetchJWTSVID and ValidateJWTSVID round-trip; SPIRE's argument checks", async () => {
  const api = await DevWorkloadApi.start({ trustDomain: "example.org", address: sock() });
  const client = workloadApiClient(api.target);
  try {
    const res = await unary<JWTSVIDResponse>(client, "FetchJWTSVID", jwtReq({ audience: ["payments"] }));
    assert.equal(res.svids[0]?.spiffeId, "spiffe://example.org/spiffe-authz");
    const ok = await unary<ValidateJWTSVIDResponse>(
      client,
      "ValidateJWTSVID",
      validateReq({ audience: "payments", svid: res.svids[0]!.svid }),
    );
    assert.equal(ok.spiffeId, "spiffe://example.org/spiffe-authz");
    await assert.rejects(
      unary(client, "ValidateJWTSVID", validateReq({ audience: "other", svid: res.svids[0]!.svid })),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT,
    );
    await assert.rejects(
      unary(client, "FetchJWTSVID", jwtReq({ audience: [] })),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /audience must be specified/.test(e.details),
    );
    await assert.rejects(
      unary(client, "ValidateJWTSVID", validateReq({ audience: "payments" })),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /svid must be specified/.test(e.details),
    );
    await assert.rejects(
      unary(client, "FetchJWTSVID", jwtReq({ audience: ["x"], spiffeId: "spiffe://example.org/someone-else" })),
      (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED,
    );
  } finally {
    client.close();
    await api.close();
  }
});

test("every method: no security header → INVALID_ARGUMENT; no identity → PERMISSION_DENIED (SPIRE's order and messages)", async () => {
  const api = await DevWorkloadApi.start({ trustDomain: "example.org", address: sock(), identities: [] });
  const client = workloadApiClient(api.target);
  try {
    const streams = ["FetchX509SVID", "FetchX509Bundles", "FetchJWTBundles"];
    const unaries: Array<[string, object]> = [
      ["FetchJWTSVID", jwtReq({ audience: ["a"] })],
      ["ValidateJWTSVID", validateReq({ audience: "a", svid: "x" })],
    ];
    const expect = (code: grpc.status, details: string) => (e: grpc.ServiceError) =>
      e.code === code && e.details === details;
    for (const m of streams) {
      await assert.rejects(
        firstMessages(client, m, 1, new grpc.Metadata()),
        expect(grpc.status.INVALID_ARGUMENT, "security header missing from request"),
        m,
      );
      await assert.rejects(firstMessages(client, m), expect(grpc.status.PERMISSION_DENIED, "no identity issued"), m);
    }
    for (const [m, req] of unaries) {
      await assert.rejects(
        unary(client, m, req, new grpc.Metadata()),
        expect(grpc.status.INVALID_ARGUMENT, "security header missing from request"),
        m,
      );
      await assert.rejects(unary(client, m, req), expect(grpc.status.PERMISSION_DENIED, "no identity issued"), m);
    }
  } finally {
    client.close();
    await api.close();
  }
});

test("issueX509Svid gives PEM cert, chain, key and bundle; tcp 127.0.0.1 works; restart serves the same socket path again", async () => {
  const tcp = await DevWorkloadApi.start({ trustDomain: "example.org", address: "127.0.0.1:0", intermediate: true });
  try {
    assert.match(tcp.target, /^127\.0\.0\.1:\d+$/);
    const svid = await tcp.issueX509Svid("spiffe://example.org/web");
    assert.match(svid.pem, /^-----BEGIN CERTIFICATE-----/);
    assert.equal(svid.chainPem.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.match(svid.keyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(svid.bundlePem.includes(tcp.root.pem.trim()));
    const client = workloadApiClient(tcp.target);
    const [msg] = await firstMessages<{ bundles: Record<string, Uint8Array> }>(client, "FetchX509Bundles");
    assert.ok(msg!.bundles["spiffe://example.org"]);
    client.close();
  } finally {
    await tcp.close();
  }

  const api = await DevWorkloadApi.start({ trustDomain: "example.org", address: sock() });
  const target = api.target;
  try {
    await api.close();
    await api.restart();
    assert.equal(api.target, target);
    const client = workloadApiClient(api.target);
    const [msg] = await firstMessages<{ bundles: Record<string, Uint8Array> }>(client, "FetchX509Bundles");
    assert.ok(
      parseX509BundleDer("example.org", msg!.bundles["spiffe://example.org"]!).authorities[0]?.equals(
        api.root.certificate,
      ),
      "same CA after restart",
    );
    client.close();
  } finally {
    await api.close();
  }
});
