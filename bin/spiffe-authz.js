#!/usr/bin/env node
// Installed entry point: runs the bundled CLI (dist/spiffe-authz.mjs, made by `npm run build`).
// From a checkout without a build: `npx tsx src/cli.ts`.
try {
  await import("../dist/spiffe-authz.mjs");
} catch (err) {
  // Only the bundle itself missing, not a package it imports (that message also names the bundle).
  if (
    err &&
    err.code === "ERR_MODULE_NOT_FOUND" &&
    /^Cannot find module '[^']*dist\/spiffe-authz\.mjs'/.test(String(err.message))
  ) {
    console.error("spiffe-authz: dist/ is missing; run `npm run build` first (or use `npx tsx src/cli.ts`).");
    process.exit(2);
  }
  throw err;
}
