// Certificate chains for the X.509 differential test (suites/x509.ts): a scenario is a correct SPIRE-like
// chain (root → 0–2 intermediates → X509-SVID, real EC P-256/P-384, RSA-2048 PKCS#1 and PSS, Ed25519 keys)
// plus up to three mutations, each breaking or bending one thing a verifier must judge. Certificates are
// built by the dev CA (@peculiar/x509 over WebCrypto), never by the parser under test; odd extensions are
// written here as DER by hand. Keys come from a pool made once per suite: RSA key generation is slow.
import fc from "fast-check";
import {
  DevCertificateAuthority,
  generateKeyPair,
  rawExtension,
  type CertificateOptions,
  type DevExtension,
  type KeyUsageName,
} from "../../src/dev-ca/index.js";
import type { webcrypto } from "node:crypto";

type KeyPair = webcrypto.CryptoKeyPair;

export const HOME_TD = "example.org";
export const OTHER_TD = "other.org";

export type KeyChoice = "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-pss" | "ed25519";
export const KEY_CHOICES: readonly KeyChoice[] = ["ec-p256", "ec-p384", "rsa-2048", "rsa-pss", "ed25519"];

export type CaRole = "root" | "inter1" | "inter2";
export type Role = CaRole | "leaf";
const ROLES: readonly Role[] = ["root", "inter1", "inter2", "leaf"];

export type Window = "expired-long" | "expired-1s" | "at-notAfter" | "at-notBefore" | "not-yet-1s" | "not-yet-long";
export type BasicConstraints = "omit" | "ca-true" | "ca-false" | "pathlen-0" | "pathlen-1";
export type ExtraExtension = "unknown" | "unknown-critical" | "duplicate-san" | "duplicate-ku" | "policies-critical";
/** A name constraint subtree: GeneralName tag (0x86 URI, 0x82 DNS, 0x81 email, 0x87 IP) and value. */
export type Subtree = [number, string];
export type Presented = "drop-intermediate" | "with-root" | "reversed" | "with-unrelated" | "duplicate-intermediate";
export type BundleShape = "rotation-root" | "intermediate-anchor";

export type Mutation =
  | { t: "validity"; role: Role; w: Window }
  | { t: "bc"; role: Role; v: BasicConstraints }
  | { t: "ku"; role: Role; v: KeyUsageName[] | "omit" }
  | { t: "uris"; v: string[] }
  | { t: "dns"; v: string[] }
  | { t: "ext"; role: Role; v: ExtraExtension }
  | { t: "forged"; role: Role }
  | { t: "issuer-name"; role: Exclude<Role, "root"> }
  | { t: "nc"; role: CaRole; permitted: Subtree[]; excluded: Subtree[] }
  | { t: "cross-td"; sameRootName: boolean }
  | { t: "presented"; v: Presented }
  | { t: "bundle"; v: BundleShape };

export interface Scenario {
  /** Intermediates between the root and the leaf. */
  depth: 0 | 1 | 2;
  keys: Record<Role, KeyChoice>;
  mutations: Mutation[];
}

/** One case, ready for both verifiers. */
export interface BuiltCase {
  /** Verification time: whole seconds, so `openssl verify -attime` means the same instant. */
  now: Date;
  /** As the client presents it: leaf first. */
  presented: Uint8Array[];
  /** DER roots per trust domain, as the Workload API would deliver them. */
  bundles: Map<string, Uint8Array[]>;
}

// ------------------------------------------------------------------------------------------------------
// Arbitraries

const URI = 0x86;
const DNS = 0x82;
const EMAIL = 0x81;
const IP = 0x87;

