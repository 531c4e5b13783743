// X.509-SVID verification, table-driven: every case builds its certificates with the dev CA and asserts
// the EXACT reason code.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { DevCertificateAuthority, rawExtension, type DevExtension, type KeyType } from "../../src/dev-ca/index.js";
import {
  BundleSet,
  PublicKeyCache,
  X509Bundle,
  parseCertificate,
  parseTrustDomain,
  verifyX509Svid,
  type CertificateInput,
  type X509BundleSource,
} from "../../src/spiffe/index.js";
import { DAY_MS, HOUR_MS, opensslVerifies, reasonOf, svidErrorOf } from "../helpers/spiffe.js";

const TD_A = "a.example";
const TD_B = "b.example";
const ID = `spiffe://${TD_A}/ns/default/sa/web`;

interface Case {
  name: string;
  build: () => Promise<{
    chain: CertificateInput[];
    source: X509BundleSource;
    now?: Date;
    opts?: Parameters<typeof verifyX509Svid>[3];
  }>;
  want: string;
  /** Substring the SvidError detail must contain. */
  detail?: string;
}

let rootA: DevCertificateAuthority;
let rootB: DevCertificateAuthority;
let setA: BundleSet;
let setAB: BundleSet;

before(async () => {
  rootA = await DevCertificateAuthority.createRoot(TD_A);
  rootB = await DevCertificateAuthority.createRoot(TD_B);
  setA = new BundleSet([rootA.x509Bundle()]);
  setAB = new BundleSet([rootA.x509Bundle(), rootB.x509Bundle()]);
});

const past = (ms: number) => new Date(Date.now() - ms);
const future = (ms: number) => new Date(Date.now() + ms);

/** An extension with an OID nobody handles. */
const unknownExtension = (critical: boolean) =>
  rawExtension("1.3.6.1.4.1.99999.1", critical, new Uint8Array([0x05, 0x00]));

/** DER of nameConstraints with URI/DNS subtrees (our own tiny encoder, so no test depends on a library's support). */
function nameConstraints(permitted: Array<[number, string]>, excluded: Array<[number, string]> = []): DevExtension {
  const tlv = (tag: number, body: Uint8Array): Uint8Array => {
    const len = body.length < 128 ? [body.length] : [0x81, body.length];
    return new Uint8Array([tag, ...len, ...body]);
  };
  const subtrees = (tag: number, list: Array<[number, string]>) =>
    tlv(tag, Buffer.concat(list.map(([t, v]) => tlv(0x30, tlv(t, Buffer.from(v, "ascii"))))));
  const parts: Uint8Array[] = [];
  if (permitted.length) parts.push(subtrees(0xa0, permitted));
  if (excluded.length) parts.push(subtrees(0xa1, excluded));
  return rawExtension("2.5.29.30", true, tlv(0x30, Buffer.concat(parts)));
}
const URI = 0x86;
const DNS = 0x82;

