// Support for `spiffe-authz check`: what would the server decide for this certificate, with these bundles
// and this config? Runs the same compilePolicy() and decide() as the server, with a snapshot built from
// the given bundle files and SPIRE considered available (so a missing bundle reads as unknown_trust_domain).
import type { Config } from "../config/schema.js";
import { compilePolicy } from "../policy/index.js";
import { BundleError, BundleSet, type AnyBundle } from "../spiffe/index.js";
import type { TrustSnapshot } from "../trust/snapshot.js";
import { parseBundleFile } from "../trust/static-bundles.js";
import { decide } from "./decide.js";
import { CredentialError } from "../formats/errors.js";
import { splitPemCertificates } from "../formats/client-pem.js";
import type { AuthzRequest, Decision } from "./contract.js";

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

/** Throws ConfigError (bad config) or CheckInputError (bad bundle); everything else is a Decision. */
export async function checkOffline(opts: CheckOfflineOptions): Promise<Decision> {
  const policy = compilePolicy(opts.config);
  const snapshot: TrustSnapshot = { generation: 1, bundles: bundleSetFromFiles(opts.bundles), spireAvailable: true };
  const req: AuthzRequest = {
    transport: "envoy",
    sourceCertificate: presented(opts.certPem, opts.chainPem),
    headers: new Map(),
    method: opts.method ?? "GET",
    path: opts.path ?? "/",
  };
  if (opts.route !== undefined) req.routeName = opts.route;
  return decide(req, policy, snapshot, opts.now ?? new Date());
}
