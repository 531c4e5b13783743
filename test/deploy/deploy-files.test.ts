// deploy/, docker-compose.yml and the README are for users: no Envoy, SPIRE or Docker runs here, so parsers
// and our own schema keep them honest.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { parse as parseKdl, type Node as KdlNode } from "@bgotink/kdl";
import { parseConfig, parseConfigText } from "../../src/config/load.js";
import { compilePolicy } from "../../src/policy/index.js";
import { DEFAULT_GRPC_ADDRESS, SERVE_USAGE } from "../../src/cli/serve-flags.js";
import { CHECK_USAGE } from "../../src/cli/check.js";
import { TEST_USAGE } from "../../src/cli/test.js";
import { parsePolicyTestText } from "../../src/engine/policy-test/file.js";
import { METRIC } from "../../src/telemetry/index.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((n) => {
    const p = join(dir, n);
    return statSync(join(ROOT, p)).isDirectory() ? files(p) : [p];
  });
}

test("every YAML and JSON file under deploy/ and docker-compose.yml parses", () => {
  const all = [...files("deploy"), "docker-compose.yml"];
  let n = 0;
  for (const f of all) {
    if (/\.ya?ml$/.test(f)) {
      for (const doc of parseAllDocuments(read(f))) assert.deepEqual(doc.errors, [], f);
      n++;
    } else if (f.endsWith(".json")) {
      JSON.parse(read(f));
      n++;
    }
  }
  assert.ok(n >= 8, `only ${n} files checked`);
});

test("the Envoy config calls our service over gRPC with the V3 ext_authz API", () => {
  const envoy = parseYaml(read("deploy/envoy/envoy.yaml"));
  const text = JSON.stringify(envoy);
  const hcm = envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  assert.equal(hcm.forward_client_cert_details, "SANITIZE_SET");
  assert.deepEqual(hcm.set_current_client_cert_details, { cert: true, chain: true, uri: true });
  const authz = hcm.http_filters.find((f: { name: string }) => f.name === "envoy.filters.http.ext_authz").typed_config;
  assert.equal(authz.transport_api_version, "V3");
  assert.equal(authz.failure_mode_allow, false);
  assert.equal(authz.include_peer_certificate, true);
  assert.ok(authz.grpc_service.timeout);
  const cluster = envoy.static_resources.clusters.find(
    (c: { name: string }) => c.name === authz.grpc_service.envoy_grpc.cluster_name,
  );
  const addr = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual(addr, { address: "spiffe-authz", port_value: 50051 });
  assert.equal(cluster.health_checks[0].grpc_health_check.service_name, "envoy.service.auth.v3.Authorization");
  assert.match(text, /"context_extensions":\{"route":"payments"\}/);
  // The compose service Envoy dials exists and listens on that port.
  const compose = parseYaml(read("docker-compose.yml"));
  assert.ok(compose.services["spiffe-authz"]);
  assert.ok(compose.services["spiffe-authz"].command.includes("0.0.0.0:50051"));
  for (const s of ["spire-server", "spire-agent", "envoy", "backend", "frontend", "intruder"])
    assert.ok(compose.services[s], s);
});

// The mismatches only the real peers showed (the e2e tier runs these files against them); kept here so the
// fast tier catches a regression without the peers.
test("Envoy asks SDS for the SVID SPIRE registers for the envoy service, and for the trust domain's bundle", () => {
  const envoy = parseYaml(read("deploy/envoy/envoy.yaml"));
  const entries = JSON.parse(read("deploy/spire/entries.json")).entries as Array<{
    spiffe_id: string;
    selectors: Array<{ type: string; value: string }>;
  }>;
  const envoyEntry = entries.find((e) => e.selectors.some((s) => s.value === "label:com.docker.compose.service:envoy"));
  for (const l of envoy.static_resources.listeners) {
    if (l.name === "zentinel_agent_egress") {
      // Plaintext in, mTLS out: loopback only.
      assert.equal(l.address.socket_address.address, "127.0.0.1");
      assert.equal(l.filter_chains[0].filters[0].typed_config.cluster, "spiffe_authz");
      continue;
    }
    const ctx = l.filter_chains[0].transport_socket.typed_config.common_tls_context;
    assert.deepEqual(
      ctx.tls_certificate_sds_secret_configs.map((c: { name: string }) => c.name),
      [envoyEntry?.spiffe_id],
      `${l.name} asks SDS for an SVID SPIRE never issues to Envoy`,
    );
  }
  const mtls = envoy.static_resources.listeners.find((l: { name: string }) => l.name === "inbound_mtls");
  assert.equal(mtls.filter_chains[0].transport_socket.typed_config.require_client_certificate, true);
  assert.equal(
    mtls.filter_chains[0].transport_socket.typed_config.common_tls_context.combined_validation_context
      .validation_context_sds_secret_config.name,
    "spiffe://example.org",
  );
  // Access log to Envoy's own stdout: opening /dev/stdout fails when stdout is a socket (ENXIO).
  assert.doesNotMatch(read("deploy/envoy/envoy.yaml"), /path: \/dev\/stdout/);
  // spiffe-authz runs server.tls.mode spiffe: Envoy's cluster presents the SVID spiffe-authz authorizes.
  const cluster = envoy.static_resources.clusters.find((c: { name: string }) => c.name === "spiffe_authz");
  const up = cluster.transport_socket.typed_config.common_tls_context;
  assert.equal(up.tls_certificate_sds_secret_configs[0].name, envoyEntry?.spiffe_id);
  const authz = parseYaml(read("deploy/compose/spiffe-authz.yaml"));
  assert.equal(authz.server.tls.mode, "spiffe");
  assert.deepEqual(authz.server.tls["authorized-clients"].exact, [envoyEntry?.spiffe_id]);
  assert.equal(
    up.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].matcher.exact,
    entries.find((e) => e.spiffe_id.endsWith("/spiffe-authz"))?.spiffe_id,
  );
});

