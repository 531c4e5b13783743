// The X.509 v3 extensions as our parser reads them (src/spiffe/extensions.ts): what each extension yields, every
// structural refusal with its exact detail, and which critical extensions refuse a certificate. Certificates are
// the dev CA's, their extensions replaced by hand-made DER (test/helpers/der-build.ts) and re-signed by the real
// issuer where the verifier's answer is asserted. Written for the spiffe-ext mutation run (session 6): the
// certificate tests asserted only "malformed_certificate", so a structural rule could go unnoticed.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { BundleSet, parseCertificate, verifyX509Svid, type Certificate } from "../../src/spiffe/index.js";
import {
  BOOL_FALSE,
  BOOL_TRUE,
  NULL,
  extension,
  ia5,
  int,
  octets,
  oid,
  seq,
  tlv,
  withExtensions,
  withTbsFields,
} from "../helpers/der-build.js";
import { svidErrorOf } from "../helpers/spiffe.js";

const TD = "example.org";
const ID = `spiffe://${TD}/web`;
const OID = {
  ski: "2.5.29.14",
  ku: "2.5.29.15",
  san: "2.5.29.17",
  bc: "2.5.29.19",
  nc: "2.5.29.30",
  cp: "2.5.29.32",
  aki: "2.5.29.35",
  eku: "2.5.29.37",
};
const URI = 0x86;
const DNS = 0x82;
/** keyUsage digitalSignature only (bit 0: 0x80 with 7 unused bits). */
const KU_DIGITAL_SIGNATURE = tlv(0x03, [0x07, 0x80]);
const EKU_SERVER_CLIENT = seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"));

let root: DevCertificateAuthority;
let bundles: BundleSet;
let leafDer: Uint8Array;
before(async () => {
  root = await DevCertificateAuthority.createRoot(TD, { keyType: "ec-p256" });
  bundles = new BundleSet([root.x509Bundle()]);
  leafDer = (await root.issueX509Svid("/web")).der;
});

/** The leaf with exactly these extensions (signature left stale: the parser does not look at it). */
const leafWith = (...exts: Uint8Array[]) => withExtensions(leafDer, exts);
const parsed = (...exts: Uint8Array[]): Certificate => parseCertificate(leafWith(...exts));
/** "ok" or the parser's detail for the leaf with these extensions. */
function parseDetail(...exts: Uint8Array[]): string {
  try {
    parsed(...exts);
    return "ok";
  } catch {
    const err = svidErrorOf(() => parsed(...exts));
    assert.equal(err.reason, "malformed_certificate");
    return err.detail.replace(/^cannot parse certificate: /, "");
  }
}
/** The usual SVID extensions, any of them replaced. */
const svidExtensions = (over: Partial<Record<keyof typeof OID, Uint8Array | null>> = {}) =>
  (
    [
      over.bc !== undefined ? over.bc : extension(OID.bc, true, seq()),
      over.ku !== undefined ? over.ku : extension(OID.ku, true, KU_DIGITAL_SIGNATURE),
      over.eku !== undefined ? over.eku : extension(OID.eku, undefined, EKU_SERVER_CLIENT),
      over.san !== undefined ? over.san : extension(OID.san, undefined, seq(ia5(URI, ID))),
    ] as Array<Uint8Array | null>
  ).filter((e): e is Uint8Array => e !== null);

