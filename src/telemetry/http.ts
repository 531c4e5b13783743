// The one plain HTTP server of the process (--metrics-address): Prometheus /metrics, /healthz, /readyz.
// Scrapes are rare and small, so a bare node:http handler is all it takes; no framework, no second
// exporter server.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { PROMETHEUS_CONTENT_TYPE } from "./exposition.js";

export interface MetricsSource {
  /** Prometheus text for /metrics: Telemetry fits; a cluster primary can pass its aggregate instead. */
  metricsText(): Promise<string>;
}

export interface MetricsServerOptions {
  /** From the CLI's parseMetricsAddress (null there means: do not start this server). Port 0 picks one. */
  host: string;
  port: number;
  source: MetricsSource;
  /** /readyz answers 200 while this says true, else 503; default always ready. */
  ready?: () => boolean | Promise<boolean>;
  /** Told about a failed scrape or readiness check (the client gets 500 / 503). */
  onError?: (err: unknown) => void;
}

export interface MetricsServer {
  host: string;
  /** The bound port (the real one when 0 was asked for). */
  port: number;
  /** e.g. http://127.0.0.1:9464 */
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/** The metrics address cannot be bound (in use, no permission): the process cannot serve as configured. */
export class MetricsListenError extends Error {
  override readonly name = "MetricsListenError";
}

/** Starts listening; rejects if the address cannot be bound (in use, bad host). */
export function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const ready = opts.ready ?? (() => true);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?", 1)[0];
    const known = path === "/metrics" || path === "/healthz" || path === "/readyz";
    if (!known) return send(res, 404, "not found\n");
    // HEAD is GET without a body (node drops the body); everything else is refused.
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return send(res, 405, "method not allowed\n");
    }
    switch (path) {
      case "/healthz":
        return send(res, 200, "ok\n");
      case "/readyz": {
        let ok = false;
        try {
          ok = await ready();
        } catch (err) {
          opts.onError?.(err);
        }
        return ok ? send(res, 200, "ready\n") : send(res, 503, "not ready\n");
      }
      default: {
        let text: string;
        try {
          text = await opts.source.metricsText();
        } catch (err) {
          opts.onError?.(err);
          return send(res, 500, "metrics collection failed\n");
        }
        return send(res, 200, text, PROMETHEUS_CONTENT_TYPE);
      }
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.onError?.(err);
      if (!res.headersSent) send(res, 500, "internal error\n");
      else res.destroy();
    });
  });

  return new Promise((resolve, reject) => {
    const onListenError = (err: Error) =>
      reject(
        new MetricsListenError(
          `metrics: cannot listen on ${opts.host}:${opts.port}: ${err.message} (--metrics-address, METRICS_ADDRESS)`,
        ),
      );
    server.once("error", onListenError);
    server.listen(opts.port, opts.host, () => {
      server.off("error", onListenError);
      server.on("error", (err) => opts.onError?.(err));
      const { port } = server.address() as AddressInfo;
      const urlHost = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
      let closing: Promise<void> | undefined;
      resolve({
        host: opts.host,
        port,
        url: `http://${urlHost}:${port}`,
        close: () =>
          (closing ??= new Promise<void>((done) => {
            server.close(() => done());
            // Keep-alive connections of a scraper would hold close() open until they time out.
            server.closeAllConnections();
          })),
      });
    });
  });
}
