// bench/envoy-e2e's targets fed fabricated figures: each must be able to miss (slower than the goal, behind
// OPA-Envoy, a wrong answer, RBAC's tail lost in the noise, chains at different rates). And the Envoy config it
// builds from the shipped files: four listeners that differ only in their authorization filter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../e2e/lib/peers.js";
import {
  allowlistOf,
  CHAINS,
  chainsConfig,
  rbacPrincipals,
  regoPolicy,
  type ChainPorts,
} from "../../bench/lib/envoy-chains.js";
import { envoyTargets, percentile, type ChainFigures, type EnvoyRun } from "../../bench/lib/envoy-verdicts.js";

const fig = (p99sMs: number[], o: Partial<ChainFigures> = {}): ChainFigures => ({
  rate: 1000,
  p50Ms: 0.8,
  p99Ms: Math.max(...p99sMs),
  p999Ms: Math.max(...p99sMs) + 1,
  p99sMs,
  requests: 12_000,
  sentRps: 1000,
  bad: 0,
  authzCpuPer1k: NaN,
  envoyCpuPer1k: 0.2,
  ...o,
});
const good = (): EnvoyRun => ({
  none: fig([2.0, 2.1, 2.0]),
  rbac: fig([2.4, 2.5, 2.4]),
  spiffeAuthz: fig([2.6, 2.8, 2.7], { authzCpuPer1k: 0.05 }),
  opaEnvoy: fig([3.5, 3.7, 3.6], { authzCpuPer1k: 0.12 }),
});
const results = (r: EnvoyRun) => envoyTargets(r).map((l) => l.ok);

test("envoy-e2e targets: a run that meets them all passes every line", () => {
  assert.deepEqual(results(good()), [true, true, true, true]);
});

test("envoy-e2e targets: spiffe-authz 3 ms above the baseline misses the 1 ms goal (and 2× RBAC)", () => {
  const r = good();
  r.spiffeAuthz = fig([5.0, 5.1, 5.0], { authzCpuPer1k: 0.05 });
  r.opaEnvoy = fig([6, 6, 6], { authzCpuPer1k: 0.12 });
  const lines = envoyTargets(r);
  assert.equal(lines[0]!.ok, false);
  assert.match(lines[0]!.why, /> 1 ms/);
  assert.equal(lines[3]!.ok, false);
});

test("envoy-e2e targets: behind OPA-Envoy on p99 or on CPU misses", () => {
  const slower = good();
  slower.opaEnvoy = fig([2.3, 2.4, 2.3], { authzCpuPer1k: 0.12 });
  assert.deepEqual(results(slower), [true, false, true, true]);
  const hungrier = good();
  hungrier.spiffeAuthz = { ...hungrier.spiffeAuthz, authzCpuPer1k: 0.2 };
  assert.deepEqual(results(hungrier), [true, true, false, true]);
  const noOpa = good();
  noOpa.opaEnvoy = undefined;
  assert.deepEqual(results(noOpa), [true, false, false, true]);
});

test("envoy-e2e targets: one wrong answer anywhere, chains at different rates, or a load generator behind the offered rate miss every line", () => {
  const wrong = good();
  wrong.opaEnvoy = { ...wrong.opaEnvoy!, bad: 1 };
  assert.deepEqual(results(wrong), [false, false, false, false]);
  assert.match(envoyTargets(wrong)[0]!.why, /1 wrong or missing/);
  const rates = good();
  rates.none = { ...rates.none, rate: 500 };
  assert.deepEqual(results(rates), [false, false, false, false]);
  // vegeta starved of CPU sends fewer requests than offered: the latencies are not those of the offered rate.
  const behind = good();
  behind.opaEnvoy = { ...behind.opaEnvoy!, sentRps: 569 };
  assert.deepEqual(results(behind), [false, false, false, false]);
  assert.match(envoyTargets(behind)[1]!.why, /sent only 569\/s of 1000\/s/);
});

test("envoy-e2e targets: RBAC's added p99 inside the noise cannot anchor a 2× goal; a noisy run cannot pass 1 ms", () => {
  const r = good();
  r.rbac = fig([2.0, 2.2, 1.9]);
  const within = envoyTargets(r)[3]!;
  assert.equal(within.ok, false);
  assert.match(within.why, /noise band/);
  const noisy = good();
  noisy.spiffeAuthz = fig([2.1, 4.5, 2.0], { authzCpuPer1k: 0.05 });
  noisy.opaEnvoy = fig([6, 6, 6], { authzCpuPer1k: 0.12 });
  assert.equal(envoyTargets(noisy)[0]!.ok, false);
});

