// The layers of src/, bottom to top: a module may import from its own layer and the layers below it, never
// from a layer above (docs/architecture.md says what each layer is for). `npm run lint:layers` checks it;
// test/lint/layers.test.ts shows the check fails on a back-arrow.
export const LAYERS = [
  // generated code, logging, the proto files and the package version: the ground everything stands on
  { name: "base", path: "^src/(gen/|log\\.ts$|protos\\.ts$|version\\.ts$)" },
  // SPIFFE IDs, SVIDs and bundles; knows nothing of gRPC, Envoy or Zentinel
  { name: "spiffe", path: "^src/spiffe/" },
  // formats a request presents its credentials in: Envoy's XFCC header, URL-encoded PEM
  { name: "formats", path: "^src/formats/" },
  // the development CA behind `demo` and the tests' certificates
  { name: "dev-ca", path: "^src/dev-ca/" },
  // the config file's schema, loading, and the tighten-only rules for pushed config
  { name: "config", path: "^src/config/" },
  // config compiled into matchers and routes, and the config in force
  { name: "policy", path: "^src/policy/" },
  // gRPC plumbing: addresses, service definitions, the server host
  { name: "grpc", path: "^src/grpc/" },
  // trust bundles from the Workload API and files, the trust store, our own SVID and server TLS
  { name: "trust", path: "^src/trust/" },
  // the decision: credentials, verification, policy, cache, audit
  { name: "engine", path: "^src/engine/" },
  // metrics: OpenTelemetry, /metrics, OTLP, worker aggregation
  { name: "telemetry", path: "^src/telemetry/" },
  // the two doors: Envoy ext_authz and the Zentinel agent protocol
  { name: "adapters", path: "^src/adapters/" },
  // the composition root and the worker supervisor
  { name: "composition", path: "^src/(?!(log|protos|version|cli)\\.ts$)[^/]+\\.ts$" },
  // the command line
  { name: "cli", path: "^src/(cli/|cli\\.ts$)" },
];

// Each file is in exactly one layer (the patterns do not overlap); the rule for layer i forbids importing any
// layer above i.
const backArrows = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.name}`,
  severity: "error",
  comment: `${layer.name} may import only from itself and the layers below it (${
    LAYERS.slice(0, i)
      .map((l) => l.name)
      .join(", ") || "none"
  })`,
  from: { path: layer.path },
  to: {
    path: LAYERS.slice(i + 1)
      .map((l) => `(${l.path})`)
      .join("|"),
  },
}));

/** @type {import("dependency-cruiser").IConfiguration} */
export default {
  forbidden: [
    ...backArrows,
    {
      name: "no-circular",
      severity: "error",
      comment: "an import cycle is a back-arrow inside a layer",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "src-stands-alone",
      severity: "error",
      comment: "src/ imports nothing from test/, bench/, e2e/ or scripts/",
      from: { path: "^src/" },
      to: { path: "^(test|bench|e2e|scripts)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/gen/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
  },
};
