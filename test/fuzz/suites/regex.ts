// Allowlist patterns (src/policy/pattern.ts): any source compiles or fails with PatternError (never another
// error out of re2js), and every pattern in the syntax RE2 and JavaScript share compiles and means what a
// JavaScript anchored full match means, so "anchored full match" is checked, not assumed.
import assert from "node:assert/strict";
import fc from "fast-check";
import { compilePattern, PatternError } from "../../../src/policy/pattern.js";
import { defineProperty, outcome, type FuzzProperty, type FuzzSuite } from "../harness.js";

/** Regular expressions over {a, b, /} in the syntax RE2 and JavaScript read the same way. */
const regexArb: fc.Arbitrary<string> = fc.letrec((tie) => ({
  re: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom("a", "b", "/", ".", "[ab]", "[^a]", "[a-b/]", "\\/", "(?:)", "a?"),
    fc.tuple(tie("re"), tie("re")).map(([x, y]) => `${x}${y}`),
    fc.tuple(tie("re"), tie("re")).map(([x, y]) => `(?:${x}|${y})`),
    fc
      .tuple(tie("re"), fc.constantFrom("*", "+", "?", "{2}", "{0,2}", "{1,}", "*?", "+?"))
      .map(([x, q]) => `(?:${x})${q}`),
    tie("re").map((x) => `(${x})`),
  ),
})).re as fc.Arbitrary<string>;

const metaSoup = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "(",
        ")",
        "(?:",
        "(?i)",
        "(?P<n>",
        "(?<n>",
        "|",
        "*",
        "+",
        "?",
        "{",
        "}",
        "{2,3}",
        "{,",
        "[",
        "]",
        "[^",
        "[:alpha:]",
        "[[:digit:]]",
      ),
      fc.constantFrom(
        "\\",
        "\\d",
        "\\W",
        "\\pL",
        "\\p{Greek}",
        "\\PN",
        "\\x41",
        "\\x{1F600}",
        "\\Q",
        "\\E",
        "\\b",
        "\\z",
        "\\1",
        "\\0",
        "\\n",
        "-",
        "^",
        "$",
        ".",
      ),
      fc.string({ maxLength: 2 }),
    ),
    { maxLength: 24 },
  )
  .map((parts) => parts.join(""));

const inputArb = fc.string({ unit: fc.constantFrom("a", "b", "/", "c"), maxLength: 8 });

export const regexSuite: FuzzSuite = {
  name: "regex",
  async properties(): Promise<FuzzProperty[]> {
    return [
      defineProperty(
        "regex/any-source-compiles-or-pattern-error",
        1500,
        60_000,
        fc.property(fc.oneof(metaSoup, regexArb, fc.string({ maxLength: 30 })), (src) => {
          const got = outcome([PatternError], () => compilePattern(src));
          if (got.ok) assert.equal(typeof got.value.matches("spiffe://example.org/a"), "boolean");
        }),
      ),

      defineProperty(
        "regex/patterns-are-anchored-full-matches",
        1500,
        60_000,
        fc.property(regexArb, fc.array(inputArb, { minLength: 1, maxLength: 6 }), (src, inputs) => {
          // Nested and overlapping repetitions included: RE2 runs them all in linear time, none is refused.
          const got = compilePattern(src);
          const js = new RegExp(`^(?:${src})$`);
          for (const s of inputs) assert.equal(got.matches(s), js.test(s), `${src} on ${JSON.stringify(s)}`);
        }),
      ),
    ];
  },
};
