// An embedded, SPIRE-compatible Workload API server backed by in-memory CAs: for tests, `npm run demo`,
// and trying spiffe-authz without SPIRE. It behaves as the SPIRE agent does where that matters to clients:
// the security header is enforced, an unregistered caller gets PERMISSION_DENIED, bundle streams get a new
// message on every change, a rotation keeps old and new roots until the old ones are dropped.
import { webcrypto } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  JWTBundlesResponseSchema,
  JWTSVIDResponseSchema,
  SpiffeWorkloadAPI,
  ValidateJWTSVIDResponseSchema,
  X509BundlesResponseSchema,
  X509SVIDResponseSchema,
  type JWTSVIDRequest,
  type ValidateJWTSVIDRequest,
} from "../../gen/spiffe/workload/workload_pb.js";
import { serviceDefinition } from "../../grpc/service-definition.js";
import { DevCertificateAuthority, DevJwtAuthority, type CertificateOptions, type DevX509Svid } from "../../dev-ca/index.js";
import { BundleSet, JwtBundle, SvidError, parseTrustDomain, verifyJwtSvid } from "../../spiffe/index.js";
import { SECURITY_HEADER } from "../workload-api/client.js";

export interface DevWorkloadApiOptions {
  trustDomain: string;
  /** Listen address for grpc-js: `unix:///abs/path` or `127.0.0.1:0`. */
  address: string;
  /** SPIFFE IDs (or paths) this "workload" is entitled to; with none, every call is PERMISSION_DENIED. */
  identities?: string[];
}

type Stream = grpc.ServerWritableStream<unknown, unknown>;

