// Keeps FetchX509SVID open against the SPIRE agent and hands on our own X509-SVID (the first one SPIRE sends is
// the default identity) whenever the agent re-issues it: the service's own TLS port serves it to new connections
// at once. Reconnects with the same backoff as the bundle watcher; the last SVID keeps serving meanwhile (it stays
// valid until its notAfter, and new ones only come from the agent anyway).
import type * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { X509SVIDRequestSchema, type X509SVIDResponse } from "../../gen/spiffe/workload/workload_pb.js";
import type { Logger } from "../../log.js";
import { Backoff } from "./backoff.js";
import { securityMetadata, workloadApiClient, type WorkloadClient } from "./client.js";

export interface OwnSvid {
  spiffeId: string;
  /** Leaf first, then intermediates, PEM. */
  certChainPem: string;
  /** PKCS#8 private key, PEM. */
  keyPem: string;
}

const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;

/** Splits SPIRE's concatenated DER certificates (each a SEQUENCE with a long-form length) without parsing them. */
function splitDerChain(der: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < der.length) {
    if (der[at] !== 0x30) throw new Error("X509-SVID: not a DER certificate sequence");
    let len = der[at + 1]!;
    let head = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4) throw new Error("X509-SVID: bad DER length");
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + der[at + 2 + k]!;
      head += n;
    }
    if (at + head + len > der.length) throw new Error("X509-SVID: truncated DER");
    out.push(der.subarray(at, at + head + len));
    at += head + len;
  }
  return out;
}

export function ownSvidFrom(msg: X509SVIDResponse): OwnSvid | undefined {
  const svid = msg.svids[0];
  if (!svid || svid.x509Svid.length === 0 || svid.x509SvidKey.length === 0) return undefined;
  return {
    spiffeId: svid.spiffeId,
    certChainPem: splitDerChain(svid.x509Svid)
      .map((c) => pem("CERTIFICATE", c))
      .join(""),
    keyPem: pem("PRIVATE KEY", svid.x509SvidKey),
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
    const ok = await Promise.race([this.first.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
    clearTimeout(timer);
    return ok;
  }

  start(): void {
    if (this.closed || this.call) return;
    const fn = this.client["FetchX509SVID"] as (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<X509SVIDResponse>;
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
    const lost = (code: number | undefined, details: string) => {
      if (this.call !== call || this.closed) return;
      this.call = undefined;
      const delay = this.backoff.next();
      // The same failure again (an entry the agent has not synced yet answers PERMISSION_DENIED many times) is
      // one warning, then debug lines.
      const repeat = code === this.lastCode;
      this.lastCode = code;
      this.log[repeat ? "debug" : "warn"](
        { code, details, retryInMs: delay },
        this.latest ? "own X509-SVID stream lost; the current SVID keeps serving" : "no X509-SVID for this process from the Workload API yet; retrying",
      );
      this.retry = setTimeout(() => this.start(), delay);
      this.retry.unref();
    };
    call.on("error", (err: grpc.ServiceError) => lost(err.code, err.details));
    call.on("end", () => lost(undefined, "stream ended by the agent"));
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
