#!/usr/bin/env node
// Installed entry point: runs the bundled CLI (dist/spiffe-authz.mjs, made by `npm run build`).
// From a checkout without a build: `npx tsx src/cli.ts`.
//
// `serve` restarts itself once, in place (process.execve: same PID, same signals, no child), with V8's young
// generation capped at 8 MB semi-spaces. Under load V8 otherwise grows them to 16 MB, and each scavenge of the
// larger space stops the event loop for 16–30 ms: that pause lands on the requests in flight and made the p99 of
// a Check 22–28 ms instead of 5–7 ms, at no gain in throughput (bench/RESULTS.md). An operator's own
// --max-semi-space-size (on the command line or in NODE_OPTIONS) is left as given.
const SEMI_SPACE = "--max-semi-space-size";
if (
  process.argv[2] === "serve" &&
  typeof process.execve === "function" &&
  !process.execArgv.some((a) => a.startsWith(SEMI_SPACE)) &&
  !(process.env.NODE_OPTIONS ?? "").includes(SEMI_SPACE)
) {
  try {
    process.execve(process.execPath, [
      process.execPath,
      ...process.execArgv,
      `${SEMI_SPACE}=8`,
      ...process.argv.slice(1),
    ]);
  } catch {
    // Not replaceable here (a platform without execve): serve with V8's own sizing rather than not at all.
  }
}
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
