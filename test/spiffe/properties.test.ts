// Property tests (fast-check, fixed seeds, bounded runs): arbitrary input into every parser yields a
// value or OUR typed error, never a crash. The ID parser is also checked against an independent oracle.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import fc from "fast-check";
import { DevCertificateAuthority, DevJwtAuthority, spiffeBundleJson } from "../../src/dev-ca/index.js";
import {
  BundleError,
  BundleSet,
  SpiffeIdError,
  SvidError,
  parseCertificate,
  parseJwtBundle,
  parsePemCertificates,
  parseSpiffeBundle,
  parseSpiffeId,
  parseTrustDomain,
  parseX509BundleDer,
  parseX509BundlePem,
  verifyJwtSvid,
  verifyX509Svid,
} from "../../src/spiffe/index.js";

const SEED = 20240611;
const runs = (numRuns: number) => ({ seed: SEED, numRuns });

/** Runs fn; returns true if it returned, false if it threw one of `types`; rethrows anything else. */
function onlyThrows(types: Array<new (...args: never[]) => Error>, fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (types.some((t) => err instanceof t)) return false;
    throw err;
  }
}

/** The spec, written as differently from the parser as possible: one regular expression plus two checks. */
function oracleAccepts(s: string): boolean {
  const m = /^spiffe:\/\/([a-z0-9._-]+)((?:\/[A-Za-z0-9._-]+)*)$/.exec(s);
  if (!m) return false;
  const [, td, path] = m as unknown as [string, string, string];
  if (td.length > 255 || s.length > 2048) return false;
  return !path
    .split("/")
    .slice(1)
    .some((seg) => seg === "." || seg === "..");
}

/** Strings drawn from characters that matter to the grammar, so that valid IDs actually occur. */
const idish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "spiffe://",
        "SPIFFE://",
        "spiffe:",
        "/",
        "//",
        ".",
        "..",
        "%2F",
        "%41",
        ":",
        "@",
        "?",
        "#",
        " ",
        "\u00e9",
        "\u0000",
      ),
      fc.stringMatching(/^[a-zA-Z0-9._-]{1,12}$/),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(""));
const prefixed = idish.map((s) => `spiffe://${s}`);
/** Mostly-valid IDs with the occasional defect, so that both outcomes are well represented. */
const nearValid = fc
  .tuple(
    fc.oneof(fc.stringMatching(/^[a-z0-9._-]{1,10}$/), fc.stringMatching(/^[a-zA-Z0-9.:@%_-]{0,10}$/)),
    fc.array(
      fc.oneof(
        fc.stringMatching(/^[A-Za-z0-9._-]{1,6}$/),
        fc.constantFrom("", ".", "..", "...", "%41", "a?b", "a#", "é"),
      ),
      {
        maxLength: 5,
      },
    ),
  )
  .map(([td, segs]) => `spiffe://${td}${segs.map((x) => `/${x}`).join("")}`);

describe("SPIFFE ID parser", () => {
  test("agrees with the oracle and throws only SpiffeIdError", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), idish, prefixed, nearValid, nearValid),
        (s) => {
          const accepted = onlyThrows([SpiffeIdError], () => {
            const id = parseSpiffeId(s);
            assert.equal(id.toString(), s, "an accepted ID prints back exactly");
          });
          assert.equal(accepted, oracleAccepts(s), s);
        },
      ),
      runs(3000),
    );
  });

  test("trust domains: both spellings, only SpiffeIdError", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          idish,
          prefixed,
          nearValid,
          nearValid.map((x) => x.replace(/^spiffe:\/\//, "").split("/")[0] ?? ""),
        ),
        (s) => {
          const ok = onlyThrows([SpiffeIdError], () => parseTrustDomain(s));
          const bare = /^[a-z0-9._-]{1,255}$/.test(s);
          const asId = /^spiffe:\/\/[a-z0-9._-]{1,255}$/.test(s);
          assert.equal(ok, bare || asId, s);
        },
      ),
      runs(2000),
    );
  });

  test("isUnder is consistent with string prefixes on segment boundaries", () => {
    const seg = fc.stringMatching(/^[a-c]{1,3}$/);
    const path = fc.array(seg, { maxLength: 4 }).map((s) => (s.length ? `/${s.join("/")}` : ""));
    fc.assert(
      fc.property(path, path, (a, b) => {
        const x = parseSpiffeId(`spiffe://td${a}`);
        const y = parseSpiffeId(`spiffe://td${b}`);
        assert.equal(x.isUnder(y), a === b || `${a}/`.startsWith(`${b}/`) || b === "");
      }),
      runs(1000),
    );
  });
});

