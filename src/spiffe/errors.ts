// Typed errors of the SPIFFE core. Callers branch on the class and on `reason`, never on message text.

/** A string is not a valid SPIFFE ID or trust domain name (SPIFFE-ID.md §2). */
export class SpiffeIdError extends Error {
  override readonly name = "SpiffeIdError";
}

/** Why an SVID was rejected. A closed set: it doubles as the engine's decision reason. */
export type SvidFailureReason =
  "no_spiffe_id" | "malformed_certificate" | "expired" | "untrusted" | "not_a_leaf" | "unknown_trust_domain";

/** Verification times, epoch milliseconds, both ends inclusive (±Infinity for unbounded). */
export interface TimeWindow {
  readonly fromMs: number;
  readonly toMs: number;
}

/** A failure that does not depend on the verification time at all (bad bytes, wrong shape, no bundle). */
export const ANY_TIME: TimeWindow = Object.freeze({ fromMs: -Infinity, toMs: Infinity });

/** An X.509-SVID or JWT-SVID failed parsing or verification. */
export class SvidError extends Error {
  override readonly name = "SvidError";
  constructor(
    readonly reason: SvidFailureReason,
    /** Human explanation; names which certificate or claim failed, never echoes secret material. */
    readonly detail: string,
    /**
     * Set by verifyX509Svid: for any verification time in this window the same chain and bundle give this very
     * error (reason and detail), so a caller may remember it that long. Undefined: no such promise (the
     * outcome may differ at any other time), so do not reuse it.
     */
    readonly stableFor?: TimeWindow,
  ) {
    super(`${reason}: ${detail}`);
  }
}

/** A trust bundle (PEM, DER, JWKS, SPIFFE bundle JSON) could not be parsed or is not acceptable. */
export class BundleError extends Error {
  override readonly name = "BundleError";
}
