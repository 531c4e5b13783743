import type { z } from "zod";

/**
 * Escapes what would break a one-line message or a terminal: control characters, line and paragraph
 * separators, bidirectional overrides. Keys, route names and patterns come from the config, i.e. from
 * whoever can write the file or send a Zentinel Configure event.
 */
export function printable(s: string): string {
  return s.replace(
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A config problem, reported to users as one line naming the key path (exit code 2 at start-up). */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly keyPath: string;
  readonly problem: string;
  constructor(keyPath: string, problem: string) {
    const key = printable(keyPath);
    const what = printable(problem);
    super(key ? `config: ${key}: ${what}` : `config: ${what}`);
    this.keyPath = key;
    this.problem = what;
  }
}

/** A key as a path segment: bare when it is a plain name, else quoted (and shortened) so the path stays readable. */
function keyText(key: string): string {
  if (/^[A-Za-z0-9_-]{1,64}$/.test(key)) return key;
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const k = typeof seg === "string" ? keyText(seg) : String(seg);
      out += out ? `.${k}` : k;
    }
  }
  return out;
}

/** Turns the first zod issue into a ConfigError whose path names the offending key. */
export function configErrorFromZod(error: z.ZodError): ConfigError {
  const { keyPath, problem } = describeZodError(error);
  return new ConfigError(keyPath, problem);
}

/** The first zod issue as the key path it is about and one line saying what is wrong there (any zod-checked file). */
export function describeZodError(error: Pick<z.ZodError, "issues">): { keyPath: string; problem: string } {
  const issue = error.issues[0];
  if (!issue) return { keyPath: "", problem: "invalid" };
  const path = formatPath(issue.path);
  const at = (keyPath: string, problem: string) => ({ keyPath, problem });
  switch (issue.code) {
    case "unrecognized_keys": {
      const key = keyText(issue.keys[0] ?? "");
      return at(path ? `${path}.${key}` : key, "unknown key");
    }
    case "invalid_value":
      return at(path, `expected ${issue.values.map(String).join("|")}`);
    case "invalid_type": {
      const got =
        issue.input === undefined
          ? "nothing"
          : Array.isArray(issue.input)
            ? "array"
            : issue.input === null
              ? "null"
              : typeof issue.input;
      return at(path, `expected ${issue.expected}, got ${got}`);
    }
    case "too_small":
    case "too_big": {
      // zod says "Too small: expected number to be >0"; say what the key needs and what it got.
      const small = issue.code === "too_small";
      const bound = Number(issue.code === "too_small" ? issue.minimum : issue.maximum);
      const inclusive = issue.inclusive !== false;
      const got = typeof issue.input === "number" ? `, got ${issue.input}` : "";
      if (issue.origin === "number" || issue.origin === "int") {
        const rel = small ? (inclusive ? "at least" : "greater than") : inclusive ? "at most" : "less than";
        return at(path, `must be ${rel} ${bound}${got}`);
      }
      const unit = issue.origin === "string" ? "characters" : issue.origin === "array" ? "entries" : "items";
      return at(path, `must have ${small ? "at least" : "at most"} ${bound} ${unit}`);
    }
    default:
      return at(path, issue.message);
  }
}
