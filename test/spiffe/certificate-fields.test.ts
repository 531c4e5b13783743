// The certificate structure as our parser reads it (src/spiffe/certificate-fields.ts, certificate.ts): every
// structural refusal with its exact detail, the values read (serial, validity in both time forms), the unique
// IDs and the extensions block each at most once and in order, and the size limit at its boundary. Certificates
// are the dev CA's, taken apart and put back together with one thing changed (test/helpers/der-build.ts).
// Written for the spiffe-ext mutation run (session 6): certificate.test.ts asserted only the reason.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { before, describe, test } from "node:test";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import {
  BundleSet,
  DEFAULT_MAX_CERTIFICATE_BYTES,
  KeyUsage,
  parseCertificate,
  verifyX509Svid,
} from "../../src/spiffe/index.js";
import {
  NULL,
  certificateParts,
  extension,
  int,
  octets,
  oid,
  resignedWithTbsFields,
  seq,
  tlv,
  withExtensions,
  withTbsFields,
} from "../helpers/der-build.js";
import { svidErrorOf } from "../helpers/spiffe.js";

let root: DevCertificateAuthority;
let leafDer: Uint8Array;
before(async () => {
  root = await DevCertificateAuthority.createRoot("example.org", { keyType: "ec-p256" });
  leafDer = (await root.issueX509Svid("/web")).der;
});

/** "ok" or the parser's detail (without its "cannot parse certificate: " prefix). */
function detail(der: Uint8Array, maxCertificateBytes?: number): string {
  const limits = maxCertificateBytes === undefined ? {} : { maxCertificateBytes };
  try {
    parseCertificate(der, limits);
    return "ok";
  } catch {
    const err = svidErrorOf(() => parseCertificate(der, limits));
    assert.equal(err.reason, "malformed_certificate");
    return err.detail.replace(/^cannot parse certificate: /, "");
  }
}
const tbsEdit = (edit: (f: Uint8Array[]) => Uint8Array[]) => detail(withTbsFields(leafDer, edit));
const time = (tag: number, s: string) => tlv(tag, Buffer.from(s, "latin1"));

