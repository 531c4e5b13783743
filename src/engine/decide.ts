// decide(): credentials + policy + trust snapshot + clock → Decision. Pure: no I/O, no logging, no clock of
// its own; the optional chain cache is the only state it touches, and only to skip repeated verification.
// The X.509 path is synchronous and returns the Decision itself; only a JWT-SVID (jose verifies through
// WebCrypto) makes it return a Promise. Callers on the hot path skip a promise hop that way; `await` works
// on both.
//
// Order of questions:
//   1. which credential was presented (none / malformed / X.509 / JWT)?
//   2. does it verify against the bundle of its own trust domain? (unknown trust domain while SPIRE is
//      down is an availability problem, not the client's: failure.spire-unavailable decides)
//   3. is the verified ID in the allowlist of the selected route?
// failure.validation-failure=log_and_allow turns authentication failures (step 1-2, 401) into allows
// without identity; authorisation (403) and availability (503) are never bypassed by it.
import { selectRoute, type Policy } from "../policy/index.js";
import { ANY_TIME, SvidError, verifyJwtSvid, type SvidFailureReason, type TimeWindow } from "../spiffe/index.js";
import type { TrustSnapshot } from "../trust/snapshot.js";
import type { ChainCache } from "./chain-cache.js";
import { identityOf, leafCertInfo, verifyX509Cached, type Verified } from "./verify-x509.js";
import {
  cacheKeyContext,
  credentialSource,
  extractCredentials,
  MAX_SOURCE_CERTIFICATE_BYTES,
  presentedSize,
  presentedX509,
  type PresentedCredential,
} from "./credentials.js";
import { XFCC_MAX_HEADER_BYTES } from "../formats/xfcc.js";
import { RFC9440_MAX_HEADER_BYTES } from "../formats/rfc9440.js";
import { CredentialError } from "../formats/errors.js";
import {
  ALLOWED,
  PERMISSION_DENIED,
  UNAUTHENTICATED,
  UNAVAILABLE,
  shareDecision,
  type AuthzRequest,
  type CertInfo,
  type Decision,
  type DecisionStatus,
  type DryRunVerdict,
  type HeaderToSet,
  type Reason,
} from "./contract.js";

// Client-Cert and Client-Cert-Chain are two headers, each up to their limit.
const MAX_RAW_CREDENTIAL_BYTES = Math.max(
  MAX_SOURCE_CERTIFICATE_BYTES,
  XFCC_MAX_HEADER_BYTES,
  2 * RFC9440_MAX_HEADER_BYTES,
);