const role = fc.constantFrom<Role>(...ROLES);
const caRole = fc.constantFrom<CaRole>("root", "inter1", "inter2");
const keyUsage = fc.subarray<KeyUsageName>([
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
]);
/** Every form of URI SAN a verifier must judge: good IDs, near misses, and not IDs at all. */
export const URI_FORMS: readonly string[][] = [
  ["spiffe://example.org/workload"],
  ["spiffe://example.org/ns/prod/sa/web"],
  [],
  ["spiffe://example.org/a", "spiffe://example.org/b"],
  ["spiffe://example.org"],
  ["spiffe://example.org/"],
  ["SPIFFE://example.org/w"],
  ["spiffe://EXAMPLE.org/w"],
  ["spiffe://example.org:8443/w"],
  ["spiffe://user@example.org/w"],
  ["spiffe://example.org/w?x=1"],
  ["spiffe://example.org/w#f"],
  ["spiffe://example.org/%41"],
  ["spiffe://example.org/a/../b"],
  ["spiffe://example.org//w"],
  ["https://example.org/w"],
  ["spiffe://other.org/w"],
];
const subtree = fc.constantFrom<Subtree>(
  [URI, "example.org"],
  [URI, ".example.org"],
  [URI, "other.org"],
  [DNS, "example.org"],
  [DNS, "evil.com"],
  [EMAIL, "a.example"],
  [IP, "10.0.0.0/8"],
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    t: fc.constant("validity" as const),
    role,
    w: fc.constantFrom<Window>(
      "expired-long",
      "expired-1s",
      "at-notAfter",
      "at-notBefore",
      "not-yet-1s",
      "not-yet-long",
    ),
  }),
  fc.record({
    t: fc.constant("bc" as const),
    role,
    v: fc.constantFrom<BasicConstraints>("omit", "ca-true", "ca-false", "pathlen-0", "pathlen-1"),
  }),
  fc.record({ t: fc.constant("ku" as const), role, v: fc.oneof(keyUsage, fc.constant("omit" as const)) }),
  fc.record({ t: fc.constant("uris" as const), v: fc.constantFrom(...URI_FORMS) }),
  fc.record({ t: fc.constant("dns" as const), v: fc.constantFrom<string[]>(["web.example.org"], ["evil.com"], []) }),
  fc.record({
    t: fc.constant("ext" as const),
    role,
    v: fc.constantFrom<ExtraExtension>(
      "unknown",
      "unknown-critical",
      "duplicate-san",
      "duplicate-ku",
      "policies-critical",
    ),
  }),
  fc.record({ t: fc.constant("forged" as const), role }),
  fc.record({ t: fc.constant("issuer-name" as const), role: fc.constantFrom("inter1" as const, "inter2", "leaf") }),
  fc.record({
    t: fc.constant("nc" as const),
    role: caRole,
    permitted: fc.array(subtree, { maxLength: 2 }),
    excluded: fc.array(subtree, { maxLength: 1 }),
  }),
  fc.record({ t: fc.constant("cross-td" as const), sameRootName: fc.boolean() }),
  fc.record({
    t: fc.constant("presented" as const),
    v: fc.constantFrom<Presented>(
      "drop-intermediate",
      "with-root",
      "reversed",
      "with-unrelated",
      "duplicate-intermediate",
    ),
  }),
  fc.record({
    t: fc.constant("bundle" as const),
    v: fc.constantFrom<BundleShape>("rotation-root", "intermediate-anchor"),
  }),
);

const keyChoice = fc.constantFrom<KeyChoice>(...KEY_CHOICES);

/** A third of the cases unmutated (they must verify on both sides), the rest with one to three mutations. */
export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  depth: fc.constantFrom<0 | 1 | 2>(0, 1, 1, 2),
  keys: fc.record({ root: keyChoice, inter1: keyChoice, inter2: keyChoice, leaf: keyChoice }),
  mutations: fc.oneof(
    { weight: 1, arbitrary: fc.constant<Mutation[]>([]) },
    { weight: 2, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) },
  ),
});

// ------------------------------------------------------------------------------------------------------
// Building

/**
 * Pre-generated key pairs: four per choice, one per role, so no two certificates of a chain share a key; and
 * keys for the CAs around the chain (the home root when the chain belongs to another trust domain, the other
 * trust domain's root, the next root of a rotation), which never sign anything in the chain itself.
 */
export interface KeyPool {
  byRole: Record<KeyChoice, KeyPair[]>;
  homeRoot: KeyPair;
  otherRoot: KeyPair;
  rotationRoot: KeyPair;
}

let shared: Promise<KeyPool> | undefined;

/** One pool per process: the suite and the fixed-chain tests share it. */
export function keyPool(): Promise<KeyPool> {
  return (shared ??= makeKeyPool());
}

async function makeKeyPool(): Promise<KeyPool> {
  const four = (type: Parameters<typeof generateKeyPair>[0], rsaPss = false) =>
    Promise.all([0, 1, 2, 3].map(() => generateKeyPair(type, { rsaPss })));
  return {
    byRole: {
      "ec-p256": await four("ec-p256"),
      "ec-p384": await four("ec-p384"),
      "rsa-2048": await four("rsa-2048"),
      "rsa-pss": await four("rsa-2048", true),
      ed25519: await four("ed25519"),
    },
    homeRoot: await generateKeyPair("ec-p256"),
    otherRoot: await generateKeyPair("ed25519"),
    rotationRoot: await generateKeyPair("ec-p384"),
  };
}

