import type { z } from "zod";

/** A config problem, reported to users as one line naming the key path (exit code 2 at start-up). */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly keyPath: string,
    readonly problem: string,
  ) {
    super(keyPath ? `config: ${keyPath}: ${problem}` : `config: ${problem}`);
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/** Turns the first zod issue into a ConfigError whose path names the offending key. */
export function configErrorFromZod(error: z.ZodError): ConfigError {
  const issue = error.issues[0];
  if (!issue) return new ConfigError("", "invalid");
  const path = formatPath(issue.path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const key = issue.keys[0] ?? "";
      return new ConfigError(path ? `${path}.${key}` : key, "unknown key");
    }
    case "invalid_value":
      return new ConfigError(path, `expected ${issue.values.map(String).join("|")}`);
    case "invalid_type": {
      const got = issue.input === undefined ? "nothing" : Array.isArray(issue.input) ? "array" : issue.input === null ? "null" : typeof issue.input;
      return new ConfigError(path, `expected ${issue.expected}, got ${got}`);
    }
    default:
      return new ConfigError(path, issue.message);
  }
}
