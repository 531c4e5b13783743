// The parts a scenario runs besides the peers: spiffe-authz from this tree (the built CLI, as users run it), an
// upstream echo server that records what reached it, and an HTTPS client presenting an SVID.
import {
  createServer,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from "node:http";
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { freePort } from "../../test/helpers/clients.js";
import { ROOT } from "./peers.js";
import { until, type Proc, type Scene } from "./proc.js";

export const AUTHZ_CONFIG = join(ROOT, "deploy/compose/spiffe-authz.yaml");

export class Authz {
  proc!: Proc;
  /**
   * The SPIFFE mTLS port (deploy/compose/spiffe-authz.yaml: server.tls.mode spiffe), and the only one: Envoy calls
   * it with its SVID; Zentinel and the tests' direct calls go through Envoy's loopback egress listener.
   */
  port = 0;
  metricsPort = 0;

  constructor(
    private readonly scene: Scene,
    private readonly agentSocket: string,
    private readonly configPath = AUTHZ_CONFIG,
  ) {}

  /** Starts `node bin/spiffe-authz.js serve` on the real agent socket; resolves once health says SERVING. */
  async start(extra: string[] = []): Promise<void> {
    // A restart keeps its ports (Envoy's cluster points at this one). On the first start a port freePort saw
    // free may be taken before we bind it: when the process exits at start, try again with fresh ports.
    const fresh = this.port === 0;
    for (let attempt = 1; ; attempt++) {
      if (fresh) {
        this.port = await freePort();
        this.metricsPort = await freePort();
      }
      const proc = this.scene.spawn("spiffe-authz", process.execPath, [
        join(ROOT, "bin/spiffe-authz.js"),
        "serve",
        "--grpc-address",
        `127.0.0.1:${this.port}`,
        "--spire-socket",
        `unix://${this.agentSocket}`,
        "--config",
        this.configPath,
        "--metrics-address",
        `127.0.0.1:${this.metricsPort}`,
        ...extra,
      ]);
      this.proc = proc;
      // The gRPC port admits only Envoy's SVID, so readiness is read where Kubernetes reads it: /readyz.
      const state = await until(
        "spiffe-authz ready (/readyz)",
        async () => (!proc.running ? "exited" : (await this.readyz().catch(() => 0)) === 200 ? "ready" : undefined),
        60_000,
        200,
      );
      if (state === "ready") return;
      if (!fresh || attempt === 3) throw new Error(`spiffe-authz exited at start:\n${proc.tail()}`);
    }
  }

  /** GET /readyz on the metrics port: 200 once decisions are possible. */
  async readyz(): Promise<number> {
    return (await fetch(`http://127.0.0.1:${this.metricsPort}/readyz`)).status;
  }

  async metrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    return res.text();
  }

  /** The audit lines (one JSON object per decision) logged since `from` (an offset into the output). */
  audit(from = 0): Array<Record<string, unknown>> {
    const lines = this.proc.output.slice(from).split("\n");
    lines.pop(); // the line still being written (or "" after the last newline)
    return lines.filter((l) => l.includes('"component":"audit"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /**
   * The first audit line `pick` accepts, waiting for it: audit lines are written at the end of the event-loop turn
   * that decided, and reach this process through a pipe, so they may trail the response they describe.
   */
  auditLine(what: string, pick: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    return until(`audit line for ${what}`, async () => this.audit().find(pick), 5000, 50);
  }
}

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** The upstream: answers 200 with what it received and keeps every request; `?delay=MS` holds the answer. */
export class Echo {
  readonly received: Received[] = [];
  port = 0;
  private server!: Server;

  async start(): Promise<void> {
    this.port = await freePort();
    this.server = createServer((req, res) => {
      const seen: Received = { method: req.method ?? "", url: req.url ?? "", headers: req.headers };
      this.received.push(seen);
      const delay = Number(new URL(req.url ?? "/", "http://x").searchParams.get("delay") ?? 0);
      req.resume();
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(seen));
      }, delay);
    });
    await new Promise<void>((r) => this.server.listen(this.port, "127.0.0.1", r));
  }

  /** What the upstream saw of the request carrying this x-request-id. */
  byRequestId(rid: string): Received | undefined {
    return this.received.find((r) => r.headers["x-request-id"] === rid);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ClientTls {
  certPem?: string;
  keyPem?: string;
  /** Roots that must verify the server (the SPIRE bundle). */
  caPem: string;
  /** The SPIFFE ID the server must present as its URI SAN. */
  serverId: string;
}

let ridSeq = 0;
/** A request id unique in this run, for finding the request again at the upstream and in the logs. */
export const rid = (tag: string) => `e2e-${tag}-${process.pid}-${++ridSeq}`;

/** Sends `req`, collects the reply; an answer slower than 10 s is an error. */
function exchange(start: (onReply: (res: IncomingMessage) => void) => ClientRequest): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = start((res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end();
  });
}

/** One HTTPS request on a fresh connection (a fresh TLS handshake: rotations are seen). */
export function https(
  port: number,
  path: string,
  tls: ClientTls,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return exchange((onReply) =>
    httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        method: opts.method ?? "GET",
        headers: opts.headers,
        agent: false,
        ca: tls.caPem,
        ...(tls.certPem ? { cert: tls.certPem, key: tls.keyPem } : {}),
        // SVIDs carry a URI SAN and no DNS name: check the SPIFFE ID instead of a host name.
        checkServerIdentity: (_host: string, cert: { subjectaltname?: string }) => {
          const sans = (cert.subjectaltname ?? "").split(", ");
          return sans.includes(`URI:${tls.serverId}`)
            ? undefined
            : new Error(`server presented ${cert.subjectaltname}, expected ${tls.serverId}`);
        },
      },
      onReply,
    ),
  );
}

/** One plain HTTP request (Zentinel's listener). */
export function http(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return exchange((onReply) =>
    httpRequest(
      { host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: opts.headers, agent: false },
      onReply,
    ),
  );
}
