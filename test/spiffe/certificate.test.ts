// The strict DER certificate parser: agreement with OpenSSL on good certificates, refusal of encodings
// that are not DER or not X.509 v3.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { before, describe, test } from "node:test";
import { DevCertificateAuthority, rawExtension } from "../../src/dev-ca/index.js";
import { KeyUsage, parseCertificate } from "../../src/spiffe/index.js";
import { readTlv, children } from "../../src/spiffe/der.js";
import { tlv } from "../helpers/der-build.js";
import { reasonOf } from "../helpers/spiffe.js";

let root: DevCertificateAuthority;
before(async () => {
  root = await DevCertificateAuthority.createRoot("example.org", { keyType: "ec-p256" });
});

describe("agreement with OpenSSL", () => {
  test("fields of generated certificates", async () => {
    const int = await root.createIntermediate({ pathLength: 2, keyType: "rsa-2048" });
    const svid = await int.issueX509Svid("/ns/a/sa/b", { dnsNames: ["b.example.org"], keyType: "ed25519" });
    for (const der of [root.der, int.der, svid.der]) {
      const ours = parseCertificate(der);
      const theirs = new X509Certificate(der);
      assert.equal(ours.serialNumberHex.toUpperCase().replace(/^0+/, ""), theirs.serialNumber.replace(/^0+/, ""));
      assert.equal(ours.isCA, theirs.ca);
      assert.equal(ours.notBefore.getTime(), new Date(theirs.validFrom).getTime());
      assert.equal(ours.notAfter.getTime(), new Date(theirs.validTo).getTime());
      assert.equal(ours.sha256Hex(), theirs.fingerprint256.replace(/:/g, "").toLowerCase());
      const uris = (theirs.subjectAltName ?? "")
        .split(", ")
        .filter((s) => s.startsWith("URI:"))
        .map((s) => s.slice(4));
      assert.deepEqual([...ours.uris], uris);
      assert.equal(ours.subject.split(",").sort().join(","), theirs.subject.split("\n").sort().join(","));
      assert.equal(ours.publicKey().asymmetricKeyType, theirs.publicKey.asymmetricKeyType);
    }
    const leaf = parseCertificate(svid.der);
    assert.ok(leaf.hasKeyUsage(KeyUsage.digitalSignature));
    assert.ok(!leaf.hasKeyUsage(KeyUsage.keyCertSign));
    assert.deepEqual([...leaf.dnsNames], ["b.example.org"]);
    assert.equal(parseCertificate(int.der).pathLenConstraint, 2);
    assert.equal(parseCertificate(root.der).pathLenConstraint, undefined);
    assert.ok(parseCertificate(root.der).isSelfIssued);
    assert.match(parseCertificate(root.der).toPem(), /^-----BEGIN CERTIFICATE-----\n/);
  });
});

