// The bounded certificate-list splitters (src/spiffe/pem.ts): PEM text and concatenated DER. Each limit is
// checked at its boundary (the largest accepted input passes, one more is refused), every refusal names its
// reason, and the presented-chain wrappers turn any of them into malformed_certificate. The splitters only
// frame certificates, so byte strings shaped as DER SEQUENCEs stand in for certificates here; real ones are
// parsed in certificate.test.ts and x509-svid.test.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SvidError } from "../../src/spiffe/index.js";
import {
  CertificateListError,
  DEFAULT_CHAIN_LIMITS,
  parseDerCertificates,
  parsePemCertificates,
  splitDer,
  splitPem,
} from "../../src/spiffe/pem.js";

/** A DER SEQUENCE with `n` content bytes (short or long form length), `fill` as content. */
function seq(n: number, fill = 0x41): Uint8Array {
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Uint8Array.from([0x30, ...len, ...new Array<number>(n).fill(fill)]);
}

function block(der: Uint8Array, type = "CERTIFICATE", endType = type): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${endType}-----\n`;
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CertificateListError, String(err));
    return err.message;
  }
  assert.fail("accepted");
}

const small = { maxCertificateBytes: 64, maxCertificates: 3 };

describe("splitPem", () => {
  test("every CERTIFICATE block, in order, with openssl's text and blank lines around them", () => {
    const a = seq(5, 1);
    const b = seq(40, 2);
    const pem = `subject=/CN=a\n${block(a)}\n\nissuer=/CN=b\r\n${block(b).replace(/\n/g, "\r\n")}trailer\n`;
    assert.deepEqual(splitPem(pem, small), [a, b]);
    assert.deepEqual(splitPem("no blocks here", small), []);
    // Tabs and spaces inside a body are line noise, not base64.
    const spaced = block(a).replace("MA", "M \tA");
    assert.deepEqual(splitPem(spaced, small), [a]);
  });

  test("refusals name their reason", () => {
    assert.equal(
      refusal(() => splitPem(42 as unknown as string, small)),
      "PEM input must be a string",
    );
    assert.equal(
      refusal(() => splitPem(block(seq(3), "PRIVATE KEY"), small)),
      "unexpected PEM block type PRIVATE KEY",
    );
    assert.equal(
      refusal(() => splitPem(block(seq(3), "CERTIFICATE", "X509 CRL"), small)),
      "PEM BEGIN and END types differ",
    );
    // A BEGIN line with no END before the next block: the stray BEGIN is refused, not skipped.
    assert.equal(
      refusal(() => splitPem(`-----BEGIN CERTIFICATE-----\nMAMBAgM=\n${block(seq(3))}`, small)),
      "malformed PEM block",
    );
    assert.equal(
      refusal(() => splitPem(`${block(seq(3))}-----BEGIN CERTIFICATE-----\nMAMBAgM=\n`, small)),
      "unterminated or malformed PEM block",
    );
  });

  test("bodies must be whole, unpadded-inside base64: headers, stray characters, short groups, empty", () => {
    const good = Buffer.from(seq(4)).toString("base64"); // 8 characters, no padding
    assert.equal(good.length, 8);
    const body = (b: string) => `-----BEGIN CERTIFICATE-----\n${b}\n-----END CERTIFICATE-----\n`;
    assert.deepEqual(splitPem(body(good), small), [seq(4)]);
    for (const bad of [
      `Comment: x\n\n${good}`, // an RFC 1421-style header (":" and " " are not base64)
      `!${good.slice(1)}`, // a stray character first
      `${good.slice(0, 7)}!`, // a stray character last
      `${good.slice(0, 4)}=${good.slice(5)}`, // padding in the middle
      good.slice(0, 7), // not a whole number of 4-character groups
      "", // an empty block
    ]) {
      assert.equal(
        refusal(() => splitPem(body(bad), small)),
        "PEM block is not valid base64",
        JSON.stringify(bad),
      );
    }
  });

  test("an encrypted-PEM header (Proc-Type: has a '-') leaves the block unmatched: refused, not skipped", () => {
    const pem = `-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\nMAQBAQEB\n-----END CERTIFICATE-----\n`;
    assert.equal(
      refusal(() => splitPem(pem, small)),
      "unterminated or malformed PEM block",
    );
  });

  test("the certificate count: the limit passes, one more is refused", () => {
    const three = [seq(1, 1), seq(1, 2), seq(1, 3)];
    assert.deepEqual(splitPem(three.map((d) => block(d)).join(""), small), three);
    assert.equal(
      refusal(() => splitPem([...three, seq(1, 4)].map((d) => block(d)).join(""), small)),
      "more than 3 certificates",
    );
  });

  test("the certificate size, before decoding (base64 length) and after (DER bytes)", () => {
    // 62 content bytes + 2 header bytes = 64: the largest accepted.
    assert.deepEqual(splitPem(block(seq(62)), small), [seq(62)]);
    // 65 bytes decode from 88 characters, the most allowed for 64 bytes (ceil(64 / 3) * 4): caught after decoding.
    assert.equal(
      refusal(() => splitPem(block(seq(63)), small)),
      "certificate larger than 64 bytes",
    );
    // 67 bytes need 92 characters: caught before decoding.
    assert.equal(
      refusal(() => splitPem(block(seq(65)), small)),
      "certificate larger than 64 bytes",
    );
    const body88 = "A".repeat(88);
    assert.equal(
      refusal(() => splitPem(`-----BEGIN CERTIFICATE-----\n${body88}\n-----END CERTIFICATE-----`, small)),
      "certificate larger than 64 bytes",
    );
    assert.equal(
      refusal(() => splitPem(`-----BEGIN CERTIFICATE-----\n${body88}AAAA\n-----END CERTIFICATE-----`, small)),
      "certificate larger than 64 bytes",
    );
    // The length is checked before the content: 92 characters of non-base64 are "larger", not "not valid base64"
    // (an oversized block is refused without being read further).
    assert.equal(
      refusal(() => splitPem(`-----BEGIN CERTIFICATE-----\n${"*".repeat(92)}\n-----END CERTIFICATE-----`, small)),
      "certificate larger than 64 bytes",
    );
  });

  test("the input size: certificates × largest body × 2 + 64 KiB characters pass, one more is refused", () => {
    const limits = { maxCertificateBytes: 64, maxCertificates: 3 };
    const max = 3 * 88 * 2 + 64 * 1024;
    assert.deepEqual(splitPem(" ".repeat(max), limits), []);
    assert.equal(
      refusal(() => splitPem(" ".repeat(max + 1), limits)),
      `PEM input larger than ${max} characters`,
    );
  });
});

describe("splitDer", () => {
  test("back-to-back SEQUENCEs, each copied out", () => {
    const a = seq(3, 1);
    const b = seq(200, 2);
    const joined = Uint8Array.from([...a, ...b]);
    const out = splitDer(joined, { maxCertificateBytes: 203, maxCertificates: 2 });
    assert.deepEqual(out, [a, b]);
    joined[0] = 0xff;
    assert.equal(out[0]![0], 0x30, "a copy, not a view of the input");
    assert.deepEqual(splitDer(new Uint8Array(0), small), []);
  });

  test("refusals name their reason and the offset", () => {
    assert.equal(
      refusal(() => splitDer("0\u0003abc" as unknown as Uint8Array, small)),
      "DER input must be bytes",
    );
    assert.equal(
      refusal(() => splitDer(Uint8Array.from([...seq(2), 0x31, 0x00]), small)),
      "bad DER at offset 4: expected a certificate SEQUENCE",
    );
    assert.match(
      refusal(() => splitDer(Uint8Array.from([...seq(2), 0x30, 0x05, 0x00]), small)),
      /^bad DER at offset 4: ./,
    );
    assert.equal(
      refusal(() => splitDer(Uint8Array.from([...seq(1), ...seq(1), ...seq(1), ...seq(1)]), small)),
      "more than 3 certificates",
    );
    // The size limit covers the whole TLV: 64 bytes pass, 65 are refused.
    assert.deepEqual(splitDer(seq(62), small), [seq(62)]);
    assert.equal(
      refusal(() => splitDer(seq(63), small)),
      "certificate larger than 64 bytes",
    );
    assert.equal(
      refusal(() => splitDer(Uint8Array.from([...seq(1), ...seq(63)]), small)),
      "certificate larger than 64 bytes",
    );
  });
});

describe("presented chains", () => {
  function malformed(fn: () => unknown): string {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof SvidError, String(err));
      assert.equal(err.reason, "malformed_certificate");
      return err.message;
    }
    assert.fail("accepted");
  }

  test("none at all is malformed, and so is every splitter refusal", () => {
    assert.match(
      malformed(() => parsePemCertificates("")),
      /no PEM certificate found/,
    );
    assert.match(
      malformed(() => parseDerCertificates(new Uint8Array(0))),
      /no certificate found/,
    );
    assert.match(
      malformed(() => parsePemCertificates(block(seq(3), "RSA PRIVATE KEY"))),
      /unexpected PEM block type/,
    );
    assert.match(
      malformed(() => parseDerCertificates(Uint8Array.from([0x02, 0x01, 0x00]))),
      /bad DER at offset 0/,
    );
  });

  test("the chain defaults apply when no limits are given, and given limits replace them one by one", () => {
    const nine = Array.from({ length: DEFAULT_CHAIN_LIMITS.maxCertificates + 1 }, (_, i) => seq(2, i));
    const eight = nine.slice(1);
    assert.equal(parsePemCertificates(eight.map((d) => block(d)).join("")).length, 8);
    assert.match(
      malformed(() => parsePemCertificates(nine.map((d) => block(d)).join(""))),
      /more than 8 certificates/,
    );
    assert.equal(parseDerCertificates(Uint8Array.from(eight.flatMap((d) => [...d]))).length, 8);
    assert.match(
      malformed(() => parseDerCertificates(Uint8Array.from(nine.flatMap((d) => [...d])))),
      /more than 8 certificates/,
    );
    assert.match(
      malformed(() => parsePemCertificates(block(seq(62)), { maxCertificateBytes: 63 })),
      /certificate larger than 63 bytes/,
    );
    assert.match(
      malformed(() => parseDerCertificates(Uint8Array.from([...seq(1), ...seq(1)]), { maxCertificates: 1 })),
      /more than 1 certificates/,
    );
  });
});
