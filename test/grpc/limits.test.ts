// Issue #10 item 3: input limits, end to end through a real server. Every limit is probed on both sides:
// just under it a real credential is still allowed (the limit is not too tight), just over it the request
// is denied 401 malformed_certificate (the reason for any unreadable credential, JWT-SVIDs included), and the
// server keeps deciding. A CheckRequest as big as Envoy can make one is answered with a CheckResponse, never
// an RPC error that failure_mode_allow would let through; only beyond that does the gRPC call fail
// RESOURCE_EXHAUSTED. The parsers' own limits are unit-tested in test/formats/xfcc.test.ts and
// test/engine/credentials.test.ts; this file proves they hold through the doors, and adds the transport
// limits (message size, concurrent streams per connection) and memory.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type * as grpc from "@grpc/grpc-js";
import { GRPC_LIMITS } from "../../src/grpc/host.js";
import { MAX_JWT_BYTES, MAX_SOURCE_CERTIFICATE_BYTES } from "../../src/engine/credentials.js";
import { MAX_CERT_DER_BYTES, MAX_CHAIN_CERTS } from "../../src/formats/client-pem.js";
import { XFCC_MAX_ELEMENTS, XFCC_MAX_HEADER_BYTES } from "../../src/formats/xfcc.js";
import type { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { checkRequest, unary, zentinelClient, type CheckResponseObj, type Client } from "../helpers/clients.js";
import { until } from "../helpers/log-capture.js";
import { outcomeOf, startStack, WEB, type Outcome, type Stack } from "../helpers/server-harness.js";

const AUDIENCE = "api";
let stack: Stack;
let web: { pem: string; der: Uint8Array };
let zentinel: Client;

before(async () => {
  stack = await startStack({ failure: "fail_closed", config: { jwt: { enabled: true, audiences: [AUDIENCE] } } });
  web = await stack.api.issueX509Svid(WEB);
  zentinel = zentinelClient(stack.server.grpcTargets[0]!);
});

after(async () => {
  zentinel.close();
  await stack.close();
});

const xfccElement = (pem: string, extra = "") => `${extra}Hash=abc;Cert="${encodeURIComponent(pem)}";URI=${WEB}`;
const dnsNames = (n: number) =>
  Array.from({ length: n }, (_, i) => `host-${String(i).padStart(4, "0")}.${"a".repeat(40)}.example.org`);

/** A chain of `intermediates` CAs under the Workload API's root, and a leaf from the last one (leaf + intermediates, no root). */
async function deepChainPem(intermediates: number): Promise<string> {
  let ca: DevCertificateAuthority = stack.api.root;
  for (let i = 0; i < intermediates; i++) ca = await ca.createIntermediate();
  return (await ca.issueX509Svid(WEB)).chainPem;
}

const OK = { code: 0, http: 200, reason: "ok", spiffeId: WEB };
const MALFORMED = { code: 16, http: 401, reason: "malformed_certificate", spiffeId: undefined };
const NO_CERTIFICATE = { code: 16, http: 401, reason: "no_certificate", spiffeId: undefined };
const MiB = 1 << 20;
/** Envoy's largest request headers (max_request_headers_kb tops out at 8192). */
const ENVOY_MAX_HEADERS_BYTES = 8 * MiB;

interface LimitCase {
  name: string;
  /** The Check request: source certificate and/or headers. */
  request: () => Promise<{ certPem?: string; rawSourceCertificate?: string; headers?: Record<string, string> }>;
  expect: Outcome | { grpcError: number };
  /** Self-check of the fixture: which side of the limit it is on. */
  size?: () => Promise<[number, "<=" | ">", number]>;
}

const pad = (base: string, target: number) => {
  // `Subject` is a quoted value: padding inside it keeps the element well-formed.
  const fill = target - base.length - `Subject="";`.length;
  assert.ok(fill >= 0);
  return `Subject="${"s".repeat(fill)}";${base}`;
};

const CASES: LimitCase[] = [
  {
    name: `XFCC header of exactly ${XFCC_MAX_HEADER_BYTES} bytes: allowed`,
    request: async () => ({ headers: { "x-forwarded-client-cert": pad(xfccElement(web.pem), XFCC_MAX_HEADER_BYTES) } }),
    expect: OK,
  },
  {
    name: `XFCC header of ${XFCC_MAX_HEADER_BYTES + 1} bytes: 401 malformed_certificate`,
    request: async () => ({
      headers: { "x-forwarded-client-cert": pad(xfccElement(web.pem), XFCC_MAX_HEADER_BYTES + 1) },
    }),
    expect: MALFORMED,
  },
  {
    name: `XFCC with ${XFCC_MAX_ELEMENTS} elements (one per hop): allowed`,
    request: async () => ({
      headers: {
        "x-forwarded-client-cert": [
          ...Array.from({ length: XFCC_MAX_ELEMENTS - 1 }, (_, i) => `By=spiffe://example.org/hop${i}`),
          xfccElement(web.pem),
        ].join(","),
      },
    }),
    expect: OK,
  },
  {
    name: `XFCC with ${XFCC_MAX_ELEMENTS + 1} elements: 401 malformed_certificate`,
    request: async () => ({
      headers: {
        "x-forwarded-client-cert": [
          ...Array.from({ length: XFCC_MAX_ELEMENTS }, (_, i) => `By=spiffe://example.org/hop${i}`),
          xfccElement(web.pem),
        ].join(","),
      },
    }),
    expect: MALFORMED,
  },
  {
    name: `chain of ${MAX_CHAIN_CERTS} certificates (leaf + ${MAX_CHAIN_CERTS - 1} intermediates) as source certificate: allowed`,
    request: async () => ({ certPem: await deepChainPem(MAX_CHAIN_CERTS - 1) }),
    expect: OK,
  },
  {
    name: `chain of ${MAX_CHAIN_CERTS + 1} certificates as source certificate: 401 malformed_certificate`,
    request: async () => ({ certPem: await deepChainPem(MAX_CHAIN_CERTS) }),
    expect: MALFORMED,
  },
  {
    name: `chain of ${MAX_CHAIN_CERTS + 1} certificates as XFCC Chain: 401 malformed_certificate`,
    request: async () => ({
      headers: { "x-forwarded-client-cert": `Chain="${encodeURIComponent(await deepChainPem(MAX_CHAIN_CERTS))}"` },
    }),
    expect: MALFORMED,
  },
  {
    name: `leaf of just under ${MAX_CERT_DER_BYTES} bytes DER (230 DNS SANs): allowed`,
    request: async () => ({ certPem: (await stack.api.ca.issueX509Svid(WEB, { dnsNames: dnsNames(230) })).pem }),
    expect: OK,
    size: async () => [
      (await stack.api.ca.issueX509Svid(WEB, { dnsNames: dnsNames(230) })).der.length,
      "<=",
      MAX_CERT_DER_BYTES,
    ],
  },
  {
    name: `leaf of more than ${MAX_CERT_DER_BYTES} bytes DER (260 DNS SANs) as source certificate: 401 malformed_certificate`,
    request: async () => {
      const big = (await stack.api.ca.issueX509Svid(WEB, { dnsNames: dnsNames(260) })).pem;
      return { certPem: big };
    },
    expect: MALFORMED,
    size: async () => [
      (await stack.api.ca.issueX509Svid(WEB, { dnsNames: dnsNames(260) })).der.length,
      ">",
      MAX_CERT_DER_BYTES,
    ],
  },
  {
    name: `leaf of more than ${MAX_CERT_DER_BYTES} bytes DER in XFCC Cert: 401 malformed_certificate`,
    request: async () => ({
      headers: {
        "x-forwarded-client-cert": xfccElement(
          (await stack.api.ca.issueX509Svid(WEB, { dnsNames: dnsNames(260) })).pem,
        ),
      },
    }),
    expect: MALFORMED,
  },
  {
    name: `source certificate over ${MAX_SOURCE_CERTIFICATE_BYTES} bytes (URL-encoded): 401 malformed_certificate`,
    request: async () => ({
      rawSourceCertificate: encodeURIComponent(web.pem) + "%20".repeat(MAX_SOURCE_CERTIFICATE_BYTES / 3),
    }),
    expect: MALFORMED,
  },
  {
    name: `JWT-SVID of about ${MAX_JWT_BYTES - 2048} bytes: allowed`,
    request: async () => ({ headers: { authorization: `Bearer ${await bigJwt(MAX_JWT_BYTES - 2048)}` } }),
    expect: OK,
  },
  {
    name: `JWT-SVID over ${MAX_JWT_BYTES} bytes (validly signed): 401 malformed_certificate`,
    request: async () => ({ headers: { authorization: `Bearer ${await bigJwt(MAX_JWT_BYTES + 1024)}` } }),
    expect: MALFORMED,
  },
  {
    name: "one 1 MiB XFCC header (a CheckRequest over the old 1 MiB gRPC limit): a CheckResponse, 401 malformed_certificate",
    request: async () => ({ headers: { "x-forwarded-client-cert": pad(xfccElement(web.pem), MiB + 1) } }),
    expect: MALFORMED,
  },
  {
    name: "one 1 MiB bearer token: 401 malformed_certificate",
    request: async () => ({ headers: { authorization: `Bearer ${"a".repeat(MiB)}` } }),
    expect: MALFORMED,
  },
  {
    name: "one 1 MiB header that carries no credential, and no certificate: 401 no_certificate",
    request: async () => ({ headers: { "x-pad": "p".repeat(MiB) } }),
    expect: NO_CERTIFICATE,
  },
  {
    name: `an XFCC header as big as Envoy's request headers can be (${ENVOY_MAX_HEADERS_BYTES} bytes): 401 malformed_certificate`,
    request: async () => ({
      headers: { "x-forwarded-client-cert": pad(xfccElement(web.pem), ENVOY_MAX_HEADERS_BYTES) },
    }),
    expect: MALFORMED,
  },
  {
    name: `${ENVOY_MAX_HEADERS_BYTES} bytes of other headers beside a valid certificate: allowed (they are not ours to judge)`,
    request: async () => ({ certPem: web.pem, headers: { "x-pad": "p".repeat(ENVOY_MAX_HEADERS_BYTES) } }),
    expect: OK,
  },
  {
    name: `CheckRequest of about ${GRPC_LIMITS.maxReceiveMessageBytes - 64 * 1024} bytes: allowed`,
    request: async () => ({
      certPem: web.pem,
      headers: { "x-pad": "p".repeat(GRPC_LIMITS.maxReceiveMessageBytes - 64 * 1024) },
    }),
    expect: OK,
  },
  {
    name: `CheckRequest over ${GRPC_LIMITS.maxReceiveMessageBytes} bytes (beyond Envoy's headers and a sane with_request_body): gRPC RESOURCE_EXHAUSTED`,
    request: async () => ({
      certPem: web.pem,
      headers: { "x-pad": "p".repeat(GRPC_LIMITS.maxReceiveMessageBytes + 1) },
    }),
    expect: { grpcError: 8 },
  },
];

/** A real JWT-SVID for WEB from the Workload API's JWT authority, padded by a claim to about `bytes`. */
async function bigJwt(bytes: number): Promise<string> {
  const base = await stack.api.jwtAuthority.issue({ subject: WEB, audience: AUDIENCE });
  // base64url grows 4/3: a claim of n characters adds about 4n/3 bytes.
  const n = Math.max(0, Math.floor(((bytes - base.length) * 3) / 4) - 16);
  const jwt = await stack.api.jwtAuthority.issue({ subject: WEB, audience: AUDIENCE, claims: { pad: "x".repeat(n) } });
  assert.ok(Math.abs(jwt.length - bytes) < 256, `JWT of ${jwt.length} bytes, wanted about ${bytes}`);
  return jwt;
}

function envoyCheck(req: Awaited<ReturnType<LimitCase["request"]>>): Promise<CheckResponseObj> {
  const body = checkRequest({
    ...(req.certPem ? { certPem: req.certPem } : {}),
    ...(req.headers ? { headers: req.headers } : {}),
  }) as { attributes: { source: { certificate: string } } };
  if (req.rawSourceCertificate !== undefined) body.attributes.source.certificate = req.rawSourceCertificate;
  return unary<CheckResponseObj>(stack.envoy, "Check", body);
}

for (const c of CASES) {
  test(`limit (Envoy door): ${c.name}`, async () => {
    if (c.size) {
      const [actual, op, limit] = await c.size();
      assert.ok(op === "<=" ? actual <= limit : actual > limit, `fixture: ${actual} ${op} ${limit}`);
    }
    const req = await c.request();
    if ("grpcError" in c.expect) {
      await assert.rejects(envoyCheck(req), (err: grpc.ServiceError) => {
        assert.equal(err.code, c.expect && "grpcError" in c.expect ? c.expect.grpcError : -1, err.message);
        return true;
      });
    } else {
      const got = outcomeOf(await envoyCheck(req));
      // A JWT-SVID allow carries the same identity; only X-Auth-Method differs.
      assert.deepEqual(got, c.expect);
    }
    // Never a crash or a wedged server: the next ordinary request is decided as usual.
    assert.deepEqual(await stack.check({ certPem: web.pem }), OK);
  });
}

test("limit (Zentinel door): XFCC split over 17 header entries is joined into 17 elements → block 401 malformed_certificate; 16 are allowed", async () => {
  const event = (cid: string, entries: number) => ({
    request_headers: {
      metadata: { correlation_id: cid, request_id: cid, client_ip: "10.0.0.1" },
      method: "GET",
      uri: "/api",
      http_version: "HTTP/1.1",
      headers: [
        { name: "host", value: "api.example.org" },
        ...Array.from({ length: entries - 1 }, (_, i) => ({
          name: "x-forwarded-client-cert",
          value: `By=spiffe://example.org/hop${i}`,
        })),
        { name: "x-forwarded-client-cert", value: xfccElement(web.pem) },
      ],
    },
  });
  const decide = async (entries: number) => {
    const res = await unary<Record<string, unknown>>(zentinel, "ProcessEvent", event(`z${entries}`, entries));
    const r = res["response"] as Record<string, unknown>;
    if (r["decision"] === "allow") return "allow";
    const block = r["block"] as { status: number; body: string };
    return `${block.status} ${(JSON.parse(block.body) as { reason: string }).reason}`;
  };
  assert.equal(await decide(XFCC_MAX_ELEMENTS), "allow");
  assert.equal(await decide(XFCC_MAX_ELEMENTS + 1), "401 malformed_certificate");
});

test("every over-limit denial above was counted as malformed_certificate on /metrics", async () => {
  const n = await stack.metric("spiffe_authz_decisions_total", {
    decision: "deny",
    reason: "malformed_certificate",
    transport: "envoy",
  });
  assert.ok(
    (n ?? 0) >= CASES.filter((c) => !("grpcError" in c.expect) && c.expect.reason === "malformed_certificate").length,
    `counted ${n}`,
  );
});

// ---- concurrent streams per connection ---------------------------------------------------------------------

/** A bare HTTP/2 client: enough framing to open many streams on one connection, which grpc-js would not do. */
class RawH2 {
  private buf = Buffer.alloc(0);
  readonly frames: Array<{ type: number; flags: number; stream: number; payload: Buffer }> = [];
  closed = false;
  private constructor(private readonly sock: Socket) {
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("close", () => (this.closed = true));
    sock.on("error", () => (this.closed = true));
  }

  static async open(target: string): Promise<RawH2> {
    const [host, port] = target.split(":") as [string, string];
    const sock = connect(Number(port), host);
    await new Promise<void>((resolve, reject) => sock.once("connect", resolve).once("error", reject));
    const h2 = new RawH2(sock);
    sock.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), RawH2.frame(4, 0, 0, Buffer.alloc(0))]));
    await until(() => h2.serverSettings() !== undefined, 3000, "server SETTINGS");
    return h2;
  }

  static frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(stream, 5);
    return Buffer.concat([h, payload]);
  }

  /** HPACK "literal header field without indexing, new name" (RFC 7541 §6.2.2); names and values < 127 bytes. */
  private static headerBlock(path: string): Buffer {
    const lit = (n: string, v: string) =>
      Buffer.concat([Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]);
    return Buffer.concat([
      lit(":method", "POST"),
      lit(":scheme", "http"),
      lit(":path", path),
      lit(":authority", "localhost"),
      lit("content-type", "application/grpc"),
      lit("te", "trailers"),
    ]);
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const f = {
        type: this.buf[3]!,
        flags: this.buf[4]!,
        stream: this.buf.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.buf.subarray(9, 9 + len)),
      };
      this.buf = this.buf.subarray(9 + len);
      this.frames.push(f);
      if (f.type === 4 && (f.flags & 1) === 0) this.sock.write(RawH2.frame(4, 1, 0, Buffer.alloc(0))); // SETTINGS ACK
    }
  }

  serverSettings(): Map<number, number> | undefined {
    const f = this.frames.find((x) => x.type === 4 && (x.flags & 1) === 0);
    if (!f) return undefined;
    const m = new Map<number, number>();
    for (let i = 0; i + 6 <= f.payload.length; i += 6) m.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
    return m;
  }

  /** Opens streams (HEADERS without END_STREAM: they stay open) with ids first, first+2, ... */
  openStreams(first: number, count: number, path: string): void {
    const block = RawH2.headerBlock(path);
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) out.push(RawH2.frame(1, 4, first + 2 * i, block));
    this.sock.write(Buffer.concat(out));
  }

  /** One gRPC message on a stream (DATA, not ending it). */
  sendMessage(stream: number, message: Buffer): void {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    this.sock.write(RawH2.frame(0, 0, stream, Buffer.concat([prefix, message])));
  }

  refusals(): Array<{ type: "RST_STREAM" | "GOAWAY"; stream: number; code: number }> {
    return this.frames
      .filter((f) => f.type === 3 || f.type === 7)
      .map((f) =>
        f.type === 3
          ? { type: "RST_STREAM" as const, stream: f.stream, code: f.payload.readUInt32BE(0) }
          : {
              type: "GOAWAY" as const,
              stream: f.payload.readUInt32BE(0) & 0x7fffffff,
              code: f.payload.readUInt32BE(4),
            },
      );
  }

  destroy(): void {
    this.sock.destroy();
  }
}