describe("refuses non-DER and non-v3 encodings", () => {
  const parts = (der: Uint8Array) => {
    const top = readTlv(der, 0, der.length);
    const [tbs, alg, sig] = children(der, top) as [
      ReturnType<typeof readTlv>,
      ReturnType<typeof readTlv>,
      ReturnType<typeof readTlv>,
    ];
    return { top, tbs, alg, sig, slice: (t: ReturnType<typeof readTlv>) => der.subarray(t.start, t.end) };
  };

  test("the unmodified certificate parses", () =>
    assert.equal(
      reasonOf(() => parseCertificate(root.der)),
      "ok",
    ));

  test("non-minimal outer length", () => {
    const { top } = parts(root.der);
    const body = root.der.subarray(top.contentStart);
    const n = body.length;
    const bad = new Uint8Array([0x30, 0x83, 0, n >> 8, n & 0xff, ...body]);
    assert.equal(
      reasonOf(() => parseCertificate(bad)),
      "malformed_certificate",
    );
  });

  test("indefinite length", () => {
    const { top } = parts(root.der);
    const bad = new Uint8Array([0x30, 0x80, ...root.der.subarray(top.contentStart), 0, 0]);
    assert.equal(
      reasonOf(() => parseCertificate(bad)),
      "malformed_certificate",
    );
  });

  test("outer signature algorithm differs from the signed one", () => {
    const { tbs, sig, slice } = parts(root.der);
    // ecdsa-with-SHA384 instead of -SHA256 outside the signed part.
    const otherAlg = tlv(0x30, tlv(0x06, new Uint8Array([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03])));
    const bad = tlv(0x30, new Uint8Array([...slice(tbs), ...otherAlg, ...slice(sig)]));
    assert.equal(
      reasonOf(() => parseCertificate(bad)),
      "malformed_certificate",
    );
  });

  test("signature BIT STRING with unused bits", () => {
    const { tbs, alg, sig, slice } = parts(root.der);
    const s = slice(sig);
    const badSig = new Uint8Array(s);
    badSig[sig.contentStart - sig.start] = 1; // unused-bits octet
    badSig[badSig.length - 1] = (badSig[badSig.length - 1] as number) & 0xfe;
    const bad = tlv(0x30, new Uint8Array([...slice(tbs), ...slice(alg), ...badSig]));
    assert.equal(
      reasonOf(() => parseCertificate(bad)),
      "malformed_certificate",
    );
  });

  test("a version 1 certificate (no extensions possible)", () => {
    const { tbs, alg, sig, slice } = parts(root.der);
    const fields = children(root.der, tbs);
    const v1Tbs = tlv(0x30, Buffer.concat(fields.slice(1, 7).map((f) => slice(f))));
    const bad = tlv(0x30, new Uint8Array([...v1Tbs, ...slice(alg), ...slice(sig)]));
    assert.equal(
      reasonOf(() => parseCertificate(bad)),
      "malformed_certificate",
    );
  });

  test("duplicate extensions (a second SAN)", async () => {
    const san = tlv(0x30, tlv(0x86, Buffer.from("spiffe://example.org/admin")));
    const svid = await root.issueX509Svid("/web", { extensions: [rawExtension("2.5.29.17", false, san)] });
    assert.equal(
      reasonOf(() => parseCertificate(svid.der)),
      "malformed_certificate",
    );
  });

  test("non-IA5 URI SAN", async () => {
    const san = tlv(0x30, tlv(0x86, Buffer.from("spiffe://example.org/caf\u00e9", "utf8")));
    const svid = await root.issueX509Svid("/web", { san: false, extensions: [rawExtension("2.5.29.17", false, san)] });
    assert.equal(
      reasonOf(() => parseCertificate(svid.der)),
      "malformed_certificate",
    );
  });

  test("BOOLEAN that is not 0x00/0xff", async () => {
    const bc = new Uint8Array([0x30, 0x03, 0x01, 0x01, 0x01]);
    const svid = await root.issueX509Svid("/web", {
      basicConstraints: false,
      extensions: [rawExtension("2.5.29.19", true, bc)],
    });
    assert.equal(
      reasonOf(() => parseCertificate(svid.der)),
      "malformed_certificate",
    );
  });

  test("truncations never parse", () => {
    for (let n = 0; n < root.der.length; n += 7) {
      assert.equal(
        reasonOf(() => parseCertificate(root.der.subarray(0, n))),
        "malformed_certificate",
        `length ${n}`,
      );
    }
  });

  test("the caller's buffer may be reused after parsing", () => {
    const buf = new Uint8Array(root.der);
    const cert = parseCertificate(buf);
    buf.fill(0);
    assert.ok(cert.equals(root.certificate));
  });

  test("non-bytes input", () => {
    assert.equal(
      reasonOf(() => parseCertificate("MII..." as unknown as Uint8Array)),
      "malformed_certificate",
    );
    assert.equal(
      reasonOf(() => parseCertificate(new Uint8Array())),
      "malformed_certificate",
    );
  });
});
