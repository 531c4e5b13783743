// Allowlist `patterns`: anchored full-match regular expressions, run on re2js.
// RE2 compiles a pattern to an automaton and never backtracks, so matching time is linear in the input for
// every pattern it accepts, shapes like `(a+)+$` included; its parser also bounds nested repeat counts, so
// compiling stays cheap. There is nothing left for a shape lint to protect, and it would have to re-parse
// RE2's syntax (`(?P<n>`, `\Q…\E`, `\pL`, `[[:alpha:]]`), which no maintained JavaScript regex library does.
// test/fuzz/regex-safety.test.ts measures the linear time on pathological patterns.
import { RE2JS } from "re2js";

/** Longest pattern accepted; SPIFFE IDs are at most 2048 bytes, a pattern needs far less. */
export const MAX_PATTERN_LENGTH = 4096;

export interface CompiledPattern {
  readonly source: string;
  /** True when the WHOLE string matches (not a substring). */
  matches(id: string): boolean;
}

/** Thrown with a problem text; compilePolicy adds the key path. */
export class PatternError extends Error {
  override readonly name = "PatternError";
}

export function compilePattern(source: string): CompiledPattern {
  if (source.length > MAX_PATTERN_LENGTH) {
    throw new PatternError(`pattern longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new PatternError(`not a valid RE2 regular expression: ${msg}`);
  }
  return { source, matches: (id) => re.testExact(id) };
}
