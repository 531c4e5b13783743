// Allowlist `patterns`: anchored full-match regular expressions.
// Matching runs on re2js (RE2: linear time, no backtracking), so no pattern can stall a decision. On top of
// that, patterns whose shape makes a backtracking engine explode — nested quantifiers like `(a+)+` and
// overlapping alternatives under a repetition like `(a|a)*` — are rejected at load: on RE2 they are merely
// slow to write and fast to run, but they almost always mean the author wrote something other than intended,
// and the same config may be read by tools that do backtrack.
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
  const problem = backtrackingProblem(source);
  if (problem) throw new PatternError(`pattern can backtrack catastrophically: ${problem}`);
  return { source, matches: (id) => re.testExact(id) };
}

// ---------------------------------------------------------------------------------------------------------
// Structural lint. The source has already compiled under RE2, so this parser may be lenient: anything it
// does not model becomes "any character", which can only make the lint stricter, never let a bad shape by.

/** Over-approximated set of characters an atom can start with: exact for ASCII, one flag for the rest. */
class CharSet {
  readonly ascii = new Uint32Array(4);
  other = false;
  static all(): CharSet {
    const s = new CharSet();
    s.ascii.fill(0xffffffff);
    s.other = true;
    return s;
  }
  addCode(c: number): void {
    if (c < 128) (this.ascii[c >> 5] as number) |= 1 << (c & 31);
    else this.other = true;
  }
  addRange(lo: number, hi: number): void {
    for (let c = lo; c <= Math.min(hi, 127); c++) this.addCode(c);
    if (hi >= 128) this.other = true;
  }
  addSet(o: CharSet): void {
    for (let k = 0; k < 4; k++) (this.ascii[k] as number) |= o.ascii[k] as number;
    this.other ||= o.other;
  }
  negate(): void {
    for (let k = 0; k < 4; k++) this.ascii[k] = ~(this.ascii[k] as number) >>> 0;
    this.other = true;
  }
  foldCase(): void {
    for (let c = 65; c <= 90; c++) {
      if (this.has(c) || this.has(c + 32)) {
        this.addCode(c);
        this.addCode(c + 32);
      }
    }
  }
  has(c: number): boolean {
    return (((this.ascii[c >> 5] as number) >>> (c & 31)) & 1) === 1;
  }
  overlaps(o: CharSet): boolean {
    if (this.other && o.other) return true;
    for (let k = 0; k < 4; k++) if (((this.ascii[k] as number) & (o.ascii[k] as number)) !== 0) return true;
    return false;
  }
  isEmpty(): boolean {
    return !this.other && this.ascii.every((w) => w === 0);
  }
}

type Node =
  | { t: "char"; set: CharSet }
  | { t: "empty" } // assertions, flag groups, empty alternatives
  | { t: "cat"; items: Node[] }
  | { t: "alt"; branches: Node[] }
  | { t: "rep"; body: Node; min: number; max: number };

function classEscape(ch: string): CharSet | undefined {
  const s = new CharSet();
  switch (ch) {
    case "d":
      s.addRange(48, 57);
      return s;
    case "w":
      s.addRange(48, 57);
      s.addRange(65, 90);
      s.addRange(97, 122);
      s.addCode(95);
      return s;
    case "s":
      for (const c of [9, 10, 11, 12, 13, 32]) s.addCode(c);
      return s;
    case "D":
    case "W":
    case "S": {
      const p = classEscape(ch.toLowerCase()) as CharSet;
      p.negate();
      return p;
    }
    default:
      return undefined;
  }
}

const CONTROL_ESCAPES: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };

class LintParser {
  private i = 0;
  constructor(private readonly s: string) {}

  parse(): Node {
    return this.alternation(false);
  }

  private alternation(fold: boolean): Node {
    const branches: Node[] = [];
    let items: Node[] = [];
    while (this.i < this.s.length) {
      const c = this.s[this.i] as string;
      if (c === ")") break;
      if (c === "|") {
        this.i++;
        branches.push({ t: "cat", items });
        items = [];
        continue;
      }
      if (c === "(" && this.s[this.i + 1] === "?") {
        // Flag group: `(?i)` applies to the rest of the enclosing group; `(?i:re)` only inside.
        const m = /^\(\?([a-zA-Z-]*)(\)|:)/.exec(this.s.slice(this.i));
        if (m) {
          const flags = m[1] as string;
          const on = flags.split("-")[0] ?? "";
          const off = flags.includes("-") ? (flags.split("-")[1] ?? "") : "";
          const newFold = (fold || on.includes("i")) && !off.includes("i");
          this.i += m[0].length;
          if (m[2] === ")") {
            fold = newFold;
            continue;
          }
          const inner = this.alternation(newFold);
          this.i++; // ")"
          items.push(this.quantifiers(inner));
          continue;
        }
      }
      items.push(this.quantifiers(this.atom(fold)));
    }
    branches.push({ t: "cat", items });
    return branches.length === 1 ? (branches[0] as Node) : { t: "alt", branches };
  }