describe("Certificate and TBSCertificate", () => {
  test("the outer structure", () => {
    const { tbs, alg, sig, slice } = certificateParts(leafDer);
    assert.equal(detail(leafDer), "ok");
    assert.equal(detail(Buffer.concat([leafDer, Buffer.from([0x00])])), "not a single DER SEQUENCE");
    assert.equal(detail(tlv(0x31, slice(tbs), slice(alg), slice(sig))), "not a single DER SEQUENCE");
    assert.equal(detail(seq(slice(tbs), slice(alg), slice(sig), NULL)), "Certificate: expected 3 fields");
    assert.equal(detail(seq(slice(tbs), slice(alg))), "Certificate: expected 3 fields");
    const tbsAsSet = tlv(0x31, ...certificateParts(leafDer).fields);
    assert.equal(detail(seq(tbsAsSet, slice(alg), slice(sig))), "TBSCertificate: expected SEQUENCE");
    assert.equal(detail(seq(slice(tbs), slice(alg), octets([0x00, 0x01]))), "expected BIT STRING");
    assert.equal(detail(seq(slice(tbs), slice(alg), tlv(0x03, [0x01, 0x02]))), "signature has unused bits");
    const otherAlg = seq(oid("1.2.840.10045.4.3.3"));
    assert.equal(detail(seq(slice(tbs), otherAlg, slice(sig))), "inner and outer signature algorithms differ");
  });

  test("version: v3 only, as [0] holding exactly INTEGER 2", () => {
    assert.equal(
      tbsEdit((f) => f.slice(1)),
      "only X.509 v3 certificates are supported",
    );
    for (const v of [0, 1, 3]) {
      assert.equal(
        tbsEdit((f) => [tlv(0xa0, int(v)), ...f.slice(1)]),
        "only X.509 v3 certificates are supported",
      );
    }
    assert.equal(
      tbsEdit((f) => [tlv(0xa0, int(2), NULL), ...f.slice(1)]),
      "only X.509 v3 certificates are supported",
    );
    assert.equal(
      tbsEdit((f) => [tlv(0xa1, int(2)), ...f.slice(1)]),
      "only X.509 v3 certificates are supported",
    );
    assert.equal(
      tbsEdit(() => []),
      "only X.509 v3 certificates are supported",
    );
  });

  test("serial number: non-negative, at most 20 octets after a sign octet; read as its hex", () => {
    const serial = (...b: number[]) => withTbsFields(leafDer, (f) => [f[0]!, tlv(0x02, b), ...f.slice(2)]);
    assert.equal(parseCertificate(serial(0x01, 0x02, 0xab)).serialNumberHex, "0102ab");
    assert.equal(parseCertificate(serial(0x00)).serialNumberHex, "00");
    const twenty = new Array<number>(20).fill(0xff);
    assert.equal(parseCertificate(serial(0x00, ...twenty)).serialNumberHex, `00${"ff".repeat(20)}`);
    assert.equal(detail(serial(0x01, ...twenty, 0x01)), "serial number longer than 20 octets");
    assert.equal(detail(serial(0x80, 0x01)), "negative serial number");
    assert.equal(detail(serial(0xff)), "negative serial number");
    assert.equal(detail(serial(0x00, 0x01)), "non-minimal INTEGER");
    assert.equal(
      tbsEdit((f) => [f[0]!]),
      "missing serial number",
    );
  });

  test("issuer and subject: a SEQUENCE of non-empty SETs of (OID, value) pairs", () => {
    const atv = seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from("web")));
    const bad: Array<[Uint8Array, string]> = [
      [tlv(0x31, tlv(0x31, atv)), "Name: expected SEQUENCE"],
      [seq(seq(atv)), "Name: expected SET"],
      [seq(tlv(0x31)), "Name: empty RDN"],
      [seq(tlv(0x31, atv, tlv(0x31, atv))), "Name: expected AttributeTypeAndValue"],
      [seq(tlv(0x31, seq(oid("2.5.4.3")))), "Name: bad AttributeTypeAndValue"],
      [seq(tlv(0x31, seq(oid("2.5.4.3"), NULL, NULL))), "Name: bad AttributeTypeAndValue"],
      [seq(tlv(0x31, seq(tlv(0x0c, Buffer.from("web")), oid("2.5.4.3")))), "Name: bad AttributeTypeAndValue"],
      [seq(tlv(0x31, seq(tlv(0x06, [0x55, 0x84]), NULL))), "truncated OBJECT IDENTIFIER"],
    ];
    for (const index of [3, 5]) {
      const withName = (name: Uint8Array) => tbsEdit((f) => [...f.slice(0, index), name, ...f.slice(index + 1)]);
      for (const [name, message] of bad) assert.equal(withName(name), message, `field ${index}`);
      assert.equal(withName(seq()), "ok", "an empty Name");
      assert.equal(withName(seq(tlv(0x31, atv, atv), tlv(0x31, atv))), "ok");
    }
  });

  test("every field up to the SubjectPublicKeyInfo is required", () => {
    for (let keep = 2; keep < 7; keep++) {
      assert.equal(
        tbsEdit((f) => f.slice(0, keep)),
        "TBSCertificate: missing fields",
        `${keep} fields`,
      );
    }
    assert.equal(
      tbsEdit((f) => f.slice(0, 7)),
      "ok",
    );
  });

  test("validity: a SEQUENCE of two times, in either form", () => {
    const validity = (v: Uint8Array) => withTbsFields(leafDer, (f) => [...f.slice(0, 4), v, ...f.slice(5)]);
    const c = parseCertificate(validity(seq(time(0x17, "491231235959Z"), time(0x18, "20500101000000Z"))));
    assert.equal(c.notBeforeMs, Date.UTC(2049, 11, 31, 23, 59, 59));
    assert.equal(c.notAfterMs, Date.UTC(2050, 0, 1));
    assert.equal(c.notBefore.getTime(), c.notBeforeMs);
    assert.equal(c.notAfter.getTime(), c.notAfterMs);
    const t = time(0x17, "260101000000Z");
    assert.equal(detail(validity(tlv(0x31, t, t))), "Validity: expected SEQUENCE");
    assert.equal(detail(validity(seq(t))), "Validity: expected two times");
    assert.equal(detail(validity(seq(t, t, t))), "Validity: expected two times");
    assert.equal(detail(validity(seq(t, time(0x17, "260230000000Z")))), "invalid calendar date");
  });

  test("validity through the verifier: UTCTime's 1950 and 2049, GeneralizedTime from 2050, each to the second", async () => {
    // RFC 5280 §4.1.2.5: dates through 2049 are UTCTime (YY 50-99 meaning 19YY), from 2050 GeneralizedTime;
    // the dev CA (@peculiar/x509) encodes them so. A root valid 1950-2100 issues two leaves at the boundaries.
    const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    const oldRoot = await DevCertificateAuthority.createRoot("example.org", {
      notBefore: utc(1950, 1, 1),
      notAfter: utc(2100, 1, 1),
    });
    const bundle = new BundleSet([oldRoot.x509Bundle()]);
    const verdict = async (notBefore: Date, notAfter: Date, at: Date) => {
      const leaf = await oldRoot.issueX509Svid("/web", { notBefore, notAfter });
      const tags = certificateParts(leaf.der).fields[4]!;
      try {
        verifyX509Svid([leaf.der], bundle, at);
        return `ok ${tags[2]!.toString(16)}/${tags[2 + 2 + tags[3]!]!.toString(16)}`;
      } catch {
        const err = svidErrorOf(() => verifyX509Svid([leaf.der], bundle, at));
        return `${err.reason}: ${err.detail.replace(/ \(subject [^)]*\)/, "")}`;
      }
    };
    const from1950 = [utc(1950, 1, 1), utc(2049, 12, 31, 23, 59, 59)] as const;
    assert.equal(await verdict(...from1950, utc(1950, 1, 1)), "ok 17/17");
    assert.equal(await verdict(...from1950, utc(2049, 12, 31, 23, 59, 59)), "ok 17/17");
    assert.equal(
      await verdict(...from1950, utc(1949, 12, 31, 23, 59, 59)),
      "expired: leaf is not yet valid (notBefore 1950-01-01T00:00:00.000Z)",
    );
    assert.equal(await verdict(...from1950, utc(2050, 1, 1)), "expired: leaf expired at 2049-12-31T23:59:59.000Z");
    const across = [utc(2049, 12, 31, 23, 59, 59), utc(2050, 1, 1, 0, 0, 1)] as const;
    assert.equal(await verdict(...across, utc(2050, 1, 1)), "ok 17/18");
    assert.equal(await verdict(...across, utc(2050, 1, 1, 0, 0, 1)), "ok 17/18");
    assert.equal(
      await verdict(...across, utc(2050, 1, 1, 0, 0, 2)),
      "expired: leaf expired at 2050-01-01T00:00:01.000Z",
    );
    assert.equal(
      await verdict(...across, utc(2049, 12, 31, 23, 59, 58)),
      "expired: leaf is not yet valid (notBefore 2049-12-31T23:59:59.000Z)",
    );
    // Every field in its place: month, day, hour, minute and second each distinct.
    const odd = [utc(2026, 11, 29, 13, 47, 31), utc(2071, 3, 17, 5, 8, 9)] as const;
    assert.equal(await verdict(...odd, utc(2026, 11, 29, 13, 47, 31)), "ok 17/18");
    assert.equal(
      await verdict(...odd, utc(2026, 11, 29, 13, 47, 30)),
      "expired: leaf is not yet valid (notBefore 2026-11-29T13:47:31.000Z)",
    );
    assert.equal(
      await verdict(...odd, utc(2071, 3, 17, 5, 8, 10)),
      "expired: leaf expired at 2071-03-17T05:08:09.000Z",
    );
  });

  test("issuerUniqueID, subjectUniqueID and extensions: each at most once, in that order", async () => {
    const { fields } = certificateParts(leafDer);
    const base = fields.slice(0, 7);
    const exts = fields[7]!;
    assert.equal(exts[0], 0xa3);
    const uid1 = tlv(0x81, [0x00, 0x01]);
    const uid2 = tlv(0x82, [0x00, 0x02]);
    const build = (...rest: Uint8Array[]) => withTbsFields(leafDer, () => [...base, ...rest]);
    for (const rest of [[uid1, uid2, exts], [uid1, exts], [uid2, exts], [uid1, uid2], [exts]]) {
      assert.equal(detail(build(...rest)), "ok");
    }
    assert.deepEqual([...parseCertificate(build(uid1, uid2, exts)).uris], ["spiffe://example.org/web"]);
    const otherExts = tlv(0xa3, seq(extension("2.5.29.17", undefined, seq(tlv(0x86, Buffer.from("spiffe://x/y"))))));
    for (const rest of [
      [uid2, uid1, exts],
      [uid1, uid1, exts],
      [uid2, uid2],
      [exts, uid1],
      [exts, otherExts],
      [exts, exts],
      [tlv(0xa4, NULL)],
      [tlv(0x83, [0x00])],
      [NULL],
      [exts, tlv(0xa4, NULL)],
    ]) {
      assert.equal(detail(build(...rest)), "TBSCertificate: unexpected field");
    }
    // A second extensions block is refused, not read over the first: re-signed, the verifier refuses it too.
    const twice = resignedWithTbsFields(leafDer, root.keys.privateKey, () => [...base, exts, otherExts]);
    assert.equal(
      svidErrorOf(() => verifyX509Svid([twice], new BundleSet([root.x509Bundle()]), new Date())).detail,
      "cannot parse certificate: TBSCertificate: unexpected field",
    );
  });
});

