// bench/envoy-e2e's Envoy: one process, four listeners that differ only in their HTTP filters, built from the
// shipped deploy/envoy/envoy.yaml (its mTLS listener's connection manager and SDS TLS context, its clusters) and
// the one allowlist of deploy/config.example.yaml, turned into an RBAC policy and a Rego policy that admit the
// same SPIFFE IDs.
import { parse } from "yaml";
import { deployFile } from "../../e2e/lib/templates.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- the Envoy config is walked as plain YAML data */

export type Chain = "none" | "rbac" | "spiffe-authz" | "opa-envoy";
export const CHAINS: readonly Chain[] = ["none", "rbac", "spiffe-authz", "opa-envoy"];
export const CHAIN_LABEL: Record<Chain, string> = {
  none: "(a) no authorization",
  rbac: "(b) Envoy RBAC",
  "spiffe-authz": "(c) ext_authz → spiffe-authz",
  "opa-envoy": "(d) ext_authz → OPA-Envoy",
};

/** The top-level allowlist of a spiffe-authz config (the keys of deploy/config.example.yaml). */
export interface Allowlist {
  exact: string[];
  prefix: string[];
  trustDomains: string[];
  patterns: string[];
}

export function allowlistOf(configYaml: string): Allowlist {
  const a = (parse(configYaml) as any)?.allowlist;
  if (!a) throw new Error("config has no allowlist");
  const list = (k: string): string[] => (Array.isArray(a[k]) ? a[k].map(String) : []);
  return {
    exact: list("exact"),
    prefix: list("prefix"),
    trustDomains: list("trust-domains"),
    patterns: list("patterns"),
  };
}

/**
 * Envoy RBAC principals matching the peer certificate's URI SAN (`authenticated.principal_name`). A trust domain
 * becomes the prefix `spiffe://<td>/`; patterns are RE2 and Envoy's safe_regex matches the whole string, as
 * spiffe-authz's anchored patterns do.
 */
export function rbacPrincipals(a: Allowlist): unknown[] {
  const p = (m: unknown) => ({ authenticated: { principal_name: m } });
  return [
    ...a.exact.map((v) => p({ exact: v })),
    ...a.prefix.map((v) => p({ prefix: v })),
    ...a.trustDomains.map((td) => p({ prefix: `spiffe://${td}/` })),
    ...a.patterns.map((re) => p({ safe_regex: { regex: re } })),
  ];
}

/** The same allowlist in Rego (v1 syntax), on the principal Envoy sets from the URI SAN. */
export function regoPolicy(a: Allowlist): string {
  const lit = (s: string) => JSON.stringify(s);
  const rules = [
    ...a.exact.map((v) => `allow if principal == ${lit(v)}`),
    ...a.prefix.map((v) => `allow if startswith(principal, ${lit(v)})`),
    ...a.trustDomains.map((td) => `allow if startswith(principal, ${lit(`spiffe://${td}/`)})`),
    ...a.patterns.map((re) => `allow if regex.match(${lit(`^(?:${re})$`)}, principal)`),
  ];
  return [
    "package envoy.authz",
    "",
    "default allow := false",
    "",
    "principal := input.attributes.source.principal",
    "",
    ...rules,
    "",
  ].join("\n");
}

export interface ChainPorts {
  listeners: Record<Chain, number>;
  admin: number;
  backend: number;
  spiffeAuthz: number;
  opaEnvoy: number;
  agentSocket: string;
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined || v === null) throw new Error(`template: deploy/envoy/envoy.yaml has no ${what}`);
  return v;
}

const clone = <T>(v: T): T => structuredClone(v);

/**
 * One Envoy config with a listener per chain. Every listener has the shipped connection manager and TLS context
 * (client SVID required, SDS from the SPIRE agent); the route adds `x-bench-chain` so the upstream can count what
 * reached it per chain. Changes from the shipped file, the same for every chain: no access log (it would measure
 * stdout), one route to the backend (no per-route ext_authz settings), and the authorizer clusters are plaintext
 * gRPC on loopback without active health checks (OPA-Envoy's port serves no gRPC health service; spiffe-authz runs
 * deploy/config.example.yaml, which the README's tour serves plaintext).
 */
