// XFCC parser (src/formats/xfcc.ts): a model-based round trip (what we serialise is what it parses, limits
// and duplicates rejected exactly when the model says so), arbitrary text, and mutated real headers.
import assert from "node:assert/strict";
import fc from "fast-check";
import { CredentialError } from "../../../src/formats/errors.js";
import {
  parseXfcc,
  xfccCertificates,
  XfccError,
  XFCC_MAX_ELEMENTS,
  XFCC_MAX_PAIRS_PER_ELEMENT,
  type XfccElement,
} from "../../../src/formats/xfcc.js";
import { DevCertificateAuthority } from "../../../src/dev-ca/index.js";
import {
  applyStringEdits,
  bytesEqual,
  defineProperty,
  outcome,
  stringEdits,
  toPem,
  urlEncode,
  type FuzzProperty,
  type FuzzSuite,
} from "../harness.js";

const REPEATED = ["by", "uri", "dns"] as const;
const SINGLE = ["hash", "cert", "chain", "subject"] as const;
type Key = (typeof REPEATED)[number] | (typeof SINGLE)[number];

interface ModelPair {
  /** Known key (lower case) or an unknown one the parser must ignore. */
  key: Key | { unknown: string };
  keySpelling: string;
  value: string;
  quoted: boolean;
  /** Escape every character inside the quotes (`\x`), not only `"` and `\`. */
  escapeAll: boolean;
  owsBeforeEq: string;
  owsAfterValue: string;
}
interface ModelElement {
  pairs: ModelPair[];
}

const ows = fc.constantFrom("", "", "", " ", "\t", "  ");
/** Unquoted values: no separators, quotes or surrounding whitespace; inner spaces and `=` are fine. */
const tokenValue = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9%:/.+=_@?~-]{0,24}$/),
  fc.stringMatching(/^[A-Za-z0-9%:/.+=_-]{1,8}( [A-Za-z0-9%:/.+=_-]{1,8}){1,2}$/),
);
const quotedValue = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ unit: fc.constantFrom('"', "\\", ",", ";", "=", " ", "a", "é", "\u2028"), maxLength: 16 }),
);
const unknownKey = fc
  .stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,8}$/)
  .filter((k) => !([...REPEATED, ...SINGLE] as string[]).includes(k.toLowerCase()));

const pairArb: fc.Arbitrary<ModelPair> = fc
  .record({
    key: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom<Key>(...REPEATED, ...SINGLE) },
      { weight: 1, arbitrary: unknownKey.map((u) => ({ unknown: u })) },
    ),
    caseBits: fc.nat(),
    quoted: fc.boolean(),
    token: tokenValue,
    text: quotedValue,
    escapeAll: fc.boolean(),
    owsBeforeEq: ows,
    owsAfterValue: ows,
  })
  .map((r) => {
    const base = typeof r.key === "string" ? r.key : r.key.unknown;
    const keySpelling = [...base].map((c, i) => ((r.caseBits >> i) & 1 ? c.toUpperCase() : c.toLowerCase())).join("");
    return {
      key: r.key,
      keySpelling,
      value: r.quoted ? r.text : r.token,
      quoted: r.quoted,
      escapeAll: r.escapeAll,
      owsBeforeEq: r.owsBeforeEq,
      owsAfterValue: r.owsAfterValue,
    };
  });

/** Mostly small headers; now and then one past a limit (elements, pairs) so both sides of each are seen. */
const modelArb: fc.Arbitrary<ModelElement[]> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.array(fc.record({ pairs: fc.array(pairArb, { minLength: 1, maxLength: 7 }) }), {
      minLength: 1,
      maxLength: 4,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.array(fc.record({ pairs: fc.array(pairArb, { minLength: 1, maxLength: 2 }) }), {
      minLength: XFCC_MAX_ELEMENTS - 1,
      maxLength: XFCC_MAX_ELEMENTS + 2,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.array(
      fc.record({
        pairs: fc.array(
          pairArb.filter((p) => typeof p.key !== "string" || (REPEATED as readonly string[]).includes(p.key)),
          {
            minLength: XFCC_MAX_PAIRS_PER_ELEMENT - 2,
            maxLength: XFCC_MAX_PAIRS_PER_ELEMENT + 2,
          },
        ),
      }),
      { minLength: 1, maxLength: 2 },
    ),
  },
);

function quote(value: string, escapeAll: boolean): string {
  let out = '"';
  for (const ch of value) out += escapeAll || ch === '"' || ch === "\\" ? `\\${ch}` : ch;
  return `${out}"`;
}

function serialise(model: readonly ModelElement[], elementSep: readonly string[] = []): string {
  return model
    .map(
      (el, k) =>
        (k > 0 ? (elementSep[k % Math.max(1, elementSep.length)] ?? "") : "") +
        el.pairs
          .map(
            (p) =>
              `${p.keySpelling}${p.owsBeforeEq}=${p.quoted ? quote(p.value, p.escapeAll) : p.value}${p.owsAfterValue}`,
          )
          .join(";"),
    )
    .join(",");
}

/** What the parser must return for the model, or "error" when the model breaks a rule. */
function expected(model: readonly ModelElement[]): XfccElement[] | "error" {
  if (model.length > XFCC_MAX_ELEMENTS) return "error";
  const out: XfccElement[] = [];
  for (const el of model) {
    if (el.pairs.length > XFCC_MAX_PAIRS_PER_ELEMENT) return "error";
    const e: XfccElement = { by: [], uri: [], dns: [] };
    for (const p of el.pairs) {
      if (typeof p.key !== "string") continue;
      // An unquoted value loses trailing whitespace; the model never generates any.
      const v = p.value;
      if (p.key === "by" || p.key === "uri" || p.key === "dns") e[p.key].push(v);
      else if (e[p.key] !== undefined) return "error";
      else e[p.key] = v;
    }
    out.push(e);
  }
  return out;
}

/** Canonical re-serialisation of parsed elements: every value quoted. */
function canonical(els: readonly XfccElement[]): string {
  return els
    .map((e) => {
      const parts: string[] = [];
      for (const v of e.by) parts.push(`By=${quote(v, false)}`);
      for (const k of SINGLE) {
        const v = e[k];
        if (v !== undefined) parts.push(`${k}=${quote(v, false)}`);
      }
      for (const v of e.uri) parts.push(`URI=${quote(v, false)}`);
      for (const v of e.dns) parts.push(`DNS=${quote(v, false)}`);
      // An element of unknown keys only parses to an empty one; an unknown key stands in for it.
      return parts.length > 0 ? parts.join(";") : "X=";
    })
    .join(",");
}

const xfccAlphabet = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      ",",
      ";",
      "=",
      '"',
      "\\",
      " ",
      "\t",
      "%",
      "%2",
      "%41",
      "%ZZ",
      "%E9",
      "%C3%A9",
      "%ED%A0%80",
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom("By", "Hash", "Cert", "Chain", "Subject", "URI", "DNS", "cert", "CHAIN", "x-y"),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom("-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----", "%0A", "MII", "==", "\n"),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 3 }) },
);