describe("critical extensions", () => {
  /** The verifier's answer for the leaf with these extensions, re-signed by the root. */
  function verdict(exts: Uint8Array[]): string {
    const der = withExtensions(leafDer, exts, root.keys.privateKey);
    try {
      verifyX509Svid([der], bundles, new Date());
      return "ok";
    } catch {
      const err = svidErrorOf(() => verifyX509Svid([der], bundles, new Date()));
      return `${err.reason}: ${err.detail}`;
    }
  }

  test("every extension we process may be marked critical; any other critical one refuses the leaf", () => {
    const ski = extension(OID.ski, true, octets(new Uint8Array(20).fill(7)));
    const aki = extension(OID.aki, true, seq(tlv(0x80, new Uint8Array(20).fill(9))));
    const cp = extension(OID.cp, true, seq(seq(oid("2.5.29.32.0"))));
    const eku = extension(OID.eku, true, EKU_SERVER_CLIENT);
    const san = extension(OID.san, true, seq(ia5(URI, ID)));
    assert.equal(verdict(svidExtensions()), "ok");
    assert.equal(verdict([...svidExtensions({ eku, san }), ski, aki, cp]), "ok");
    for (const [name, ext] of Object.entries({ ski, aki, cp })) {
      assert.equal(verdict([...svidExtensions(), ext]), "ok", name);
    }
    // Unknown and critical: refused, and named. Unknown and not critical (absent or explicit FALSE): ignored.
    assert.equal(
      verdict([...svidExtensions(), extension("1.3.6.1.4.1.99999.1", true, NULL)]),
      "untrusted: leaf certificate has unhandled critical extension 1.3.6.1.4.1.99999.1",
    );
    assert.equal(verdict([...svidExtensions(), extension("1.3.6.1.4.1.99999.1", undefined, NULL)]), "ok");
    assert.equal(verdict([...svidExtensions(), extension("1.3.6.1.4.1.99999.1", false, NULL)]), "ok");
    // Policy mappings and inhibitAnyPolicy (RFC 5280 §4.2.1.5, §4.2.1.14) are not processed.
    assert.equal(
      verdict([...svidExtensions(), extension("2.5.29.33", true, seq()), extension("2.5.29.54", true, int(0))]),
      "untrusted: leaf certificate has unhandled critical extension 2.5.29.33",
    );
    assert.deepEqual(
      [
        ...parsed(
          ...svidExtensions(),
          extension("2.5.29.33", true, seq()),
          extension("1.2.3", undefined, NULL),
          extension("2.5.29.54", true, int(0)),
        ).unhandledCriticalExtensions,
      ],
      ["2.5.29.33", "2.5.29.54"],
    );
    assert.deepEqual([...parsed(...svidExtensions({ eku, san }), ski, aki, cp).unhandledCriticalExtensions], []);
  });
});

describe("the Extensions SEQUENCE and each Extension", () => {
  test("refused with the exact detail", () => {
    const good = svidExtensions();
    const wrapped = (...inner: Uint8Array[]) =>
      withTbsFields(leafDer, (f) => [...f.filter((x) => x[0] !== 0xa3), tlv(0xa3, ...inner)]);
    const detailOf = (der: Uint8Array) =>
      svidErrorOf(() => parseCertificate(der)).detail.replace(/^cannot parse certificate: /, "");
    assert.equal(detailOf(wrapped(seq(...good), NULL)), "extensions: expected SEQUENCE");
    assert.equal(detailOf(wrapped(tlv(0x31, ...good))), "extensions: expected SEQUENCE");
    assert.equal(detailOf(wrapped(seq())), "extensions: empty");
    assert.equal(parseDetail(...good, tlv(0x31, oid("1.2.3"), octets(NULL))), "extension: expected SEQUENCE");
    assert.equal(parseDetail(...good, seq()), "extension: bad field count");
    assert.equal(parseDetail(...good, seq(oid("1.2.3"))), "extension: bad field count");
    assert.equal(
      parseDetail(...good, seq(oid("1.2.3"), BOOL_TRUE, octets(NULL), octets(NULL))),
      "extension: bad field count",
    );
    assert.equal(parseDetail(...good, seq(oid("1.2.3"), int(1), octets(NULL))), "extension: expected critical BOOLEAN");
    assert.equal(parseDetail(...good, seq(oid("1.2.3"), tlv(0x03, [0x00]))), "extension: expected OCTET STRING");
    assert.equal(
      parseDetail(...good, seq(oid("1.2.3"), BOOL_TRUE, tlv(0x03, [0x00]))),
      "extension: expected OCTET STRING",
    );
    assert.equal(parseDetail(...good, seq(oid("1.2.3"), octets(NULL, NULL))), "extension 1.2.3: trailing bytes");
    assert.equal(parseDetail(...good, seq(oid("1.2.3"), octets())), "truncated element");
    assert.equal(
      parseDetail(...good, seq(oid("1.2.3"), tlv(0x01, [0x01]), octets(NULL))),
      "BOOLEAN is not DER (must be 0x00 or 0xff)",
    );
    assert.equal(parseDetail(...good, extension(OID.ku, false, KU_DIGITAL_SIGNATURE)), "duplicate extension 2.5.29.15");
    assert.equal(
      parseDetail(...good, extension("1.2.3", undefined, NULL), extension("1.2.3", true, NULL)),
      "duplicate extension 1.2.3",
    );
  });

  test("a certificate without extensions has none of their effects", () => {
    const c = parseCertificate(withExtensions(leafDer, []));
    assert.equal(c.isCA, false);
    assert.equal(c.pathLenConstraint, undefined);
    assert.equal(c.keyUsage, undefined);
    assert.equal(c.hasKeyUsage(1), false);
    assert.deepEqual([...c.uris], []);
    assert.deepEqual([...c.dnsNames], []);
    assert.equal(c.nameConstraints, undefined);
    assert.deepEqual([...c.unhandledCriticalExtensions], []);
  });
});