const cases: Case[] = [
  {
    name: "valid leaf signed by the root (0 intermediates)",
    build: async () => ({ chain: (await rootA.issueX509Svid(ID)).chain, source: setA }),
    want: "ok",
  },
  {
    name: "valid chain with 1 intermediate",
    build: async () => ({ chain: (await (await rootA.createIntermediate()).issueX509Svid(ID)).chain, source: setA }),
    want: "ok",
  },
  {
    name: "valid chain with 2 intermediates",
    build: async () => {
      const i2 = await (await rootA.createIntermediate()).createIntermediate();
      const svid = await i2.issueX509Svid(ID);
      assert.equal(svid.chain.length, 3);
      return { chain: svid.chain, source: setA };
    },
    want: "ok",
  },
  {
    name: "intermediates supplied out of order",
    build: async () => {
      const i2 = await (await rootA.createIntermediate()).createIntermediate();
      const [leaf, near, far] = (await i2.issueX509Svid(ID)).chain as [Uint8Array, Uint8Array, Uint8Array];
      return { chain: [leaf, far, near], source: setA };
    },
    want: "ok",
  },
  {
    name: "chain that includes the root itself",
    build: async () => ({ chain: [...(await rootA.issueX509Svid(ID)).chain, rootA.der], source: setA }),
    want: "ok",
  },
  {
    name: "expired leaf",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { notBefore: past(2 * HOUR_MS), notAfter: past(HOUR_MS) })).chain,
      source: setA,
    }),
    want: "expired",
    detail: "leaf",
  },
  {
    name: "not-yet-valid leaf",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { notBefore: future(HOUR_MS), notAfter: future(2 * HOUR_MS) })).chain,
      source: setA,
    }),
    want: "expired",
    detail: "not yet valid",
  },
  {
    name: "expired intermediate",
    build: async () => {
      const int = await rootA.createIntermediate({ notBefore: past(2 * DAY_MS), notAfter: past(DAY_MS) });
      return { chain: (await int.issueX509Svid(ID)).chain, source: setA };
    },
    want: "expired",
    detail: "intermediate",
  },
  {
    name: "expired root",
    build: async () => {
      const old = await DevCertificateAuthority.createRoot(TD_A, {
        notBefore: past(2 * DAY_MS),
        notAfter: past(DAY_MS),
      });
      return { chain: (await old.issueX509Svid(ID)).chain, source: new BundleSet([old.x509Bundle()]) };
    },
    want: "expired",
    detail: "root",
  },
  {
    name: "verification time before the root's validity",
    build: async () => ({ chain: (await rootA.issueX509Svid(ID)).chain, source: setA, now: past(30 * DAY_MS) }),
    want: "expired",
  },
  {
    name: "unknown root (same trust domain, not in the bundle)",
    build: async () => {
      const stranger = await DevCertificateAuthority.createRoot(TD_A);
      return { chain: (await stranger.issueX509Svid(ID)).chain, source: setA };
    },
    want: "untrusted",
  },
  {
    name: "unknown root with the same subject as the trusted root",
    build: async () => {
      const impostor = await DevCertificateAuthority.createRoot(TD_A, { subject: rootA.subjectDn });
      return { chain: (await impostor.issueX509Svid(ID)).chain, source: setA };
    },
    want: "untrusted",
  },
  {
    name: "expired leaf from an unknown root is untrusted, not expired",
    build: async () => {
      const stranger = await DevCertificateAuthority.createRoot(TD_A);
      return {
        chain: (await stranger.issueX509Svid(ID, { notBefore: past(2 * HOUR_MS), notAfter: past(HOUR_MS) })).chain,
        source: setA,
      };
    },
    want: "untrusted",
  },
  {
    name: "ID in td A signed by td B's root (bundles for A and B)",
    build: async () => ({ chain: (await rootB.issueX509Svid(ID)).chain, source: setAB }),
    want: "untrusted",
  },
  {
    name: "ID in td A signed by td B's root (only B has a bundle)",
    build: async () => ({ chain: (await rootB.issueX509Svid(ID)).chain, source: new BundleSet([rootB.x509Bundle()]) }),
    want: "unknown_trust_domain",
    detail: "^no X\\.509 bundle for trust domain a\\.example$",
  },
  {
    name: "intermediate of td B presented for an ID in td A",
    build: async () => ({ chain: (await (await rootB.createIntermediate()).issueX509Svid(ID)).chain, source: setAB }),
    want: "untrusted",
  },
  {
    name: "leaf with CA:true",
    build: async () => ({ chain: (await rootA.issueX509Svid(ID, { isCA: true })).chain, source: setA }),
    want: "not_a_leaf",
  },
  {
    name: "leaf with keyCertSign",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { keyUsage: ["digitalSignature", "keyCertSign"] })).chain,
      source: setA,
    }),
    want: "not_a_leaf",
    detail: "^leaf certificate has keyCertSign key usage$",
  },
  {
    name: "leaf with cRLSign",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { keyUsage: ["digitalSignature", "cRLSign"] })).chain,
      source: setA,
    }),
    want: "not_a_leaf",
  },
  {
    name: "leaf without digitalSignature",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { keyUsage: ["keyEncipherment"] })).chain,
      source: setA,
    }),
    want: "not_a_leaf",
  },
  {
    name: "leaf without a keyUsage extension",
    build: async () => ({ chain: (await rootA.issueX509Svid(ID, { keyUsage: false })).chain, source: setA }),
    want: "not_a_leaf",
  },
  {
    name: "two URI SANs",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { uris: [ID, `spiffe://${TD_A}/other`] })).chain,
      source: setA,
    }),
    want: "no_spiffe_id",
  },
  {
    name: "a SPIFFE ID plus a non-SPIFFE URI SAN",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { uris: [ID, "https://a.example/x"] })).chain,
      source: setA,
    }),
    want: "no_spiffe_id",
  },
  {
    name: "no URI SAN (DNS SAN only)",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { uris: [], dnsNames: ["web.a.example"] })).chain,
      source: setA,
    }),
    want: "no_spiffe_id",
    detail: "^certificate has no URI SAN$",
  },
  {
    name: "no SAN extension at all",
    build: async () => ({ chain: (await rootA.issueX509Svid(ID, { san: false })).chain, source: setA }),
    want: "no_spiffe_id",
  },
  {
    name: "non-spiffe URI",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { uris: ["https://a.example/ns/default"] })).chain,
      source: setA,
    }),
    want: "no_spiffe_id",
  },
  {
    name: "URI SAN with an uppercase trust domain",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { uris: ["spiffe://A.example/web"] })).chain,
      source: setA,
    }),
    want: "no_spiffe_id",
  },
  {
    name: "URI SAN with a percent-encoded path",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { uris: [`spiffe://${TD_A}/we%62`] })).chain,
      source: setA,
    }),
    want: "no_spiffe_id",
  },
  {
    name: "leaf ID without a path (the trust domain's own ID)",
    build: async () => ({ chain: (await rootA.issueX509Svid(ID, { uris: [`spiffe://${TD_A}`] })).chain, source: setA }),
    want: "no_spiffe_id",
  },
  {
    name: "self-signed leaf",
    build: async () => ({ chain: (await rootA.issueX509Svid(ID, { selfSigned: true })).chain, source: setA }),
    want: "untrusted",
  },
  {
    name: "self-signed leaf naming the trusted root as issuer",
    build: async () => {
      const svid = await rootA.issueX509Svid(ID, { selfSigned: true, issuerName: rootA.subjectDn });
      return { chain: svid.chain, source: setA };
    },
    want: "untrusted",
  },
  {
    name: "intermediate without keyCertSign",
    build: async () => {
      const int = await rootA.createIntermediate({ keyUsage: ["digitalSignature", "cRLSign"] });
      return { chain: (await int.issueX509Svid(ID)).chain, source: setA };
    },
    want: "untrusted",
    detail: "keyCertSign",
  },
  {
    name: "intermediate with CA:false",
    build: async () => {
      const int = await rootA.createIntermediate({ isCA: false });
      return { chain: (await int.issueX509Svid(ID)).chain, source: setA };
    },
    want: "untrusted",
    detail: "not a CA",
  },
  {
    name: "intermediate without basicConstraints",
    build: async () => {
      const int = await rootA.createIntermediate({ basicConstraints: false });
      return { chain: (await int.issueX509Svid(ID)).chain, source: setA };
    },
    want: "untrusted",
  },
  {
    name: "root in the bundle without keyCertSign",
    build: async () => {
      const root = await DevCertificateAuthority.createRoot(TD_A, { keyUsage: ["digitalSignature"] });
      return { chain: (await root.issueX509Svid(ID)).chain, source: new BundleSet([root.x509Bundle()]) };
    },
    want: "untrusted",
  },
  {
    name: "wrong signature: names the trusted root as issuer, signed by another key",
    build: async () => {
      const other = await DevCertificateAuthority.createRoot(TD_A);
      return { chain: (await rootA.issueX509Svid(ID, { signingKey: other.keys.privateKey })).chain, source: setA };
    },
    want: "untrusted",
    detail: "signature",
  },
  {
    name: "wrong signature on the intermediate",
    build: async () => {
      const other = await DevCertificateAuthority.createRoot(TD_A);
      const int = await rootA.createIntermediate({ signingKey: other.keys.privateKey });
      return { chain: (await int.issueX509Svid(ID)).chain, source: setA };
    },
    want: "untrusted",
  },
  {
    name: "rotation: two roots with the same subject, only the second one signed",
    build: async () => {
      const oldRoot = await DevCertificateAuthority.createRoot(TD_A, { name: "rotating" });
      const newRoot = await DevCertificateAuthority.createRoot(TD_A, { name: "rotating" });
      assert.equal(oldRoot.certificate.subjectKey, newRoot.certificate.subjectKey);
      const bundle = X509Bundle.fromCertificates(TD_A, [oldRoot.certificate, newRoot.certificate]);
      return { chain: (await newRoot.issueX509Svid(ID)).chain, source: new BundleSet([bundle]) };
    },
    want: "ok",
  },
  {
    name: "rotation: old root expired, new root with the same subject signed",
    build: async () => {
      const oldRoot = await DevCertificateAuthority.createRoot(TD_A, {
        name: "r",
        notBefore: past(2 * DAY_MS),
        notAfter: past(DAY_MS),
      });
      const newRoot = await DevCertificateAuthority.createRoot(TD_A, { name: "r" });
      const bundle = X509Bundle.fromCertificates(TD_A, [oldRoot.certificate, newRoot.certificate]);
      return { chain: (await newRoot.issueX509Svid(ID)).chain, source: new BundleSet([bundle]) };
    },
    want: "ok",
  },
  {
    name: "rotation: leaf signed by the expired old root is expired, even though a new root shares its subject",
    build: async () => {
      const oldRoot = await DevCertificateAuthority.createRoot(TD_A, {
        name: "r",
        notBefore: past(2 * DAY_MS),
        notAfter: past(DAY_MS),
      });
      const newRoot = await DevCertificateAuthority.createRoot(TD_A, { name: "r" });
      const bundle = X509Bundle.fromCertificates(TD_A, [newRoot.certificate, oldRoot.certificate]);
      return { chain: (await oldRoot.issueX509Svid(ID)).chain, source: new BundleSet([bundle]) };
    },
    want: "expired",
  },
  {
    name: "rotation: two intermediates with the same subject supplied, only the second signed the leaf",
    build: async () => {
      const i1 = await rootA.createIntermediate({ name: "same" });
      const i2 = await rootA.createIntermediate({ name: "same" });
      const svid = await i2.issueX509Svid(ID);
      return { chain: [svid.der, i1.der, i2.der], source: setA };
    },
    want: "ok",
  },
  {
    name: "pathLenConstraint 0 on the root with one intermediate below",
    build: async () => {
      const root = await DevCertificateAuthority.createRoot(TD_A, { pathLength: 0 });
      const int = await root.createIntermediate();
      return { chain: (await int.issueX509Svid(ID)).chain, source: new BundleSet([root.x509Bundle()]) };
    },
    want: "untrusted",
    detail: "pathLenConstraint",
  },
  {
    name: "pathLenConstraint 1 with one intermediate below",
    build: async () => {
      const root = await DevCertificateAuthority.createRoot(TD_A, { pathLength: 1 });
      const int = await root.createIntermediate();
      return { chain: (await int.issueX509Svid(ID)).chain, source: new BundleSet([root.x509Bundle()]) };
    },
    want: "ok",
  },
  {
    name: "URI name constraint permitting the ID's trust domain",
    build: async () => {
      const int = await rootA.createIntermediate({ extensions: [nameConstraints([[URI, TD_A]])] });
      return { chain: (await int.issueX509Svid(ID)).chain, source: setA };
    },
    want: "ok",
  },
  {
    name: "URI name constraint permitting another trust domain",
    build: async () => {
      const int = await rootA.createIntermediate({ extensions: [nameConstraints([[URI, "other.example"]])] });
      return { chain: (await int.issueX509Svid(ID)).chain, source: setA };
    },
    want: "untrusted",
    detail: "not permitted",
  },
  {
    name: "URI name constraint excluding the ID's trust domain",
    build: async () => {
      const int = await rootA.createIntermediate({ extensions: [nameConstraints([], [[URI, TD_A]])] });
      return { chain: (await int.issueX509Svid(ID)).chain, source: setA };
    },
    want: "untrusted",
  },
  {
    name: "DNS name constraint violated by a DNS SAN",
    build: async () => {
      const int = await rootA.createIntermediate({
        extensions: [
          nameConstraints([
            [URI, TD_A],
            [DNS, "a.example"],
          ]),
        ],
      });
      return { chain: (await int.issueX509Svid(ID, { dnsNames: ["evil.test"] })).chain, source: setA };
    },
    want: "untrusted",
  },
  {
    name: "DNS name constraint satisfied by a DNS SAN",
    build: async () => {
      const int = await rootA.createIntermediate({
        extensions: [
          nameConstraints([
            [URI, TD_A],
            [DNS, "a.example"],
          ]),
        ],
      });
      return { chain: (await int.issueX509Svid(ID, { dnsNames: ["web.a.example"] })).chain, source: setA };
    },
    want: "ok",
  },
  {
    name: "name constraint of a kind we do not evaluate (email)",
    build: async () => {
      const int = await rootA.createIntermediate({ extensions: [nameConstraints([[0x81, "a.example"]])] });
      return { chain: (await int.issueX509Svid(ID)).chain, source: setA };
    },
    want: "untrusted",
  },
  {
    name: "unknown critical extension on the leaf",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { extensions: [unknownExtension(true)] })).chain,
      source: setA,
    }),
    want: "untrusted",
    detail: "^leaf certificate has unhandled critical extension 1\\.3\\.6\\.1\\.4\\.1\\.99999\\.1$",
  },
  {
    name: "unknown non-critical extension on the leaf",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID, { extensions: [unknownExtension(false)] })).chain,
      source: setA,
    }),
    want: "ok",
  },
  {
    name: "unknown critical extension on the intermediate",
    build: async () => {
      const int = await rootA.createIntermediate({ extensions: [unknownExtension(true)] });
      return { chain: (await int.issueX509Svid(ID)).chain, source: setA };
    },
    want: "untrusted",
  },
  {
    name: "chain longer than the limit",
    build: async () => {
      const svid = await rootA.issueX509Svid(ID);
      return { chain: [svid.der, ...Array<Uint8Array>(8).fill(rootA.der)], source: setA };
    },
    want: "malformed_certificate",
    detail: "^chain of 9 certificates exceeds the limit of 8$", // the default, no maxChainLength given
  },
  {
    name: "5 intermediates within a custom limit",
    build: async () => {
      let ca = rootA;
      for (let i = 0; i < 5; i++) ca = await ca.createIntermediate();
      return { chain: (await ca.issueX509Svid(ID)).chain, source: setA };
    },
    want: "ok",
  },
  {
    name: "5 intermediates over a lower chain limit",
    build: async () => {
      let ca = rootA;
      for (let i = 0; i < 5; i++) ca = await ca.createIntermediate();
      return { chain: (await ca.issueX509Svid(ID)).chain, source: setA, opts: { maxChainLength: 4 } };
    },
    want: "malformed_certificate",
  },
  {
    name: "empty chain",
    build: async () => ({ chain: [], source: setA }),
    want: "malformed_certificate",
    detail: "^empty certificate chain$",
  },
  {
    name: "garbage bytes",
    build: async () => ({ chain: [new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])], source: setA }),
    want: "malformed_certificate",
  },
  {
    name: "certificate with a trailing byte",
    build: async () => {
      const svid = await rootA.issueX509Svid(ID);
      return { chain: [new Uint8Array([...svid.der, 0])], source: setA };
    },
    want: "malformed_certificate",
  },
  {
    name: "certificate over the size limit",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID)).chain,
      source: setA,
      opts: { maxCertificateBytes: 200 },
    }),
    want: "malformed_certificate",
  },
  {
    name: "malformed intermediate after a good leaf",
    build: async () => ({ chain: [(await rootA.issueX509Svid(ID)).der, new Uint8Array([1, 2, 3])], source: setA }),
    want: "malformed_certificate",
  },
  {
    name: "source answering with another domain's bundle",
    build: async () => ({
      chain: (await rootB.issueX509Svid(ID)).chain,
      source: { getX509BundleForTrustDomain: () => rootB.x509Bundle() },
    }),
    want: "untrusted",
    detail: "^bundle source returned the bundle of b\\.example for a\\.example$",
  },
  {
    name: "source that throws",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID)).chain,
      source: {
        getX509BundleForTrustDomain: () => {
          throw new Error("boom");
        },
      },
    }),
    want: "unknown_trust_domain",
    detail: "^no X\\.509 bundle for trust domain a\\.example$",
  },
  {
    name: "empty bundle for the trust domain",
    build: async () => ({
      chain: (await rootA.issueX509Svid(ID)).chain,
      source: new BundleSet([X509Bundle.fromCertificates(TD_A, [])]),
    }),
    want: "untrusted",
    detail: "^X\\.509 bundle of a\\.example is empty$",
  },
];

