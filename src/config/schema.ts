// The one config schema: used for config files, the `check` command and Zentinel Configure events.
// Keys follow the original agent's KDL block (kebab-case); unknown keys are errors, never ignored.
import { z } from "zod";

/**
 * Whether two header names are the same header to an upstream: case-insensitive, and with '_' read as '-'
 * (identity headers are stripped in every such spelling, and CGI-style upstreams read both alike).
 */
export function sameHeaderName(a: string, b: string): boolean {
  return a.toLowerCase().replace(/_/g, "-") === b.toLowerCase().replace(/_/g, "-");
}

const nonEmpty = z.string().min(1, "must not be empty");
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "expected an HTTP header name (RFC 9110 token)");

const allowlistSchema = z.strictObject({
  exact: z.array(nonEmpty).default([]),
  prefix: z.array(nonEmpty).default([]),
  "trust-domains": z.array(nonEmpty).default([]),
  patterns: z.array(nonEmpty).default([]),
});

const routeSchema = z.strictObject({
  name: nonEmpty,
  match: z
    .strictObject({
      "path-prefix": z.string().startsWith("/", "expected a path starting with /").optional(),
      methods: z.array(z.string().regex(/^[A-Za-z]+$/, "expected an HTTP method")).optional(),
    })
    .prefault({}),
  // Absent: the top-level allowlist applies (a route the proxy names, e.g. each Zentinel route_id, without
  // rules of its own). Present, even empty, it replaces the top-level one.
  allowlist: allowlistSchema.optional(),
  // Absent: the top-level `enforcement` applies.
  enforcement: z.enum(["enforce", "dry-run"]).optional(),
});

/** How the hop in front hands us the client certificate when it is not Envoy's own `source.certificate`. */
export const CLIENT_CERT_FORMATS = ["xfcc", "rfc9440", "pem-url"] as const;
export type ClientCertFormat = (typeof CLIENT_CERT_FORMATS)[number];

/** The header each format is read from unless `client-cert-header` says otherwise. */
const DEFAULT_CLIENT_CERT_HEADER: Record<ClientCertFormat, string | undefined> = {
  xfcc: "X-Forwarded-Client-Cert",
  rfc9440: "Client-Cert",
  // None: URL-encoded PEM has no standard header (AWS ALB sends X-Amzn-Mtls-Clientcert, nginx and Apache
  // whatever name the operator writes). Guessing one would read a header the hop in front may not set, and a
  // header the hop does not set, and so does not replace, is one the client writes.
  "pem-url": undefined,
};
const DEFAULT_CHAIN_HEADER = "Client-Cert-Chain";

// Header names and the format resolve together: the output always names the header in force (and, for rfc9440
// only, the chain header), so a parsed config parses again to itself (pushed configs are merged over it).
const tlsSchema = z
  .strictObject({
    "require-mtls": z.boolean().default(true),
    "client-cert-format": z.enum(CLIENT_CERT_FORMATS).default("xfcc"),
    "client-cert-header": headerName.optional(),
    "client-cert-chain-header": headerName.optional(),
    "xfcc-element": z.enum(["last", "first"]).default("last"),
  })
  .transform((t, ctx) => {
    const format = t["client-cert-format"];
    const fail = (key: string, message: string) => {
      ctx.issues.push({ code: "custom", message, input: t, path: [key] });
      return z.NEVER;
    };
    const header = t["client-cert-header"] ?? DEFAULT_CLIENT_CERT_HEADER[format];
    if (header === undefined)
      return fail("client-cert-header", `required with client-cert-format: ${format} (the header your proxy sets)`);
    if (format !== "rfc9440" && t["client-cert-chain-header"] !== undefined)
      return fail("client-cert-chain-header", "only read with client-cert-format: rfc9440");
    if (format !== "xfcc" && t["xfcc-element"] !== "last")
      return fail("xfcc-element", "only read with client-cert-format: xfcc");
    const chainHeader = format === "rfc9440" ? (t["client-cert-chain-header"] ?? DEFAULT_CHAIN_HEADER) : undefined;
    if (chainHeader !== undefined && sameHeaderName(chainHeader, header))
      return fail("client-cert-chain-header", `"${chainHeader}" is also tls.client-cert-header`);
    return {
      "require-mtls": t["require-mtls"],
      "client-cert-format": format,
      "client-cert-header": header,
      ...(chainHeader !== undefined ? { "client-cert-chain-header": chainHeader } : {}),
      "xfcc-element": t["xfcc-element"],
    };
  });

export const configSchema = z.strictObject({
  spire: z
    .strictObject({
      socket: nonEmpty.optional(),
      "api-timeout-ms": z.int().positive().max(600_000).default(5000),
      "bundle-refresh-interval": z.int().positive().max(86_400).default(300),
    })
    .prefault({}),
  "trust-bundles": z.array(z.strictObject({ "trust-domain": nonEmpty, path: nonEmpty })).default([]),
  tls: tlsSchema.prefault({}),
  allowlist: allowlistSchema.prefault({}),
  jwt: z
    .strictObject({
      enabled: z.boolean().default(false),
      header: headerName.default("authorization"),
      audiences: z.array(nonEmpty).default([]),
    })
    .prefault({}),
  routes: z.array(routeSchema).default([]),
  failure: z
    .strictObject({
      "spire-unavailable": z.enum(["fail_closed", "fail_open", "cache"]).default("fail_closed"),
      "validation-failure": z.enum(["reject", "log_and_allow"]).default("reject"),
      "cache-ttl": z.int().nonnegative().max(31_536_000).default(3600),
    })
    .prefault({}),
  headers: z
    .strictObject({
      "spiffe-id": headerName.default("X-SPIFFE-Id"),
      "trust-domain": headerName.default("X-SPIFFE-Trust-Domain"),
      "workload-id": headerName.default("X-SPIFFE-Workload-Id"),
      "auth-method": headerName.default("X-Auth-Method"),
      "auth-timestamp": headerName.default("X-Auth-Timestamp"),
    })
    .prefault({}),
  audit: z
    .strictObject({
      "log-success": z.boolean().default(true),
      "log-failure": z.boolean().default(true),
      "include-cert-info": z.boolean().default(false),
    })
    .prefault({}),
  server: z
    .strictObject({
      tls: z
        .strictObject({
          // off: plaintext gRPC; spiffe: our own X509-SVID from the Workload API, client SVIDs required.
          mode: z.enum(["off", "spiffe"]).default("off"),
          "authorized-clients": allowlistSchema.prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  zentinel: z
    .strictObject({
      // Configure events and handshake config_json come over the network: ignored unless this is true.
      "accept-configure": z.boolean().default(false),
      "handshake-timeout-ms": z.int().positive().max(600_000).default(10_000),
      "max-streams": z.int().positive().max(1_000_000).default(1024),
    })
    .prefault({}),
  // dry-run: every request is allowed and the decision that would have been made is audited and counted
  // apart. A loosening key: only the config file may set it (tighten.ts).
  enforcement: z.enum(["enforce", "dry-run"]).default("enforce"),
});

/** Validated config with every default filled in. */
export type Config = z.output<typeof configSchema>;
/** What a user may write: every key optional. */
export type ConfigInput = z.input<typeof configSchema>;
export type AllowlistConfig = Config["allowlist"];
export type RouteConfig = Config["routes"][number];
export type Enforcement = Config["enforcement"];