export function chainsConfig(ports: ChainPorts, allow: Allowlist): unknown {
  const shipped = parse(deployFile("envoy/envoy.yaml"), { merge: true }) as any;
  const listeners: any[] = need(shipped.static_resources?.listeners, "listeners");
  const mtls = need(
    listeners.find((l) => l.name === "inbound_mtls"),
    "listener inbound_mtls",
  );
  const chain0 = need(mtls.filter_chains?.[0], "inbound_mtls filter chain");
  const hcm = need(
    chain0.filters?.find((f: any) => f.name === "envoy.filters.network.http_connection_manager"),
    "http_connection_manager on inbound_mtls",
  );
  const filters: any[] = need(hcm.typed_config?.http_filters, "http_filters");
  const extAuthz = need(
    filters.find((f) => f.name === "envoy.filters.http.ext_authz"),
    "ext_authz filter",
  );
  const router = need(
    filters.find((f) => f.name === "envoy.filters.http.router"),
    "router filter",
  );
  const clusters: any[] = need(shipped.static_resources?.clusters, "clusters");
  const cluster = (n: string) =>
    need(
      clusters.find((c) => c.name === n),
      `cluster ${n}`,
    );

  const extAuthzTo = (clusterName: string, includePeerCertificate: boolean) => {
    const f = clone(extAuthz);
    f.typed_config.grpc_service.envoy_grpc.cluster_name = clusterName;
    f.typed_config.include_peer_certificate = includePeerCertificate;
    return f;
  };
  const rbac = {
    name: "envoy.filters.http.rbac",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
      rules: {
        action: "ALLOW",
        policies: { "spiffe-allowlist": { permissions: [{ any: true }], principals: rbacPrincipals(allow) } },
      },
    },
  };
  const authzFilters: Record<Chain, any[]> = {
    none: [],
    rbac: [rbac],
    // The shipped filter as it is: it hands spiffe-authz the peer certificate, which spiffe-authz verifies itself.
    "spiffe-authz": [extAuthzTo("spiffe_authz", true)],
    // OPA-Envoy's policy reads attributes.source.principal, which Envoy sends without the certificate.
    "opa-envoy": [extAuthzTo("opa_envoy", false)],
  };

  const listenerFor = (chain: Chain) => {
    const l = clone(mtls);
    l.name = `bench_${chain.replace("-", "_")}`;
    l.address = { socket_address: { address: "127.0.0.1", port_value: ports.listeners[chain] } };
    const h = l.filter_chains[0].filters.find((f: any) => f.name === hcm.name).typed_config;
    h.stat_prefix = `bench_${chain.replace("-", "_")}`;
    delete h.access_log;
    h.route_config = {
      name: "bench_route",
      virtual_hosts: [
        {
          name: "backend",
          domains: ["*"],
          routes: [
            {
              match: { prefix: "/" },
              route: { cluster: "backend" },
              request_headers_to_add: [
                { header: { key: "x-bench-chain", value: chain }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
              ],
            },
          ],
        },
      ],
    };
    h.http_filters = [...authzFilters[chain], clone(router)];
    return l;
  };

  const plaintextGrpc = (name: string, port: number) => {
    const c = clone(cluster("spiffe_authz"));
    c.name = name;
    c.type = "STATIC";
    delete c.transport_socket;
    delete c.health_checks;
    c.load_assignment = {
      cluster_name: name,
      endpoints: [
        { lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] },
      ],
    };
    return c;
  };
  const backend = clone(cluster("backend"));
  backend.type = "STATIC";
  backend.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address = {
    socket_address: { address: "127.0.0.1", port_value: ports.backend },
  };
  const spire = clone(cluster("spire_agent"));
  spire.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address = { pipe: { path: ports.agentSocket } };

  return {
    node: shipped.node,
    static_resources: {
      listeners: CHAINS.map(listenerFor),
      clusters: [
        plaintextGrpc("spiffe_authz", ports.spiffeAuthz),
        plaintextGrpc("opa_envoy", ports.opaEnvoy),
        backend,
        spire,
      ],
    },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
  };
}
