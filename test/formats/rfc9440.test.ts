// RFC 9440 Client-Cert / Client-Cert-Chain: the RFC 8941 syntax is enforced (byte sequences only, no
// parameters, no inner lists) and so are the limits every other certificate format has. The grammar does not
// look at what the DER says, so fixed byte strings stand in for certificates; real ones go through decide().
import { test } from "node:test";
import assert from "node:assert/strict";
import { rfc9440Certificates, RFC9440_MAX_CHAIN_ITEMS, RFC9440_MAX_HEADER_BYTES } from "../../src/formats/rfc9440.js";
import { CredentialError } from "../../src/formats/errors.js";
import { MAX_CERT_DER_BYTES } from "../../src/formats/client-pem.js";

const fakeDer = (tag: number, size = 64) => new Uint8Array(size).fill(tag);
/** `:base64:`, as a proxy writes one certificate. */
const sf = (der: Uint8Array) => `:${Buffer.from(der).toString("base64")}:`;
const tags = (ders: Uint8Array[]) => ders.map((d) => `${d[0]}x${d.length}`);

function refused(cert: string, chain: string | undefined, detail: RegExp, note = ""): void {
  assert.throws(
    () => rfc9440Certificates(cert, chain),
    (err: unknown) =>
      err instanceof CredentialError && err.reason === "malformed_certificate" && detail.test(err.detail),
    `${note} ${JSON.stringify(cert.slice(0, 40))} / ${JSON.stringify(chain?.slice(0, 40))}`,
  );
}

test("a leaf alone; a leaf with its chain, in the order sent; list whitespace as RFC 8941 allows it", () => {
  assert.deepEqual(tags(rfc9440Certificates(sf(fakeDer(1)), undefined)), ["1x64"]);
  assert.deepEqual(tags(rfc9440Certificates(` ${sf(fakeDer(1))}`, undefined)), ["1x64"], "leading SP");
  const chain = `${sf(fakeDer(2, 70))}, ${sf(fakeDer(3, 71))},\t${sf(fakeDer(4, 72))}`;
  assert.deepEqual(tags(rfc9440Certificates(sf(fakeDer(1)), chain)), ["1x64", "2x70", "3x71", "4x72"]);
  // A bytes-exact round trip, not only the first byte.
  const der = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
  assert.deepEqual(rfc9440Certificates(sf(der), undefined)[0], der);
});

test("an empty or blank chain header is no chain (Cloudflare sends one empty when there are no intermediates)", () => {
  assert.equal(rfc9440Certificates(sf(fakeDer(1)), "").length, 1);
  assert.equal(rfc9440Certificates(sf(fakeDer(1)), "   ").length, 1);
});

test("bad syntax in Client-Cert → malformed: colons, base64 alphabet, other item types, trailing text", () => {
  const b64 = Buffer.from(fakeDer(1)).toString("base64");
  refused(
    b64,
    undefined,
    /structured field|byte sequence|expected (one|a list of) byte sequences?/,
    "no colons at all",
  );
  refused(`:${b64}`, undefined, /structured field|expected (one|a list of) byte sequences?/);
  refused(`${b64}:`, undefined, /structured field|byte sequence|expected (one|a list of) byte sequences?/);
  refused(
    `:${b64.replace(/A/g, "-")}:`,
    undefined,
    /structured field|expected (one|a list of) byte sequences?/,
    "base64url alphabet",
  );
  refused(
    `:${b64.slice(0, 10)}*${b64.slice(10)}:`,
    undefined,
    /structured field|expected (one|a list of) byte sequences?/,
  );
  refused(
    `:${b64.slice(0, 8)}=${b64.slice(8)}:`,
    undefined,
    /structured field|expected (one|a list of) byte sequences?/,
    "padding inside",
  );
  refused(`:${b64}: x`, undefined, /structured field|expected (one|a list of) byte sequences?/);
  refused(
    `${sf(fakeDer(1))}, ${sf(fakeDer(2))}`,
    undefined,
    /structured field|expected (one|a list of) byte sequences?/,
    "two leaves (a list)",
  );
  refused('"MIIB"', undefined, /byte sequence|expected (one|a list of) byte sequences?/);
  refused("token", undefined, /byte sequence|expected (one|a list of) byte sequences?/);
  refused("?1", undefined, /byte sequence|expected (one|a list of) byte sequences?/);
  refused("::", undefined, /empty certificate/);
  // PEM where DER belongs: the armour is not base64.
  refused(
    `:-----BEGIN CERTIFICATE-----${b64}-----END CERTIFICATE-----:`,
    undefined,
    /structured field|expected (one|a list of) byte sequences?/,
  );
});

test("parameters are refused on the leaf and on every chain member; inner lists and other items in the chain too", () => {
  refused(`${sf(fakeDer(1))};a=1`, undefined, /parameters|expected (one|a list of) byte sequences?/);
  refused(`${sf(fakeDer(1))};x`, undefined, /parameters|expected (one|a list of) byte sequences?/);
  const leaf = sf(fakeDer(1));
  refused(leaf, `${sf(fakeDer(2))};v=2`, /client-cert-chain\[0\]: parameters|expected (one|a list of) byte sequences?/);
  refused(
    leaf,
    `${sf(fakeDer(2))}, ${sf(fakeDer(3))};q`,
    /client-cert-chain\[1\]: parameters|expected (one|a list of) byte sequences?/,
  );
  refused(leaf, `(${sf(fakeDer(2))} ${sf(fakeDer(3))})`, /inner lists|expected (one|a list of) byte sequences?/);
  refused(
    leaf,
    `${sf(fakeDer(2))}, "x"`,
    /client-cert-chain\[1\]: expected a byte sequence|expected (one|a list of) byte sequences?/,
  );
  refused(leaf, `${sf(fakeDer(2))},`, /structured field|expected (one|a list of) byte sequences?/, "trailing comma");
  refused(
    leaf,
    `${sf(fakeDer(2))} ${sf(fakeDer(3))}`,
    /structured field|expected (one|a list of) byte sequences?/,
    "no comma",
  );
  refused(leaf, `${sf(fakeDer(2))}, ::`, /client-cert-chain\[1\]: empty certificate/);
});

test("limits: certificate size, chain length, header size, each at the edge", () => {
  assert.equal(rfc9440Certificates(sf(fakeDer(1, MAX_CERT_DER_BYTES)), undefined)[0]!.length, MAX_CERT_DER_BYTES);
  refused(sf(fakeDer(1, MAX_CERT_DER_BYTES + 1)), undefined, /larger than/);
  refused(sf(fakeDer(1)), sf(fakeDer(2, MAX_CERT_DER_BYTES + 1)), /client-cert-chain\[0\]: certificate larger/);

  const members = (n: number) => Array.from({ length: n }, (_, i) => sf(fakeDer(i + 2))).join(", ");
  assert.equal(rfc9440Certificates(sf(fakeDer(1)), members(RFC9440_MAX_CHAIN_ITEMS)).length, 8);
  refused(sf(fakeDer(1)), members(RFC9440_MAX_CHAIN_ITEMS + 1), /more than 7 certificates/);

  const pad = (s: string, n: number) => " ".repeat(n - s.length) + s;
  refused(pad(sf(fakeDer(1)), RFC9440_MAX_HEADER_BYTES + 1), undefined, /header larger than 65536 bytes/);
  refused(sf(fakeDer(1)), pad(sf(fakeDer(2)), RFC9440_MAX_HEADER_BYTES + 1), /client-cert-chain: header larger/);
});