function tlv(tag: number, body: Uint8Array): Uint8Array {
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Uint8Array.from([tag, ...len, ...body]);
}
const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));

function generalName([tag, value]: Subtree): Uint8Array {
  if (tag === IP) {
    const [addr, bits] = value.split("/") as [string, string];
    const mask = Array.from(
      { length: 4 },
      (_, i) => (0xff << (8 - Math.min(8, Math.max(0, Number(bits) - 8 * i)))) & 0xff,
    );
    return tlv(tag, Uint8Array.from([...addr.split(".").map(Number), ...mask]));
  }
  return tlv(tag, Buffer.from(value, "ascii"));
}

/** RFC 5280 nameConstraints, critical as the RFC asks. */
export function nameConstraintsExtension(permitted: Subtree[], excluded: Subtree[]): DevExtension {
  const subtrees = (tag: number, list: Subtree[]) => tlv(tag, cat(...list.map((s) => tlv(0x30, generalName(s)))));
  const parts: Uint8Array[] = [];
  if (permitted.length) parts.push(subtrees(0xa0, permitted));
  if (excluded.length) parts.push(subtrees(0xa1, excluded));
  return rawExtension("2.5.29.30", true, tlv(0x30, cat(...parts)));
}

function extraExtension(v: ExtraExtension): DevExtension {
  switch (v) {
    case "unknown":
    case "unknown-critical":
      return rawExtension("1.3.6.1.4.1.99999.1", v === "unknown-critical", Uint8Array.from([0x05, 0x00]));
    case "duplicate-san":
      return rawExtension("2.5.29.17", false, tlv(0x30, tlv(URI, Buffer.from("spiffe://example.org/second", "ascii"))));
    case "duplicate-ku":
      return rawExtension("2.5.29.15", true, Uint8Array.from([0x03, 0x02, 0x07, 0x80]));
    case "policies-critical":
      // certificatePolicies { anyPolicy }
      return rawExtension(
        "2.5.29.32",
        true,
        tlv(0x30, tlv(0x30, tlv(0x06, Uint8Array.from([0x55, 0x1d, 0x20, 0x00])))),
      );
  }
}

const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

function window(now: number, w: Window | undefined): { notBefore: Date; notAfter: Date } {
  const at = (a: number, b: number) => ({ notBefore: new Date(now + a), notAfter: new Date(now + b) });
  switch (w) {
    case undefined:
      return at(-HOUR, HOUR);
    case "expired-long":
      return at(-2 * DAY, -DAY);
    case "expired-1s":
      return at(-HOUR, -SECOND);
    case "at-notAfter":
      return at(-HOUR, 0);
    case "at-notBefore":
      return at(0, HOUR);
    case "not-yet-1s":
      return at(SECOND, HOUR);
    case "not-yet-long":
      return at(DAY, 2 * DAY);
  }
}

/** The role that signs `r`'s certificate (a root signs itself). */
function parentOf(s: Scenario, r: Role): Role {
  if (r === "root") return "root";
  if (r === "inter1") return "root";
  if (r === "inter2") return "inter1";
  return s.depth === 0 ? "root" : s.depth === 1 ? "inter1" : "inter2";
}

function keyOf(s: Scenario, r: Role, pool: KeyPool): KeyPair {
  return pool.byRole[s.keys[r]][ROLES.indexOf(r)] as KeyPair;
}

