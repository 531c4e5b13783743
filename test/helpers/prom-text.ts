// A strict parser of the Prometheus text exposition format (0.0.4), written independently of the
// serialiser under test: every line must be a HELP/TYPE/other comment or `name{labels} value [ts]`,
// a family's TYPE precedes its samples and appears once, and sample names belong to their family.
import assert from "node:assert/strict";

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: string;
  help?: string;
  samples: ParsedSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(s: string, line: string): number {
  if (s === "NaN") return NaN;
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  assert.match(s, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `bad value in line: ${line}`);
  return Number(s);
}

function parseLabels(body: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const eq = body.indexOf("=", i);
    assert.ok(eq > i, `bad label set in line: ${line}`);
    const name = body.slice(i, eq).trim();
    assert.match(name, LABEL_NAME, `bad label name "${name}" in line: ${line}`);
    assert.ok(!(name in labels), `duplicate label "${name}" in line: ${line}`);
    assert.equal(body[eq + 1], '"', `label value not quoted in line: ${line}`);
    let j = eq + 2;
    let value = "";
    for (;;) {
      const c = body[j];
      assert.ok(c !== undefined, `unterminated label value in line: ${line}`);
      if (c === '"') break;
      if (c === "\\") {
        const n = body[j + 1];
        assert.ok(n === "\\" || n === '"' || n === "n", `bad escape in line: ${line}`);
        value += n === "n" ? "\n" : n;
        j += 2;
      } else {
        value += c;
        j++;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (body[i] === ",") i++;
    else assert.equal(i, body.length, `junk after label value in line: ${line}`);
  }
  return labels;
}

function familyOf(sampleName: string, families: Map<string, ParsedFamily>): ParsedFamily | undefined {
  const exact = families.get(sampleName);
  if (exact) return exact;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!sampleName.endsWith(suffix)) continue;
    const f = families.get(sampleName.slice(0, -suffix.length));
    if (f && (f.type === "histogram" || f.type === "summary")) return f;
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>();
  const lines = text.split("\n");
  assert.equal(lines.pop(), "", "exposition must end with a newline");
  for (const line of lines) {
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) continue; // any other comment is allowed
      const [, kind, name, rest = ""] = m as unknown as [string, string, string, string | undefined];
      assert.match(name, NAME, `bad metric name in line: ${line}`);
      let f = families.get(name);
      if (!f) {
        f = { name, type: "untyped", samples: [] };
        families.set(name, f);
      }
      if (kind === "TYPE") {
        assert.ok(TYPES.has(rest), `bad type in line: ${line}`);
        assert.equal(f.samples.length, 0, `TYPE after samples for ${name}`);
        f.type = rest;
      } else {
        assert.equal(f.help, undefined, `second HELP for ${name}`);
        f.help = rest;
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    assert.ok(m, `not a comment nor a sample: ${line}`);
    const [, name, , labelBody, value] = m as unknown as [
      string,
      string,
      string | undefined,
      string | undefined,
      string,
    ];
    const labels = labelBody === undefined ? {} : parseLabels(labelBody, line);
    let f = familyOf(name, families);
    if (!f) {
      f = { name, type: "untyped", samples: [] };
      families.set(name, f);
    }
    f.samples.push({ name, labels, value: parseValue(value, line) });
  }
  return families;
}

/** The one sample with exactly these labels (among others it may have none). */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(s.labels);
      if (keys.length === Object.keys(labels).length && keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}

/** Every sample name in the text (e.g. `x_bucket`, `x_count`) plus every family name. */
export function allNames(families: Map<string, ParsedFamily>): Set<string> {
  const out = new Set<string>();
  for (const f of families.values()) {
    out.add(f.name);
    for (const s of f.samples) out.add(s.name);
  }
  return out;
}
