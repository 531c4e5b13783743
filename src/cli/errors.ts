/** A bad flag or environment variable: one line on stderr, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
