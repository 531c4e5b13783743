// The contract between the doors (Envoy, Zentinel) and the engine. Adapters translate wire messages to
// AuthzRequest and Decision back; they hold no policy.

/** Closed set of decision reasons (DESIGN.md); also the `reason` metric label. */
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
  | { httpStatus: 200; grpcCode: 0 }
  | { httpStatus: 401; grpcCode: 16 }
  | { httpStatus: 403; grpcCode: 7 }
  | { httpStatus: 503; grpcCode: 14 };

export interface CertInfo {
  serial: string;
  issuer: string;
  notAfter: string;
  sha256: string;
}

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
};
