// Shared test helpers for the SPIFFE core.
import { X509Certificate } from "node:crypto";
import { BundleError, SvidError } from "../../src/spiffe/index.js";

/** "ok" or the SvidError reason; any other exception fails the test (it would be an untyped crash). */
export function reasonOf(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (err) {
    if (err instanceof SvidError) return err.reason;
    throw err;
  }
}

export async function reasonOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return "ok";
  } catch (err) {
    if (err instanceof SvidError) return err.reason;
    throw err;
  }
}

/** The SvidError thrown by fn (fails if fn succeeds or throws anything else). */
export function svidErrorOf(fn: () => unknown): SvidError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SvidError) return err;
    throw err;
  }
  throw new Error("expected an SvidError");
}

/** "ok" or the BundleError message; any other exception fails the test. */
export function bundleErrorMessage(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (err) {
    if (err instanceof BundleError) return err.message;
    throw err;
  }
}

/** Asserts fn throws a BundleError (and nothing else). */
export function isBundleError(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    if (err instanceof BundleError) return true;
    throw err;
  }
}

/** OpenSSL's opinion of one link, for differential checks against our own parser and verifier. */
export function opensslVerifies(child: Uint8Array, parent: Uint8Array): boolean {
  return new X509Certificate(child).verify(new X509Certificate(parent).publicKey);
}

export const HOUR_MS = 3600_000;
export const DAY_MS = 24 * HOUR_MS;
