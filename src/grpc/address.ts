import { isIPv4, isIPv6 } from "node:net";
import { isAbsolute, resolve } from "node:path";
import { AddressError } from "./errors.js";

/** A listen or dial address in the form grpc-js understands (`host:port` or `unix:///abs/path`). */
export interface Address {
  kind: "tcp" | "unix";
  /** Target string for grpc-js bindAsync / client constructors. */
  target: string;
  /** For unix: the socket path; for tcp: host and port. */
  path?: string;
  host?: string;
  port?: number;
}

function parseHostPort(value: string, what: string): Address {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m) throw new AddressError(`${what}: expected host:port, [ipv6]:port or unix:///path, got "${value}"`);
  if (port > 65535) throw new AddressError(`${what}: port ${port} is out of range (0 to 65535), in "${value}"`);
  const host = m[1] ?? (m[2] || "0.0.0.0");
  const target = m[1] ? `[${host}]:${port}` : `${host}:${port}`;
  return { kind: "tcp", target, host, port };
}

function unixAddress(path: string, what: string): Address {
  if (!path) throw new AddressError(`${what}: empty unix socket path`);
  const abs = isAbsolute(path) ? path : resolve(path);
  return { kind: "unix", target: `unix://${abs}`, path: abs };
}

/** Parses a gRPC listen address: `host:port`, `[v6]:port`, `unix:///abs/path` or `unix:relative`. */
export function parseListenAddress(value: string, what: string): Address {
  if (value.startsWith("unix://")) return unixAddress(value.slice("unix://".length), what);
  if (value.startsWith("unix:")) return unixAddress(value.slice("unix:".length), what);
  return parseHostPort(value, what);
}

/** The SPIRE agent socket: a plain path, `unix:///path`, `unix:path` or `tcp://host:port` (SPIFFE_ENDPOINT_SOCKET forms). */
export function parseWorkloadApiAddress(value: string, what: string): Address {
  if (value.startsWith("tcp://")) return parseHostPort(value.slice("tcp://".length), what);
  if (value.startsWith("unix:")) return parseListenAddress(value, what);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value))
    throw new AddressError(`${what}: unsupported scheme in "${value}" (use a path, unix:///path or tcp://host:port)`);
  return unixAddress(value, what);
}

/** `host:port` for the plain HTTP metrics endpoint, or null for `off`. */
export function parseMetricsAddress(value: string, what: string): { host: string; port: number } | null {
  if (value === "off") return null;
  const a = parseHostPort(value, what);
  return { host: a.host ?? "0.0.0.0", port: a.port ?? 0 };
}

/**
 * A literal loopback IP (127.0.0.0/8 or ::1) in `host:port` or a bare host: reachable from this host (or pod)
 * only. Names, `localhost` included, are refused: what they resolve to is the resolver's choice, not ours.
 */
export function isLoopback(target: string): boolean {
  const host = target.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  if (isIPv4(host)) return host.startsWith("127.");
  return isIPv6(host) && /^(0{1,4}:){7}0{0,3}1$|^::1$|^(0{1,4}:){1,6}:0{0,3}1$/.test(host);
}
