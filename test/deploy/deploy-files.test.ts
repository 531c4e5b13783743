// deploy/, docker-compose.yml and the README are for users: no Envoy, SPIRE or Docker runs here, so parsers
// and our own schema keep them honest.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { parseConfig, parseConfigText } from "../../src/config/load.js";
import { compilePolicy } from "../../src/policy/index.js";
import { SERVE_USAGE } from "../../src/cli/serve-options.js";
import { CHECK_USAGE } from "../../src/cli/check.js";
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
  const cluster = envoy.static_resources.clusters.find((c: { name: string }) => c.name === authz.grpc_service.envoy_grpc.cluster_name);
  const addr = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual(addr, { address: "spiffe-authz", port_value: 50051 });
  assert.equal(cluster.health_checks[0].grpc_health_check.service_name, "envoy.service.auth.v3.Authorization");
  assert.match(text, /"context_extensions":\{"route":"payments"\}/);
  // The compose service Envoy dials exists and listens on that port.
  const compose = parseYaml(read("docker-compose.yml"));
  assert.ok(compose.services["spiffe-authz"]);
  assert.ok(compose.services["spiffe-authz"].command.includes("0.0.0.0:50051"));
  for (const s of ["spire-server", "spire-agent", "envoy", "backend", "frontend", "intruder"]) assert.ok(compose.services[s], s);
});

test("config snippets in deploy/ and the README pass our config schema and compile", () => {
  const snippets: Array<[string, unknown]> = [
    ["deploy/config.example.yaml", parseYaml(read("deploy/config.example.yaml"))],
    ["deploy/compose/spiffe-authz.yaml", parseYaml(read("deploy/compose/spiffe-authz.yaml"))],
    ["deploy/kubernetes/configmap.yaml", parseYaml(parseYaml(read("deploy/kubernetes/configmap.yaml")).data["config.yaml"])],
  ];
  for (const [name, value] of snippets) {
    assert.doesNotThrow(() => compilePolicy(parseConfig(value)), name);
  }
  // YAML blocks in the README that look like our config.
  const blocks = [...read("README.md").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  for (const b of blocks) compilePolicy(parseConfigText(b, "README"));
});

test("the Zentinel KDL snippet carries exactly our config keys", () => {
  const kdl = read("deploy/zentinel/zentinel.kdl");
  const section = (name: string) => new RegExp(`\\n\\s+${name} \\{`).test(kdl);
  for (const s of ["spire", "tls", "allowlist", "failure", "headers", "audit"]) assert.ok(section(s), s);
  const defaults = parseConfig({});
  const keys = (o: object) => Object.keys(o);
  for (const k of [...keys(defaults.spire).filter((k) => k !== "socket"), ...keys(defaults.failure), ...keys(defaults.headers), ...keys(defaults.audit)]) {
    assert.match(kdl, new RegExp(`\\b${k}\\b`), k);
  }
});

test("every flag the README names exists in the commands' --help, and every --help flag is in the README", () => {
  const readme = read("README.md");
  const help = SERVE_USAGE + CHECK_USAGE;
  const flagsIn = (s: string) => new Set([...s.matchAll(/(?<![\w-])--([a-z][a-z-]+)/g)].map((m) => m[1] as string));
  const readmeFlags = flagsIn(readme);
  const helpFlags = flagsIn(help);
  for (const f of ["import", "test", "plaintext", "keep", "quick"]) readmeFlags.delete(f); // node, grpcurl, demo and bench flags
  for (const f of readmeFlags) assert.ok(helpFlags.has(f), `README names --${f}, which no --help lists`);
  for (const f of helpFlags) if (f !== "help") assert.ok(readmeFlags.has(f), `--${f} is missing from the README`);
  // and every env var of the serve command is documented
  for (const env of SERVE_USAGE.matchAll(/\b([A-Z][A-Z0-9_]{4,})\b/g)) assert.ok(readme.includes(env[1] as string), `${env[1]} missing from the README`);
});

test("the README's configuration reference names every key of the schema, with the schema's defaults", () => {
  const readme = read("README.md");
  const ref = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## Decisions"));
  const d = parseConfig({});
  for (const [section, value] of Object.entries(d)) {
    assert.ok(ref.includes(`### ${section}`), `section ${section}`);
    if (Array.isArray(value)) continue;
    for (const [key, def] of Object.entries(value as Record<string, unknown>)) {
      assert.ok(ref.includes(`\`${key}\``), `${section}.${key} missing`);
      if (typeof def === "number" || typeof def === "boolean") assert.ok(ref.includes(`\`${String(def)}\``), `${section}.${key} default ${String(def)}`);
      if (typeof def === "string") assert.ok(ref.includes(def), `${section}.${key} default ${def}`);
    }
  }
  for (const k of ["name", "match", "path-prefix", "methods", "allowlist"]) assert.ok(ref.includes(k), `routes ${k}`);
});

test("the README's metrics list is exactly the metric contract", () => {
  const named = new Set([...read("README.md").matchAll(/`(spiffe_authz_[a-z_]+)`/g)].map((m) => m[1]));
  assert.deepEqual([...named].sort(), Object.values(METRIC).sort());
});