describe("basicConstraints", () => {
  const bc = (...fields: Uint8Array[]) => svidExtensions({ bc: extension(OID.bc, true, seq(...fields)) });
  test("cA and pathLenConstraint, each optional, in that order and nothing else", () => {
    const read = (...fields: Uint8Array[]) => {
      const c = parsed(...bc(...fields));
      return [c.isCA, c.pathLenConstraint];
    };
    assert.deepEqual(read(), [false, undefined]);
    assert.deepEqual(read(BOOL_TRUE), [true, undefined]);
    assert.deepEqual(read(BOOL_FALSE), [false, undefined]);
    assert.deepEqual(read(BOOL_TRUE, int(0)), [true, 0]);
    assert.deepEqual(read(BOOL_TRUE, int(300)), [true, 300]);
    assert.deepEqual(read(int(2)), [false, 2]);
    for (const fields of [[int(2), BOOL_TRUE], [BOOL_TRUE, int(1), int(2)], [BOOL_TRUE, BOOL_TRUE], [NULL]]) {
      assert.equal(parseDetail(...bc(...fields)), "basicConstraints: unexpected field");
    }
    assert.equal(
      parseDetail(...svidExtensions({ bc: extension(OID.bc, true, tlv(0x31, BOOL_TRUE)) })),
      "basicConstraints: expected SEQUENCE",
    );
    assert.equal(parseDetail(...bc(BOOL_TRUE, tlv(0x02, [0x80]))), "negative INTEGER");
  });
});

describe("keyUsage", () => {
  const ku = (...content: number[]) => parsed(...svidExtensions({ ku: extension(OID.ku, true, tlv(0x03, content)) }));
  test("bit n of the BIT STRING is 1 << n, up to decipherOnly (bit 8); later bits are ignored", () => {
    assert.equal(ku(0x07, 0x80).keyUsage, 1);
    assert.equal(ku(0x02, 0x04).keyUsage, 1 << 5); // keyCertSign
    assert.equal(ku(0x01, 0x86).keyUsage, (1 << 0) | (1 << 5) | (1 << 6));
    assert.equal(ku(0x07, 0x00, 0x80).keyUsage, 1 << 8); // decipherOnly
    assert.equal(ku(0x00, 0xff, 0xff).keyUsage, 0xffff);
    assert.equal(ku(0x00, 0x00, 0x00, 0xff).keyUsage, 0);
    assert.equal(ku(0x00, 0x01, 0x01, 0xff).keyUsage, (1 << 7) | (1 << 15));
    assert.equal(ku(0x00).keyUsage, 0); // present and empty: not the same as absent
    assert.ok(ku(0x02, 0x04).hasKeyUsage(1 << 5));
    assert.ok(!ku(0x02, 0x04).hasKeyUsage(1));
    assert.equal(
      parseDetail(...svidExtensions({ ku: extension(OID.ku, true, octets([0x80])) })),
      "keyUsage: expected BIT STRING",
    );
  });
});