const concat = (parts: readonly Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

export class DevWorkloadApi {
  private server: grpc.Server | undefined;
  /** Roots in the bundle, oldest first; the last one signs. */
  private roots: DevCertificateAuthority[] = [];
  private jwtKeys: DevJwtAuthority[] = [];
  private readonly federated = new Map<string, { x509: DevCertificateAuthority; jwt: DevJwtAuthority }>();
  private readonly x509Streams = new Set<Stream>();
  private readonly jwtStreams = new Set<Stream>();
  private stalled = false;
  private malformed = false;
  private empty = false;
  identities: string[];
  /** Bound target, e.g. `unix:///tmp/x/agent.sock` or `127.0.0.1:40123`. */
  target = "";

  private constructor(private readonly opts: DevWorkloadApiOptions) {
    this.identities = opts.identities ?? [`spiffe://${opts.trustDomain}/spiffe-authz`];
  }

  static async start(opts: DevWorkloadApiOptions): Promise<DevWorkloadApi> {
    const api = new DevWorkloadApi(opts);
    api.roots = [await DevCertificateAuthority.createRoot(opts.trustDomain)];
    api.jwtKeys = [await DevJwtAuthority.create(opts.trustDomain)];
    await api.listen();
    return api;
  }

  get trustDomain(): string {
    return this.opts.trustDomain;
  }

  /** The CA that signs new SVIDs. */
  get ca(): DevCertificateAuthority {
    return this.roots[this.roots.length - 1] as DevCertificateAuthority;
  }

  get jwtAuthority(): DevJwtAuthority {
    return this.jwtKeys[this.jwtKeys.length - 1] as DevJwtAuthority;
  }

  issueX509Svid(id: string, opts?: CertificateOptions): Promise<DevX509Svid> {
    return this.ca.issueX509Svid(id, opts);
  }

  issueJwtSvid(id: string, audience: string | string[], ttlSeconds = 300): Promise<string> {
    return this.jwtAuthority.issue({ subject: id, audience, ttlSeconds });
  }

  federatedCa(td: string): DevCertificateAuthority | undefined {
    return this.federated.get(parseTrustDomain(td).name)?.x509;
  }

  /** New root (and JWT key) that signs from now on; the bundle carries old and new, as during SPIRE's preparation phase. */
  async rotateCa(): Promise<DevCertificateAuthority> {
    this.roots.push(await DevCertificateAuthority.createRoot(this.opts.trustDomain));
    this.jwtKeys.push(await DevJwtAuthority.create(this.opts.trustDomain));
    this.publish();
    return this.ca;
  }

  /** Only the newest authorities stay in the bundle: SVIDs from older CAs stop verifying. */
  dropOldAuthorities(): void {
    this.roots = [this.ca];
    this.jwtKeys = [this.jwtAuthority];
    this.publish();
  }

  async addFederatedDomain(td: string): Promise<DevCertificateAuthority> {
    const name = parseTrustDomain(td).name;
    const entry = { x509: await DevCertificateAuthority.createRoot(name), jwt: await DevJwtAuthority.create(name) };
    this.federated.set(name, entry);
    this.publish();
    return entry.x509;
  }

  removeTrustDomain(td: string): void {
    this.federated.delete(parseTrustDomain(td).name);
    this.publish();
  }

  // ---- fault injection ------------------------------------------------------------------------------------

  /** Stop (true) or resume (false) sending updates on open streams; on resume the current state is sent. */
  stall(on = true): void {
    this.stalled = on;
    if (!on) this.publish();
  }

  /** The next bundle messages carry garbage for our trust domain. */
  sendMalformed(on = true): void {
    this.malformed = on;
    this.publish();
  }

  /** The next bundle messages carry an empty map. */
  sendEmpty(on = true): void {
    this.empty = on;
    this.publish();
  }

  /** Stops serving (streams are cut, as when the agent dies). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.x509Streams.clear();
    this.jwtStreams.clear();
    server?.forceShutdown();
  }

  /** Serves again on the same address with the same CAs (agent restarted). */
  async restart(): Promise<void> {
    await this.close();
    await this.listen();
  }

  // ---- serving --------------------------------------------------------------------------------------------

  private async listen(): Promise<void> {
    const server = new grpc.Server();
    server.addService(serviceDefinition(SpiffeWorkloadAPI), this.handlers());
    const target = this.target || this.opts.address;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.target = target.startsWith("unix:") ? target : target.replace(/:\d+$/, `:${port}`);
    this.server = server;
  }

  /** SPIRE's two checks, in SPIRE's order: the header, then whether the caller has an identity. */
  private refuse(md: grpc.Metadata): grpc.ServiceError | undefined {
    if (md.get(SECURITY_HEADER)[0] !== "true") {
      return Object.assign(new Error("security header missing from request"), { code: grpc.status.INVALID_ARGUMENT, details: "security header missing from request", metadata: new grpc.Metadata() });
    }
    if (this.identities.length === 0) {
      return Object.assign(new Error("no identity issued"), { code: grpc.status.PERMISSION_DENIED, details: "no identity issued", metadata: new grpc.Metadata() });
    }
    return undefined;
  }

  private x509BundleMap(): Record<string, Uint8Array> {
    if (this.empty) return {};
    const own = this.malformed ? new Uint8Array([0x30, 0x03, 0x02, 0x01]) : concat(this.roots.map((r) => r.der));
    const map: Record<string, Uint8Array> = { [`spiffe://${this.opts.trustDomain}`]: own };
    for (const [td, f] of this.federated) map[`spiffe://${td}`] = f.x509.der;
    return map;
  }

  private jwtBundleMap(): Record<string, Uint8Array> {
    if (this.empty) return {};
    const enc = (jwks: string) => new TextEncoder().encode(jwks);
    const own = this.malformed ? enc("{not json") : enc(JSON.stringify(JwtBundle.fromAuthorities(parseTrustDomain(this.opts.trustDomain), this.jwtKeys.map((k) => k.authority())).toJwks()));
    const map: Record<string, Uint8Array> = { [`spiffe://${this.opts.trustDomain}`]: own };
    for (const [td, f] of this.federated) map[`spiffe://${td}`] = enc(f.jwt.jwks());
    return map;
  }

  private publish(): void {
    if (this.stalled) return;
    for (const s of this.x509Streams) s.write(create(X509BundlesResponseSchema, { bundles: this.x509BundleMap() }));
    for (const s of this.jwtStreams) s.write(create(JWTBundlesResponseSchema, { bundles: this.jwtBundleMap() }));
  }

  private bundleStream(set: Set<Stream>, first: () => unknown) {
    return (call: Stream) => {
      const refused = this.refuse(call.metadata);
      if (refused) return void call.emit("error", refused);
      set.add(call);
      call.on("cancelled", () => set.delete(call));
      call.on("close", () => set.delete(call));
      if (!this.stalled) call.write(first());
    };
  }

  private handlers(): grpc.UntypedServiceImplementation {
    return {
      FetchX509Bundles: this.bundleStream(this.x509Streams, () => create(X509BundlesResponseSchema, { bundles: this.x509BundleMap() })),
      FetchJWTBundles: this.bundleStream(this.jwtStreams, () => create(JWTBundlesResponseSchema, { bundles: this.jwtBundleMap() })),
      FetchX509SVID: (call: Stream) => {
        const refused = this.refuse(call.metadata);
        if (refused) return void call.emit("error", refused);
        void (async () => {
          const svids = [];
          for (const id of this.identities) {
            const svid = await this.ca.issueX509Svid(id);
            const key = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", svid.keys.privateKey));
            svids.push({ spiffeId: svid.id, x509Svid: concat(svid.chain), x509SvidKey: key, bundle: concat(this.roots.map((r) => r.der)) });
          }
          const federatedBundles: Record<string, Uint8Array> = {};
          for (const [td, f] of this.federated) federatedBundles[`spiffe://${td}`] = f.x509.der;
          call.write(create(X509SVIDResponseSchema, { svids, federatedBundles }));
        })().catch((err: unknown) => call.emit("error", { code: grpc.status.INTERNAL, details: String(err) }));
      },
      FetchJWTSVID: (call: grpc.ServerUnaryCall<JWTSVIDRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const refused = this.refuse(call.metadata);
        if (refused) return cb(refused);
        if (call.request.audience.length === 0) return cb({ code: grpc.status.INVALID_ARGUMENT, details: "audience must be specified" });
        const ids = call.request.spiffeId ? this.identities.filter((i) => i === call.request.spiffeId) : this.identities;
        if (ids.length === 0) return cb({ code: grpc.status.PERMISSION_DENIED, details: "no identity issued" });
        Promise.all(ids.map(async (id) => ({ spiffeId: id, svid: await this.issueJwtSvid(id, call.request.audience) }))).then(
          (svids) => cb(null, create(JWTSVIDResponseSchema, { svids })),
          (err: unknown) => cb({ code: grpc.status.INTERNAL, details: String(err) }),
        );
      },
      ValidateJWTSVID: (call: grpc.ServerUnaryCall<ValidateJWTSVIDRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const refused = this.refuse(call.metadata);
        if (refused) return cb(refused);
        const bundles = new BundleSet([
          JwtBundle.fromAuthorities(parseTrustDomain(this.opts.trustDomain), this.jwtKeys.map((k) => k.authority())),
          ...[...this.federated.values()].map((f) => f.jwt.jwtBundle()),
        ]);
        verifyJwtSvid(call.request.svid, bundles, { audiences: [call.request.audience], now: new Date() }).then(
          (svid) => cb(null, create(ValidateJWTSVIDResponseSchema, { spiffeId: svid.id.toString(), claims: svid.claims as never })),
          (err: unknown) => cb({ code: grpc.status.INVALID_ARGUMENT, details: err instanceof SvidError ? err.message : String(err) }),
        );
      },
      FetchWITSVID: (call: Stream) => void call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "WIT-SVIDs are not supported by the dev Workload API" }),
      FetchWITBundles: (call: Stream) => void call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "WIT-SVIDs are not supported by the dev Workload API" }),
    };
  }
}
