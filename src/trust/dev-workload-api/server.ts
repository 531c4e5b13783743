// An embedded, SPIRE-compatible Workload API server backed by in-memory CAs: for tests, `npm run demo`,
// and trying spiffe-authz without SPIRE. It behaves as the SPIRE agent does where that matters to clients:
// the security header is enforced, an unregistered caller gets PERMISSION_DENIED, bundle and SVID streams
// get a new message on every change, a rotation keeps old and new roots until the old ones are dropped.
// Not for production: keys live in memory, every caller gets the same configured identities.
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
import {
  DevCertificateAuthority,
  DevJwtAuthority,
  privateKeyPem,
  type CertificateOptions,
  type DevX509Svid,
} from "../../dev-ca/index.js";
import { BundleSet, JwtBundle, SvidError, parseTrustDomain, verifyJwtSvid } from "../../spiffe/index.js";
import { SECURITY_HEADER } from "../workload-api/client.js";

export interface DevWorkloadApiOptions {
  trustDomain: string;
  /** Listen address for grpc-js: `unix:///abs/path` or `127.0.0.1:0` (tcp is bound to what is given; use 127.0.0.1). */
  address: string;
  /** SPIFFE IDs this "workload" is entitled to (default `spiffe://<td>/spiffe-authz`); [] → every call is PERMISSION_DENIED. */
  identities?: string[];
  /** Issue SVIDs from an intermediate under the root, as SPIRE with an UpstreamAuthority does (default false). */
  intermediate?: boolean;
}

/** An X.509-SVID as PEM, for tests that need files or a TLS client. */
export interface DevX509SvidPem extends DevX509Svid {
  /** Leaf first, then intermediates (never the root). */
  chainPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  /** The trust domain's bundle at issue time (all current roots). */
  bundlePem: string;
}

type Stream = grpc.ServerWritableStream<unknown, unknown>;