describe("parseCertificate and Certificate", () => {
  test("the size limit: the default, and a certificate exactly at a given limit", () => {
    assert.equal(DEFAULT_MAX_CERTIFICATE_BYTES, 16 * 1024);
    assert.equal(detail(leafDer, leafDer.length), "ok");
    assert.equal(detail(leafDer, leafDer.length - 1), `certificate larger than ${leafDer.length - 1} bytes`);
    // A padded certificate of exactly 16 KiB parses with the default; one byte more does not.
    const padded = (n: number) =>
      withExtensions(leafDer, [
        extension("2.5.29.17", undefined, seq(tlv(0x86, Buffer.from("spiffe://example.org/web")))),
        extension("1.2.3", undefined, octets(new Uint8Array(n))),
      ]);
    let n = DEFAULT_MAX_CERTIFICATE_BYTES - 600;
    while (padded(n).length < DEFAULT_MAX_CERTIFICATE_BYTES) n++;
    assert.equal(padded(n).length, DEFAULT_MAX_CERTIFICATE_BYTES);
    assert.equal(detail(padded(n)), "ok");
    assert.equal(detail(padded(n + 1)), "certificate larger than 16384 bytes");
    assert.equal(
      svidErrorOf(() => parseCertificate("MII..." as unknown as Uint8Array)).detail,
      "certificate must be DER bytes",
    );
    assert.equal(svidErrorOf(() => parseCertificate(new Uint8Array())).detail, "empty certificate");
  });

  test("the parts a verifier signs and checks, and the names", () => {
    const c = parseCertificate(leafDer);
    const { tbs, sig, fields, slice } = certificateParts(leafDer);
    assert.deepEqual(Buffer.from(c.tbsBytes), Buffer.from(slice(tbs)));
    assert.deepEqual(Buffer.from(c.signature), Buffer.from(slice(sig).subarray(3)));
    assert.deepEqual(Buffer.from(c.spkiDer), Buffer.from(fields[6]!));
    assert.equal(c.subject, "O=SPIRE,C=US"); // RFC 4514: the last RDN first
    assert.equal(c.issuer, root.certificate.subject);
    assert.equal(c.isSelfIssued, false);
    assert.equal(root.certificate.isSelfIssued, true);
    assert.equal(c.sha256Hex(), createHash("sha256").update(leafDer).digest("hex"));
    assert.ok(c.equals(parseCertificate(new Uint8Array(leafDer))));
    assert.ok(!c.equals(root.certificate));
    const pem = c.toPem();
    const lines = pem.trimEnd().split("\n");
    assert.equal(lines[0], "-----BEGIN CERTIFICATE-----");
    assert.equal(lines.at(-1), "-----END CERTIFICATE-----");
    const body = lines.slice(1, -1);
    assert.ok(body.slice(0, -1).every((l) => l.length === 64));
    assert.ok(body.at(-1)!.length > 0 && body.at(-1)!.length <= 64);
    assert.deepEqual(Buffer.from(body.join(""), "base64"), Buffer.from(leafDer));
  });

  test("KeyUsage names bit n of the BIT STRING as 1 << n, in RFC 5280 order", () => {
    const names = [
      "digitalSignature",
      "nonRepudiation",
      "keyEncipherment",
      "dataEncipherment",
      "keyAgreement",
      "keyCertSign",
      "cRLSign",
      "encipherOnly",
      "decipherOnly",
    ] as const;
    assert.deepEqual(Object.keys(KeyUsage), [...names]);
    names.forEach((name, bit) => {
      const bytes = [0, 0];
      bytes[bit >> 3] = 0x80 >> (bit & 7);
      const ku = tlv(0x03, [0x00, ...bytes]);
      const c = parseCertificate(withExtensions(leafDer, [extension("2.5.29.15", true, ku)]));
      assert.equal(c.keyUsage, KeyUsage[name], name);
      assert.ok(c.hasKeyUsage(KeyUsage[name]), name);
      assert.equal(c.keyUsage, 1 << bit, name);
    });
  });
});
