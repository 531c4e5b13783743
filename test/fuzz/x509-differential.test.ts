// X.509 differential against OpenSSL (issue 15): fixed chains that pin down every documented difference and a
// sample of agreements, then the generated property (suites/x509.ts) with its short run. `npm run fuzz -- x509/`
// runs the property long.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { registerSuite } from "./register.js";
import { x509Suite } from "./suites/x509.js";
import { parseCertificate } from "../../src/spiffe/index.js";
import { buildCase, keyPool, type KeyChoice, type Mutation, type Scenario } from "./x509-chains.js";
import { compare, judge, opensslVerdict, ourVerdict, OPENSSL_STRICTER, STRICTER_RULES } from "./x509-oracles.js";

const EC: Scenario["keys"] = { root: "ec-p256", inter1: "ec-p384", inter2: "ec-p256", leaf: "ec-p256" };
const all = (k: KeyChoice): Scenario["keys"] => ({ root: k, inter1: k, inter2: k, leaf: k });
const s = (mutations: Mutation[], depth: 0 | 1 | 2 = 1, keys = EC): Scenario => ({ depth, keys, mutations });

type Expect = "accept" | { reject: string } | { rule: string };

/** [what, scenario, expected]: accept / reject (both sides, with our reason) / a listed difference. */
const CATALOGUE: Array<[string, Scenario, Expect]> = [
  ...(["ec-p256", "ec-p384", "rsa-2048", "rsa-pss", "ed25519"] as const).map((k): [string, Scenario, Expect] => [
    `a correct ${k} chain, two intermediates`,
    s([], 2, all(k)),
    "accept",
  ]),
  [
    "mixed key types, no intermediate",
    s([], 0, { root: "rsa-2048", inter1: "ec-p256", inter2: "ec-p256", leaf: "ed25519" }),
    "accept",
  ],
  ["the root presented too", s([{ t: "presented", v: "with-root" }], 2), "accept"],
  ["intermediates in reverse order", s([{ t: "presented", v: "reversed" }], 2), "accept"],
  ["an unrelated certificate appended", s([{ t: "presented", v: "with-unrelated" }]), "accept"],
  ["the next root of a rotation (same subject) listed first", s([{ t: "bundle", v: "rotation-root" }]), "accept"],
  ["a bundle holding an intermediate", s([{ t: "bundle", v: "intermediate-anchor" }], 2), "accept"],
  ["leaf valid from this very second", s([{ t: "validity", role: "leaf", w: "at-notBefore" }]), "accept"],
  [
    "URI constraint .example.org on the intermediate",
    s([{ t: "nc", role: "inter1", permitted: [[0x86, ".example.org"]], excluded: [] }]),
    { reject: "untrusted" },
  ],
  [
    "URI constraint example.org on the root",
    s([{ t: "nc", role: "root", permitted: [[0x86, "example.org"]], excluded: [] }]),
    "accept",
  ],
  [
    "an unknown non-critical extension everywhere",
    s([
      { t: "ext", role: "leaf", v: "unknown" },
      { t: "ext", role: "inter1", v: "unknown" },
    ]),
    "accept",
  ],
  ["critical certificatePolicies", s([{ t: "ext", role: "inter1", v: "policies-critical" }]), "accept"],

  ["leaf expired a second ago", s([{ t: "validity", role: "leaf", w: "expired-1s" }]), { reject: "expired" }],
  ["expired intermediate", s([{ t: "validity", role: "inter1", w: "expired-long" }]), { reject: "expired" }],
  ["root not yet valid", s([{ t: "validity", role: "root", w: "not-yet-long" }]), { reject: "expired" }],
  ["leaf signed by the wrong key", s([{ t: "forged", role: "leaf" }]), { reject: "untrusted" }],
  ["intermediate signed by the wrong key", s([{ t: "forged", role: "inter1" }], 2), { reject: "untrusted" }],
  ["leaf naming an issuer nobody has", s([{ t: "issuer-name", role: "leaf" }]), { reject: "untrusted" }],
  ["chain of another trust domain's CA", s([{ t: "cross-td", sameRootName: false }]), { reject: "untrusted" }],
  ["... whose root has our root's name", s([{ t: "cross-td", sameRootName: true }], 0), { reject: "untrusted" }],
  ["intermediate missing", s([{ t: "presented", v: "drop-intermediate" }]), { reject: "untrusted" }],
  [
    "unknown critical extension on the leaf",
    s([{ t: "ext", role: "leaf", v: "unknown-critical" }]),
    { reject: "untrusted" },
  ],
  [
    "unknown critical extension on the intermediate",
    s([{ t: "ext", role: "inter1", v: "unknown-critical" }]),
    { reject: "untrusted" },
  ],
  [
    "two SAN extensions on the leaf",
    s([{ t: "ext", role: "leaf", v: "duplicate-san" }]),
    { reject: "malformed_certificate" },
  ],
  [
    "root pathLen 0 above two intermediates",
    s([{ t: "bc", role: "root", v: "pathlen-0" }], 2),
    { reject: "untrusted" },
  ],
  ["intermediate without basicConstraints", s([{ t: "bc", role: "inter1", v: "omit" }]), { reject: "untrusted" }],
  [
    "intermediate without keyCertSign",
    s([{ t: "ku", role: "inter1", v: ["digitalSignature"] }]),
    { reject: "untrusted" },
  ],
  ["intermediate without keyUsage", s([{ t: "ku", role: "inter1", v: "omit" }]), { reject: "untrusted" }],
  [
    "URI constraint other.org",
    s([{ t: "nc", role: "inter1", permitted: [[0x86, "other.org"]], excluded: [] }]),
    { reject: "untrusted" },
  ],
  [
    "URI exclusion example.org",
    s([{ t: "nc", role: "root", permitted: [], excluded: [[0x86, "example.org"]] }]),
    { reject: "untrusted" },
  ],
  [
    "DNS exclusion evil.com, leaf naming evil.com",
    s([
      { t: "nc", role: "inter1", permitted: [], excluded: [[0x82, "evil.com"]] },
      { t: "dns", v: ["evil.com"] },
    ]),
    { reject: "untrusted" },
  ],

  ["leaf ID without a path", s([{ t: "uris", v: ["spiffe://example.org"] }]), { rule: "svid-uri-san" }],
  [
    "leaf with two URI SANs",
    s([{ t: "uris", v: ["spiffe://example.org/a", "spiffe://example.org/b"] }]),
    { rule: "svid-uri-san" },
  ],
  ["leaf ID with a port", s([{ t: "uris", v: ["spiffe://example.org:8443/w"] }]), { rule: "svid-uri-san" }],
  ["leaf that is a CA", s([{ t: "bc", role: "leaf", v: "ca-true" }]), { rule: "svid-leaf-not-ca" }],
  [
    "leaf without digitalSignature",
    s([{ t: "ku", role: "leaf", v: ["keyEncipherment"] }]),
    { rule: "svid-leaf-key-usage" },
  ],
  [
    "leaf with cRLSign",
    s([{ t: "ku", role: "leaf", v: ["digitalSignature", "cRLSign"] }]),
    { rule: "svid-leaf-key-usage" },
  ],
  [
    "email constraint on the intermediate",
    s([{ t: "nc", role: "inter1", permitted: [[0x81, "a.example"]], excluded: [] }]),
    { rule: "name-constraint-kinds" },
  ],
  [
    "IP constraint on the root",
    s([{ t: "nc", role: "root", permitted: [[0x87, "10.0.0.0/8"]], excluded: [] }]),
    { rule: "name-constraint-kinds" },
  ],
  [
    "leaf expiring this very second",
    s([{ t: "validity", role: "leaf", w: "at-notAfter" }]),
    { rule: "openssl-notafter-exclusive" },
  ],
  [
    "leaf with cA=false and a pathLenConstraint",
    s([{ t: "bc", role: "leaf", v: "pathlen-0" }]),
    { rule: "openssl-pathlen-on-leaf" },
  ],
];

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
}

