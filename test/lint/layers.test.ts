// The layer check (`npm run lint:layers`, part of `npm run lint`) is dependency-cruiser with the layer list in
// .dependency-cruiser.mjs. These tests run that same command and config: on src/ it passes, and on a small tree
// laid out like src/ it fails as soon as one import points up a layer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname;
const CONFIG = join(ROOT, ".dependency-cruiser.mjs");
const DEPCRUISE = join(ROOT, "node_modules/.bin/depcruise");

function depcruise(cwd: string): { status: number | null; out: string } {
  const res = spawnSync(DEPCRUISE, ["src", "--config", CONFIG, "--output-type", "err"], { cwd, encoding: "utf8" });
  return { status: res.status, out: `${res.stdout}${res.stderr}` };
}

/** A tree with the real layer folders and one import per file, in a temp dir with a minimal tsconfig. */
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
  "src/engine/decide.ts": `import { allowed } from "../policy/allowlist.js";\nexport type Decision = { allow: boolean };\nexport const decide = (x: string): Decision => ({ allow: allowed.includes(x) });\n`,
  "src/server.ts": `import { decide } from "./engine/decide.js";\nexport const run = () => decide("x");\n`,
  "src/cli/main.ts": `import { run } from "../server.js";\nrun();\n`,
};

test("src/ has no import pointing up a layer", () => {
  const { status, out } = depcruise(ROOT);
  assert.equal(status, 0, out);
  assert.match(out, /no dependency violations found/);
});

test("a tree whose imports all point down passes", (t) => {
  const dir = tree(DOWN_ONLY);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { status, out } = depcruise(dir);
  assert.equal(status, 0, out);
});

test("one type-only import from policy up to engine fails the check and names the layer rule", (t) => {
  const dir = tree({
    ...DOWN_ONLY,
    "src/policy/allowlist.ts": `import { id } from "../spiffe/id.js";\nimport type { Decision } from "../engine/decide.js";\nexport const allowed = [id];\nexport type D = Decision;\n`,
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { status, out } = depcruise(dir);
  assert.notEqual(status, 0, out);
  assert.match(out, /layer-policy: src\/policy\/allowlist\.ts → src\/engine\/decide\.ts/);
});

test("the composition root importing the CLI fails the check", (t) => {
  const dir = tree({
    ...DOWN_ONLY,
    "src/cli/flags.ts": `export type Options = { verbose: boolean };\n`,
    "src/server.ts": `import { decide } from "./engine/decide.js";\nimport type { Options } from "./cli/flags.js";\nexport const run = (o?: Options) => decide(String(o));\n`,
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { status, out } = depcruise(dir);
  assert.notEqual(status, 0, out);
  assert.match(out, /layer-composition: src\/server\.ts → src\/cli\/flags\.ts/);
});
