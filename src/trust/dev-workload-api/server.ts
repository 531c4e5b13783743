// An embedded, SPIRE-compatible Workload API server backed by in-memory CAs: for tests, `npm run demo`,
// and trying spiffe-authz without SPIRE. It behaves as the SPIRE agent does where that matters to clients:
// the security header is enforced, an unregistered caller gets PERMISSION_DENIED, bundle and SVID streams
// get a new message on every change, a rotation keeps old and new roots until the old ones are dropped.
// Not for production: keys live in memory, every caller gets the same configured identities.
import * as grpc from "@grpc/grpc-js";
import { SpiffeWorkloadAPI } from "../../gen/spiffe/workload/workload_pb.js";
import { serviceDefinition } from "../../grpc/service-definition.js";
import {
  privateKeyPem,
  type CertificateOptions,
  type DevCertificateAuthority,
  type DevJwtAuthority,
  type DevX509Svid,
} from "../../dev-ca/index.js";
import { parseTrustDomain } from "../../spiffe/index.js";
import { SECURITY_HEADER } from "../workload-api/client.js";
import { DevAuthorities } from "./authorities.js";
import { workloadApiHandlers } from "./handlers.js";
import {
  jwtBundlesResponse,
  statusError,
  x509BundlesResponse,
  x509SvidResponse,
  type BundleFaults,
} from "./messages.js";
import { PushStreams } from "./push-streams.js";

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

export class DevWorkloadApi {
  private server: grpc.Server | undefined;
  private readonly streams = new PushStreams({
    x509Bundles: () => x509BundlesResponse(this.cas, this.bundleFaults),
    jwtBundles: () => jwtBundlesResponse(this.cas, this.bundleFaults),
    x509Svids: () => x509SvidResponse(this.cas, this.identities),
  });
  // Fault-injection state, set by the methods under "fault injection" below.
  private stalled = false;
  private readonly bundleFaults: BundleFaults = { malformed: false, empty: false, bareKeys: false };
  private headerStripped = false;
  private deniedUntil = 0;
  /** SPIFFE IDs handed to callers; [] makes every call PERMISSION_DENIED ("no identity issued"). */
  identities: string[];
  /** Bound target, e.g. `unix:///tmp/x/agent.sock` or `127.0.0.1:40123`. */
  target = "";
  /** Calls received per method, refused ones included (tests count retries with it). */
  readonly calls: Record<string, number> = {};

  private constructor(
    private readonly opts: DevWorkloadApiOptions,
    private readonly cas: DevAuthorities,
  ) {
    this.identities = opts.identities ?? [`spiffe://${cas.trustDomain}/spiffe-authz`];
  }

  static async start(opts: DevWorkloadApiOptions): Promise<DevWorkloadApi> {
    const td = parseTrustDomain(opts.trustDomain).name;
    const api = new DevWorkloadApi(opts, await DevAuthorities.create(td, opts.intermediate ?? false));
    await api.listen();
    return api;
  }

  get trustDomain(): string {
    return this.cas.trustDomain;
  }

  /** The CA that signs new SVIDs (the intermediate when configured, else the newest root). */
  get ca(): DevCertificateAuthority {
    return this.cas.newest.signer;
  }

  /** The newest root (what a rotation adds to the bundle). */
  get root(): DevCertificateAuthority {
    return this.cas.newest.root;
  }

  /** Every root in the current bundle, oldest first. */
  get roots(): DevCertificateAuthority[] {
    return this.cas.roots;
  }

  get jwtAuthority(): DevJwtAuthority {
    return this.cas.newest.jwt;
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
    return this.cas.federatedAuthority(td)?.signer;
  }

  federatedJwtAuthority(td: string): DevJwtAuthority | undefined {
    return this.cas.federatedAuthority(td)?.jwt;
  }

  /** New root (and JWT key) that signs from now on; the bundle carries old and new, as during SPIRE's preparation phase. */
  async rotateCa(): Promise<DevCertificateAuthority> {
    await this.cas.rotate();
    this.publish();
    return this.ca;
  }

  /** Only the newest authorities stay in the bundle: SVIDs from older CAs stop verifying. */
  dropOldAuthorities(): void {
    this.cas.dropOld();
    this.publish();
  }

  /** A second trust domain with its own CA, whose bundles appear in the bundle maps (federation). */
  async addFederatedDomain(td: string): Promise<DevCertificateAuthority> {
    const a = await this.cas.addFederated(td);
    this.publish();
    return a.root;
  }

  /** Removes a federated trust domain from the bundle maps. */
  removeTrustDomain(td: string): void {
    if (this.cas.removeFederated(td)) this.publish();
  }

  // ---- fault injection ------------------------------------------------------------------------------------

  /** Stop (true) or resume (false) sending anything on bundle streams, new ones included; on resume the current state is sent. */
  stall(on = true): void {
    this.stalled = on;
    if (!on) this.publish();
  }

  /** Bundle messages carry garbage for our own trust domain (federated ones stay well-formed). */
  sendMalformed(on = true): void {
    this.bundleFaults.malformed = on;
    this.publish();
  }

  /** Bundle messages carry an empty map. */
  sendEmpty(on = true): void {
    this.bundleFaults.empty = on;
    this.publish();
  }

  /** Key bundle maps by bare trust domain name (`example.org`) instead of SPIRE's `spiffe://example.org`. */
  useBareKeys(on = true): void {
    this.bundleFaults.bareKeys = on;
    this.publish();
  }

  /**
   * What a real SPIRE agent does while it re-issues SVIDs after a CA was tainted: every open bundle stream
   * ends with PERMISSION_DENIED "no identity issued", and so does every new call for `ms`; then it serves again.
   */
  denyFor(ms: number): void {
    this.deniedUntil = Date.now() + ms;
    this.streams.endAll(statusError(grpc.status.PERMISSION_DENIED, "no identity issued"));
  }

  /** Behave as if something between client and agent dropped gRPC metadata: every call lacks the security header. */
  simulateHeaderStripped(on = true): void {
    this.headerStripped = on;
  }

  /** Stops serving (open streams are cut, as when the agent dies). The socket path can be served again by restart(). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.streams.forgetAll();
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
    const handlers = workloadApiHandlers({
      refuse: (method, md) => this.refuse(method, md),
      subscribe: (method, call) => this.streams.add(method, call, !this.stalled),
      identities: () => this.identities,
      issueJwtSvid: (id, audience) => this.issueJwtSvid(id, audience),
      jwtBundles: () => this.cas.jwtBundles(),
    });
    server.addService(serviceDefinition(SpiffeWorkloadAPI), handlers);
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

  private publish(): void {
    if (!this.stalled) this.streams.sendAll();
  }
}