test("docker-compose.yml runs the SPIRE images as they are built (FROM scratch: no shell, no wget) and mounts files that exist", () => {
  const compose = parseYaml(read("docker-compose.yml")) as {
    services: Record<string, { image?: string; entrypoint?: string[]; command?: string[]; volumes?: string[] }>;
  };
  const pins = Object.fromEntries(
    read("scripts/peers.env")
      .split("\n")
      .map((l) => /^([A-Z_]+)=(\S+)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
  let spire = 0;
  for (const [name, svc] of Object.entries(compose.services)) {
    if (svc.image?.startsWith("ghcr.io/spiffe/spire-")) {
      spire++;
      assert.equal(svc.image.split(":")[1], pins["SPIRE_VERSION"], `${name}: the SPIRE version the e2e tier tests`);
      const argv = [...(svc.entrypoint ?? []), ...(svc.command ?? [])].join(" ");
      assert.doesNotMatch(argv, /\/bin\/sh|wget|curl/, `${name} runs a shell or tool its image does not have`);
      if (svc.entrypoint) assert.match(svc.entrypoint[0]!, /^\/opt\/spire\/bin\/spire-(server|agent)$/, name);
    }
    if (svc.image?.startsWith("envoyproxy/envoy:"))
      assert.equal(svc.image, `envoyproxy/envoy:v${pins["ENVOY_VERSION"]}`);
    for (const v of svc.volumes ?? []) {
      if (v.startsWith("./"))
        assert.ok(statSync(join(ROOT, v.split(":")[0]!)).isFile(), `${name} mounts ${v}, which does not exist`);
    }
  }
  assert.ok(spire >= 5, "server, registration, agent and the SVID fetchers");
  assert.ok(!read("docker-compose.yml").includes("register.sh"));
});

test("config snippets in deploy/ and the README pass our config schema and compile", () => {
  const snippets: Array<[string, unknown]> = [
    ["deploy/config.example.yaml", parseYaml(read("deploy/config.example.yaml"))],
    ["deploy/compose/spiffe-authz.yaml", parseYaml(read("deploy/compose/spiffe-authz.yaml"))],
    [
      "deploy/kubernetes/10-configmap.yaml",
      parseYaml(parseYaml(read("deploy/kubernetes/10-configmap.yaml")).data["config.yaml"]),
    ],
  ];
  for (const [name, value] of snippets) {
    assert.doesNotThrow(() => compilePolicy(parseConfig(value)), name);
  }
  // YAML blocks in the README: our config, or a policy test file (`spiffe-authz test`) for the example config.
  const blocks = [...read("README.md").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  for (const b of blocks) {
    if (/^cases:/m.test(b)) parsePolicyTestText(b, "README", join(import.meta.dirname, "../../deploy"));
    else compilePolicy(parseConfigText(b, "README"));
  }
});

// What the proxy's KDL loader (zentinel crates/config kdl_to_json) makes of a block: a child with one argument
// is that value, several arguments an array, children or properties an object, nothing at all `true`.
function kdlToJson(node: KdlNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const child of node.children?.nodes ?? []) {
    const args = child.getArguments();
    const props = Object.fromEntries(child.getProperties());
    const nested = child.children ? kdlToJson(child) : {};
    const obj = { ...props, ...nested };
    out[child.getName()] =
      Object.keys(obj).length > 0 ? obj : args.length === 1 ? args[0] : args.length > 1 ? args : true;
  }
  return out;
}

test("the Zentinel KDL snippet is valid KDL wired as the proxy reads it, and its config block passes our schema", () => {
  const doc = parseKdl(read("deploy/zentinel/zentinel.kdl"));
  const agent = doc.findNodeByName("agents")?.children?.findParameterizedNode("agent", "spiffe");
  assert.ok(agent, 'agents { agent "spiffe" }');
  const child = (n: KdlNode, name: string) => n.children?.findNodeByName(name);
  // gRPC transport (the proxy's unix-socket transport is not gRPC), at our default port, over plain HTTP/2.
  assert.equal(child(agent, "unix-socket"), undefined);
  const grpcNode = child(agent, "grpc");
  assert.ok(grpcNode, "grpc transport");
  const address = String(grpcNode.getProperty("address") ?? grpcNode.getArgument(0));
  assert.equal(address, `http://127.0.0.1:${DEFAULT_GRPC_ADDRESS.split(":")[1]}`);
  // Events are separate string arguments (KDL has no list literal); we handle request_headers.
  assert.deepEqual(child(agent, "events")?.getArguments(), ["request_headers"]);
  assert.equal(child(agent, "failure-mode")?.getArgument(0), "closed");
  // Routes reach agents through an agent filter.
  const filter = doc.findNodeByName("filters")?.children?.findParameterizedNode("filter", "spiffe-auth");
  assert.ok(filter, 'filters { filter "spiffe-auth" }');
  assert.equal(child(filter, "type")?.getArgument(0), "agent");
  assert.equal(child(filter, "agent")?.getArgument(0), "spiffe");
  assert.equal(child(filter, "failure-mode")?.getArgument(0), "closed");
  const routes = doc.findNodeByName("routes")?.children?.findNodesByName("route") ?? [];
  assert.ok(routes.length > 0);
  for (const r of routes)
    assert.ok(child(r, "filters")?.getArguments().includes("spiffe-auth"), `route ${String(r.getArgument(0))}`);

  // The config block, as the proxy turns it into JSON, is a valid config of ours with the original agent's keys.
  const configNode = child(agent, "config");
  assert.ok(configNode);
  const json = kdlToJson(configNode);
  assert.deepEqual(Object.keys(json).sort(), ["allowlist", "audit", "failure", "headers", "spire", "tls"]);
  const cfg = parseConfig(json);
  compilePolicy(cfg);
  const defaults = parseConfig({});
  for (const section of ["failure", "headers", "audit"] as const) {
    assert.deepEqual(Object.keys(json[section] as object).sort(), Object.keys(defaults[section]).sort(), section);
  }
  assert.equal(cfg.tls["require-mtls"], true);
  assert.equal(cfg.allowlist.exact.length, 2);
});

test("every flag the README names exists in the commands' --help, and every --help flag is in the README", () => {
  const readme = read("README.md");
  const help = SERVE_USAGE + CHECK_USAGE + TEST_USAGE;
  const flagsIn = (s: string) => new Set([...s.matchAll(/(?<![\w-])--([a-z][a-z-]+)/g)].map((m) => m[1] as string));
  const readmeFlags = flagsIn(readme);
  const helpFlags = flagsIn(help);
  for (const f of [
    "import",
    "test",
    "plaintext",
    "keep",
    "out",
    "quick",
    "only",
    "minutes",
    "bench",
    "pin",
    "max-semi-space-size",
    "trace-gc",
    "mutate",
    "sum",
  ])
    readmeFlags.delete(f); // node (and V8), grpcurl, demo, bench, peers.sh, Stryker and mutate-summary flags
  for (const f of readmeFlags) assert.ok(helpFlags.has(f), `README names --${f}, which no --help lists`);
  for (const f of helpFlags) if (f !== "help") assert.ok(readmeFlags.has(f), `--${f} is missing from the README`);
  // and every env var of the serve command is documented
  for (const env of SERVE_USAGE.matchAll(/\b([A-Z][A-Z0-9_]{4,})\b/g))
    assert.ok(readme.includes(env[1] as string), `${env[1]} missing from the README`);
});

test("the README's configuration reference names every key of the schema, with the schema's defaults", () => {
  const readme = read("README.md");
  const ref = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## Decisions"));
  const d = parseConfig({});
  for (const [section, value] of Object.entries(d)) {
    assert.ok(ref.includes(`### ${section}`), `section ${section}`);
    if (Array.isArray(value)) continue;
    // A top-level key that is a value of its own (enforcement): its section names its default.
    if (typeof value === "string") {
      assert.ok(ref.includes(`\`${value}\` (default)`), `${section} default ${value}`);
      continue;
    }
    for (const [key, def] of Object.entries(value as Record<string, unknown>)) {
      assert.ok(ref.includes(`\`${key}\``), `${section}.${key} missing`);
      if (typeof def === "number" || typeof def === "boolean")
        assert.ok(ref.includes(`\`${String(def)}\``), `${section}.${key} default ${String(def)}`);
      if (typeof def === "string") assert.ok(ref.includes(def), `${section}.${key} default ${def}`);
    }
  }
  for (const k of ["name", "match", "path-prefix", "methods", "allowlist", "routes[].enforcement"])
    assert.ok(ref.includes(k), `routes ${k}`);
});

test("the README's metrics list is exactly the metric contract", () => {
  const named = new Set([...read("README.md").matchAll(/`(spiffe_authz_[a-z_]+)`/g)].map((m) => m[1]));
  assert.deepEqual([...named].sort(), Object.values(METRIC).sort());
});
