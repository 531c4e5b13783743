// The one config schema: used for config files, the `check` command and Zentinel Configure events.
// Keys follow the original agent's KDL block (kebab-case); unknown keys are errors, never ignored.
import { z } from "zod";

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
  tls: z
    .strictObject({
      "require-mtls": z.boolean().default(true),
      "client-cert-header": headerName.default("X-Forwarded-Client-Cert"),
      "xfcc-element": z.enum(["last", "first"]).default("last"),
    })
    .prefault({}),
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
});

/** Validated config with every default filled in. */
export type Config = z.output<typeof configSchema>;
/** What a user may write: every key optional. */
export type ConfigInput = z.input<typeof configSchema>;
export type AllowlistConfig = Config["allowlist"];
export type RouteConfig = Config["routes"][number];