export const xfccSuite: FuzzSuite = {
  name: "xfcc",
  async properties(): Promise<FuzzProperty[]> {
    const ca = await DevCertificateAuthority.createRoot("example.org");
    const inter = await ca.createIntermediate();
    const svid = await inter.issueX509Svid("/services/web");
    const leafPem = toPem(svid.der);
    const chainPem = svid.chainPem;
    const real = `By=spiffe://example.org/envoy;Hash=abc;Cert="${encodeURIComponent(leafPem)}";Chain="${encodeURIComponent(chainPem)}";URI=${svid.id}`;

    return [
      defineProperty(
        "xfcc/model-round-trip",
        1500,
        120_000,
        fc.property(modelArb, fc.array(fc.constantFrom(",", " ", "\t", "  "), { maxLength: 3 }), (model, seps) => {
          const header = serialise(
            model,
            seps.map((s) => (s === "," ? "" : s)),
          );
          const want = expected(model);
          const got = outcome([XfccError], () => parseXfcc(header));
          if (want === "error") {
            assert.equal(got.ok, false, `accepted a header the model rejects: ${header}`);
          } else {
            assert.ok(got.ok, `rejected a valid header (${got.ok ? "" : got.error.message}): ${header}`);
            assert.deepEqual(got.value, want);
            // The canonical form of what was parsed parses to the same thing.
            assert.deepEqual(parseXfcc(canonical(got.value)), got.value);
          }
        }),
      ),

      defineProperty(
        "xfcc/arbitrary-text",
        2000,
        150_000,
        fc.property(
          fc.array(xfccAlphabet, { maxLength: 30 }),
          fc.constantFrom("first", "last") as fc.Arbitrary<"first" | "last">,
          (parts, which) => {
            const header = parts.join("");
            const parsed = outcome([XfccError], () => parseXfcc(header));
            if (parsed.ok) {
              assert.ok(parsed.value.length >= 1 && parsed.value.length <= XFCC_MAX_ELEMENTS);
              assert.deepEqual(parseXfcc(canonical(parsed.value)), parsed.value);
            }
            // The certificate step on top may only add CredentialErrors (bad URL encoding, PEM, no Cert).
            const certs = outcome([CredentialError], () => xfccCertificates(header, which));
            if (certs.ok) assert.ok(parsed.ok && certs.value.der.length >= 1);
          },
        ),
      ),

      defineProperty(
        "xfcc/mutated-real-header",
        1500,
        120_000,
        fc.property(
          stringEdits(xfccAlphabet),
          fc.constantFrom("first", "last") as fc.Arbitrary<"first" | "last">,
          (edits, which) => {
            // Not vacuous: the unmutated header yields exactly the leaf and its intermediate.
            const clean = xfccCertificates(real, which);
            assert.equal(clean.from, "chain");
            assert.ok(bytesEqual(clean.der[0] as Uint8Array, svid.der) && clean.der.length === 2);
            const header = applyStringEdits(real, edits);
            const res = outcome([CredentialError], () => xfccCertificates(header, which));
            if (res.ok) {
              assert.ok(res.value.der.length >= 1 && res.value.der.length <= 8);
              for (const d of res.value.der) assert.ok(d instanceof Uint8Array && d.length > 0);
            }
          },
        ),
      ),

      defineProperty(
        "xfcc/cert-and-chain-encodings",
        600,
        20_000,
        fc.property(
          fc.uint8Array({ minLength: 1, maxLength: 64 }),
          fc.boolean(),
          fc.integer({ min: 0, max: 96 }),
          fc.boolean(),
          fc.constantFrom("cert", "chain", "both"),
          (mask, upper, width, crlf, keys) => {
            // Any valid URL encoding and any PEM line width read back as the same DER.
            const leaf = urlEncode(toPem(svid.der, width, crlf), mask, upper);
            const chain = urlEncode(svid.chain.map((d) => toPem(d, width, crlf)).join(""), mask, upper);
            const pairs = [keys !== "chain" ? `Cert="${leaf}"` : "", keys !== "cert" ? `Chain=${chain}` : ""].filter(
              Boolean,
            );
            const got = xfccCertificates(`By=x;${pairs.join(";")}`);
            assert.ok(bytesEqual(got.der[0] as Uint8Array, svid.der));
            assert.equal(got.der.length, keys === "cert" ? 1 : 2);
          },
        ),
      ),
    ];
  },
};
