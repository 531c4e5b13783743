#!/usr/bin/env node
// Runs the buf CLI. Our registry serves buf's Linux binaries only, so package.json lists those packages
// (as optional dependencies, one per supported CPU) instead of @bufbuild/buf, whose lockfile would name
// platform packages `npm ci` cannot fetch here. Elsewhere, a `buf` on PATH is used.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const pkg = { "linux-x64": "@bufbuild/buf-linux-x64", "linux-arm64": "@bufbuild/buf-linux-aarch64" }[
  `${process.platform}-${process.arch}`
];
let bin = "buf";
if (pkg) {
  try {
    bin = require.resolve(`${pkg}/bin/buf`);
  } catch {
    // fall back to PATH
  }
}
const res = spawnSync(bin, process.argv.slice(2), { stdio: "inherit" });
if (res.error) {
  console.error(
    `buf: cannot run ${bin} (${res.error.message}); install buf (https://buf.build) or run on linux x64/arm64`,
  );
  process.exit(2);
}
process.exit(res.status ?? 1);