describe("verifyX509Svid", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const { chain, source, now, opts } = await c.build();
      const got = reasonOf(() => verifyX509Svid(chain, source, now ?? new Date(), opts));
      assert.equal(got, c.want);
      if (c.detail) {
        const err = svidErrorOf(() => verifyX509Svid(chain, source, now ?? new Date(), opts));
        assert.match(err.detail, new RegExp(c.detail));
      }
    });
  }
});

describe("key types", () => {
  const types: Array<[KeyType, boolean]> = [
    ["ec-p256", false],
    ["ec-p384", false],
    ["rsa-2048", false],
    ["rsa-2048", true],
    ["ed25519", false],
  ];
  for (const [keyType, rsaPss] of types) {
    test(`${keyType}${rsaPss ? " (RSA-PSS)" : ""} root, intermediate and leaf`, async () => {
      const root = await DevCertificateAuthority.createRoot(TD_A, { keyType, rsaPss });
      const int = await root.createIntermediate({ keyType, rsaPss });
      const svid = await int.issueX509Svid(ID, { keyType, rsaPss });
      const result = verifyX509Svid(svid.chain, new BundleSet([root.x509Bundle()]), new Date());
      assert.equal(result.id.toString(), ID);
      assert.equal(result.verifiedChain.length, 3);
      // Differential check: OpenSSL agrees about every link we accepted.
      assert.ok(opensslVerifies(svid.der, int.der));
      assert.ok(opensslVerifies(int.der, root.der));
    });
  }

  test("mixed key types along the path", async () => {
    const root = await DevCertificateAuthority.createRoot(TD_A, { keyType: "rsa-2048" });
    const int = await root.createIntermediate({ keyType: "ec-p384" });
    const svid = await int.issueX509Svid(ID, { keyType: "ed25519" });
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, new BundleSet([root.x509Bundle()]), new Date())),
      "ok",
    );
  });
});

