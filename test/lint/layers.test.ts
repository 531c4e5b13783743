// The layer check (`npm run lint:layers`, part of `npm run lint`) is dependency-cruiser with the layer list in
// .dependency-cruiser.mjs. These tests run that config through dependency-cruiser's API (its CLI refuses Node.js
// 20, on which `npm test` still runs): on src/ it passes, and on a small tree laid out like src/ it fails as soon
// as one import points up a layer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cruise, type IConfiguration, type IViolation } from "dependency-cruiser";

const ROOT = new URL("../../", import.meta.url).pathname;

const CONFIG = new URL("../../.dependency-cruiser.mjs", import.meta.url).href;

async function violations(baseDir: string): Promise<IViolation[]> {
  const layered = (await import(CONFIG)).default as IConfiguration;
  const result = await cruise(["src"], {
    ...layered.options,
    baseDir,
    ruleSet: { forbidden: layered.forbidden ?? [] },
    validate: true,
  });
  if (typeof result.output === "string") throw new Error("expected a cruise result");
  assert.ok(result.output.summary.totalCruised > 0, "nothing was cruised");
  return result.output.summary.violations;
}

const arrow = (v: IViolation) => `${v.rule.name}: ${v.from} → ${v.to}`;

/** A tree with the real layer folders and one import per file, in a temp dir. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "layers-"));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true } }),
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const DOWN_ONLY = {
  "src/spiffe/id.ts": `export const id = "spiffe://example.org/a";\n`,
  "src/policy/allowlist.ts": `import { id } from "../spiffe/id.js";\nexport const allowed = [id];\n`,
  "src/engine/contract.ts": `export type Decision = { allow: boolean };\n`,
  "src/engine/decide.ts": `import { allowed } from "../policy/allowlist.js";\nimport type { Decision } from "./contract.js";\nexport const decide = (x: string): Decision => ({ allow: allowed.includes(x) });\n`,
  "src/server.ts": `import { decide } from "./engine/decide.js";\nexport const run = () => decide("x");\n`,
  "src/cli/main.ts": `import { run } from "../server.js";\nrun();\n`,
};

test("src/ has no import pointing up a layer", async () => {
  const found = await violations(ROOT);
  assert.deepEqual(found.map(arrow), []);
});

test("a tree whose imports all point down passes", async (t) => {
  const dir = tree(DOWN_ONLY);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual((await violations(dir)).map(arrow), []);
});

test("one type-only import from policy up to engine fails the check and names the layer rule", async (t) => {
  const dir = tree({
    ...DOWN_ONLY,
    "src/policy/allowlist.ts": `import { id } from "../spiffe/id.js";\nimport type { Decision } from "../engine/contract.js";\nexport const allowed = [id];\nexport type D = Decision;\n`,
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual((await violations(dir)).map(arrow), [
    "layer-policy: src/policy/allowlist.ts → src/engine/contract.ts",
  ]);
});

test("the composition root importing the CLI fails the check", async (t) => {
  const dir = tree({
    ...DOWN_ONLY,
    "src/cli/flags.ts": `export type Options = { verbose: boolean };\n`,
    "src/server.ts": `import { decide } from "./engine/decide.js";\nimport type { Options } from "./cli/flags.js";\nexport const run = (o?: Options) => decide(String(o));\n`,
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual((await violations(dir)).map(arrow), ["layer-composition: src/server.ts → src/cli/flags.ts"]);
});
