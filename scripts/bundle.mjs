#!/usr/bin/env node
// Bundles the compiled CLI into one ES module, dist/spiffe-authz.mjs, which bin/spiffe-authz.js runs.
// Why: start-up is mostly module loading. One file instead of ~700 spends about half the CPU before the
// first decision (bench/startup.ts), and a restarted pod or a new cluster worker is serving sooner.
// Left outside the bundle: packages that find their own files next to their code (grpc-health-check and
// @grpc/reflection load .proto files from __dirname, proto-loader is what reads them) and the OTLP exporters,
// which src/telemetry/otlp.ts requires only when OTLP push is configured.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Bundles src/cli.ts into `outfile`, which must sit one directory below the project root (it finds ../proto). */
export async function bundleCli(outfile = `${root}/dist/spiffe-authz.mjs`) {
  await build({
    entryPoints: [`${root}/src/cli.ts`],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: true,
    external: ["grpc-health-check", "@grpc/reflection", "@grpc/proto-loader"],
    // Bundled CommonJS packages call require() and may read __dirname/__filename; give the module all three
    // (pointing at dist/, which is where the build's own files are, e.g. nothing of ours reads them today).
    banner: {
      js: [
        "import { createRequire as __spiffeAuthzRequire } from 'node:module';",
        "import { fileURLToPath as __spiffeAuthzPath } from 'node:url';",
        "const require = __spiffeAuthzRequire(import.meta.url);",
        "const __filename = __spiffeAuthzPath(import.meta.url);",
        "const __dirname = __spiffeAuthzPath(new URL('.', import.meta.url));",
      ].join(" "),
    },
    logLevel: "warning",
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleCli();