test("percentile: nearest rank on sorted values", () => {
  const v = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.equal(percentile(v, 0.5), 500);
  assert.equal(percentile(v, 0.99), 990);
  assert.equal(percentile(v, 0.999), 999);
  assert.ok(Number.isNaN(percentile(new Float64Array(0), 0.5)));
});

test("envoy-e2e config: four listeners from the shipped mTLS listener, differing only in the authorization filter", () => {
  const allow = allowlistOf(readFileSync(join(ROOT, "deploy/config.example.yaml"), "utf8"));
  const ports: ChainPorts = {
    listeners: { none: 1, rbac: 2, "spiffe-authz": 3, "opa-envoy": 4 },
    admin: 5,
    backend: 6,
    spiffeAuthz: 7,
    opaEnvoy: 8,
    agentSocket: "/tmp/agent.sock",
  };
  /* eslint-disable @typescript-eslint/no-explicit-any -- walking the generated config */
  const cfg = chainsConfig(ports, allow) as any;
  const listeners: any[] = cfg.static_resources.listeners;
  assert.equal(listeners.length, CHAINS.length);
  const hcm = (l: any) => l.filter_chains[0].filters[0].typed_config;
  const filterNames = listeners.map((l) => hcm(l).http_filters.map((f: any) => f.name));
  assert.deepEqual(filterNames, [
    ["envoy.filters.http.router"],
    ["envoy.filters.http.rbac", "envoy.filters.http.router"],
    ["envoy.filters.http.ext_authz", "envoy.filters.http.router"],
    ["envoy.filters.http.ext_authz", "envoy.filters.http.router"],
  ]);
  // Same TLS (client SVID required, SDS) and the same upstream for every chain.
  const tls = listeners.map((l) => JSON.stringify(l.filter_chains[0].transport_socket));
  assert.equal(new Set(tls).size, 1);
  assert.equal(JSON.parse(tls[0]!).typed_config.require_client_certificate, true);
  const routes = listeners.map((l) => hcm(l).route_config.virtual_hosts[0].routes[0].route.cluster);
  assert.deepEqual(routes, ["backend", "backend", "backend", "backend"]);
  const ext = (i: number) => hcm(listeners[i]).http_filters[0].typed_config;
  assert.equal(ext(2).grpc_service.envoy_grpc.cluster_name, "spiffe_authz");
  assert.equal(ext(2).include_peer_certificate, true);
  assert.equal(ext(3).grpc_service.envoy_grpc.cluster_name, "opa_envoy");
  // RBAC admits what the allowlist admits, by URI SAN: every entry of deploy/config.example.yaml is there.
  const principals = hcm(listeners[1]).http_filters[0].typed_config.rules.policies["spiffe-allowlist"].principals;
  assert.deepEqual(principals, rbacPrincipals(allow));
  assert.equal(principals.length, allow.exact.length + allow.prefix.length + allow.patterns.length);
  /* eslint-enable @typescript-eslint/no-explicit-any */
});

test("envoy-e2e Rego: the allowlist with anchored patterns on the principal Envoy sets from the URI SAN", () => {
  const rego = regoPolicy({
    exact: ["spiffe://example.org/frontend"],
    prefix: ["spiffe://example.org/services/"],
    trustDomains: ["partner.org"],
    patterns: ["spiffe://example\\.org/team-[a-z]+/.*"],
  });
  assert.match(rego, /^package envoy\.authz$/m);
  assert.match(rego, /^default allow := false$/m);
  assert.match(rego, /^principal := input\.attributes\.source\.principal$/m);
  assert.match(rego, /allow if principal == "spiffe:\/\/example\.org\/frontend"/);
  assert.match(rego, /allow if startswith\(principal, "spiffe:\/\/partner\.org\/"\)/);
  // Rego's regex.match finds a match anywhere: the pattern must be anchored at both ends.
  assert.ok(rego.includes('regex.match("^(?:spiffe://example\\\\.org/team-[a-z]+/.*)$", principal)'), rego);
});