describe("result and inputs", () => {
  test("returns the ID, the parsed leaf and the path leaf → root", async () => {
    const int = await rootA.createIntermediate();
    const svid = await int.issueX509Svid(ID);
    const r = verifyX509Svid(svid.chain, setA, new Date());
    assert.equal(r.id.toString(), ID);
    assert.equal(r.id.trustDomain.name, TD_A);
    assert.equal(r.id.path, "/ns/default/sa/web");
    assert.deepEqual(
      r.verifiedChain.map((c) => c.sha256Hex()),
      [svid.certificate, int.certificate, rootA.certificate].map((c) => c.sha256Hex()),
    );
    assert.ok(r.leaf.equals(svid.certificate));
  });

  test("accepts already-parsed certificates (so callers can cache parsing)", async () => {
    const int = await rootA.createIntermediate();
    const svid = await int.issueX509Svid(ID);
    const parsed = svid.chain.map((d) => parseCertificate(d));
    assert.equal(verifyX509Svid(parsed, setA, new Date()).id.toString(), ID);
    assert.equal(
      verifyX509Svid([svid.der, parsed[1] as NonNullable<(typeof parsed)[1]>], setA, new Date()).id.toString(),
      ID,
    );
  });

  test("validity bounds are inclusive and exact to the second", async () => {
    const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    const notAfter = new Date(notBefore.getTime() + 120_000);
    const root = await DevCertificateAuthority.createRoot(TD_A, { notBefore: past(DAY_MS) });
    const set = new BundleSet([root.x509Bundle()]);
    const svid = await root.issueX509Svid(ID, { notBefore, notAfter });
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, set, notBefore)),
      "ok",
    );
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, set, notAfter)),
      "ok",
    );
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, set, new Date(notBefore.getTime() - 1000))),
      "expired",
    );
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, set, new Date(notAfter.getTime() + 1000))),
      "expired",
    );
  });

  test("invalid verification time fails closed", async () => {
    const svid = await rootA.issueX509Svid(ID);
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, setA, new Date(NaN))),
      "untrusted",
    );
  });

  test("a bundle only counts for its own trust domain", async () => {
    // Root A in a bundle labelled B, plus an ID in A: no bundle for A → unknown trust domain.
    const mislabeled = X509Bundle.fromCertificates(TD_B, [rootA.certificate]);
    const svid = await rootA.issueX509Svid(ID);
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, new BundleSet([mislabeled]), new Date())),
      "unknown_trust_domain",
    );
    assert.equal(parseTrustDomain(TD_A).name, TD_A);
  });
});

