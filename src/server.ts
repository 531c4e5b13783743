// Composition root: the only module that knows every part. Wires config → policy → engine, trust sources →
// store, both doors → one gRPC host, and owns start-up readiness and graceful shutdown.
import { Engine } from "./engine/engine.js";
import { createAuditListener } from "./engine/audit.js";
import { ConfigManager } from "./policy/config-manager.js";
import { GrpcHost } from "./grpc/host.js";
import { envoyAuthorizationService } from "./adapters/envoy/service.js";
import { zentinelAgentService } from "./adapters/zentinel/service.js";
import { trustHealth } from "./adapters/zentinel/health.js";
import { METRIC } from "./telemetry/index.js";
import { TrustStore } from "./trust/store.js";
import { bundleExpiries } from "./trust/snapshot.js";
import { WorkloadApiWatcher } from "./trust/workload-api/watcher.js";
import { StaticBundles } from "./trust/static-bundles.js";
import { SvidWatcher } from "./trust/workload-api/svid-watcher.js";
import { spiffeServerCredentials, type SpiffeServerTls } from "./trust/server-tls.js";
import { compileAllowlist } from "./policy/allowlist.js";
import { createTelemetry, startMetricsServer, type MetricsServer, type Telemetry } from "./telemetry/index.js";
import type { ServeOptions } from "./serve-options.js";
import type { Logger } from "./log.js";
import { watchConfigFile } from "./config/file-watch.js";
import { packageVersion } from "./version.js";

export interface RunningServer {
  /** gRPC targets actually bound (real ports for `:0`). */
  readonly grpcTargets: string[];
  readonly engine: Engine;
  readonly store: TrustStore;
  readonly config: ConfigManager;
  readonly telemetry: Telemetry;
  /** The /metrics server's URL, when one runs. */
  readonly metricsUrl: string | undefined;
  /** Re-reads the config file, as SIGHUP does (a warning when serving without one). */
  reloadConfig(): void;
  /** Drains (health NOT_SERVING, in-flight calls finish or are cancelled at the drain timeout) and stops. */
  stop(): Promise<void>;
}

export interface ServerExtras {
  /** OpenTelemetry metrics (default on); off only for the telemetry-cost benchmark. */
  telemetry?: boolean;
  /** Zentinel HealthStatus / MetricsReport periods (default 10 s each); tests shorten them. */
  zentinelIntervalsMs?: { health: number; metrics: number };
}

