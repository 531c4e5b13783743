/** A listen or dial address that does not parse (the CLI reports it as a usage error, exit 2). */
export class AddressError extends Error {
  override readonly name = "AddressError";
}

/** A listen address that cannot be bound (in use, no permission, bad path): the process cannot serve. */
export class ListenError extends Error {
  override readonly name = "ListenError";
}
