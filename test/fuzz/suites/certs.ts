// Certificate parsing (src/spiffe/der.ts, pem.ts, certificate.ts) and X.509-SVID verification under
// mutation: a value or SvidError/DerError, never a TypeError or RangeError; and a certificate whose bytes
// changed never verifies.
import assert from "node:assert/strict";
import fc from "fast-check";
import { DevCertificateAuthority, type DevX509Svid } from "../../../src/dev-ca/index.js";
import {
  DerError,
  children,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOid,
  readSmallUint,
  readTime,
  readTlv,
  type Tlv,
} from "../../../src/spiffe/der.js";
import {
  BundleSet,
  SvidError,
  parseCertificate,
  parseDerCertificates,
  parsePemCertificates,
  verifyX509Svid,
  type Certificate,
} from "../../../src/spiffe/index.js";
import {
  applyByteEdits,
  applyStringEdits,
  byteEdits,
  bytesEqual,
  defineProperty,
  outcome,
  stringEdits,
  toPem,
  type FuzzProperty,
  type FuzzSuite,
} from "../harness.js";

/** Reads everything a caller may read from a parsed certificate; lazily computed fields included. */
function touch(c: Certificate): void {
  void [
    c.subject,
    c.issuer,
    c.sha256Hex(),
    c.uris,
    c.dnsNames,
    c.isCA,
    c.keyUsage,
    c.pathLenConstraint,
    c.nameConstraints,
  ];
  void [
    c.notBefore.getTime(),
    c.notAfter.getTime(),
    c.serialNumberHex,
    c.signatureAlgorithm,
    c.isSelfIssued,
    c.toPem(),
  ];
  assert.ok(Number.isFinite(c.notBeforeMs) && Number.isFinite(c.notAfterMs));
}

const pemAlphabet = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("A", "/", "+", "=", "==", "\n", "\r\n", " ", "-", "-----", "M", "I", "g") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "-----BEGIN CERTIFICATE-----",
      "-----END CERTIFICATE-----",
      "-----BEGIN PRIVATE KEY-----",
      "BEGIN",
      "Proc-Type: 4,ENCRYPTED\n",
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 2 }) },
);

/** Walks a TLV tree the way the certificate parser does, calling every primitive reader on what it finds. */
function walk(buf: Uint8Array, tlv: Tlv, depth: number): void {
  if (depth > 12) return;
  if (tlv.tag & 0x20) {
    for (const c of children(buf, tlv)) walk(buf, c, depth + 1);
    return;
  }
  for (const read of [readOid, readTime, readBitString, readIntegerBytes, readSmallUint, readBoolean] as Array<
    (b: Uint8Array, t: Tlv) => unknown
  >) {
    outcome([DerError], () => read(buf, tlv));
  }
}