export async function startServer(opts: ServeOptions, log: Logger, extras: ServerExtras = {}): Promise<RunningServer> {
  const config = new ConfigManager(opts.config, log, opts.configPath ? "file" : "defaults");
  const cfg = config.applied.config;

  const otlp = { serviceVersion: packageVersion(), log: log.child({ component: "otlp" }) };
  const telemetry = createTelemetry({ enabled: extras.telemetry ?? true, ...otlp });
  const store = new TrustStore(cfg.failure["spire-unavailable"], cfg.failure["cache-ttl"]);
  const staticBundles = new StaticBundles(cfg["trust-bundles"], store, log, () => telemetry.bundleUpdated("file"));
  staticBundles.loadAll();
  staticBundles.watch();

  const engine = new Engine({ policy: config.applied.policy, policyVersion: config.applied.version, trust: store });
  engine.onDecision(createAuditListener(log.child({ component: "audit" })));
  engine.onDecision(telemetry.onDecision);
  telemetry.observeWorkloadApi(() => store.workloadApiConnected);
  telemetry.observeBundles(() => store.bundleAges());
  telemetry.observeBundleExpiries(() => bundleExpiries(store.current().bundles));
  const cache = engine.cache;
  if (cache) telemetry.observeCache(() => cache.stats());
  telemetry.observeDryRun(() => engine.policy.dryRunScopes.length > 0);
  const startupOnly = (c: typeof cfg) =>
    JSON.stringify({ spire: c.spire, "trust-bundles": c["trust-bundles"], tlsMode: c.server.tls.mode });
  config.onApply((applied) => {
    engine.setPolicy(applied.policy, applied.version);
    store.setFailurePolicy(applied.config.failure["spire-unavailable"], applied.config.failure["cache-ttl"]);
    // The Workload API connection and the static bundle files are set up once; say so rather than ignore it.
    if (startupOnly(applied.config) !== startupOnly(cfg)) {
      log.warn(
        { source: applied.source, version: applied.version },
        "config changes to spire.*, trust-bundles or server.tls.mode take effect on restart",
      );
    }
  });

  // Zentinel door: pushed config goes through applyPushed (refused unless the FILE says
  // zentinel.accept-configure, then tighten-only); zentinel.* is read from the file config at each use, so a
  // reload applies to new streams; RequestReload re-reads the file exactly as SIGHUP does.
  const configPath = opts.configPath;
  config.onReload((ok) => telemetry.configReloaded(ok));
  const fileWatch = configPath ? watchConfigFile(configPath, () => config.reloadFile(configPath), log) : undefined;
  const zentinel = zentinelAgentService({
    engine,
    applyConfig: (json, source, version) => config.applyPushed(json, source, version),
    settings: () => {
      const z = config.fileConfig.zentinel;
      return {
        acceptConfigure: z["accept-configure"],
        handshakeTimeoutMs: z["handshake-timeout-ms"],
        maxStreams: z["max-streams"],
      };
    },
    ...(fileWatch ? { reloadConfig: () => fileWatch.reloadNow() } : {}),
    health: () => trustHealth(store, () => config.applied.config.failure["spire-unavailable"]),
    metrics: async () =>
      (await telemetry.decisionCounts()).map((c) => ({
        name: METRIC.decisions,
        labels: { decision: c.decision, reason: c.reason, transport: c.transport },
        value: c.value,
      })),
    log,
    version: packageVersion(),
    drainTimeoutMs: opts.drainTimeoutMs,
    ...(extras.zentinelIntervalsMs
      ? { healthIntervalMs: extras.zentinelIntervalsMs.health, metricsIntervalMs: extras.zentinelIntervalsMs.metrics }
      : {}),
  });
  telemetry.observeZentinelStreams(() => zentinel.streams()); // Zentinel door: spiffe_authz_zentinel_streams
  const services = [envoyAuthorizationService(engine, log), zentinel];
  const host = new GrpcHost(services, log);

  // server.tls.mode spiffe: our own SVID from the Workload API must be in hand before the port opens, since
  // serving without it would mean serving plaintext or nothing.
  let serverTls: SpiffeServerTls | undefined;
  let ownSvid: SvidWatcher | undefined;
  if (cfg.server.tls.mode === "spiffe") {
    ownSvid = new SvidWatcher(opts.spireSocket.target, log.child({ component: "own-svid" }));
    ownSvid.start();
    const svids = ownSvid;
    telemetry.observeSvidExpiry(() => svids.current?.notAfter);
    // As Envoy waits for SDS: a new registration entry takes the agent a sync interval (5 s) or more to hand out,
    // so keep waiting, and say so every api-timeout-ms.
    const waitMs = Math.max(1000, cfg.spire["api-timeout-ms"]);
    for (let waited = waitMs; !(await ownSvid.waitForFirst(waitMs)); waited += waitMs) {
      log.warn(
        { spireSocket: opts.spireSocket.target, waitedMs: waited },
        "server.tls.mode spiffe: still waiting for this process's X509-SVID from the Workload API before opening the gRPC port (is spiffe-authz registered in SPIRE?)",
      );
    }
    let authorized = compileAllowlist(cfg.server.tls["authorized-clients"], "server.tls.authorized-clients");
    config.onApply(
      (applied) =>
        (authorized = compileAllowlist(
          applied.config.server.tls["authorized-clients"],
          "server.tls.authorized-clients",
        )),
    );
    serverTls = spiffeServerCredentials({
      onSvid: (cb) => svids.onSvid(cb),
      trust: store,
      authorizedClients: () => authorized,
      log: log.child({ component: "server-tls" }),
    });
  }

  const watcher = new WorkloadApiWatcher({
    target: opts.spireSocket.target,
    store,
    log: log.child({ component: "workload-api" }),
    resyncIntervalMs: cfg.spire["bundle-refresh-interval"] * 1000,
    // A stream that opens but says nothing within the API timeout counts as lost (a wedged agent); at least 1 s,
    // so a tiny timeout cannot make the watcher drop healthy streams in a loop.
    firstMessageTimeoutMs: Math.max(1000, cfg.spire["api-timeout-ms"]),
    onUpdate: () => telemetry.bundleUpdated("spire"),
  });
  watcher.start();

  let grpcTargets: string[];
  let metrics: MetricsServer | undefined;
  try {
    grpcTargets = await host.bind(opts.listen, serverTls?.credentials);
    if (opts.plaintextListen?.length) grpcTargets = await host.bind(opts.plaintextListen);
    if (opts.metrics) {
      metrics = await startMetricsServer({
        ...opts.metrics,
        source: telemetry,
        ready: () => store.ready(),
        onError: (err) => log.warn({ err }, "metrics scrape failed"),
      });
      log.info({ address: metrics.url }, "metrics listening");
    }
  } catch (err) {
    // Nothing may keep the process alive after a failed start (timers, file watchers, the Workload API channel).
    host.server.forceShutdown();
    fileWatch?.close();
    serverTls?.close();
    ownSvid?.close();
    watcher.close();
    staticBundles.close();
    store.close();
    await telemetry.shutdown();
    throw err;
  }
  const updateHealth = () => host.setServing(store.ready());
  store.onChange(updateHealth);

  // Start-up waits for SPIRE's first bundle at most spire.api-timeout-ms; then the failure policy decides.
  const timeoutMs = cfg.spire["api-timeout-ms"];
  if (!(await watcher.waitForFirstBundle(timeoutMs))) {
    log.warn(
      {
        spireSocket: opts.spireSocket.target,
        timeoutMs,
        failure: cfg.failure["spire-unavailable"],
        ready: store.ready(),
      },
      "no bundles from the Workload API yet; serving per the failure policy",
    );
  }
  updateHealth();
  // After SERVING: reflection is for humans with grpcurl, not worth delaying the first decision for.
  host.enableReflection().catch((err: unknown) => log.warn({ err }, "gRPC reflection unavailable"));
  log.info(
    { grpc: grpcTargets, spireSocket: opts.spireSocket.target, ready: store.ready(), config: config.applied.version },
    "spiffe-authz serving",
  );

  // SIGHUP re-reads the config file, as does a change to it on disk (fileWatch); a bad one is logged and the old
  // one stays.
  const reloadConfig = () => {
    if (fileWatch) fileWatch.reloadNow();
    else log.warn("SIGHUP ignored: serving without --config, there is no config file to re-read");
  };
  const onHup = () => reloadConfig();
  process.on("SIGHUP", onHup);

  return {
    grpcTargets,
    engine,
    store,
    config,
    telemetry,
    metricsUrl: metrics?.url,
    reloadConfig,
    async stop() {
      process.off("SIGHUP", onHup);
      fileWatch?.close();
      host.setServing(false);
      await zentinel.drain();
      const outcome = await host.drain(opts.drainTimeoutMs);
      serverTls?.close();
      ownSvid?.close();
      watcher.close();
      staticBundles.close();
      store.close();
      await metrics?.close();
      await telemetry.shutdown();
      log.info({ outcome }, "gRPC server stopped");
    },
  };
}
