// The folders `npm run mutate` mutates (globs, so renames and splits inside a folder need no change here),
// and for each the test files that exercise it directly. Stryker's dry run records which of these files
// execute each mutant, and the mutant then runs against those files only. Listing the whole suite would be
// correct too, but every server-level test loads every folder at start-up, so each mutant would run dozens of
// multi-second files: hours instead of minutes.
//
// Order matters: a mutant runs against its covering files in the order listed here and stops at the first
// that fails (stryker.config.mjs expands the globs in this order), so fast unit files come first and the
// multi-second server-level and property files last. Seconds per file (niced, shared machine) are noted.

export const folders = {
  spiffe: {
    mutate: ["src/spiffe/**/*.ts"],
    tests: [
      "test/spiffe/der.test.ts", // 0.3 s, the DER reader on hand-made encodings
      "test/spiffe/key-cache.test.ts", // 0.3 s
      "test/spiffe/public-key.test.ts", // 0.3 s, SPKI and key bounds, hand-made and real keys
      "test/spiffe/algorithms.test.ts", // 0.3 s, AlgorithmIdentifiers, signature checks with real keys
      "test/spiffe/extensions.test.ts", // 0.5 s, dev-CA certificates with hand-made extensions
      "test/spiffe/certificate-fields.test.ts", // 0.9 s, certificates taken apart and rebuilt
      "test/spiffe/jwt-bundle.test.ts", // 0.4 s, JWKs by exact message
      "test/spiffe/jwt-svid-details.test.ts", // 0.5 s, JWT-SVID refusals by detail, times to the millisecond
      "test/spiffe/bundle-set.test.ts", // 0.6 s, bundle set and X.509 bundle parsers by exact message
      "test/spiffe/id.test.ts", // 0.7 s
      "test/spiffe/pem.test.ts", // 0.6 s
      "test/spiffe/name-constraints.test.ts", // 1 s
      "test/spiffe/chain.test.ts", // 0.8 s
      "test/spiffe/bundles.test.ts", // 1.3 s
      "test/spiffe/certificate.test.ts", // 1.4 s
      "test/spiffe/jwt-svid.test.ts", // 1.3 s
      "test/engine/chain-cache.test.ts", // 1.2 s
      "test/trust/workload-api/bundle-map.test.ts", // 1.2 s
      "test/engine/credentials.test.ts", // 1.7 s
      "test/fuzz/certs.test.ts", // property suites: 1-3 s at the mutate cap
      "test/fuzz/spiffe-id.test.ts",
      "test/fuzz/jwt.test.ts",
      "test/spiffe/properties.test.ts", // 2-5 s
      "test/spiffe/x509-svid.test.ts", // 4 s
      "test/spiffe/path-limits.test.ts", // 4.7 s
      "test/spiffe/*.test.ts", // any file added later
      "test/trust/static-bundles.test.ts", // 4.8 s
      "test/adapters/envoy/hostile-chains.test.ts", // 6.4 s
      "test/adapters/envoy/cross-domain.test.ts", // 7 s
      "test/fuzz/x509-differential.test.ts", // 10 s, OpenSSL as the oracle
    ],
  },
  policy: {
    mutate: ["src/policy/**/*.ts"],
    tests: [
      "test/policy/routes.test.ts", // 0.6 s
      "test/policy/route-selection.test.ts", // 0.6 s
      "test/policy/explain.test.ts", // 1.3 s
      "test/policy/config-manager.test.ts", // 1 s, real config files reloaded, log captured
      "test/policy/config-manager-pushed.test.ts", // 0.9 s, applyPushed's refusals and log lines
      "test/policy/mutants-methods-headers.test.ts", // 1.3 s
      "test/policy/policy.test.ts", // 1.8 s
      "test/policy/mutants-allowlist.test.ts", // 1.9 s
      "test/policy/mutants-routes.test.ts", // 2.2 s
      "test/policy/*.test.ts",
      "test/config/*.test.ts", // 2.3 s each
      "test/engine/decide.test.ts", // 3.5 s
      "test/fuzz/config-errors.test.ts", // 4.2 s
      "test/adapters/routes-and-headers.test.ts", // 4.5 s
      "test/adapters/identity-strip.test.ts", // 4.8 s
      "test/fuzz/config.test.ts", // 13 s at full length
      "test/fuzz/regex-safety.test.ts", // 17 s at full length
    ],
  },
  engine: {
    mutate: ["src/engine/**/*.ts"],
    tests: [
      "test/formats/*.test.ts", // 1-2 s
      "test/engine/chain-cache.test.ts",
      "test/engine/credentials.test.ts",
      "test/engine/engine.test.ts",
      "test/engine/audit.test.ts",
      "test/engine/client-cert-formats.test.ts",
      "test/engine/audit-credential-source.test.ts",
      "test/engine/offline.test.ts",
      "test/engine/failure-cache.test.ts",
      "test/engine/dry-run.test.ts",
      "test/engine/decision-memo.test.ts",
      "test/engine/decide.test.ts",
      "test/engine/audit-lines.test.ts", // 4.4 s
      "test/engine/*.test.ts",
      "test/fuzz/xfcc.test.ts",
      "test/adapters/identity-strip.test.ts", // 4.8 s
      "test/server/xfcc-reload.test.ts", // 5.8 s
      "test/adapters/envoy/hostile-chains.test.ts",
      "test/adapters/envoy/cross-domain.test.ts",
      "test/fuzz/check.test.ts", // 8.6 s
    ],
  },
  adapters: {
    mutate: ["src/adapters/**/*.ts"],
    tests: [
      "test/adapters/envoy/translate.test.ts", // 0.7 s, no server
      "test/adapters/zentinel/translate.test.ts", // 0.7 s, no server
      "test/gen/*.test.ts",
      "test/adapters/envoy/service.test.ts", // 1 s, stand-in deciders, no certificates
      "test/adapters/zentinel/engine-failures.test.ts", // 1.7 s, stand-in decider
      "test/adapters/zentinel/stream-upkeep.test.ts", // 1.5 s, stand-in decider and metrics source
      "test/adapters/zentinel/control-stream.test.ts", // 1 s, stand-in decider, its log captured
      "test/adapters/zentinel/sessions.test.ts", // 0.3 s, SessionRegistry alone (admit at the cap)
      "test/adapters/envoy/mutants-metadata.test.ts", // 3.2 s
      "test/adapters/zentinel/configure.test.ts", // 3.5 s
      "test/adapters/zentinel/agent-defaults.test.ts", // 4 s, stand-in decider, no settings; 1024 connections
      "test/adapters/envoy/rotation.test.ts", // 4 s
      "test/adapters/envoy/envoy-door.test.ts", // 4.2 s
      "test/adapters/zentinel/reports.test.ts", // 4.5 s
      "test/adapters/zentinel/lifecycle.test.ts",
      "test/adapters/zentinel/handshake.test.ts",
      "test/adapters/zentinel/events.test.ts", // 5 s
      "test/adapters/zentinel/stream.test.ts", // 5 s
      "test/adapters/zentinel/pushed-config.test.ts",
      "test/adapters/routes-and-headers.test.ts",
      "test/adapters/identity-strip.test.ts",
      "test/adapters/envoy/headers-to-remove.test.ts", // 6 s
      "test/adapters/envoy/*.test.ts",
      "test/adapters/zentinel/*.test.ts",
      "test/fuzz/check.test.ts", // 8.6 s
    ],
  },
  "trust-watcher": {
    mutate: ["src/trust/workload-api/**/*.ts"],
    tests: [
      "test/trust/workload-api/backoff.test.ts", // 0.5 s
      "test/trust/workload-api/bundle-map.test.ts", // 0.8 s
      "test/trust/workload-api/svid-watcher-messages.test.ts", // 1.2 s, scripted Workload API
      "test/trust/workload-api/watcher-streams.test.ts", // 3 s, scripted Workload API
      "test/trust/workload-api/watcher-lifecycle.test.ts", // 5 s, dev Workload API
      "test/trust/workload-api/svid-watcher.test.ts", // 7 s, dev Workload API (serve runs it in a child: no coverage)
      "test/trust/workload-api/watcher-recovery.test.ts", // 7 s
      "test/trust/workload-api/watcher.test.ts", // 18 s
      "test/trust/workload-api/*.test.ts", // any file added later
      "test/server/workload-api-faults.test.ts",
      "test/server/server-tls.test.ts",
    ],
  },
};
