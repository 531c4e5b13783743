// `server.tls.mode: spiffe`: the gRPC port speaks mTLS with our own X509-SVID (streamed from the Workload API,
// re-issued certificates served to new connections at once, open ones kept) and the trust bundles as roots. TLS
// alone would accept a client chained to ANY bundle root, so every call is also checked the SPIFFE way before
// its handler runs: the client's leaf verified against the roots of its own trust domain only, then matched
// against server.tls.authorized-clients.
import * as grpc from "@grpc/grpc-js";
import type {
  CaCertificateUpdateListener,
  CertificateProvider,
  IdentityCertificateUpdateListener,
} from "@grpc/grpc-js/build/src/certificate-provider.js";
import type { AuthContext } from "@grpc/grpc-js/build/src/auth-context.js";
import { SvidError, verifyX509Svid, type BundleSet } from "../spiffe/index.js";
import type { Allowlist } from "../policy/allowlist.js";
import type { Logger } from "../log.js";
import type { OwnSvid } from "./workload-api/svid-watcher.js";
import type { TrustSnapshot } from "./snapshot.js";

export interface SpiffeTlsSources {
  /** Our own SVID: called at once with the current one, then with each re-issued one. */
  onSvid(cb: (svid: OwnSvid) => void): () => void;
  /** The trust bundles in force (SPIRE's and static files'). */
  trust: { current(): TrustSnapshot; onChange(cb: (s: TrustSnapshot) => void): () => void };
  /** Which client SPIFFE IDs may call us at all (read at every call: a config reload applies at once). */
  authorizedClients(): Allowlist;
  log: Logger;
}

/** Every X.509 root of every trust domain, PEM: what OpenSSL may chain a client to (our check narrows it). */
function allRoots(bundles: BundleSet): string {
  return bundles
    .trustDomains()
    .map((td) => bundles.x509Bundle(td)?.toPem() ?? "")
    .join("");
}

/** A grpc-js certificate provider fed by the SVID stream and the trust store. */
class SpiffeCertificateProvider implements CertificateProvider {
  private ca: Buffer | undefined;
  private identity: { certificate: Buffer; privateKey: Buffer } | undefined;
  private readonly caListeners = new Set<CaCertificateUpdateListener>();
  private readonly idListeners = new Set<IdentityCertificateUpdateListener>();

  setCa(pem: string): void {
    // An empty CA list would make OpenSSL refuse every client anyway; keep the last good one instead.
    if (pem === "" || pem === this.ca?.toString()) return;
    this.ca = Buffer.from(pem);
    for (const l of this.caListeners) l({ caCertificate: this.ca });
  }

  setIdentity(svid: OwnSvid): void {
    this.identity = { certificate: Buffer.from(svid.certChainPem), privateKey: Buffer.from(svid.keyPem) };
    for (const l of this.idListeners) l(this.identity);
  }

  addCaCertificateListener(l: CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    if (this.ca) l({ caCertificate: this.ca });
  }
  removeCaCertificateListener(l: CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdentityCertificateUpdateListener): void {
    this.idListeners.add(l);
    if (this.identity) l(this.identity);
  }
  removeIdentityCertificateListener(l: IdentityCertificateUpdateListener): void {
    this.idListeners.delete(l);
  }
}

export type ClientCheck = { ok: true; spiffeId: string } | { ok: false; code: grpc.status; details: string };

/** The SPIFFE half of admitting a connection's client, from what TLS verified. */
export function checkClient(
  auth: AuthContext | null,
  snapshot: TrustSnapshot,
  authorized: Allowlist,
  now: Date,
): ClientCheck {
  const raw = auth?.sslPeerCertificate?.raw;
  if (!raw)
    return {
      ok: false,
      code: grpc.status.UNAUTHENTICATED,
      details: "client certificate required (server.tls.mode: spiffe)",
    };
  let id: { spiffeId: string; trustDomain: string; path: string };
  try {
    const svid = verifyX509Svid([new Uint8Array(raw)], snapshot.bundles, now);
    id = { spiffeId: svid.id.toString(), trustDomain: svid.id.trustDomain.name, path: svid.id.path };
  } catch (err) {
    const why = err instanceof SvidError ? `${err.reason}: ${err.detail}` : String(err);
    return { ok: false, code: grpc.status.UNAUTHENTICATED, details: `client X509-SVID refused (${why})` };
  }
  if (authorized.match(id) === undefined)
    return {
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: `${id.spiffeId} is not in server.tls.authorized-clients`,
    };
  return { ok: true, spiffeId: id.spiffeId };
}

export interface SpiffeServerTls {
  credentials: grpc.ServerCredentials;
  close(): void;
}

export function spiffeServerCredentials(src: SpiffeTlsSources): SpiffeServerTls {
  const provider = new SpiffeCertificateProvider();
  const offSvid = src.onSvid((s) => provider.setIdentity(s));
  // Who may talk to the port is judged by the last bundles SPIRE delivered, even while the Workload API is lost:
  // failure.spire-unavailable governs decisions (a fail_closed 503 must still reach the proxy as an answer),
  // not whether the proxy can reach us at all. A new delivery replaces them, so revoked roots still go at once.
  let known = src.trust.current();
  provider.setCa(allRoots(known.bundles));
  const offTrust = src.trust.onChange((s) => {
    if (!s.spireAvailable) return;
    known = s;
    provider.setCa(allRoots(s.bundles));
  });
  let lastRefusal = "";
  const admit: grpc.ServerInterceptor = (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        const verdict = checkClient(call.getAuthContext(), known, src.authorizedClients(), new Date());
        if (verdict.ok) return next();
        // One line per distinct refusal in a row: a misconfigured caller retrying must not flood the log.
        if (verdict.details !== lastRefusal)
          src.log.warn(
            { peer: call.getPeer(), code: grpc.status[verdict.code], details: verdict.details },
            "gRPC client refused",
          );
        lastRefusal = verdict.details;
        call.sendStatus({ code: verdict.code, details: verdict.details });
      },
    });
  const tls = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, true);
  return {
    credentials: grpc.experimental.createServerCredentialsWithInterceptors(tls, [admit]),
    close: () => {
      offSvid();
      offTrust();
    },
  };
}
