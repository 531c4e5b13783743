// The messages the dev Workload API sends, built from its authorities: the X.509 and JWT bundle maps (shaped
// by the faults a test switched on) and the X509SVIDResponse, plus the status errors it ends calls with.
import { webcrypto } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  JWTBundlesResponseSchema,
  X509BundlesResponseSchema,
  X509SVIDResponseSchema,
  type JWTBundlesResponse,
  type X509BundlesResponse,
  type X509SVIDResponse,
} from "../../gen/spiffe/workload/workload_pb.js";
import type { Authority, DevAuthorities } from "./authorities.js";

/** Faults that change what the bundle maps hold; all false is what SPIRE sends. */
export interface BundleFaults {
  /** Garbage for our own trust domain (federated ones stay well-formed). */
  malformed: boolean;
  /** An empty map. */
  empty: boolean;
  /** Keys are bare trust domain names (`example.org`) instead of SPIRE's `spiffe://example.org`. */
  bareKeys: boolean;
}

export function statusError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

const concat = (parts: readonly Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** Our own trust domain's X.509 bundle as the Workload API carries it: the roots' DER, concatenated. */
const ownX509Bundle = (cas: DevAuthorities) => concat(cas.roots.map((r) => r.der));

function bundleMap(
  cas: DevAuthorities,
  faults: BundleFaults,
  own: () => Uint8Array,
  federated: (a: Authority) => Uint8Array,
): Record<string, Uint8Array> {
  if (faults.empty) return {};
  const key = (td: string) => (faults.bareKeys ? td : `spiffe://${td}`);
  const map: Record<string, Uint8Array> = { [key(cas.trustDomain)]: own() };
  for (const [td, a] of cas.federated) map[key(td)] = federated(a);
  return map;
}

export function x509BundlesResponse(cas: DevAuthorities, faults: BundleFaults): X509BundlesResponse {
  const bundles = bundleMap(
    cas,
    faults,
    () => (faults.malformed ? new Uint8Array([0x30, 0x03, 0x02, 0x01]) : ownX509Bundle(cas)),
    (a) => a.root.der,
  );
  return create(X509BundlesResponseSchema, { bundles });
}

export function jwtBundlesResponse(cas: DevAuthorities, faults: BundleFaults): JWTBundlesResponse {
  const enc = (jwks: string) => new TextEncoder().encode(jwks);
  const bundles = bundleMap(
    cas,
    faults,
    () => (faults.malformed ? enc("{not json") : enc(JSON.stringify(cas.ownJwtBundle().toJwks()))),
    (a) => enc(a.jwt.jwks()),
  );
  return create(JWTBundlesResponseSchema, { bundles });
}

/** One X509SVIDResponse: an SVID per identity from the current signer, the bundle, federated bundles. */
export async function x509SvidResponse(cas: DevAuthorities, identities: readonly string[]): Promise<X509SVIDResponse> {
  const svids = [];
  for (const id of identities) {
    const svid = await cas.newest.signer.issueX509Svid(id);
    const key = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", svid.keys.privateKey));
    svids.push({ spiffeId: svid.id, x509Svid: concat(svid.chain), x509SvidKey: key, bundle: ownX509Bundle(cas) });
  }
  // The bare-keys fault is about the bundle maps only; these keys are always trust domain IDs.
  const federatedBundles: Record<string, Uint8Array> = {};
  for (const [td, f] of cas.federated) federatedBundles[`spiffe://${td}`] = f.root.der;
  return create(X509SVIDResponseSchema, { svids, federatedBundles });
}