test(`concurrent streams per connection: SETTINGS_MAX_CONCURRENT_STREAMS = ${GRPC_LIMITS.maxConcurrentStreams}; ${GRPC_LIMITS.maxConcurrentStreams} open streams are served, one more costs the peer its connection, other connections unaffected`, async () => {
  const cap = GRPC_LIMITS.maxConcurrentStreams;
  const h2 = await RawH2.open(stack.server.grpcTargets[0]!);
  try {
    assert.equal(h2.serverSettings()!.get(0x3), cap, "SETTINGS_MAX_CONCURRENT_STREAMS advertised");
    // Server reflection's bidi stream stays open until the client ends it.
    const path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
    h2.openStreams(1, cap, path);
    // The last of them (stream 2*cap-1) is really served: a list_services request on it is answered.
    const last = 2 * cap - 1;
    h2.sendMessage(last, Buffer.from([0x3a, 0x00])); // ServerReflectionRequest{ list_services: "" }
    await until(
      () => h2.frames.some((f) => f.type === 0 && f.stream === last && f.payload.length > 0),
      10_000,
      `an answer on stream ${last}`,
    );
    assert.deepEqual(h2.refusals(), [], "nothing refused at the cap");
    // One more than the cap: nghttp2 treats it as a connection error (GOAWAY), which RFC 9113 §5.1.2 allows.
    h2.openStreams(2 * cap + 1, 1, path);
    await until(
      () => h2.refusals().some((r) => r.type === "GOAWAY" || r.stream === 2 * cap + 1),
      10_000,
      "the stream over the cap refused",
    );
    const goaway = h2.refusals().find((r) => r.type === "GOAWAY");
    if (goaway)
      assert.ok(goaway.stream <= last, `GOAWAY last-stream-id ${goaway.stream} does not include the extra stream`);
  } finally {
    h2.destroy();
  }
  // The server is fine, and so are other connections.
  assert.deepEqual(await stack.check({ certPem: web.pem }), OK);
});

