import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../helpers/cli.js";

test("npm run demo: exits 0 and prints the scripted decisions, through both doors and a rotation", async () => {
  const r = await runCli(["demo"], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  const row = (label: string) => lines.find((l) => l.includes(label)) ?? "";
  assert.match(row("services/web   "), /ALLOW\s+200/);
  assert.match(row("intruder"), /DENY\s+403.*not_allowed/);
  assert.match(row("expired certificate"), /DENY\s+401.*expired/);
  assert.match(row("rogue CA"), /DENY\s+401.*untrusted/);
  assert.match(row("no client certificate"), /DENY\s+401.*no_certificate/);
  assert.match(row("Zentinel door"), /ALLOW\s+200/);
  assert.match(row("from the old CA"), /DENY\s+401.*untrusted/);
  assert.match(row("from the new CA"), /ALLOW\s+200/);
  assert.match(r.stdout, /done\.\n$/);
});
