// Shared fixtures for engine tests: dev CAs, SVIDs, requests, snapshots, JWT-SVIDs.
import { parseConfig } from "../../src/config/load.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { compilePolicy, type Policy } from "../../src/policy/index.js";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { BundleSet, type AnyBundle } from "../../src/spiffe/index.js";
import type { TrustSnapshot } from "../../src/trust/snapshot.js";
import type { AuthzRequest } from "../../src/engine/contract.js";

export const NOW = new Date();

export function policyOf(cfg: ConfigInput = {}): Policy {
  return compilePolicy(parseConfig(cfg));
}

export function snapshotOf(
  bundles: AnyBundle[],
  opts: { generation?: number; spireAvailable?: boolean } = {},
): TrustSnapshot {
  return {
    generation: opts.generation ?? 1,
    bundles: new BundleSet(bundles),
    spireAvailable: opts.spireAvailable ?? true,
  };
}

/** A request carrying `pem` in an Envoy-style XFCC header (Cert or Chain). */
export function xfccRequest(
  pem: string,
  opts: { chain?: boolean; headers?: Record<string, string>; path?: string; method?: string; routeName?: string } = {},
): AuthzRequest {
  const key = opts.chain ? "Chain" : "Cert";
  const xfcc = `By=spiffe://example.org/envoy;Hash=abc;${key}="${encodeURIComponent(pem)}";URI=spiffe://ignored/x`;
  const r: AuthzRequest = {
    transport: "envoy",
    headers: new Map(Object.entries({ ...(opts.headers ?? {}), "x-forwarded-client-cert": xfcc })),
    method: opts.method ?? "GET",
    path: opts.path ?? "/",
  };
  if (opts.routeName) r.routeName = opts.routeName;
  return r;
}

export function sourceCertRequest(pem: string, headers: Record<string, string> = {}): AuthzRequest {
  return {
    transport: "envoy",
    sourceCertificate: encodeURIComponent(pem),
    headers: new Map(Object.entries(headers)),
    method: "GET",
    path: "/",
  };
}

export function bareRequest(headers: Record<string, string> = {}): AuthzRequest {
  return { transport: "zentinel", headers: new Map(Object.entries(headers)), method: "GET", path: "/" };
}

let cas:
  | Promise<{ example: DevCertificateAuthority; other: DevCertificateAuthority; evil: DevCertificateAuthority }>
  | undefined;
/** CAs are slow-ish to make; one set serves every test that does not mutate them. */
export function sharedCas() {
  cas ??= (async () => ({
    example: await DevCertificateAuthority.createRoot("example.org"),
    other: await DevCertificateAuthority.createRoot("other.org"),
    evil: await DevCertificateAuthority.createRoot("example.org.evil.com"),
  }))();
  return cas;
}
