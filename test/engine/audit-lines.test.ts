// The audit line as production writes it: createLogger's preformatted path (log.ts preformattedLines), which
// keeps the decision's share of a line serialised and holds lines a few milliseconds to share writes. Held to the
// line pino itself writes for the same record, and to losing nothing at exit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { parseConfig } from "../../src/config/load.js";
import { compilePolicy } from "../../src/policy/index.js";
import { createAuditListener } from "../../src/engine/audit.js";
import type { DecisionContext } from "../../src/engine/engine.js";
import type { AuthzRequest, Decision } from "../../src/engine/contract.js";
import { createLogger } from "../../src/log.js";
import { until } from "../helpers/log-capture.js";

type Line = Record<string, unknown>;

function fileLines(path: string): Line[] {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

/** pino configured as createLogger configures it, writing into memory: the reference for every line. */
function referenceLogger() {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  const logger = pino(
    {
      name: "spiffe-authz",
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  return { lines, logger };
}

const hostile: AuthzRequest = {
  transport: "zentinel",
  headers: new Map(),
  method: 'GE"T\n',
  path: '/a"b\\c\u2028\u0000/' + "p".repeat(600) + "?token=secret",
  requestId: "r\u001b[31m",
  correlationId: "c-1",
  traceparent: "00-" + "t".repeat(700),
};
const plain: AuthzRequest = { transport: "envoy", headers: new Map(), method: "GET", path: "/api/orders" };

const identity = { spiffeId: 'spiffe://td/a"quoted', trustDomain: "td", path: '/a"quoted', method: "spiffe" as const };
const certInfo = { serial: "0a", issuer: 'CN=ca,O="x"', notAfter: "2030-01-01T00:00:00.000Z", sha256: "ff".repeat(32) };
const decisions: Record<string, Decision> = {
  "allow, frozen (a hot client's memo)": Object.freeze({
    httpStatus: 200,
    grpcCode: 0,
    allow: true,
    reason: "ok",
    detail: identity.spiffeId,
    identity,
    headersToSet: [],
    headersToRemove: [],
    route: "payments",
    certInfo,
    credentialSource: "xfcc",
  }) as Decision,
  "allow, not frozen": {
    httpStatus: 200,
    grpcCode: 0,
    allow: true,
    reason: "ok",
    detail: identity.spiffeId,
    identity,
    headersToSet: [],
    headersToRemove: [],
  },
  deny: {
    httpStatus: 401,
    grpcCode: 16,
    allow: false,
    reason: "expired",
    detail: "leaf expired",
    headersToSet: [],
    headersToRemove: [],
    credentialSource: "peer_certificate",
  },
  "bypass (log_and_allow, at warn)": {
    httpStatus: 200,
    grpcCode: 0,
    allow: true,
    reason: "log_and_allow",
    detail: "expired: leaf expired",
    headersToSet: [],
    headersToRemove: [],
    certInfo,
  } as Decision,
  "dry-run would-be deny, frozen (at warn, whatever log-failure says)": Object.freeze({
    httpStatus: 200,
    grpcCode: 0,
    allow: true,
    reason: "not_allowed",
    detail: `${identity.spiffeId} is not allowed on route canary`,
    identity,
    headersToSet: [],
    headersToRemove: [],
    route: "canary",
    dryRun: Object.freeze({ httpStatus: 403, grpcCode: 7, allow: false }),
  }) as Decision,
};

function ctx(audit: object, version = "file:/etc/config.yaml@1"): DecisionContext {
  return { policy: compilePolicy(parseConfig({ audit })), policyVersion: version };
}

test("the preformatted audit line is the line pino writes for the same record, field for field", async () => {
  const dir = mkdtempSync(join(tmpdir(), "audit-lines-"));
  const file = join(dir, "audit.log");
  const fast = createAuditListener(createLogger({ dest: file }).child({ component: "audit" }));
  const ref = referenceLogger();
  const slow = createAuditListener(ref.logger.child({ component: "audit" }));
  const c = ctx({ "include-cert-info": true });
  let n = 0;
  for (const d of Object.values(decisions)) {
    for (const r of [plain, hostile]) {
      // Twice each: the second use of a frozen Decision takes its serialised share from the memo.
      for (let i = 0; i < 2; i++) {
        fast(r, d, 0.0012345, c);
        slow(r, d, 0.0012345, c);
        n++;
      }
    }
  }
  await until(() => fileLines(file).length === n, 5000, `${n} lines in ${file}`);
  const got = fileLines(file);
  assert.equal(ref.lines.length, n);
  for (let i = 0; i < n; i++) {
    const { time: t1, ...a } = got[i]!;
    const { time: t2, ...b } = ref.lines[i]!;
    assert.match(String(t1), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(String(t2), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(a, b, `line ${i}`);
  }
  // The hostile request's fields were capped and the query dropped, as auditRecord does.
  const h = got.find((l) => l["transport"] === "zentinel")!;
  assert.equal(String(h["path"]).includes("secret"), false);
  assert.ok(String(h["traceparent"]).length <= 513);
  assert.deepEqual(
    got.map((l) => l["level"]),
    ref.lines.map((l) => l["level"]),
  );
  assert.ok(got.some((l) => l["level"] === "warn" && l["reason"] === "log_and_allow"));
  assert.ok(got.some((l) => l["level"] === "warn" && l["enforcement"] === "dry-run" && l["would_allow"] === false));
});

test("a dry-run would-be deny is written with log-failure and log-success off, grep-able, and never as a plain allow", async () => {
  const dir = mkdtempSync(join(tmpdir(), "audit-lines-"));
  const file = join(dir, "audit.log");
  const l = createAuditListener(createLogger({ dest: file }));
  const c = ctx({ "log-success": false, "log-failure": false });
  const dry = decisions["dry-run would-be deny, frozen (at warn, whatever log-failure says)"]!;
  l(plain, dry, 0, c);
  l(plain, decisions["deny"]!, 0, c); // enforced deny: log-failure off, not written
  l(plain, { ...dry, dryRun: { httpStatus: 200, grpcCode: 0, allow: true } }, 0, c); // would-be allow: log-success off
  l(plain, dry, 0, c);
  await until(() => fileLines(file).length === 2, 5000, "2 lines");
  const text = readFileSync(file, "utf8");
  assert.equal(text.split("\n").filter(Boolean).length, 2);
  for (const line of text.split("\n").filter(Boolean)) {
    assert.match(line, /"decision":"allow","reason":"not_allowed","status":200,/);
    assert.match(line, /"enforcement":"dry-run","would_allow":false,"would_status":403/);
    assert.match(line, /"level":"warn"/);
    assert.match(line, /"msg":"authz decision \(dry-run: would deny, not enforced\)"/);
  }
});

test("a frozen Decision audited under a new policy version carries the new version (the memo is per policy)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "audit-lines-"));
  const file = join(dir, "audit.log");
  const l = createAuditListener(createLogger({ dest: file }));
  const d = decisions["allow, frozen (a hot client's memo)"]!;
  const v1 = ctx({ "include-cert-info": true }, "v1");
  const v2 = ctx({ "include-cert-info": false }, "v2");
  l(plain, d, 0, v1);
  l(plain, d, 0, v2);
  l(plain, d, 0, v1);
  await until(() => fileLines(file).length === 3, 5000, "3 lines");
  const got = fileLines(file);
  assert.deepEqual(
    got.map((x) => x["policy_version"]),
    ["v1", "v2", "v1"],
  );
  assert.ok(got[0]!["cert"], "v1 includes the certificate");
  assert.equal(got[1]!["cert"], undefined, "v2 turned include-cert-info off");
});

/**
 * Runs `body` in a process of its own after the set-up every exit test shares: `l` an audit listener writing to
 * `file` through createLogger, `ctx` a policy context, `d` a frozen allow. Returns the audit file's path.
 */
function runAuditScript(name: string, body: string): { file: string; r: SpawnSyncReturns<string> } {
  const dir = mkdtempSync(join(tmpdir(), `audit-${name}-`));
  const file = join(dir, "audit.log");
  const src = (p: string) => pathToFileURL(join(import.meta.dirname, "../../src", p)).href;
  const script = join(dir, `${name}.mts`);
  writeFileSync(
    script,
    `import { createLogger } from ${JSON.stringify(src("log.ts"))};
import { createAuditListener } from ${JSON.stringify(src("engine/audit.ts"))};
import { compilePolicy } from ${JSON.stringify(src("policy/index.ts"))};
import { parseConfig } from ${JSON.stringify(src("config/load.ts"))};
const l = createAuditListener(createLogger({ dest: ${JSON.stringify(file)} }));
const ctx = { policy: compilePolicy(parseConfig({})), policyVersion: "v" };
const d = Object.freeze({ httpStatus: 200, grpcCode: 0, allow: true, reason: "ok", detail: "x", headersToSet: [], headersToRemove: [] });
${body}
`,
  );
  const r = spawnSync(process.execPath, ["--import", "tsx", script], { encoding: "utf8", timeout: 60_000 });
  return { file, r };
}

test("audit lines still batched when the process exits are written, none dropped", () => {
  const { file, r } = runAuditScript(
    "exit",
    `for (let i = 0; i < 5000; i++) l({ transport: "envoy", headers: new Map(), method: "GET", path: "/" + i }, d, 0, ctx);
process.exit(0);`,
  );
  assert.equal(r.status, 0, r.stderr);
  const got = fileLines(file);
  assert.equal(got.length, 5000);
  assert.deepEqual(
    got.map((x) => x["path"]),
    Array.from({ length: 5000 }, (_, i) => `/${i}`),
  );
});

test("lines of separate event-loop turns a moment apart share one write; a lone line still arrives", async () => {
  const dir = mkdtempSync(join(tmpdir(), "audit-hold-"));
  const file = join(dir, "audit.log");
  const logger = createLogger({ dest: file });
  // Count what reaches pino's stream: one call is one asynchronous write (a thread-pool hand-off and a syscall).
  const stream = (logger as unknown as Record<symbol, { write(s: string): unknown }>)[pino.symbols.streamSym]!;
  const write = stream.write.bind(stream);
  let writes = 0;
  stream.write = (s: string) => {
    writes++;
    return write(s);
  };
  const l = createAuditListener(logger);
  const c = ctx({});
  const d = decisions["allow, frozen (a hot client's memo)"]!;
  const turns = 10;
  for (let i = 0; i < turns; i++) {
    l({ ...plain, path: `/${i}` }, d, 0, c);
    await new Promise((r) => setImmediate(r)); // each request its own turn, as at a few hundred requests a second
  }
  await until(() => fileLines(file).length === turns, 5000, `${turns} lines`);
  // One write per turn before; with lines held a few milliseconds, far fewer (all in one unless the machine
  // stalled this loop past the hold).
  assert.ok(writes < turns / 2, `${writes} writes for ${turns} lines written in ${turns} turns`);
  assert.deepEqual(
    fileLines(file).map((x) => x["path"]),
    Array.from({ length: turns }, (_, i) => `/${i}`),
  );
  l({ ...plain, path: "/alone" }, d, 0, c);
  await until(() => fileLines(file).length === turns + 1, 5000, "the lone line");
  assert.equal(fileLines(file).at(-1)!["path"], "/alone");
});

test("a process that ends on its own with audit lines still held writes them (the hold never keeps it alive)", () => {
  const { file, r } = runAuditScript(
    "natural-exit",
    `l({ transport: "envoy", headers: new Map(), method: "GET", path: "/last" }, d, 0, ctx);`,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    fileLines(file).map((x) => x["path"]),
    ["/last"],
  );
});
