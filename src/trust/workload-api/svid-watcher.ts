// Keeps FetchX509SVID open against the SPIRE agent and hands on our own X509-SVID (the first one SPIRE sends is
// the default identity) whenever the agent re-issues it: the service's own TLS port serves it to new connections
// at once. Reconnects with the same backoff as the bundle watcher; the last SVID keeps serving meanwhile (it stays
// valid until its notAfter, and new ones only come from the agent anyway).
import { createPrivateKey, X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { X509SVIDRequestSchema, type X509SVIDResponse } from "../../gen/spiffe/workload/workload_pb.js";
import type { Logger } from "../../log.js";
import { parseCertificate, parseDerCertificates } from "../../spiffe/index.js";
import { Backoff } from "./backoff.js";
import { securityMetadata, workloadApiClient, type WorkloadClient } from "./client.js";

export interface OwnSvid {
  spiffeId: string;
  /** Leaf first, then intermediates, PEM. */
  certChainPem: string;
  /** PKCS#8 private key, PEM. */
  keyPem: string;
  /** The leaf's notAfter (for the expiry gauge). */
  notAfter: Date;
}

export function ownSvidFrom(msg: X509SVIDResponse): OwnSvid | undefined {
  const svid = msg.svids[0];
  if (!svid || svid.x509Svid.length === 0 || svid.x509SvidKey.length === 0) return undefined;
  // The Workload API's concatenated DER, split with the same limits as a presented chain; PEM by node:crypto.
  const ders = parseDerCertificates(svid.x509Svid);
  return {
    spiffeId: svid.spiffeId,
    certChainPem: ders.map((c) => new X509Certificate(c).toString()).join(""),
    notAfter: parseCertificate(ders[0] as Uint8Array).notAfter,
    keyPem: createPrivateKey({ key: Buffer.from(svid.x509SvidKey), format: "der", type: "pkcs8" })
      .export({ format: "pem", type: "pkcs8" })
      .toString(),
  };
}

export class SvidWatcher {
  private readonly client: WorkloadClient;
  private call: grpc.ClientReadableStream<X509SVIDResponse> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly backoff = new Backoff({});
  private latest: OwnSvid | undefined;
  private lastCode: number | undefined;
  private readonly listeners = new Set<(svid: OwnSvid) => void>();
  private resolveFirst!: () => void;
  private readonly first = new Promise<void>((r) => (this.resolveFirst = r));

  constructor(
    target: string,
    private readonly log: Logger,
  ) {
    this.client = workloadApiClient(target);
  }

  get current(): OwnSvid | undefined {
    return this.latest;
  }

  /** Called with every new SVID (and at once with the current one, if any). */
  onSvid(cb: (svid: OwnSvid) => void): () => void {
    this.listeners.add(cb);
    if (this.latest) cb(this.latest);
    return () => this.listeners.delete(cb);
  }

  /** True once the first SVID arrived, false after timeoutMs. */
  async waitForFirst(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      this.first.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return ok;
  }

  start(): void {
    if (this.closed || this.call) return;
    const fn = this.client["FetchX509SVID"] as (
      req: object,
      md: grpc.Metadata,
    ) => grpc.ClientReadableStream<X509SVIDResponse>;
    const call = fn.call(this.client, create(X509SVIDRequestSchema), securityMetadata());
    this.call = call;
    call.on("data", (msg: X509SVIDResponse) => {
      if (this.call !== call) return;
      let svid: OwnSvid | undefined;
      try {
        svid = ownSvidFrom(msg);
      } catch (err) {
        this.log.error({ err: String(err) }, "malformed X509-SVID from the Workload API; keeping the previous one");
        return;
      }
      if (!svid) return;
      this.backoff.reset();
      this.lastCode = undefined;
      const changed = svid.certChainPem !== this.latest?.certChainPem;
      this.latest = svid;
      if (!changed) return;
      this.log.info({ spiffeId: svid.spiffeId }, "own X509-SVID from the Workload API");
      this.resolveFirst();
      for (const cb of this.listeners) cb(svid);
    });
    const lost = (code: number, details: string) => {
      if (this.call !== call || this.closed) return;
      this.call = undefined;
      const delay = this.backoff.next();
      // The same failure again (an entry the agent has not synced yet answers PERMISSION_DENIED many times) is
      // one warning, then debug lines.
      const repeat = code === this.lastCode;
      this.lastCode = code;
      this.log[repeat ? "debug" : "warn"](
        { code, details, retryInMs: delay },
        this.latest
          ? "own X509-SVID stream lost; the current SVID keeps serving"
          : "no X509-SVID for this process from the Workload API yet; retrying",
      );
      this.retry = setTimeout(() => this.start(), delay);
      this.retry.unref();
    };
    call.on("error", (err: grpc.ServiceError) => lost(err.code, err.details));
    // An end with OK is a loss like any other (as in watcher.ts): with no code of its own it would read as a repeat
    // of the `undefined` a delivered SVID leaves in lastCode, and be logged at debug.
    call.on("end", () => lost(grpc.status.UNAVAILABLE, "stream ended by the agent"));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.client.close();
  }
}