describe("bundle parsers never throw anything but BundleError", () => {
  let ca: DevCertificateAuthority;
  let jwt: DevJwtAuthority;
  let bundleJson: string;
  before(async () => {
    ca = await DevCertificateAuthority.createRoot("example.org");
    jwt = await DevJwtAuthority.create("example.org", { keyId: "k" });
    bundleJson = spiffeBundleJson("example.org", { x509: [ca], jwt: [jwt], sequenceNumber: 1 });
  });

  test("random bytes into the DER, PEM and JSON parsers", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        onlyThrows([BundleError], () => parseX509BundleDer("example.org", bytes));
        onlyThrows([BundleError], () => parseX509BundlePem("example.org", Buffer.from(bytes).toString("latin1")));
        onlyThrows([BundleError], () => parseJwtBundle("example.org", bytes));
        onlyThrows([BundleError], () => parseSpiffeBundle("example.org", bytes));
        onlyThrows([SvidError], () => parseCertificate(bytes));
      }),
      runs(1500),
    );
  });

  test("DER-shaped random input (SEQUENCE headers with random content)", () => {
    const derish = fc
      .tuple(fc.constantFrom(0x30, 0x31, 0x02, 0x04, 0xa0, 0xa3), fc.uint8Array({ maxLength: 300 }))
      .map(
        ([tag, body]) =>
          new Uint8Array([
            tag,
            ...(body.length < 128 ? [body.length] : [0x82, body.length >> 8, body.length & 0xff]),
            ...body,
          ]),
      );
    fc.assert(
      fc.property(fc.array(derish, { maxLength: 3 }), (parts) => {
        onlyThrows([BundleError], () => parseX509BundleDer("example.org", Buffer.concat(parts)));
      }),
      runs(1500),
    );
  });

  test("random JSON values", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v) ?? "null";
        onlyThrows([BundleError], () => parseJwtBundle("example.org", text));
        onlyThrows([BundleError], () => parseSpiffeBundle("example.org", text));
      }),
      runs(1500),
    );
  });

  test("JWKS-shaped JSON with random members", () => {
    const member = fc.oneof(
      fc.jsonValue(),
      fc.string(),
      fc.constantFrom("EC", "RSA", "OKP", "P-256", "x509-svid", "jwt-svid", "AQAB", "MAMCAQE="),
    );
    const key = fc.dictionary(
      fc.constantFrom("kty", "use", "kid", "crv", "x", "y", "n", "e", "x5c", "alg", "d"),
      member,
      { maxKeys: 8 },
    );
    fc.assert(
      fc.property(fc.array(key, { maxLength: 4 }), fc.option(fc.jsonValue()), (keys, seq) => {
        const text = JSON.stringify({ keys, spiffe_sequence: seq ?? undefined });
        onlyThrows([BundleError], () => parseJwtBundle("example.org", text));
        onlyThrows([BundleError], () => parseSpiffeBundle("example.org", text));
      }),
      runs(1500),
    );
  });

  test("mutations of a valid SPIFFE bundle document", () => {
    fc.assert(
      fc.property(fc.nat(bundleJson.length - 1), fc.integer({ min: 32, max: 126 }), (pos, ch) => {
        const mutated = bundleJson.slice(0, pos) + String.fromCharCode(ch) + bundleJson.slice(pos + 1);
        onlyThrows([BundleError], () => parseSpiffeBundle("example.org", mutated));
      }),
      runs(800),
    );
  });

  test("random trust domain arguments", () => {
    fc.assert(
      fc.property(fc.string(), (td) => {
        onlyThrows([BundleError], () => parseX509BundlePem(td, ""));
        onlyThrows([BundleError], () => parseJwtBundle(td, '{"keys":[]}'));
      }),
      runs(500),
    );
  });
});

describe("SVID verification never throws anything but SvidError", () => {
  let ca: DevCertificateAuthority;
  let leaf: Uint8Array;
  let set: BundleSet;
  let token: string;
  before(async () => {
    ca = await DevCertificateAuthority.createRoot("example.org");
    const jwt = await DevJwtAuthority.create("example.org", { keyId: "k" });
    leaf = (await ca.issueX509Svid("/w")).der;
    set = new BundleSet([ca.x509Bundle(), jwt.jwtBundle()]);
    token = await jwt.issue({ subject: "/w", audience: "a" });
  });

  test("byte-mutated certificates", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(leaf.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (edits) => {
          const bad = new Uint8Array(leaf);
          for (const [pos, v] of edits) bad[pos] = v;
          onlyThrows([SvidError], () => verifyX509Svid([bad], set, new Date()));
          onlyThrows([SvidError], () => verifyX509Svid([leaf, bad], set, new Date()));
        },
      ),
      runs(1500),
    );
  });

  test("random PEM-ish text", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        onlyThrows([SvidError], () =>
          parsePemCertificates(`${a}-----BEGIN CERTIFICATE-----${b}-----END CERTIFICATE-----`),
        );
      }),
      runs(800),
    );
  });

  test("random and mutated tokens", async () => {
    const b64url = fc.stringMatching(/^[A-Za-z0-9_-]{0,40}$/);
    const tokens = fc.oneof(
      fc.string(),
      fc.tuple(b64url, b64url, b64url).map((p) => p.join(".")),
      fc
        .tuple(fc.nat(token.length - 1), fc.constantFrom("A", "_", "-", ".", "=", "z"))
        .map(([i, c]) => token.slice(0, i) + c + token.slice(i + 1)),
      fc
        .tuple(fc.jsonValue(), fc.jsonValue())
        .map(
          ([h, p]) =>
            `${Buffer.from(JSON.stringify(h) ?? "").toString("base64url")}.${Buffer.from(JSON.stringify(p) ?? "").toString("base64url")}.AAAA`,
        ),
    );
    await fc.assert(
      fc.asyncProperty(tokens, async (t) => {
        try {
          await verifyJwtSvid(t, set, { audiences: ["a"], now: new Date() });
        } catch (err) {
          if (!(err instanceof SvidError)) throw err;
        }
      }),
      runs(800),
    );
  });
});