  private atom(fold: boolean): Node {
    const s = this.s;
    const c = s[this.i] as string;
    if (c === "(") {
      // capture groups: `(`, `(?P<name>`, `(?<name>`
      const named = /^\(\?P?<[^>]*>/.exec(s.slice(this.i));
      this.i += named ? named[0].length : 1;
      const inner = this.alternation(fold);
      this.i++; // ")"
      return inner;
    }
    if (c === "^" || c === "$") {
      this.i++;
      return { t: "empty" };
    }
    if (c === ".") {
      this.i++;
      return { t: "char", set: CharSet.all() };
    }
    if (c === "[") return this.bracket(fold);
    if (c === "\\") return this.escape(fold);
    this.i++;
    return this.literal(c.codePointAt(0) ?? 0, fold);
  }

  private literal(code: number, fold: boolean): Node {
    const set = new CharSet();
    set.addCode(code);
    if (fold) set.foldCase();
    return { t: "char", set };
  }

  private escape(fold: boolean): Node {
    const e = this.readEscape();
    switch (e.k) {
      case "code":
        return this.literal(e.code, fold);
      case "set":
        return { t: "char", set: e.set };
      case "empty":
        return { t: "empty" };
      case "text":
        return { t: "cat", items: [...e.text].map((t) => this.literal(t.codePointAt(0) ?? 0, fold)) };
    }
  }

  /** Reads one backslash escape at `i`. */
  private readEscape():
    { k: "code"; code: number } | { k: "set"; set: CharSet } | { k: "empty" } | { k: "text"; text: string } {
    const s = this.s;
    const ch = s[this.i + 1] ?? "";
    this.i += 2;
    const cls = classEscape(ch);
    if (cls) return { k: "set", set: cls };
    if ("bBAz".includes(ch)) return { k: "empty" };
    if (ch === "Q") {
      // \Q...\E: literal text
      const end = s.indexOf("\\E", this.i);
      const text = s.slice(this.i, end < 0 ? s.length : end);
      this.i = end < 0 ? s.length : end + 2;
      return { k: "text", text };
    }
    if (ch === "p" || ch === "P") {
      if (s[this.i] === "{") {
        const end = s.indexOf("}", this.i);
        this.i = end < 0 ? s.length : end + 1;
      } else {
        this.i++;
      }
      return { k: "set", set: CharSet.all() };
    }
    if (ch === "x") {
      const m = /^(\{[0-9a-fA-F]+\}|[0-9a-fA-F]{2})/.exec(s.slice(this.i));
      if (m) {
        this.i += m[0].length;
        return { k: "code", code: parseInt(m[0].replace(/[{}]/g, ""), 16) };
      }
      return { k: "set", set: CharSet.all() };
    }
    if (/[0-7]/.test(ch)) {
      const m = /^[0-7]{0,2}/.exec(s.slice(this.i));
      this.i += m ? m[0].length : 0;
      return { k: "code", code: parseInt(ch + (m ? m[0] : ""), 8) };
    }
    if (ch in CONTROL_ESCAPES) return { k: "code", code: CONTROL_ESCAPES[ch] as number };
    if (ch === "C") return { k: "set", set: CharSet.all() };
    return { k: "code", code: ch.codePointAt(0) ?? 0 };
  }

  private bracket(fold: boolean): Node {
    const s = this.s;
    this.i++; // "["
    const set = new CharSet();
    let negate = false;
    if (s[this.i] === "^") {
      negate = true;
      this.i++;
    }
    let first = true;
    while (this.i < s.length && (first || s[this.i] !== "]")) {
      first = false;
      const posix = /^\[:(\^?)[a-z]+:\]/.exec(s.slice(this.i));
      if (posix) {
        this.i += posix[0].length;
        set.addSet(CharSet.all());
        continue;
      }
      const lo = this.classChar(set);
      if (lo === undefined) continue;
      if (s[this.i] === "-" && s[this.i + 1] !== "]" && this.i + 1 < s.length) {
        this.i++;
        const hi = this.classChar(set);
        if (hi === undefined) {
          set.addCode(lo);
          set.addCode(45);
          continue;
        }
        set.addRange(lo, hi);
      } else {
        set.addCode(lo);
      }
    }
    this.i++; // "]"
    if (fold) set.foldCase();
    if (negate) set.negate();
    return { t: "char", set };
  }

  /** One class member: returns its code point, or undefined after adding a whole class (\d, \pL) to `set`. */
  private classChar(set: CharSet): number | undefined {
    const s = this.s;
    if (s[this.i] !== "\\") {
      const cp = s.codePointAt(this.i) ?? 0;
      this.i += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const e = this.readEscape();
    if (e.k === "code") return e.code;
    set.addSet(e.k === "set" ? e.set : CharSet.all());
    return undefined;
  }

  private quantifiers(node: Node): Node {
    const s = this.s;
    for (;;) {
      const c = s[this.i];
      let min: number;
      let max: number;
      if (c === "*") [min, max] = [0, Infinity];
      else if (c === "+") [min, max] = [1, Infinity];
      else if (c === "?") [min, max] = [0, 1];
      else if (c === "{") {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(this.i));
        if (!m) return node; // a literal "{" — RE2 accepted it, it will be parsed as an atom next
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
        this.i += m[0].length - 1;
      } else return node;
      this.i++;
      if (s[this.i] === "?") this.i++; // lazy: same language
      node = { t: "rep", body: node, min, max };
    }
  }
}

function nullable(n: Node): boolean {
  switch (n.t) {
    case "char":
      return false;
    case "empty":
      return true;
    case "cat":
      return n.items.every(nullable);
    case "alt":
      return n.branches.some(nullable);
    case "rep":
      return n.min === 0 || nullable(n.body);
  }
}

function firstSet(n: Node): CharSet {
  const out = new CharSet();
  switch (n.t) {
    case "char":
      out.addSet(n.set);
      break;
    case "empty":
      break;
    case "cat":
      for (const it of n.items) {
        out.addSet(firstSet(it));
        if (!nullable(it)) break;
      }
      break;
    case "alt":
      for (const b of n.branches) out.addSet(firstSet(b));
      break;
    case "rep":
      out.addSet(firstSet(n.body));
      break;
  }
  return out;
}

/** Does `n` contain a variable-count repetition (max > min) of something non-empty? */
function findInnerRepeat(n: Node): { unbounded: boolean } | undefined {
  switch (n.t) {
    case "char":
    case "empty":
      return undefined;
    case "cat":
    case "alt": {
      let found: { unbounded: boolean } | undefined;
      for (const c of n.t === "cat" ? n.items : n.branches) {
        const f = findInnerRepeat(c);
        if (f?.unbounded) return f;
        found ??= f;
      }
      return found;
    }
    case "rep": {
      if (n.max > n.min && n.max > 1 && !firstSet(n.body).isEmpty()) return { unbounded: n.max === Infinity };
      return findInnerRepeat(n.body);
    }
  }
}

function lint(n: Node, underStar: boolean): string | undefined {
  switch (n.t) {
    case "char":
    case "empty":
      return undefined;
    case "cat":
      for (const it of n.items) {
        const p = lint(it, underStar);
        if (p) return p;
      }
      return undefined;
    case "alt": {
      if (underStar) {
        const firsts = n.branches.map(firstSet);
        for (let a = 0; a < firsts.length; a++) {
          for (let b = a + 1; b < firsts.length; b++) {
            if ((firsts[a] as CharSet).overlaps(firsts[b] as CharSet)) {
              return "alternatives that can start with the same character inside a repetition, like (a|a)*";
            }
          }
        }
      }
      for (const b of n.branches) {
        const p = lint(b, underStar);
        if (p) return p;
      }
      return undefined;
    }
    case "rep": {
      if (n.max > 1) {
        const inner = findInnerRepeat(n.body);
        if (inner && (inner.unbounded || n.max === Infinity)) {
          return "nested quantifiers, like (a+)+; use a single quantifier over a character class instead";
        }
      }
      return lint(n.body, underStar || n.max === Infinity);
    }
  }
}

/** A human reason when the pattern has a catastrophic-backtracking shape, else undefined. */
export function backtrackingProblem(source: string): string | undefined {
  let tree: Node;
  try {
    tree = new LintParser(source).parse();
  } catch {
    return "pattern too complex to analyse";
  }
  return lint(tree, false);
}