describe("x509 differential: fixed chains", () => {
  test("each chain gets the expected verdict from us and from openssl verify", async () => {
    const pool = await keyPool();
    const seen = new Set<string>();
    // Four at a time: most of the time is openssl starting, which overlaps well even on two cores.
    const results = await mapLimit(CATALOGUE, 4, async ([, scenario]) => judge(await buildCase(scenario, pool)));
    CATALOGUE.forEach(([what, , want], i) => {
      const { ours, openssl, result } = results[i] as Awaited<ReturnType<typeof judge>>;
      const got = `ours ${ours.ok ? "accept" : `${ours.reason}: ${ours.detail}`}; openssl ${openssl.ok ? "OK" : `error ${openssl.code}: ${openssl.message}`}`;
      if (want === "accept") assert.deepEqual(result, { agree: true, ours: "accept" }, `${what}: ${got}`);
      else if ("reject" in want) {
        assert.deepEqual(result, { agree: true, ours: "reject" }, `${what}: ${got}`);
        assert.equal(ours.ok ? "accept" : ours.reason, want.reject, `${what}: ${got}`);
      } else {
        assert.deepEqual(result, { agree: false, rule: want.rule }, `${what}: ${got}`);
        seen.add(want.rule);
      }
    });
    // Every listed difference is real: shown above on a chain where OpenSSL and we part.
    for (const id of [...STRICTER_RULES.map((r) => r.id), ...OPENSSL_STRICTER.map((r) => r.id)])
      assert.ok(seen.has(id), `rule ${id} is listed but no fixed chain shows it`);
  });

  test("the comparison fails when we accept a chain OpenSSL refuses, or refuse one for an unlisted reason", async () => {
    const pool = await keyPool();
    const good = await buildCase(s([]), pool);
    const forged = await buildCase(s([{ t: "forged", role: "leaf" }]), pool);
    const accepted = ourVerdict(good);
    assert.ok(accepted.ok);
    // A verifier that accepted the forged chain (the good one's verdict stands in for it): OpenSSL refuses.
    const openssl = await opensslVerdict(forged, accepted.anchors);
    assert.equal(openssl.ok, false);
    const looser = compare(forged, accepted, openssl);
    assert.ok(!looser.agree && looser.rule === undefined, JSON.stringify(looser));
    assert.match(looser.problem, /we accepted spiffe:\/\/example\.org\/workload; openssl: error 7 /);
    // A refusal of a good chain under no SPIFFE rule.
    const made = compare(good, { ok: false, reason: "untrusted", detail: "made up", anchors: [] }, { ok: true });
    assert.ok(!made.agree && made.rule === undefined && /not a listed SPIFFE rule/.test(made.problem));
    // node:crypto catches an accepted path whose links do not hold (the forged leaf on the good path).
    const swapped = {
      ...accepted,
      svid: {
        ...accepted.svid,
        verifiedChain: [parseCertificate(forged.presented[0] as Uint8Array), ...accepted.svid.verifiedChain.slice(1)],
      },
    };
    const node = compare(forged, swapped, { ok: true });
    assert.ok(
      !node.agree &&
        node.rule === undefined &&
        /node:crypto: certificate 0 was not issued by certificate 1/.test(node.problem),
    );
  });

  test("docs/x509.md names every listed difference", () => {
    const doc = readFileSync(new URL("../../docs/x509.md", import.meta.url), "utf8");
    for (const id of [...STRICTER_RULES.map((r) => r.id), ...OPENSSL_STRICTER.map((r) => r.id)])
      assert.ok(doc.includes(`\`${id}\``), `docs/x509.md does not name ${id}`);
  });
});

await registerSuite(x509Suite);