describe("subjectAltName", () => {
  const san = (...names: Uint8Array[]) => svidExtensions({ san: extension(OID.san, undefined, seq(...names)) });
  test("URIs and DNS names in order; every other GeneralName type is allowed and ignored", () => {
    const c = parsed(
      ...san(
        ia5(DNS, "a.example.org"),
        tlv(0xa0, oid("1.2.3"), tlv(0xa0, NULL)),
        tlv(0x81, Buffer.from("a@example.org")),
        ia5(URI, ID),
        tlv(0xa3, NULL),
        tlv(0xa4, seq()),
        tlv(0xa5, NULL),
        tlv(0x87, [127, 0, 0, 1]),
        tlv(0x88, [0x2a, 0x03]),
        ia5(URI, "https://x.example/\x7f"),
        ia5(DNS, "B.example.org"),
      ),
    );
    assert.deepEqual([...c.uris], [ID, "https://x.example/\x7f"]);
    assert.deepEqual([...c.dnsNames], ["a.example.org", "B.example.org"]);
  });

  test("refused with the exact detail", () => {
    assert.equal(
      parseDetail(...svidExtensions({ san: extension(OID.san, undefined, tlv(0x31, ia5(URI, ID))) })),
      "subjectAltName: expected SEQUENCE",
    );
    assert.equal(parseDetail(...san()), "subjectAltName is empty");
    for (const tag of [0x80, 0x83, 0x84, 0x89, 0xa6, 0xa1]) {
      assert.equal(parseDetail(...san(ia5(URI, ID), tlv(tag, [0x01]))), "subjectAltName: unknown GeneralName type");
    }
    assert.equal(
      parseDetail(...san(tlv(URI, Buffer.from("spiffe://example.org/\x80", "latin1")))),
      "URI SAN is not an IA5String",
    );
    assert.equal(
      parseDetail(...san(ia5(URI, ID), tlv(DNS, Buffer.from("caf\u00e9.example.org", "utf8")))),
      "DNS SAN is not an IA5String",
    );
  });
});

describe("extKeyUsage", () => {
  test("a SEQUENCE of well-formed OIDs, not otherwise interpreted", () => {
    const eku = (v: Uint8Array) => parseDetail(...svidExtensions({ eku: extension(OID.eku, undefined, v) }));
    assert.equal(eku(seq(oid("1.3.6.1.5.5.7.3.4"))), "ok");
    assert.equal(eku(seq()), "ok");
    assert.equal(eku(tlv(0x31, oid("1.3.6.1.5.5.7.3.1"))), "extKeyUsage: expected SEQUENCE");
    assert.equal(eku(seq(oid("1.3.6.1.5.5.7.3.1"), int(1))), "expected OBJECT IDENTIFIER");
    assert.equal(eku(seq(oid("1.3.6.1.5.5.7.3.1"), tlv(0x06, [0x2b, 0x86]))), "truncated OBJECT IDENTIFIER");
  });
});