export const certsSuite: FuzzSuite = {
  name: "certs",
  async properties(): Promise<FuzzProperty[]> {
    const now = new Date();
    const ec = await DevCertificateAuthority.createRoot("example.org");
    const inter = await ec.createIntermediate();
    const rsa = await DevCertificateAuthority.createRoot("rsa.example", { keyType: "rsa-2048" });
    const ed = await DevCertificateAuthority.createRoot("ed.example", { keyType: "ed25519" });
    const svids: DevX509Svid[] = [
      await ec.issueX509Svid("/direct", { dnsNames: ["web.example.org"] }),
      await inter.issueX509Svid("/chained"),
      await rsa.issueX509Svid("/rsa", { keyType: "ec-p384" }),
      await ed.issueX509Svid("/ed"),
    ];
    const bundles = new BundleSet([ec.x509Bundle(), rsa.x509Bundle(), ed.x509Bundle()]);
    const allDer = [ec.der, inter.der, rsa.der, ed.der, ...svids.map((s) => s.der)];
    // Not vacuous: every real SVID verifies as it was issued.
    for (const s of svids) assert.equal(verifyX509Svid(s.chain, bundles, now).id.toString(), s.id);

    const svidArb = fc.constantFrom(...svids);

    return [
      defineProperty(
        "certs/der-mutations-never-verify",
        800,
        100_000,
        fc.property(svidArb, fc.nat(), byteEdits, (svid, which, edits) => {
          const k = which % svid.chain.length;
          const original = svid.chain[k] as Uint8Array;
          const mutated = applyByteEdits(original, edits);
          fc.pre(!bytesEqual(mutated, original));
          const parsed = outcome([SvidError], () => parseCertificate(mutated));
          if (parsed.ok) {
            touch(parsed.value);
            assert.ok(bytesEqual(parsed.value.der, mutated));
          }
          const chain = svid.chain.map((d, i) => (i === k ? mutated : d));
          const v = outcome([SvidError], () => verifyX509Svid(chain, bundles, now));
          assert.equal(v.ok, false, `a chain with certificate ${k} mutated verified`);
        }),
      ),

      defineProperty(
        "certs/der-list-split",
        800,
        50_000,
        fc.property(
          fc.array(fc.constantFrom(...allDer), { minLength: 1, maxLength: 10 }),
          fc.option(byteEdits),
          (list, edits) => {
            const joined = Uint8Array.from(Buffer.concat(list));
            if (!edits) {
              const got = outcome([SvidError], () => parseDerCertificates(joined));
              if (list.length > 8) assert.equal(got.ok, false);
              else {
                assert.ok(got.ok);
                assert.equal(got.value.length, list.length);
                got.value.forEach((d, i) => assert.ok(bytesEqual(d, list[i] as Uint8Array)));
              }
              return;
            }
            const got = outcome([SvidError], () => parseDerCertificates(applyByteEdits(joined, edits)));
            if (got.ok)
              for (const d of got.value)
                if (outcome([SvidError], () => parseCertificate(d)).ok) touch(parseCertificate(d));
          },
        ),
      ),

      defineProperty(
        "certs/pem-round-trip",
        600,
        40_000,
        fc.property(
          fc.array(fc.constantFrom(...allDer), { minLength: 1, maxLength: 9 }),
          fc.integer({ min: 0, max: 100 }),
          fc.boolean(),
          fc.array(fc.stringMatching(/^[A-Za-z0-9=/ :,.\n]{0,20}$/), { maxLength: 10 }),
          (list, width, crlf, between) => {
            // openssl writes `subject=...` lines between blocks; text outside blocks is ignored.
            const text =
              list.map((d, i) => `${between[i] ?? ""}\n${toPem(d, width, crlf)}`).join("") +
              (between[list.length] ?? "");
            const got = outcome([SvidError], () => parsePemCertificates(text));
            if (list.length > 8) {
              assert.equal(got.ok, false);
              return;
            }
            assert.ok(got.ok, got.ok ? "" : got.error.message);
            assert.equal(got.value.length, list.length);
            got.value.forEach((d, i) => assert.ok(bytesEqual(d, list[i] as Uint8Array)));
          },
        ),
      ),

      defineProperty(
        "certs/pem-mutations",
        800,
        80_000,
        fc.property(svidArb, stringEdits(pemAlphabet), (svid, edits) => {
          const pem = applyStringEdits(svid.chainPem, edits);
          const got = outcome([SvidError], () => parsePemCertificates(pem));
          if (!got.ok) return;
          for (const d of got.value) {
            const c = outcome([SvidError], () => parseCertificate(d));
            if (c.ok) touch(c.value);
          }
          const v = outcome([SvidError], () => verifyX509Svid(got.value, bundles, now));
          // A verified chain from mutated PEM: only if the leaf's bytes survived the mutation unchanged.
          if (v.ok)
            assert.ok(
              bytesEqual(v.value.leaf.der, svid.der),
              `mutated PEM verified with a different leaf: ${JSON.stringify(pem)}`,
            );
        }),
      ),

      defineProperty(
        "certs/pem-base64-change-never-verifies",
        600,
        40_000,
        fc.property(svidArb, fc.nat(), fc.nat({ max: 63 }), (svid, pos, sym) => {
          // Changing one base64 symbol that carries whole bytes changes the DER for sure.
          const b64 = Buffer.from(svid.der).toString("base64");
          const body = b64.replace(/=+$/, "");
          const at = pos % (body.length - 2);
          const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
          let ch = alphabet[sym] as string;
          if (ch === b64[at]) ch = alphabet[(sym + 1) % 64] as string;
          const mutated = b64.slice(0, at) + ch + b64.slice(at + 1);
          const pem = `-----BEGIN CERTIFICATE-----\n${mutated}\n-----END CERTIFICATE-----\n${svid.chainPem.split("-----END CERTIFICATE-----\n").slice(1).join("-----END CERTIFICATE-----\n")}`;
          const der = parsePemCertificates(pem);
          assert.ok(!bytesEqual(der[0] as Uint8Array, svid.der));
          assert.equal(outcome([SvidError], () => verifyX509Svid(der, bundles, now)).ok, false);
        }),
      ),

      defineProperty(
        "certs/der-reader-random-bytes",
        1500,
        100_000,
        fc.property(
          fc.oneof(
            fc.uint8Array({ maxLength: 200 }),
            fc.tuple(fc.constantFrom(...allDer), byteEdits).map(([d, e]) => applyByteEdits(d, e)),
            fc
              .array(
                fc.tuple(
                  fc.constantFrom(0x30, 0x31, 0xa0, 0xa3, 0x02, 0x03, 0x04, 0x06, 0x17, 0x18, 0x01, 0x86, 0x0c),
                  fc.uint8Array({ maxLength: 40 }),
                ),
                { maxLength: 6 },
              )
              .map((parts) => Uint8Array.from(parts.flatMap(([t, b]) => [t, b.length, ...b]))),
          ),
          (bytes) => {
            const top = outcome([DerError], () => readTlv(bytes, 0, bytes.length));
            if (top.ok) outcome([DerError], () => walk(bytes, top.value, 0));
            const c = outcome([SvidError], () => parseCertificate(bytes));
            if (c.ok) touch(c.value);
          },
        ),
      ),
    ];
  },
};