describe("bounded path search", () => {
  test("a loop of cross-signed intermediates ends quickly as untrusted", async () => {
    // P and Q share a subject and sign each other: a path builder that does not detect loops would bounce
    // between them forever. Neither leads to the trusted root.
    const pSelf = await DevCertificateAuthority.createRoot(TD_A, { name: "loop" });
    const qSelf = await DevCertificateAuthority.createRoot(TD_A, { name: "loop" });
    const pByQ = await qSelf.createIntermediate({ name: "loop", keys: pSelf.keys });
    const qByP = await pSelf.createIntermediate({ name: "loop", keys: qSelf.keys });
    const svid = await pByQ.issueX509Svid(ID);
    const start = performance.now();
    assert.equal(
      reasonOf(() => verifyX509Svid([svid.der, pByQ.der, qByP.der], setA, new Date())),
      "untrusted",
    );
    assert.ok(performance.now() - start < 1000);
  });

  test("many same-subject decoy intermediates exhaust the signature budget, not the CPU", async () => {
    const real = await rootA.createIntermediate({ name: "decoy" });
    const decoys = await Promise.all(Array.from({ length: 6 }, () => rootA.createIntermediate({ name: "decoy" })));
    const svid = await real.issueX509Svid(ID);
    // The real intermediate is last: every decoy is tried first.
    const chain = [svid.der, ...decoys.map((d) => d.der), real.der];
    assert.equal(
      reasonOf(() => verifyX509Svid(chain, setA, new Date())),
      "ok",
    );
    const start = performance.now();
    assert.equal(
      reasonOf(() => verifyX509Svid(chain, setA, new Date(), { maxSignatureChecks: 3 })),
      "untrusted",
    );
    assert.ok(performance.now() - start < 1000);
  });
});

