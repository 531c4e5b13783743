// The contract between the doors (Envoy, Zentinel) and the engine, and the rules of the hot path, in one
// place. Adapters translate wire messages to AuthzRequest and Decision back; they hold no policy.
//
// The three hot-path rules, each written as a type below:
//   1. Decider: decide() completes synchronously whenever it can (every X.509 request) and returns a Promise
//      only when it must wait (a JWT-SVID). Callers take both, and do not add a promise hop to a sync answer.
//   2. SharedDecision: a decision the chain cache hands to every request with the same credential, policy,
//      route and second. It is frozen, and being one object for all those requests, a door may key work on
//      its identity (the Envoy door keeps its encoded answer in a WeakMap). Only shareDecision() makes one.
//   3. Encoded<D> (grpc/service-definition.ts): bytes a handler encoded itself pass through the gRPC codec
//      untouched, so they must be the exact encoding of the method's response type; only encode() makes them.
// docs/architecture.md walks one decision through these.
import { status } from "@grpc/grpc-js";

export type { Encoded } from "../grpc/service-definition.js";

/** Closed set of decision reasons (docs/architecture.md); also the `reason` metric label. */
export const REASONS = [
  "ok",
  "no_certificate",
  "no_spiffe_id",
  "malformed_certificate",
  "expired",
  "untrusted",
  "not_a_leaf",
  "unknown_trust_domain",
  "not_allowed",
  "unknown_route",
  "spire_unavailable",
  "fail_open",
  "log_and_allow",
] as const;
export type Reason = (typeof REASONS)[number];

export type Transport = "envoy" | "zentinel";

export interface AuthzRequest {
  transport: Transport;
  /** Envoy `attributes.source.certificate`: URL-encoded PEM of the peer's leaf (and chain, if Envoy sent it). */
  sourceCertificate?: string;
  /** Request headers, names lower-cased; repeated headers joined with "," as HTTP allows. */
  headers: ReadonlyMap<string, string>;
  method: string;
  path: string;
  host?: string;
  /** Route named by Envoy `context_extensions["route"]` or Zentinel `RequestMetadata.route_id`. */
  routeName?: string;
  /** Correlation for audit lines: Envoy x-request-id, Zentinel correlation_id / traceparent. */
  requestId?: string;
  correlationId?: string;
  traceparent?: string;
}

export type AuthMethod = "spiffe" | "spiffe-jwt";

/**
 * Where the credential a decision judged came from: Envoy's `attributes.source.certificate` (the peer of the
 * TLS connection Envoy terminated), the client-certificate header (named by tls.client-cert-format: XFCC,
 * RFC 9440, URL-encoded PEM), a bearer JWT-SVID, or nothing.
 */
export type CredentialSource = "peer_certificate" | "xfcc" | "rfc9440" | "pem_url" | "jwt" | "none";

export interface VerifiedIdentity {
  spiffeId: string;
  trustDomain: string;
  /** The ID's path, e.g. `/ns/default/sa/web` (the seed's "workload id"). */
  path: string;
  method: AuthMethod;
}

export interface HeaderToSet {
  name: string;
  value: string;
}

/** HTTP status and matching gRPC code (Envoy CheckResponse.status) for each outcome. */
export type DecisionStatus =
  | { httpStatus: 200; grpcCode: status.OK }
  | { httpStatus: 401; grpcCode: status.UNAUTHENTICATED }
  | { httpStatus: 403; grpcCode: status.PERMISSION_DENIED }
  | { httpStatus: 503; grpcCode: status.UNAVAILABLE };

export const ALLOWED: DecisionStatus = { httpStatus: 200, grpcCode: status.OK };
export const UNAUTHENTICATED: DecisionStatus = { httpStatus: 401, grpcCode: status.UNAUTHENTICATED };
export const PERMISSION_DENIED: DecisionStatus = { httpStatus: 403, grpcCode: status.PERMISSION_DENIED };
export const UNAVAILABLE: DecisionStatus = { httpStatus: 503, grpcCode: status.UNAVAILABLE };

export interface CertInfo {
  serial: string;
  issuer: string;
  notAfter: string;
  sha256: string;
}

/**
 * What enforcement would have answered, on a decision made under `enforcement: dry-run`: the Decision itself
 * then allows (status 200), its `reason` and `detail` are the would-be ones, and identity headers are set only
 * when an identity was verified.
 */
export type DryRunVerdict = DecisionStatus & { allow: boolean };

export type Decision = DecisionStatus & {
  allow: boolean;
  reason: Reason;
  /** Short human explanation, safe to return to the caller (no certificate contents). */
  detail: string;
  identity?: VerifiedIdentity;
  /** Identity headers for the upstream (overwrite semantics). */
  headersToSet: HeaderToSet[];
  /** Lower-cased identity header names the upstream must not see from the client. */
  headersToRemove: string[];
  /** The route whose allowlist decided, if any. */
  route?: string;
  /** Leaf details for the audit log when `audit.include-cert-info` is on. */
  certInfo?: CertInfo;
  /** Which credential was judged (decide() always sets it; the audit line records it). */
  credentialSource?: CredentialSource;
  /** Present only under `enforcement: dry-run` (never on an enforced decision): the would-be verdict. */
  dryRun?: DryRunVerdict;
};

/**
 * What both doors call (the Engine is one). Synchronous completion is the rule: decide() returns the Decision
 * itself whenever it can answer without waiting, which is every X.509 request (verification is synchronous
 * node:crypto, a cache hit one lookup), and a Promise only when it must wait, which is a JWT-SVID (jose verifies
 * through WebCrypto). A caller handles both: `instanceof Promise`, then `.then` for that case only, so the
 * common request costs no microtask; `await` where a microtask does not matter. It throws or rejects only on a
 * bug, never for bad input: bad input is a Decision, and a door answers a bug with a deny.
 */
export interface Decider {
  decide(req: AuthzRequest): Decision | Promise<Decision>;
}

declare const sharedMark: unique symbol;

/**
 * A Decision the chain cache shares: the same object for every request with the same credential, policy, route
 * and clock second (decide.ts's memo). Frozen all the way down (headers and their arrays too), so no listener
 * or door can change it for the next request, and stable in identity, so a door may cache what it derives
 * from it keyed on the object (weakly: a decision nobody holds takes its cache entry with it).
 */
export type SharedDecision = Decision & { readonly [sharedMark]: true };

/** Freezes `d` (and what it holds) and marks it shared; the chain cache's memo is the only caller. */
export function shareDecision(d: Decision): SharedDecision {
  Object.freeze(d.headersToSet);
  for (const h of d.headersToSet) Object.freeze(h);
  Object.freeze(d.headersToRemove);
  if (d.dryRun) Object.freeze(d.dryRun);
  return Object.freeze(d) as SharedDecision;
}

/**
 * Whether `d` came from shareDecision(). Frozen is the mark: nothing else freezes a Decision itself (the
 * identity and leaf details inside fresh decisions are frozen, the decision object is not).
 */
export function isShared(d: Decision): d is SharedDecision {
  return Object.isFrozen(d);
}
