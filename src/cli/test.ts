// `test`: policy tests, the way `opa test` works for Rego. Exit 0 every case passed, 1 any failed, 2 a bad file.
import { parseArgs } from "node:util";
import { UsageError } from "./errors.js";
import { printable } from "../config/errors.js";
import type { Decision } from "../engine/contract.js";
import { explanationLines } from "../engine/explain.js";
import { loadPolicyTestFile, PolicyTestFileError, type PolicyTestFile } from "../engine/policy-test/file.js";
import { preparePolicyTestFile, runPolicyTests, type CaseResult } from "../engine/policy-test/run.js";

export const TEST_USAGE = `Usage: spiffe-authz test FILE... [--explain]

Runs policy test files: each names a config and cases that say which credential asks for which route or
path, and what the server must decide (allow, deny, a status, a reason, or a map of them).

  --explain            under each case, the route chosen and why, and the allowlist entry that allowed the
                       identity (or what was checked), or why the credential failed
  -h, --help           this help

Prints PASS or FAIL per case (a failure shows expected against got), then a summary.
Exit code: 0 all cases pass, 1 any case fails, 2 a bad file (unreadable, not YAML, an unknown key) or usage.
`;

function decisionText(d: Decision): string {
  const route = d.route === undefined ? "" : ` route=${d.route}`;
  return `allow=${d.allow} status=${d.httpStatus} reason=${d.reason}${route} detail=${JSON.stringify(d.detail)}`;
}

function report(t: PolicyTestFile, r: CaseResult): string {
  const lines = [`${r.pass ? "PASS" : "FAIL"} ${printable(`${t.file}:${r.name}`)}`];
  const width = Math.max(0, ...r.mismatches.map((m) => m.field.length));
  for (const m of r.mismatches) {
    lines.push(`    ${`${m.field}:`.padEnd(width + 1)} expected ${printable(m.expected)}, got ${printable(m.got)}`);
  }
  if (!r.pass) lines.push(`    got: ${printable(decisionText(r.decision))}`);
  if (r.explanation) for (const l of explanationLines(r.explanation)) lines.push(`    ${printable(l)}`);
  return lines.join("\n") + "\n";
}

export async function testCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { explain: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0] ?? "bad arguments");
  }
  if (parsed.values.help) {
    process.stdout.write(TEST_USAGE);
    return 0;
  }
  if (parsed.positionals.length === 0) throw new UsageError("test: name at least one test file");
  let passed = 0;
  let failed = 0;
  try {
    // Every file, and every config and certificate it names, is read and validated before any case runs: a
    // bad file is a usage error, not a failed case.
    const prepared = [];
    for (const t of parsed.positionals.map(loadPolicyTestFile)) prepared.push(await preparePolicyTestFile(t));
    for (const p of prepared) {
      for (const r of await runPolicyTests(p, { explain: parsed.values.explain === true })) {
        process.stdout.write(report(p.file, r));
        if (r.pass) passed++;
        else failed++;
      }
    }
  } catch (err) {
    if (err instanceof PolicyTestFileError) throw new UsageError(err.message);
    throw err;
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}