describe("verified-CA key cache", () => {
  test("is filled only by verified paths, and gives the same answers", async () => {
    const cache = new PublicKeyCache(4);
    const int = await rootA.createIntermediate();
    const good = await int.issueX509Svid(ID);
    const other = await DevCertificateAuthority.createRoot(TD_A);
    const forgedInt = await rootA.createIntermediate({ signingKey: other.keys.privateKey });
    const bad = await forgedInt.issueX509Svid(ID);

    assert.equal(
      reasonOf(() => verifyX509Svid(bad.chain, setA, new Date(), { keyCache: cache })),
      "untrusted",
    );
    assert.equal(cache.size, 0, "a failed path inserts nothing");
    assert.equal(
      reasonOf(() => verifyX509Svid(good.chain, setA, new Date(), { keyCache: cache })),
      "ok",
    );
    assert.equal(cache.size, 2, "intermediate and root");
    assert.ok(cache.has(int.certificate.spkiKey));
    // With the cache warm, results are unchanged: good passes, forged still fails.
    assert.equal(
      reasonOf(() => verifyX509Svid(good.chain, setA, new Date(), { keyCache: cache })),
      "ok",
    );
    assert.equal(
      reasonOf(() => verifyX509Svid(bad.chain, setA, new Date(), { keyCache: cache })),
      "untrusted",
    );
    assert.equal(
      reasonOf(() => verifyX509Svid(good.chain, setA, new Date(), { keyCache: false })),
      "ok",
    );
  });

  test("remembers the CA signatures of verified paths, never a leaf's, and answers exactly as cold", async () => {
    const cache = new PublicKeyCache(8);
    const int = await rootA.createIntermediate();
    const first = await int.issueX509Svid(ID);
    const second = await int.issueX509Svid(ID);
    const budget = (n: number) => ({ keyCache: cache, maxSignatureChecks: n });
    // leaf → intermediate → root is two checks: a budget of one cannot verify it, and a failed search remembers nothing.
    assert.match(svidErrorOf(() => verifyX509Svid(first.chain, setA, new Date(), budget(1))).detail, /gave up after 1/);
    assert.equal(cache.signatureCount, 0);
    assert.equal(
      reasonOf(() => verifyX509Svid(first.chain, setA, new Date(), { keyCache: cache })),
      "ok",
    );
    assert.equal(cache.signatureCount, 1, "the intermediate's signature, not the leaf's");
    // A new leaf of the same intermediate: its own signature checked, the intermediate's answered from the cache.
    assert.equal(
      reasonOf(() => verifyX509Svid(second.chain, setA, new Date(), budget(2))),
      "ok",
    );
    assert.equal(cache.signatureHits, 1);
    // The budget counts a remembered signature as a check: warm gives up exactly where cold does.
    assert.match(
      svidErrorOf(() => verifyX509Svid(second.chain, setA, new Date(), budget(1))).detail,
      /gave up after 1/,
    );
    assert.match(
      svidErrorOf(() => verifyX509Svid(second.chain, setA, new Date(), { keyCache: false, maxSignatureChecks: 1 }))
        .detail,
      /gave up after 1/,
    );
    // An intermediate claiming the same root but signed by another key: its own bytes, checked and refused.
    const forged = await rootA.createIntermediate({
      signingKey: (await DevCertificateAuthority.createRoot(TD_A)).keys.privateKey,
    });
    const forgedChain = (await forged.issueX509Svid(ID)).chain;
    assert.equal(
      reasonOf(() => verifyX509Svid(forgedChain, setA, new Date(), { keyCache: cache })),
      "untrusted",
    );
  });

  test("a remembered CA signature skips no other check: expiry, the bundle in force, the trust domain", async () => {
    const cache = new PublicKeyCache(8);
    const int = await rootA.createIntermediate({ notAfter: future(2 * HOUR_MS) });
    const svid = await int.issueX509Svid(ID, { notAfter: future(DAY_MS) });
    assert.equal(
      reasonOf(() => verifyX509Svid(svid.chain, setA, new Date(), { keyCache: cache })),
      "ok",
    );
    assert.equal(cache.signatureCount, 1);
    const warm = { keyCache: cache };
    const hits = cache.signatureHits;
    // Past the intermediate's notAfter: expired, warm as cold.
    const later = future(3 * HOUR_MS);
    assert.equal(svidErrorOf(() => verifyX509Svid(svid.chain, setA, later, warm)).reason, "expired");
    assert.equal(svidErrorOf(() => verifyX509Svid(svid.chain, setA, later, { keyCache: false })).reason, "expired");
    // A bundle without the root (rotated away): refused, though the intermediate's signature is remembered.
    const otherRoot = await DevCertificateAuthority.createRoot(TD_A);
    const rotated = new BundleSet([otherRoot.x509Bundle()]);
    assert.equal(svidErrorOf(() => verifyX509Svid(svid.chain, rotated, new Date(), warm)).reason, "untrusted");
    // The same intermediate under a leaf of another trust domain: only that domain's roots count.
    const crossLeaf = await int.issueX509Svid(`spiffe://${TD_B}/web`);
    assert.equal(svidErrorOf(() => verifyX509Svid(crossLeaf.chain, setAB, new Date(), warm)).reason, "untrusted");
    assert.ok(cache.signatureHits > hits, "the remembered signature was consulted on the way");
  });

  test("evicts the least recently used entry", async () => {
    const cache = new PublicKeyCache(2);
    const a = await rootA.createIntermediate();
    const b = await rootA.createIntermediate();
    verifyX509Svid((await a.issueX509Svid(ID)).chain, setA, new Date(), { keyCache: cache });
    verifyX509Svid((await b.issueX509Svid(ID)).chain, setA, new Date(), { keyCache: cache });
    assert.equal(cache.size, 2);
    assert.ok(cache.has(b.certificate.spkiKey));
    assert.ok(cache.has(rootA.certificate.spkiKey));
    assert.ok(!cache.has(a.certificate.spkiKey));
  });
});

