// Path normalisation and readings (src/policy/routes.ts) on the inputs the mutation run found untested: a
// raw path that is all query or fragment, a path without its leading slash (a Zentinel `uri` from a client that
// sends one), a query that holds escapes, and escaped `?`/`#` that a decoding upstream reads as path text.
// The readings are compared whole: an extra reading is a different route selection, not a harmless extra.
import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalPrefix, normalizePath, pathHasPrefix, pathReadings } from "../../src/policy/routes.js";

test("query and fragment are cut wherever they start, even at the first character", () => {
  assert.equal(normalizePath("?/payments"), "/");
  assert.equal(normalizePath("#/payments"), "/");
  assert.equal(normalizePath("/api?x=/payments"), "/api");
  assert.deepEqual(pathReadings("?/payments"), ["/"]);
});

test("a path without its leading slash is read from its first segment", () => {
  assert.equal(normalizePath("payments/x"), "/payments/x");
  assert.equal(normalizePath("payments/"), "/payments/");
  assert.equal(normalizePath("payments"), "/payments");
  assert.ok(pathHasPrefix(normalizePath("payments/x"), canonicalPrefix("/payments")));
});

test("dot segments: a trailing /. or /.. keeps the trailing slash, a middle one resolves", () => {
  assert.equal(normalizePath("/a/."), "/a/");
  assert.equal(normalizePath("/a/%2e"), "/a/");
  assert.equal(normalizePath("/a/b/.."), "/a/");
  assert.equal(normalizePath("/a/./b/../c"), "/a/c");
});

test("a query never contributes a reading, whatever escapes it holds", () => {
  assert.deepEqual(pathReadings("/api?x=%2F..%2Fpayments"), ["/api"]);
  assert.deepEqual(pathReadings("/api#%2F..%2Fpayments"), ["/api"]);
  assert.deepEqual(pathReadings("/api?x=\\..\\payments;v=1"), ["/api"]);
});

test("an escaped ? or # decodes to path text, never to a query or fragment cut", () => {
  // Decoded, `/public?/../payments` is still the path /payments to an upstream that decodes: the `?` came from
  // %3F and is text. Cutting there would add the reading /public (another route's rules).
  assert.deepEqual(pathReadings("/public%3F/../payments"), ["/payments"]);
  assert.deepEqual(pathReadings("/payments%3F/../public"), ["/public"]);
  assert.deepEqual(pathReadings("/a%23/../b"), ["/b"]);
  assert.deepEqual(pathReadings("/payments%3Fx"), ["/payments%3Fx"]);
  assert.deepEqual(pathReadings("/payments%23x"), ["/payments%23x"]);
  // A decoded `%` is literal too: %2525 decodes to %25, which must not decode again in the same round.
  assert.deepEqual(pathReadings("/%25252F"), ["/%25252F", "/%252F", "/"]);
});

test("a network-path reading drops only the leading //host", () => {
  assert.deepEqual(pathReadings("//evil//payments/x"), ["/evil/payments/x", "/payments/x"]);
  assert.deepEqual(pathReadings("//payments"), ["/payments", "/"]);
});
