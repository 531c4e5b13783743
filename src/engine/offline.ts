// Support for `spiffe-authz check` and `spiffe-authz test`: what would the server decide for this credential,
// with these bundles and this config? Runs the same compilePolicy() and decide() as the server, with a snapshot
// built from the given bundles and SPIRE considered available (so a missing bundle reads as unknown_trust_domain).
import type { Config } from "../config/schema.js";
import { compilePolicy, type Policy } from "../policy/index.js";
import { BundleError, BundleSet, type AnyBundle } from "../spiffe/index.js";
import type { TrustSnapshot } from "../trust/snapshot.js";
import { parseBundleFile } from "../trust/static-bundles.js";
import { decide } from "./decide.js";
import { CredentialError } from "../formats/errors.js";
import { splitPemCertificates } from "../formats/client-pem.js";
import type { AuthzRequest, Decision } from "./contract.js";
import { explainDecision, type DecisionExplanation } from "./explain.js";

export interface CheckOfflineOptions {
  config: Config;
  /** The leaf (PEM; may already contain the intermediates after it). */
  certPem: string;
  /** Intermediates (PEM); a copy of the leaf at its start is tolerated. */
  chainPem?: string;
  /** Trust domain → bundle file contents: PEM, SPIFFE bundle JSON, or (bytes) concatenated DER. */
  bundles: ReadonlyMap<string, string | Uint8Array>;
  /** Route name, as Envoy's context_extensions["route"] would give it. */
  route?: string;
  method?: string;
  path?: string;
  now?: Date;
  /** Add an `explain` object to the decision (explain.ts). */
  explain?: boolean;
}

/** A credential as a request would present it to the server. */
export type OfflineCredential =
  { kind: "x509"; certPem: string; chainPem?: string } | { kind: "jwt"; token: string } | { kind: "none" };

/** One request, as the proxy would pass it on. */
export interface OfflineRequest {
  credential: OfflineCredential;
  route?: string;
  method?: string;
  path?: string;
  /** Further request headers (names are lower-cased here, as the doors do). */
  headers?: Readonly<Record<string, string>>;
}

/** A bundle file that cannot be used; the message names the trust domain. */
export class CheckInputError extends Error {
  override readonly name = "CheckInputError";
}

export function bundleSetFromFiles(bundles: ReadonlyMap<string, string | Uint8Array>): BundleSet {
  const parsed: AnyBundle[] = [];
  for (const [td, content] of bundles) {
    try {
      parsed.push(parseBundleFile(td, content));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CheckInputError(`bundle for ${td}: ${why}`);
    }
  }
  try {
    return new BundleSet(parsed);
  } catch (err) {
    if (err instanceof BundleError) throw new CheckInputError(err.message);
    throw err;
  }
}

function toPem(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64")}\n-----END CERTIFICATE-----\n`;
}

/** The presented chain as Envoy would send it: URL-encoded PEM, leaf first, no certificate twice. */
function presented(certPem: string, chainPem: string | undefined): string {
  if (chainPem === undefined || chainPem.trim() === "") return encodeURIComponent(certPem);
  try {
    const leaf = splitPemCertificates(certPem, "cert");
    const rest = splitPemCertificates(chainPem, "chain").filter((c) => !leaf.some((l) => Buffer.compare(l, c) === 0));
    return encodeURIComponent([...leaf, ...rest].map(toPem).join(""));
  } catch (err) {
    // Let decide() report it exactly as the server would (malformed_certificate).
    if (err instanceof CredentialError) return encodeURIComponent(certPem + chainPem);
    throw err;
  }
}

/**
 * The AuthzRequest Envoy would send: the certificate as `source.certificate`, a JWT-SVID as a bearer token in
 * the configured header.
 */
export function offlineRequest(config: Config, r: OfflineRequest): AuthzRequest {
  const headers = new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const req: AuthzRequest = { transport: "envoy", headers, method: r.method ?? "GET", path: r.path ?? "/" };
  const cred = r.credential;
  if (cred.kind === "x509") req.sourceCertificate = presented(cred.certPem, cred.chainPem);
  if (cred.kind === "jwt") headers.set(config.jwt.header.toLowerCase(), `Bearer ${cred.token}`);
  if (r.route !== undefined) req.routeName = r.route;
  return req;
}

/** The server's decision for `req` under `policy`, trusting `bundles`, with SPIRE available. */
export function decideOffline(
  policy: Policy,
  bundles: BundleSet,
  req: AuthzRequest,
  now: Date,
): Decision | Promise<Decision> {
  const snapshot: TrustSnapshot = { generation: 1, bundles, spireAvailable: true };
  return decide(req, policy, snapshot, now);
}

/** Throws ConfigError (bad config) or CheckInputError (bad bundle); everything else is a Decision. */
export async function checkOffline(opts: CheckOfflineOptions): Promise<Decision & { explain?: DecisionExplanation }> {
  const policy = compilePolicy(opts.config);
  const credential: OfflineCredential = {
    kind: "x509",
    certPem: opts.certPem,
    ...(opts.chainPem !== undefined ? { chainPem: opts.chainPem } : {}),
  };
  const req = offlineRequest(opts.config, {
    credential,
    method: opts.method ?? "GET",
    path: opts.path ?? "/",
    ...(opts.route !== undefined ? { route: opts.route } : {}),
  });
  const decision = await decideOffline(policy, bundleSetFromFiles(opts.bundles), req, opts.now ?? new Date());
  return opts.explain ? { ...decision, explain: explainDecision(policy, req, decision) } : decision;
}