/** The dev CA options of one role under the scenario's mutations. */
function optionsFor(s: Scenario, r: Role, pool: KeyPool, now: number): CertificateOptions {
  const keys = keyOf(s, r, pool);
  const mine = s.mutations.filter((m) => "role" in m && m.role === r);
  const validity = mine.find((m) => m.t === "validity");
  const opts: CertificateOptions = { keys, ...window(now, validity?.w) };
  const extensions: DevExtension[] = [];
  for (const m of mine) {
    switch (m.t) {
      case "bc":
        if (m.v === "omit") opts.basicConstraints = false;
        else if (m.v === "ca-true") opts.isCA = true;
        else if (m.v === "ca-false") opts.isCA = false;
        else opts.pathLength = m.v === "pathlen-0" ? 0 : 1;
        break;
      case "ku":
        opts.keyUsage = m.v === "omit" ? false : m.v;
        break;
      case "ext":
        extensions.push(extraExtension(m.v));
        break;
      case "forged": {
        // Signed by another key of the issuer's type (never the issuer's own), still naming the real issuer.
        const p = parentOf(s, r);
        opts.signingKey = (pool.byRole[s.keys[p]][(ROLES.indexOf(p) + 1) % 4] as KeyPair).privateKey;
        break;
      }
      case "issuer-name":
        opts.issuerName = "C=US,O=Elsewhere,CN=nobody";
        break;
      case "nc":
        extensions.push(nameConstraintsExtension(m.permitted, m.excluded));
        break;
      default:
        break;
    }
  }
  if (r === "leaf") {
    for (const m of s.mutations) {
      if (m.t === "uris") opts.uris = m.v;
      if (m.t === "dns") opts.dnsNames = m.v;
    }
  }
  if (extensions.length) opts.extensions = extensions;
  return opts;
}

const has = <T extends Mutation["t"]>(s: Scenario, t: T): Extract<Mutation, { t: T }> | undefined =>
  s.mutations.find((m): m is Extract<Mutation, { t: T }> => m.t === t);

/** Builds the certificates of a scenario. `now` is rounded down to whole seconds. */
export async function buildCase(s: Scenario, pool: KeyPool, nowMs = Date.now()): Promise<BuiltCase> {
  const now = Math.floor(nowMs / 1000) * 1000;
  const cross = has(s, "cross-td");
  const issuerTd = cross ? OTHER_TD : HOME_TD;
  const rootName = cross && !cross.sameRootName ? `${OTHER_TD} root` : `${HOME_TD} root`;

  const root = await DevCertificateAuthority.createRoot(issuerTd, {
    ...optionsFor(s, "root", pool, now),
    name: rootName,
  });
  const cas = [root];
  if (s.depth >= 1) cas.push(await root.createIntermediate(optionsFor(s, "inter1", pool, now)));
  if (s.depth >= 2)
    cas.push(await (cas[1] as DevCertificateAuthority).createIntermediate(optionsFor(s, "inter2", pool, now)));
  const issuer = cas[cas.length - 1] as DevCertificateAuthority;
  const leafOpts = optionsFor(s, "leaf", pool, now);
  leafOpts.uris ??= ["spiffe://example.org/workload"];
  const leaf = await issuer.issueX509Svid("spiffe://example.org/workload", leafOpts);

  // The home trust domain always has its own root; with cross-td the chain above belongs to other.org.
  const homeRoot = cross
    ? await DevCertificateAuthority.createRoot(HOME_TD, { keys: pool.homeRoot, ...window(now, undefined) })
    : root;
  const bundles = new Map<string, Uint8Array[]>([[HOME_TD, [homeRoot.der]]]);
  if (cross) bundles.set(OTHER_TD, [root.der]);
  else {
    const otherRoot = await DevCertificateAuthority.createRoot(OTHER_TD, {
      keys: pool.otherRoot,
      ...window(now, undefined),
    });
    bundles.set(OTHER_TD, [otherRoot.der]);
  }

  const shape = has(s, "bundle");
  const home = bundles.get(HOME_TD) as Uint8Array[];
  if (shape?.v === "rotation-root") {
    // The next root of a rotation: same subject as the current one, another key; listed first.
    const next = await DevCertificateAuthority.createRoot(HOME_TD, {
      keys: pool.rotationRoot,
      ...window(now, undefined),
      name: `${HOME_TD} root`,
    });
    home.unshift(next.der);
  }
  if (shape?.v === "intermediate-anchor" && s.depth >= 1 && !cross) {
    // A bundle may hold a CA that is not self-signed (SPIRE with an UpstreamAuthority publishes what it is given).
    bundles.set(HOME_TD, [(cas[1] as DevCertificateAuthority).der]);
  }

  let presented = [...leaf.chain];
  const how = has(s, "presented")?.v;
  if (how === "drop-intermediate" && presented.length > 1) presented.splice(1, 1);
  if (how === "with-root") presented.push(root.der);
  if (how === "reversed") presented = [presented[0] as Uint8Array, ...presented.slice(1).reverse()];
  if (how === "with-unrelated") presented.push(bundles.get(OTHER_TD)?.[0] as Uint8Array);
  if (how === "duplicate-intermediate" && presented.length > 1) presented.push(presented[1] as Uint8Array);
  return { now: new Date(now), presented, bundles };
}
