/** A listen address that cannot be bound (in use, no permission, bad path): the process cannot serve. */
export class ListenError extends Error {
  override readonly name = "ListenError";
}
