// Typed failure for everything the engine reads from the request itself (XFCC, source certificate,
// bearer token). Always maps to reason `malformed_certificate`; `detail` is safe to return to the caller.

export class CredentialError extends Error {
  override readonly name = "CredentialError";
  readonly reason = "malformed_certificate" as const;
  constructor(readonly detail: string) {
    super(detail);
  }
}
