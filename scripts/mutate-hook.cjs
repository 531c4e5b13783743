// Loaded after Stryker's tap-runner hook in every test process it starts.
"use strict";
const childProcess = require("node:child_process");
const { mkdtempSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");
const { syncBuiltinESMExports } = require("node:module");

// That hook exits the process on SIGHUP, but our reload tests send SIGHUP to their own process on purpose (the
// server re-reads its config), so its SIGHUP listener is taken off again; its exit handler, which writes the
// coverage file, stays.
for (const listener of process.listeners("SIGHUP")) process.removeListener("SIGHUP", listener);

// Stryker ends a test process early (first failed test, or a timeout). Children it started (the CLI, a serve
// process) would outlive it, and a mutant that loops keeps them spinning: they go down with it instead.
const children = new Set();
const spawn = childProcess.spawn;
childProcess.spawn = function spawnTracked(...args) {
  const child = spawn.apply(this, args);
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
};
syncBuiltinESMExports();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

// A run starts thousands of test processes, and the tests leave directories under os.tmpdir(): each process gets
// its own (os.tmpdir() reads TMPDIR when called, and children inherit it), removed when it exits. A process
// Stryker kills outright still leaves its own behind.
const tmp = mkdtempSync(join(tmpdir(), "sa-mut-"));
process.env.TMPDIR = tmp;
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
