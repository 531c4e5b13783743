// Input checks shared by the bundle parsers: the trust domain argument, and bounded JSON (size first,
// strict UTF-8, an object at the top). Every problem is a BundleError.
import { BundleError, SpiffeIdError } from "./errors.js";
import { toTrustDomain, type TrustDomain, type TrustDomainLike } from "./trust-domain.js";

/** Converts a trust domain argument, reporting a bad one as BundleError like every other bundle input. */
export function bundleTrustDomain(td: TrustDomainLike): TrustDomain {
  try {
    return toTrustDomain(td);
  } catch (err) {
    throw new BundleError(`invalid trust domain: ${err instanceof SpiffeIdError ? err.message : "unreadable"}`);
  }
}

/** Trust bundles are kilobytes; a megabyte is generous and still cheap to refuse. */
export const DEFAULT_MAX_BUNDLE_JSON_BYTES = 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

export type JsonObject = { readonly [key: string]: unknown };

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses `input` (text or UTF-8 bytes) as a JSON object; anything else is a BundleError. */
export function parseJsonObject(input: string | Uint8Array, maxBytes: number, what: string): JsonObject {
  let text: string;
  if (typeof input === "string") {
    // UTF-16 length never exceeds the UTF-8 byte length, so this bound is safe to apply before encoding.
    if (input.length > maxBytes || Buffer.byteLength(input, "utf8") > maxBytes) {
      throw new BundleError(`${what} larger than ${maxBytes} bytes`);
    }
    text = input;
  } else if (input instanceof Uint8Array) {
    if (input.length > maxBytes) throw new BundleError(`${what} larger than ${maxBytes} bytes`);
    try {
      text = utf8.decode(input);
    } catch {
      throw new BundleError(`${what} is not valid UTF-8`);
    }
  } else {
    throw new BundleError(`${what} must be a string or bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BundleError(`${what} is not valid JSON`);
  }
  if (!isJsonObject(value)) throw new BundleError(`${what} must be a JSON object`);
  return value;
}