// ---- memory -------------------------------------------------------------------------------------------------

test("many over-limit requests do not grow the heap: heapUsed after GC within 1.5× + 16 MiB of the warmed-up baseline", async (t) => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
    return process.memoryUsage().heapUsed;
  };
  const xfccHuge = pad(xfccElement(web.pem), XFCC_MAX_HEADER_BYTES + 1);
  const tooManyElements = [
    ...Array.from({ length: XFCC_MAX_ELEMENTS }, (_, i) => `By=spiffe://example.org/hop${i}`),
    xfccElement(web.pem),
  ].join(",");
  const hugeJwt = await bigJwt(MAX_JWT_BYTES + 1024);
  const longChain = await deepChainPem(MAX_CHAIN_CERTS);
  const overOldLimit = pad(xfccElement(web.pem), MiB + 1);
  const one = async (i: number) => {
    switch (i % 5) {
      case 0:
        return outcomeOf(await envoyCheck({ headers: { "x-forwarded-client-cert": xfccHuge } })).reason;
      case 1:
        return outcomeOf(await envoyCheck({ headers: { "x-forwarded-client-cert": tooManyElements } })).reason;
      case 2:
        return outcomeOf(await envoyCheck({ headers: { authorization: `Bearer ${hugeJwt}` } })).reason;
      case 3:
        return outcomeOf(await envoyCheck({ certPem: longChain })).reason;
      default:
        return outcomeOf(await envoyCheck({ headers: { "x-forwarded-client-cert": overOldLimit } })).reason;
    }
  };
  const round = async (n: number) => {
    const batch = 20;
    for (let i = 0; i < n; i += batch) {
      const got = await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => one(i + k)));
      for (const g of got) assert.equal(g, "malformed_certificate");
    }
  };
  await round(100); // warm-up: JIT, pools, caches at their working size
  const baseline = await settle();
  await round(500);
  const afterHeap = await settle();
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  t.diagnostic(
    `heapUsed after GC: ${mib(baseline)} MiB after 100 over-limit requests, ${mib(afterHeap)} MiB after 500 more`,
  );
  assert.ok(
    afterHeap < baseline * 1.5 + 16 * 2 ** 20,
    `heapUsed ${mib(baseline)} MiB → ${mib(afterHeap)} MiB after 500 over-limit requests`,
  );
  assert.deepEqual(await stack.check({ certPem: web.pem }), OK);
});
