// The folders `npm run mutate` mutates (globs, so renames and splits inside a folder need no change here),
// and for each the test files that exercise it directly. Stryker's dry run records which of these files
// execute each mutant, and the mutant then runs against those files only. Listing the whole suite would be
// correct too, but every server-level test loads every folder at start-up, so each mutant would run dozens of
// multi-second files: hours instead of minutes.
export const folders = {
  spiffe: {
    mutate: ["src/spiffe/**/*.ts"],
    tests: [
      "test/spiffe/*.test.ts",
      "test/fuzz/{certs,spiffe-id,jwt}.test.ts",
      "test/adapters/envoy/{cross-domain,hostile-chains}.test.ts",
      "test/engine/{credentials,chain-cache}.test.ts",
      "test/trust/static-bundles.test.ts",
      "test/trust/workload-api/bundle-map.test.ts",
    ],
  },
  policy: {
    mutate: ["src/policy/**/*.ts"],
    tests: [
      "test/policy/*.test.ts",
      "test/engine/decide.test.ts",
      "test/config/*.test.ts",
      "test/fuzz/{regex-safety,config,config-errors}.test.ts",
      "test/adapters/{routes-and-headers,identity-strip}.test.ts",
    ],
  },
  engine: {
    mutate: ["src/engine/**/*.ts"],
    tests: [
      "test/engine/*.test.ts",
      "test/fuzz/{xfcc,check}.test.ts",
      "test/server/xfcc-reload.test.ts",
      "test/adapters/identity-strip.test.ts",
      "test/formats/*.test.ts",
      "test/adapters/envoy/{cross-domain,hostile-chains}.test.ts",
    ],
  },
  adapters: {
    mutate: ["src/adapters/**/*.ts"],
    tests: [
      "test/adapters/envoy/*.test.ts",
      "test/adapters/zentinel/*.test.ts",
      "test/gen/*.test.ts",
      "test/fuzz/check.test.ts",
      "test/adapters/{routes-and-headers,identity-strip}.test.ts",
    ],
  },
  "trust-watcher": {
    mutate: ["src/trust/workload-api/**/*.ts"],
    tests: [
      "test/trust/workload-api/*.test.ts",
      "test/server/workload-api-faults.test.ts",
      "test/server/server-tls.test.ts",
    ],
  },
};