// The failure cache (engine) reuses a refusal for exactly its stableFor window, so the window must end and begin
// on the millisecond a certificate of the chain changes state: notBefore and notAfter are valid instants.
describe("stableFor at the validity boundaries", () => {
  test("refusals around a leaf's and its intermediate's notBefore and notAfter: the verdict and the exact window", async () => {
    // leaf valid over [l0, l1]; its intermediate over [i0, i1], inside it: l0 < i0 < i1 < l1 (whole seconds).
    const s = Math.floor(Date.now() / 1000) * 1000;
    const [l0, i0, i1, l1] = [s + HOUR_MS, s + 2 * HOUR_MS, s + 3 * HOUR_MS, s + 4 * HOUR_MS];
    const int = await rootA.createIntermediate({ notBefore: new Date(i0), notAfter: new Date(i1) });
    const svid = await int.issueX509Svid(ID, { notBefore: new Date(l0), notAfter: new Date(l1) });
    const leafIs = `leaf (subject "${svid.certificate.subject}")`;
    const intIs = `intermediate (subject "${int.certificate.subject}")`;
    const iso = (ms: number) => new Date(ms).toISOString();
    const [rootFrom, rootTo] = [rootA.certificate.notBeforeMs, rootA.certificate.notAfterMs];
    assert.ok(rootFrom < l0 && l1 < rootTo, "the root is valid throughout");

    const leafEarly = { detail: `${leafIs} is not yet valid (notBefore ${iso(l0)})`, fromMs: rootFrom, toMs: l0 - 1 };
    const intEarly = { detail: `${intIs} is not yet valid (notBefore ${iso(i0)})`, fromMs: l0, toMs: i0 - 1 };
    const intLate = { detail: `${intIs} expired at ${iso(i1)}`, fromMs: i1 + 1, toMs: l1 };
    const leafLate = { detail: `${leafIs} expired at ${iso(l1)}`, fromMs: l1 + 1, toMs: rootTo };
    const cases: Array<[number, typeof leafEarly | "ok"]> = [
      [l0 - 1, leafEarly],
      [l0, intEarly], // the leaf is valid at its notBefore: the window starts there
      [l0 + 1, intEarly],
      [i0 - 1, intEarly],
      [i0, "ok"],
      [i1, "ok"],
      [i1 + 1, intLate],
      [l1 - 1, intLate],
      [l1, intLate], // the leaf is still valid at its notAfter: the window ends there
      [l1 + 1, leafLate],
    ];
    for (const [at, want] of cases) {
      const label = `at ${iso(at)}`;
      if (want === "ok") {
        assert.equal(verifyX509Svid(svid.chain, setA, new Date(at)).verifiedChain.length, 3, label);
        continue;
      }
      const err = svidErrorOf(() => verifyX509Svid(svid.chain, setA, new Date(at)));
      assert.deepEqual(
        { reason: err.reason, detail: err.detail, ...err.stableFor },
        { reason: "expired", ...want },
        label,
      );
    }
  });
});
