import { readFileSync } from "node:fs";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { configSchema, type Config } from "./schema.js";
import { ConfigError, configErrorFromZod } from "./errors.js";

/** Validates an already-decoded object (file contents, Zentinel config_json) into a Config. */
export function parseConfig(value: unknown): Config {
  // An empty file or `null` config_json means "all defaults".
  const res = configSchema.safeParse(value ?? {}, { reportInput: true });
  if (!res.success) throw configErrorFromZod(res.error);
  return res.data;
}

export interface ConfigTextOptions {
  /**
   * Whether a document with no config at all (empty, comments only) means "all defaults" (the default). A
   * reload passes false: there a config is in force, and an empty file is what a non-atomic write leaves for
   * a moment; applying it would reset the allowlist to empty (every verified identity allowed).
   */
  allowEmpty?: boolean;
}

/** Parses YAML or JSON text (JSON is a subset of YAML 1.2). */
export function parseConfigText(text: string, source = "config", opts: ConfigTextOptions = {}): Config {
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      // The parser's own sentence ("Implicit keys need to be on a single line at line 2, column 4:"), without
      // the source excerpt it appends: the error is one line.
      const sentence = err.message.split("\n")[0]!.replace(/:$/, "");
      throw new ConfigError("", `${source}: not valid YAML/JSON: ${sentence}`);
    }
    throw new ConfigError("", `${source}: not valid YAML/JSON`);
  }
  if ((value === null || value === undefined) && opts.allowEmpty === false) {
    throw new ConfigError("", `${source}: empty file (no config); it would reset every key to its default`);
  }
  if (value !== null && value !== undefined && (typeof value !== "object" || Array.isArray(value))) {
    throw new ConfigError("", `${source}: expected a mapping at the top level`);
  }
  return parseConfig(value);
}

export function loadConfigFile(path: string, opts: ConfigTextOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "is a directory"
            : String(code ?? err);
    throw new ConfigError("", `cannot read ${path}: ${why}`);
  }
  return parseConfigText(text, path, opts);
}
