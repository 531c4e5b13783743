#!/usr/bin/env node
// Installed entry point: runs the compiled CLI. From a checkout, build first (`npm run build`).
try {
  await import("../dist/cli.js");
} catch (err) {
  if (err && err.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes("dist/cli.js")) {
    console.error("spiffe-authz: dist/ is missing; run `npm run build` first (or use `npx tsx src/cli.ts`).");
    process.exit(2);
  }
  throw err;
}