export function decide(
  req: AuthzRequest,
  policy: Policy,
  snapshot: TrustSnapshot,
  now: Date,
  cache?: ChainCache,
): Decision | Promise<Decision> {
  const cfg = policy.config;
  const selection = selectRoute(policy, req);
  const { route, allowlist } = selection;
  const includeCert = cfg.audit["include-cert-info"];
  const x509 = presentedX509(req, cfg);
  const source = credentialSource(req, cfg, x509);

  // Every decision is made here, so dry-run is applied in one place: the request passes (200), and what
  // enforcement would have answered rides along. Identity headers are added later only for a verified identity.
  // A route name the config lacks is dry-run only when everything is (a typo must not escape an enforced route).
  const dryRun = route ? route.dryRun : selection.unknownRoute === undefined ? policy.dryRun : policy.allDryRun;
  const base = (status: DecisionStatus, allow: boolean, reason: Reason, detail: string): Decision => {
    const d: Decision = {
      ...(dryRun ? ALLOWED : status),
      allow: dryRun || allow,
      reason,
      detail,
      headersToSet: [],
      headersToRemove: [...policy.identityHeaderNames],
      credentialSource: source,
    };
    if (route) d.route = route.name;
    if (dryRun) d.dryRun = WOULD_BE[status.httpStatus];
    return d;
  };

  // 401-class outcome, unless the operator chose to log and allow authentication failures.
  const authFailure = (reason: Reason, detail: string, certInfo?: CertInfo): Decision => {
    const d =
      cfg.failure["validation-failure"] === "log_and_allow"
        ? base(ALLOWED, true, "log_and_allow", `${reason}: ${detail}`)
        : base(UNAUTHENTICATED, false, reason, detail);
    if (certInfo && includeCert) d.certInfo = certInfo;
    return d;
  };

  // A route name the proxy sent that the config lacks is a mistake somewhere: never fall back to the broader
  // top-level allowlist for it.
  if (selection.unknownRoute !== undefined) {
    return base(
      PERMISSION_DENIED,
      false,
      "unknown_route",
      `route ${JSON.stringify(selection.unknownRoute.slice(0, 128))} is not defined in the config`,
    );
  }

  // Fast path: a chain this exact input already verified under this trust snapshot costs one hash, no parsing.
  // Parsing and verification are deterministic for the same bytes, generation and validity window, so a hit is
  // as good as a re-check (successes here; failures in their own LRU just below).
  // The hit also remembers the last decision it produced: the same policy object, route and second give the
  // same (frozen) Decision back, so a hot client costs neither the authorisation step nor, in the doors,
  // re-encoding its answer.
  let rawKey: string | undefined;
  if (cache) {
    // Over-limit input is refused by extractCredentials below; do not hash up to a whole gRPC message first.
    if (x509 && presentedSize(x509) <= MAX_RAW_CREDENTIAL_BYTES) {
      rawKey = cache.keyForRaw(x509.raw, cacheKeyContext(x509, cfg));
      const hit = cache.get(rawKey, snapshot.generation, now);
      // Verified under a policy that audited no certificate details, and this one does: verify afresh below.
      if (hit && (hit.certInfo !== undefined || !includeCert)) {
        const second = Math.floor(now.getTime() / 1000);
        const memo = hit.lastDecision;
        if (memo && memo.policy === policy && memo.route === route && memo.second === second) return memo.decision;
        const d = shareDecision(
          allowOrDeny({ identity: hit.identity, ...(hit.certInfo ? { certInfo: hit.certInfo } : {}) }),
        );
        hit.lastDecision = { policy, route, second, decision: d };
        return d;
      }
      // The same bytes failed before (same generation, within the failure's time window): the same decision
      // again, derived as the fresh one is, without parsing or path search. One map lookup, and only here,
      // after the success cache missed. Leaf details missing for an audit that now wants them: verify afresh.
      const failed = cache.getFailure(rawKey, snapshot.generation, now, includeCert);
      if (failed) return failureDecision(failed.reason, failed.detail, includeCert ? failed.certInfo : undefined);
    }
  }

  let cred: PresentedCredential;
  try {
    cred = extractCredentials(req, cfg);
  } catch (err) {
    if (err instanceof CredentialError) {
      // Unreadable no matter when or under which bundles: remembered for any time (the generation still clears it).
      remember("malformed_certificate", err.detail, ANY_TIME, undefined, true);
      return failureDecision("malformed_certificate", err.detail, undefined);
    }
    throw err;
  }

  if (cred.kind === "none") {
    if (cfg.tls["require-mtls"]) return authFailure("no_certificate", "no client certificate presented");
    return base(ALLOWED, true, "no_certificate", "no client certificate; mTLS not required");
  }

  if (cred.kind === "jwt") {
    return verifyJwtSvid(cred.token, snapshot.bundles, { audiences: cfg.jwt.audiences, now }).then(
      (svid) => allowOrDeny({ identity: identityOf(svid.id, "spiffe-jwt") }),
      (err: unknown) => verificationFailure(err, undefined),
    );
  }

  let verified: Verified;
  try {
    verified = verifyX509Cached(cred.der, snapshot, now, cache, rawKey, includeCert);
  } catch (err) {
    return verificationFailure(err, cred.der[0]);
  }
  return allowOrDeny(verified);

  function verificationFailure(err: unknown, leafDer: Uint8Array | undefined): Decision {
    if (!(err instanceof SvidError)) throw err;
    const certInfo = includeCert && leafDer ? leafCertInfo(leafDer) : undefined;
    // Only X.509 failures reach a raw key (a JWT request presents no X.509 credential), and only those with a
    // stability window: an error that promises nothing about other times (a broken clock, a bug) is not kept.
    if (err.stableFor) remember(err.reason, err.detail, err.stableFor, certInfo, includeCert);
    return failureDecision(err.reason, err.detail, certInfo);
  }

  /** The decision for a credential that failed: the one place both fresh and remembered failures go through. */
  function failureDecision(reason: SvidFailureReason, detail: string, certInfo: CertInfo | undefined): Decision {
    if (reason === "unknown_trust_domain" && !snapshot.spireAvailable) {
      if (cfg.failure["spire-unavailable"] === "fail_open") {
        const d = base(ALLOWED, true, "fail_open", `SPIRE unavailable: ${detail}`);
        if (certInfo) d.certInfo = certInfo;
        return d;
      }
      const d = base(UNAVAILABLE, false, "spire_unavailable", `SPIRE unavailable: ${detail}`);
      if (certInfo) d.certInfo = certInfo;
      return d;
    }
    return authFailure(reason, detail, certInfo);
  }

  function remember(
    reason: SvidFailureReason,
    detail: string,
    window: TimeWindow,
    certInfo: CertInfo | undefined,
    certInfoKnown: boolean,
  ): void {
    if (cache && rawKey !== undefined)
      cache.setFailure(rawKey, snapshot.generation, { reason, detail, window, certInfo, certInfoKnown }, now);
  }

  // The authorisation half, shared by the fast path and the full verification.
  function allowOrDeny(verified: Verified): Decision {
    const { identity } = verified;
    const d =
      allowlist.match(identity) === undefined
        ? base(
            PERMISSION_DENIED,
            false,
            "not_allowed",
            `${identity.spiffeId} is not allowed${route ? ` on route ${route.name}` : ""}`,
          )
        : base(ALLOWED, true, "ok", identity.spiffeId);
    d.identity = identity;
    if (includeCert && verified.certInfo) d.certInfo = verified.certInfo;
    // Allowed, or passing under dry-run: a verified identity is told to the upstream either way.
    if (!d.allow) return d;

    const h = policy.headers;
    const headersToSet: HeaderToSet[] = [
      { name: h.spiffeId, value: identity.spiffeId },
      { name: h.trustDomain, value: identity.trustDomain },
      { name: h.workloadId, value: identity.path },
      { name: h.authMethod, value: identity.method },
      { name: h.authTimestamp, value: String(Math.floor(now.getTime() / 1000)) },
    ];
    const setNames = new Set(headersToSet.map((x) => x.name.toLowerCase()));
    d.headersToSet = headersToSet;
    d.headersToRemove = policy.identityHeaderNames.filter((n) => !setNames.has(n));
    return d;
  }
}

/** The would-be verdicts a dry-run decision carries, one per status (frozen: shared by every such decision). */
const WOULD_BE: Record<DecisionStatus["httpStatus"], DryRunVerdict> = {
  200: Object.freeze({ ...ALLOWED, allow: true }),
  401: Object.freeze({ ...UNAUTHENTICATED, allow: false }),
  403: Object.freeze({ ...PERMISSION_DENIED, allow: false }),
  503: Object.freeze({ ...UNAVAILABLE, allow: false }),
};