const concat = (parts: readonly Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

function statusError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

interface Authority {
  root: DevCertificateAuthority;
  /** What signs SVIDs: the root, or its intermediate. */
  signer: DevCertificateAuthority;
  jwt: DevJwtAuthority;
}

async function newAuthority(td: string, intermediate: boolean): Promise<Authority> {
  const root = await DevCertificateAuthority.createRoot(td);
  const signer = intermediate ? await root.createIntermediate() : root;
  return { root, signer, jwt: await DevJwtAuthority.create(td) };
}

export class DevWorkloadApi {
  private server: grpc.Server | undefined;
  /** Authorities in the bundle, oldest first; the last one signs. */
  private authorities: Authority[] = [];
  private readonly federated = new Map<string, Authority>();
  private readonly x509Streams = new Set<Stream>();
  private readonly jwtStreams = new Set<Stream>();
  private readonly svidStreams = new Set<Stream>();
  private readonly svidSends = new WeakMap<Stream, Promise<void>>();
  private stalled = false;
  private malformed = false;
  private empty = false;
  private bareKeys = false;
  private headerStripped = false;
  private deniedUntil = 0;
  /** SPIFFE IDs handed to callers; [] makes every call PERMISSION_DENIED ("no identity issued"). */
  identities: string[];
  /** Bound target, e.g. `unix:///tmp/x/agent.sock` or `127.0.0.1:40123`. */
  target = "";
  /** Calls received per method, refused ones included (tests count retries with it). */
  readonly calls: Record<string, number> = {};

  private constructor(private readonly opts: DevWorkloadApiOptions) {
    this.identities = opts.identities ?? [`spiffe://${parseTrustDomain(opts.trustDomain).name}/spiffe-authz`];
  }

  static async start(opts: DevWorkloadApiOptions): Promise<DevWorkloadApi> {
    const api = new DevWorkloadApi(opts);
    api.authorities = [await newAuthority(api.trustDomain, opts.intermediate ?? false)];
    await api.listen();
    return api;
  }

  get trustDomain(): string {
    return parseTrustDomain(this.opts.trustDomain).name;
  }

  private get newest(): Authority {
    return this.authorities[this.authorities.length - 1] as Authority;
  }

  /** The CA that signs new SVIDs (the intermediate when configured, else the newest root). */
  get ca(): DevCertificateAuthority {
    return this.newest.signer;
  }

  /** The newest root (what a rotation adds to the bundle). */
  get root(): DevCertificateAuthority {
    return this.newest.root;
  }

  /** Every root in the current bundle, oldest first. */
  get roots(): DevCertificateAuthority[] {
    return this.authorities.map((a) => a.root);
  }

  get jwtAuthority(): DevJwtAuthority {
    return this.newest.jwt;
  }

  /** An X.509-SVID from the current signing CA, with PEM forms of the chain, key and bundle. */
  async issueX509Svid(id: string, opts?: CertificateOptions): Promise<DevX509SvidPem> {
    const svid = await this.ca.issueX509Svid(id, opts);
    const keyPem = await privateKeyPem(svid.keys.privateKey);
    return { ...svid, keyPem, bundlePem: this.roots.map((r) => r.pem).join("") };
  }

  issueJwtSvid(id: string, audience: string | string[], ttlSeconds = 300): Promise<string> {
    return this.jwtAuthority.issue({ subject: id, audience, ttlSeconds });
  }

  federatedCa(td: string): DevCertificateAuthority | undefined {
    return this.federated.get(parseTrustDomain(td).name)?.signer;
  }

  federatedJwtAuthority(td: string): DevJwtAuthority | undefined {
    return this.federated.get(parseTrustDomain(td).name)?.jwt;
  }

  /** New root (and JWT key) that signs from now on; the bundle carries old and new, as during SPIRE's preparation phase. */
  async rotateCa(): Promise<DevCertificateAuthority> {
    this.authorities.push(await newAuthority(this.trustDomain, this.opts.intermediate ?? false));
    this.publish();
    return this.ca;
  }

  /** Only the newest authorities stay in the bundle: SVIDs from older CAs stop verifying. */
  dropOldAuthorities(): void {
    this.authorities = [this.newest];
    this.publish();
  }

  /** A second trust domain with its own CA, whose bundles appear in the bundle maps (federation). */
  async addFederatedDomain(td: string): Promise<DevCertificateAuthority> {
    const name = parseTrustDomain(td).name;
    const a = await newAuthority(name, false);
    this.federated.set(name, a);
    this.publish();
    return a.root;
  }

  /** Removes a federated trust domain from the bundle maps. */
  removeTrustDomain(td: string): void {
    if (this.federated.delete(parseTrustDomain(td).name)) this.publish();
  }

  // ---- fault injection ------------------------------------------------------------------------------------

  /** Stop (true) or resume (false) sending anything on bundle streams, new ones included; on resume the current state is sent. */
  stall(on = true): void {
    this.stalled = on;
    if (!on) this.publish();
  }

  /** Bundle messages carry garbage for our own trust domain (federated ones stay well-formed). */
  sendMalformed(on = true): void {
    this.malformed = on;
    this.publish();
  }

  /** Bundle messages carry an empty map. */
  sendEmpty(on = true): void {
    this.empty = on;
    this.publish();
  }

  /** Key bundle maps by bare trust domain name (`example.org`) instead of SPIRE's `spiffe://example.org`. */
  useBareKeys(on = true): void {
    this.bareKeys = on;
    this.publish();
  }

  /**
   * What a real SPIRE agent does while it re-issues SVIDs after a CA was tainted: every open bundle stream
   * ends with PERMISSION_DENIED "no identity issued", and so does every new call for `ms`; then it serves again.
   */
  denyFor(ms: number): void {
    this.deniedUntil = Date.now() + ms;
    const err = statusError(grpc.status.PERMISSION_DENIED, "no identity issued");
    for (const set of [this.x509Streams, this.jwtStreams, this.svidStreams]) {
      for (const call of set) call.emit("error", err);
      set.clear();
    }
  }

  /** Behave as if something between client and agent dropped gRPC metadata: every call lacks the security header. */
  simulateHeaderStripped(on = true): void {
    this.headerStripped = on;
  }

  /** Stops serving (open streams are cut, as when the agent dies). The socket path can be served again by restart(). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.x509Streams.clear();
    this.jwtStreams.clear();
    this.svidStreams.clear();
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
  private refuse(method: string, md: grpc.Metadata): grpc.ServiceError | undefined {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    if (this.headerStripped || md.get(SECURITY_HEADER)[0] !== "true")
      return statusError(grpc.status.INVALID_ARGUMENT, "security header missing from request");
    if (this.identities.length === 0 || Date.now() < this.deniedUntil)
      return statusError(grpc.status.PERMISSION_DENIED, "no identity issued");
    return undefined;
  }

  private key(td: string): string {
    return this.bareKeys ? td : `spiffe://${td}`;
  }

  private x509BundleMap(): Record<string, Uint8Array> {
    if (this.empty) return {};
    const own = this.malformed ? new Uint8Array([0x30, 0x03, 0x02, 0x01]) : concat(this.roots.map((r) => r.der));
    const map: Record<string, Uint8Array> = { [this.key(this.trustDomain)]: own };
    for (const [td, f] of this.federated) map[this.key(td)] = f.root.der;
    return map;
  }

  private ownJwtBundle(): JwtBundle {
    return JwtBundle.fromAuthorities(
      parseTrustDomain(this.trustDomain),
      this.authorities.map((a) => a.jwt.authority()),
    );
  }

  private jwtBundleMap(): Record<string, Uint8Array> {
    if (this.empty) return {};
    const enc = (jwks: string) => new TextEncoder().encode(jwks);
    const own = this.malformed ? enc("{not json") : enc(JSON.stringify(this.ownJwtBundle().toJwks()));
    const map: Record<string, Uint8Array> = { [this.key(this.trustDomain)]: own };
    for (const [td, f] of this.federated) map[this.key(td)] = enc(f.jwt.jwks());
    return map;
  }

  private publish(): void {
    if (this.stalled) return;
    for (const s of this.x509Streams) s.write(create(X509BundlesResponseSchema, { bundles: this.x509BundleMap() }));
    for (const s of this.jwtStreams) s.write(create(JWTBundlesResponseSchema, { bundles: this.jwtBundleMap() }));
    for (const s of this.svidStreams) this.sendSvids(s);
  }

  /** One X509SVIDResponse: an SVID per identity from the current signer, the bundle, federated bundles. */
  private sendSvids(call: Stream): void {
    // Issuing is async: chain per stream so a quick second change cannot overtake the first.
    const prev = this.svidSends.get(call) ?? Promise.resolve();
    const next = prev.then(async () => {
      const svids = [];
      for (const id of this.identities) {
        const svid = await this.ca.issueX509Svid(id);
        const key = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", svid.keys.privateKey));
        svids.push({
          spiffeId: svid.id,
          x509Svid: concat(svid.chain),
          x509SvidKey: key,
          bundle: concat(this.roots.map((r) => r.der)),
        });
      }
      const federatedBundles: Record<string, Uint8Array> = {};
      for (const [td, f] of this.federated) federatedBundles[`spiffe://${td}`] = f.root.der;
      call.write(create(X509SVIDResponseSchema, { svids, federatedBundles }));
    });
    this.svidSends.set(
      call,
      next.catch((err: unknown) => void call.emit("error", statusError(grpc.status.INTERNAL, String(err)))),
    );
  }

  /** Server-streaming handler that registers the stream for pushes and sends the current state at once. */
  private pushStream(method: string, set: Set<Stream>, first: (call: Stream) => void) {
    return (call: Stream) => {
      const refused = this.refuse(method, call.metadata);
      if (refused) return void call.emit("error", refused);
      set.add(call);
      call.on("cancelled", () => set.delete(call));
      call.on("close", () => set.delete(call));
      if (!this.stalled) first(call);
    };
  }

  private handlers(): grpc.UntypedServiceImplementation {
    return {
      FetchX509Bundles: this.pushStream("FetchX509Bundles", this.x509Streams, (c) =>
        c.write(create(X509BundlesResponseSchema, { bundles: this.x509BundleMap() })),
      ),
      FetchJWTBundles: this.pushStream("FetchJWTBundles", this.jwtStreams, (c) =>
        c.write(create(JWTBundlesResponseSchema, { bundles: this.jwtBundleMap() })),
      ),
      FetchX509SVID: this.pushStream("FetchX509SVID", this.svidStreams, (c) => this.sendSvids(c)),
      FetchJWTSVID: (call: grpc.ServerUnaryCall<JWTSVIDRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const refused = this.refuse("FetchJWTSVID", call.metadata);
        if (refused) return cb(refused);
        if (call.request.audience.length === 0)
          return cb(statusError(grpc.status.INVALID_ARGUMENT, "audience must be specified"));
        const ids = call.request.spiffeId
          ? this.identities.filter((i) => i === call.request.spiffeId)
          : this.identities;
        if (ids.length === 0) return cb(statusError(grpc.status.PERMISSION_DENIED, "no identity issued"));
        Promise.all(
          ids.map(async (id) => ({ spiffeId: id, svid: await this.issueJwtSvid(id, call.request.audience) })),
        ).then(
          (svids) => cb(null, create(JWTSVIDResponseSchema, { svids })),
          (err: unknown) => cb(statusError(grpc.status.INTERNAL, String(err))),
        );
      },
      ValidateJWTSVID: (
        call: grpc.ServerUnaryCall<ValidateJWTSVIDRequest, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        const refused = this.refuse("ValidateJWTSVID", call.metadata);
        if (refused) return cb(refused);
        if (!call.request.audience) return cb(statusError(grpc.status.INVALID_ARGUMENT, "audience must be specified"));
        if (!call.request.svid) return cb(statusError(grpc.status.INVALID_ARGUMENT, "svid must be specified"));
        const bundles = new BundleSet([
          this.ownJwtBundle(),
          ...[...this.federated.values()].map((f) => f.jwt.jwtBundle()),
        ]);
        verifyJwtSvid(call.request.svid, bundles, { audiences: [call.request.audience], now: new Date() }).then(
          (svid) =>
            cb(
              null,
              create(ValidateJWTSVIDResponseSchema, { spiffeId: svid.id.toString(), claims: svid.claims as never }),
            ),
          (err: unknown) =>
            cb(statusError(grpc.status.INVALID_ARGUMENT, err instanceof SvidError ? err.message : String(err))),
        );
      },
      FetchWITSVID: (call: Stream) =>
        void call.emit(
          "error",
          statusError(grpc.status.UNIMPLEMENTED, "WIT-SVIDs are not supported by the dev Workload API"),
        ),
      FetchWITBundles: (call: Stream) =>
        void call.emit(
          "error",
          statusError(grpc.status.UNIMPLEMENTED, "WIT-SVIDs are not supported by the dev Workload API"),
        ),
    };
  }
}
