#!/usr/bin/env node
// Installed entry point: runs the bundled CLI (dist/spiffe-authz.mjs, made by `npm run build`).
// From a checkout without a build: `npx tsx src/cli.ts`.
try {
  await import("../dist/spiffe-authz.mjs");
} catch (err) {
  if (err && err.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes("spiffe-authz.mjs")) {
    console.error("spiffe-authz: dist/ is missing; run `npm run build` first (or use `npx tsx src/cli.ts`).");
    process.exit(2);
  }
  throw err;
}
