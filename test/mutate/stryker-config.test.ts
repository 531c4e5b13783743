// `npm run mutate` is too slow for CI, so this guards its set-up instead: every file of the security-critical
// folders is mutated (a rename or a new file inside them needs no config change, and src/gen never is), every
// listed test glob still finds tests, and the tap runner is started the way that makes its verdicts mean
// something (without --test-reporter=tap, Node 24 prints the spec reporter and no mutant is ever killed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join, matchesGlob } from "node:path";
import { pathToFileURL } from "node:url";

interface Folder {
  mutate: string[];
  tests: string[];
}
interface Config {
  testRunner: string;
  coverageAnalysis: string;
  concurrency: number;
  mutate: string[];
  tap: { testFiles: string[]; nodeArgs: string[] };
  thresholds: { low: number };
}

const root = process.cwd();
const { folders } = (await import(pathToFileURL(join(root, "scripts/mutate-folders.mjs")).href)) as {
  folders: Record<string, Folder>;
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
const sources = walk("src").filter((f) => f.endsWith(".ts"));
const tests = walk("test").filter((f) => f.endsWith(".test.ts"));
const mutated = (f: string) => Object.values(folders).some((x) => x.mutate.some((g) => matchesGlob(f, g)));

async function loadConfig(folders: string | undefined, tag: string): Promise<Config> {
  const before = process.env.SPIFFE_AUTHZ_MUTATE;
  if (folders === undefined) delete process.env.SPIFFE_AUTHZ_MUTATE;
  else process.env.SPIFFE_AUTHZ_MUTATE = folders;
  try {
    const url = `${pathToFileURL(join(root, "stryker.config.mjs")).href}?${tag}`;
    return ((await import(url)) as { default: Config }).default;
  } finally {
    if (before === undefined) delete process.env.SPIFFE_AUTHZ_MUTATE;
    else process.env.SPIFFE_AUTHZ_MUTATE = before;
  }
}

test("every source file of spiffe, policy, engine, adapters and the Workload API watcher is mutated; src/gen never", () => {
  const critical = sources.filter(
    (f) => /^src\/(spiffe|policy|engine|adapters)\//.test(f) || f === "src/trust/workload-api/watcher.ts",
  );
  assert.ok(critical.length > 30, `found only ${critical.length} files under the critical folders`);
  assert.deepEqual(
    critical.filter((f) => !mutated(f)),
    [],
    "files in the critical folders no mutate glob covers",
  );
  assert.deepEqual(
    sources.filter((f) => f.startsWith("src/gen/") && mutated(f)),
    [],
    "generated code is mutated",
  );
  for (const [name, f] of Object.entries(folders)) {
    for (const g of f.mutate)
      assert.ok(
        sources.some((s) => matchesGlob(s, g)),
        `${name}: ${g} matches no source`,
      );
  }
});

/** `a/{b,c}.ts` → `a/b.ts`, `a/c.ts`: each alternative must find a file, not just one of them. */
function expandBraces(glob: string): string[] {
  const m = /\{([^{}]*)\}/.exec(glob);
  if (!m) return [glob];
  return m[1]!
    .split(",")
    .flatMap((alt) => expandBraces(glob.slice(0, m.index) + alt + glob.slice(m.index + m[0].length)));
}

test("each folder's test globs each find test files", () => {
  assert.deepEqual(expandBraces("t/{a,b}/{c,d}.ts"), ["t/a/c.ts", "t/a/d.ts", "t/b/c.ts", "t/b/d.ts"]);
  for (const [name, f] of Object.entries(folders)) {
    for (const g of f.tests.flatMap(expandBraces)) {
      assert.ok(
        tests.some((t) => matchesGlob(t, g)),
        `${name}: ${g} matches no test file`,
      );
    }
  }
});

test("the Stryker config: tap runner with TAP output through tsx, per-test coverage, the 85 % threshold, folder choice", async () => {
  const all = await loadConfig(undefined, "all");
  assert.equal(all.testRunner, "tap");
  assert.equal(all.coverageAnalysis, "perTest");
  assert.equal(all.concurrency, 2);
  assert.equal(all.thresholds.low, 85);
  const args = all.tap.nodeArgs;
  assert.ok(args.includes("--test-reporter=tap"), "the TAP reporter is named");
  assert.ok(args.indexOf("{{hookFile}}") >= 0 && args.indexOf("{{hookFile}}") < args.indexOf("tsx"), "hook first");
  assert.equal(args.at(-1), "{{testFile}}");
  assert.deepEqual(new Set(all.mutate), new Set(Object.values(folders).flatMap((f) => f.mutate)));

  const policy = await loadConfig("policy", "policy");
  assert.deepEqual(policy.mutate, folders.policy!.mutate);
  // The globs expanded in the order listed, so the fast files a folder lists first run first; each file once.
  const files = policy.tap.testFiles;
  assert.equal(new Set(files).size, files.length, "a test file is listed twice");
  assert.ok(
    files.every((f) => tests.includes(f)),
    `not test files: ${files.filter((f) => !tests.includes(f)).join(", ")}`,
  );
  const literal = folders.policy!.tests.filter((g) => !/[*?{[]/.test(g));
  assert.ok(literal.length > 3, "policy lists its files one by one, fast first");
  assert.deepEqual(
    files.filter((f) => literal.includes(f)),
    literal,
    "test files out of the listed order",
  );
  assert.equal(files[0], folders.policy!.tests[0]);

  await assert.rejects(loadConfig("nope", "nope"), /unknown folder nope/);
});