describe("nameConstraints", () => {
  const nc = (...parts: Uint8Array[]) => svidExtensions({}).concat(extension(OID.nc, true, seq(...parts)));
  const subtrees = (tag: number, ...bases: Uint8Array[]) => tlv(tag, ...bases.map((b) => seq(b)));
  const read = (...parts: Uint8Array[]) => parsed(...nc(...parts)).nameConstraints;

  test("URI and DNS subtrees, permitted and excluded, lowercased", () => {
    assert.deepEqual(
      read(
        subtrees(0xa0, ia5(URI, "Example.ORG"), ia5(DNS, ".Svc.Example.org"), ia5(URI, ".b.example")),
        subtrees(0xa1, ia5(DNS, "Bad.example.org"), ia5(URI, "EVIL.example")),
      ),
      {
        permittedUris: ["example.org", ".b.example"],
        excludedUris: ["evil.example"],
        permittedDns: [".svc.example.org"],
        excludedDns: ["bad.example.org"],
        unsupported: undefined,
      },
    );
    assert.deepEqual(read(subtrees(0xa1, ia5(URI, "x.example"))), {
      permittedUris: [],
      excludedUris: ["x.example"],
      permittedDns: [],
      excludedDns: [],
      unsupported: undefined,
    });
    assert.deepEqual(read(), {
      permittedUris: [],
      excludedUris: [],
      permittedDns: [],
      excludedDns: [],
      unsupported: undefined,
    });
  });

  test("a constraint we cannot evaluate is recorded (the first one), the rest still read", () => {
    const unsupported = (...parts: Uint8Array[]) => read(...parts)?.unsupported;
    assert.equal(unsupported(subtrees(0xa0, tlv(0xa4, seq()))), "directoryName name constraint");
    assert.equal(unsupported(subtrees(0xa1, tlv(0x87, [10, 0, 0, 0, 255, 0, 0, 0]))), "iPAddress name constraint");
    assert.equal(unsupported(subtrees(0xa0, tlv(0x89, [0x01]))), "unknown name constraint");
    for (const [tag, name] of [
      [0xa0, "otherName"],
      [0x81, "rfc822Name"],
      [0xa3, "x400Address"],
      [0xa5, "ediPartyName"],
      [0x88, "registeredID"],
    ] as const) {
      assert.equal(unsupported(subtrees(0xa0, tlv(tag, [0x05, 0x00]))), `${name} name constraint`);
    }
    assert.equal(
      unsupported(
        subtrees(0xa0, ia5(URI, "example.org"), tlv(0x81, Buffer.from("example.org"))),
        subtrees(0xa1, tlv(0xa4, seq())),
      ),
      "rfc822Name name constraint",
    );
    assert.equal(
      unsupported(subtrees(0xa0, ia5(URI, "example.org")), subtrees(0xa1, tlv(0xa4, seq()))),
      "directoryName name constraint",
    );
    // minimum [0] / maximum [1] in a GeneralSubtree: "MUST NOT be used" (RFC 5280).
    const withMin = tlv(0xa0, seq(ia5(URI, "example.org"), tlv(0x80, [0x00])));
    assert.equal(unsupported(withMin), "name constraint with minimum/maximum");
    const both = read(withMin, subtrees(0xa1, tlv(0xa4, seq())));
    assert.equal(both?.unsupported, "name constraint with minimum/maximum");
    assert.deepEqual(both?.permittedUris, ["example.org"]);
  });

  test("refused with the exact detail", () => {
    const bad = (v: Uint8Array) => parseDetail(...svidExtensions({}), extension(OID.nc, true, v));
    assert.equal(bad(tlv(0x31, subtrees(0xa0, ia5(URI, "example.org")))), "nameConstraints: expected SEQUENCE");
    for (const parts of [
      [subtrees(0xa1, ia5(URI, "a.example")), subtrees(0xa0, ia5(URI, "b.example"))],
      [subtrees(0xa0, ia5(URI, "a.example")), subtrees(0xa0, ia5(URI, "b.example"))],
      [subtrees(0xa1, ia5(URI, "a.example")), subtrees(0xa1, ia5(URI, "b.example"))],
      [subtrees(0xa2, ia5(URI, "a.example"))],
      [seq(ia5(URI, "a.example"))],
    ]) {
      assert.equal(bad(seq(...parts)), "nameConstraints: unexpected field");
    }
    assert.equal(bad(seq(tlv(0xa0))), "nameConstraints: empty subtrees");
    assert.equal(bad(seq(tlv(0xa1))), "nameConstraints: empty subtrees");
    assert.equal(bad(seq(tlv(0xa0, ia5(URI, "a.example")))), "nameConstraints: expected GeneralSubtree");
    assert.equal(bad(seq(tlv(0xa0, seq()))), "nameConstraints: empty GeneralSubtree");
    assert.equal(
      bad(seq(subtrees(0xa0, tlv(URI, Buffer.from("\u00e9.example", "utf8"))))),
      "URI constraint is not an IA5String",
    );
    assert.equal(
      bad(seq(subtrees(0xa1, tlv(DNS, Buffer.from("\u00e9.example", "utf8"))))),
      "DNS constraint is not an IA5String",
    );
  });
});
