// The Grafana dashboard and the Prometheus alert rules parse, and every metric they query exists in the
// /metrics answer of a real server: startServer beside a dev Workload API, serving SPIFFE mTLS with its own
// SVID (so the SVID expiry gauge is there too), after one decision.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { METRIC } from "../../src/telemetry/index.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { DevWorkloadApi } from "../../src/trust/dev-workload-api/server.js";
import { loadConfigFile } from "../../src/config/load.js";
import { parseListenAddress, parseWorkloadApiAddress } from "../../src/grpc/address.js";
import { capturedLogger } from "../helpers/log-capture.js";
import { xfccRequest } from "../helpers/engine.js";
import { allNames, parsePrometheusText } from "../helpers/prom-text.js";

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "inf",
  "nan",
]);

/** Metric names an expression selects: identifiers left after removing strings, matchers, ranges, grouping, functions. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\{[^}]*\}|\$\w+/g, " ")
    .replace(/(^|[^a-zA-Z0-9_:])\d+(\.\d+)?([eE][-+]?\d+)?/g, "$1 ");
  const out: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    if (m[1]) continue; // a function or aggregation call
    const id = m[0].trim();
    if (!KEYWORDS.has(id)) out.push(id);
  }
  return out;
}

interface Target {
  expr?: string;
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating?: { list: { type: string; query?: unknown }[] };
}
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

describe("deploy: Grafana dashboard and Prometheus alerts", () => {
  let spire: DevWorkloadApi;
  let server: RunningServer;
  let served: Set<string>;
  const dashboard = JSON.parse(readFileSync(root("deploy/grafana/spiffe-authz.json"), "utf8")) as Dashboard;
  const rules = parseYaml(readFileSync(root("deploy/prometheus/alerts.yaml"), "utf8")) as RuleFile;

  const panels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...panels(p.panels ?? [])]);
  const dashboardExprs = (): string[] => [
    ...panels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? "")),
    // label_values(METRIC{…}, label): the series queried is the metric; the label is not a metric name.
    ...(dashboard.templating?.list ?? [])
      .filter((v) => v.type === "query")
      .map((v) => String(v.query).replace(/^label_values\((.*),\s*[a-z_]+\)$/, "$1")),
  ];
  const alertExprs = (): string[] => rules.groups.flatMap((g) => g.rules.map((r) => r.expr));

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "deploy-metrics-"));
    spire = await DevWorkloadApi.start({ trustDomain: "example.org", address: `unix://${join(dir, "agent.sock")}` });
    const file = join(dir, "config.yaml");
    // A dry-run route, so that its series (a would-be deny, dry-run in force) are served too.
    writeFileSync(
      file,
      "allowlist: { exact: [spiffe://example.org/web] }\nserver: { tls: { mode: spiffe } }\n" +
        "routes: [{ name: canary, match: { path-prefix: /canary }, enforcement: dry-run }]\n",
    );
    server = await startServer(
      {
        listen: [parseListenAddress("127.0.0.1:0", "t")],
        spireSocket: parseWorkloadApiAddress(spire.target, "t"),
        metrics: { host: "127.0.0.1", port: 0 },
        configPath: file,
        config: loadConfigFile(file),
        verbose: false,
        drainTimeoutMs: 500,
        workers: 1,
      },
      capturedLogger().log,
    );
    await server.engine.decide(xfccRequest((await spire.issueX509Svid("spiffe://example.org/web")).pem));
    const other = (await spire.issueX509Svid("spiffe://example.org/other")).pem;
    assert.equal((await server.engine.decide(xfccRequest(other, { path: "/canary/x" }))).dryRun?.allow, false);
    const res = await fetch(`${server.metricsUrl}/metrics`);
    served = allNames(parsePrometheusText(await res.text()));
  });

  after(async () => {
    await server.stop();
    await spire.close();
  });

  it("the expression scanner finds metric names and nothing else", () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (le, transport) (rate(a_bucket{transport=~"$t"}[$__rate_interval]))) / b > 1e-3 and on(job) c_total',
      ),
      ["a_bucket", "b", "c_total"],
    );
  });

  it("the dashboard is valid JSON with the panels the issue asks for", () => {
    assert.equal(dashboard.uid, "spiffe-authz");
    const all = panels(dashboard.panels).filter((p) => p.type !== "row");
    assert.ok(all.length >= 6);
    for (const p of all)
      assert.ok(
        (p.targets ?? []).length > 0 && (p.targets ?? []).every((t) => t.expr),
        `panel "${p.title}" has no query`,
      );
    const exprs = dashboardExprs().join("\n");
    assert.match(exprs, /sum by \(decision, reason\) \(rate\(spiffe_authz_decisions_total/);
    assert.match(exprs, /histogram_quantile\(0\.5, .*spiffe_authz_decision_duration_seconds_bucket/);
    assert.match(exprs, /histogram_quantile\(0\.99, .*spiffe_authz_decision_duration_seconds_bucket/);
    assert.match(exprs, /spiffe_authz_trust_bundle_age_seconds/);
    assert.match(exprs, /spiffe_authz_workload_api_connected/);
    assert.match(exprs, /sum by \(would, reason\) \(rate\(spiffe_authz_dry_run_decisions_total/);
  });

  it("every metric the dashboard queries is on /metrics", () => {
    const names = new Set(dashboardExprs().flatMap(metricNames));
    assert.ok(names.size >= 8);
    for (const n of names) assert.ok(served.has(n), `dashboard queries ${n}, which /metrics does not serve`);
  });

  it("the alert rules are valid rule groups with the issue's alerts", () => {
    assert.ok(Array.isArray(rules.groups) && rules.groups.length > 0);
    const byName = new Map<string, Rule>();
    for (const g of rules.groups) {
      assert.ok(g.name && Array.isArray(g.rules));
      for (const r of g.rules) {
        assert.ok(r.alert, "every rule is an alert");
        assert.equal(typeof r.expr, "string");
        if (r.for !== undefined) assert.match(r.for, /^\d+[smh]$/);
        assert.ok(["critical", "warning", "info"].includes(r.labels?.["severity"] ?? ""), `${r.alert}: severity`);
        assert.ok(r.annotations?.["summary"], `${r.alert}: summary`);
        byName.set(r.alert, r);
      }
    }
    const down = byName.get("SpiffeAuthzWorkloadApiDown");
    assert.equal(down?.for, "1m");
    assert.match(down?.expr ?? "", /spiffe_authz_workload_api_connected\) == 0/);
    assert.match(
      byName.get("SpiffeAuthzTrustBundleStale")?.expr ?? "",
      /spiffe_authz_trust_bundle_age_seconds\) > 3000/,
    );
    assert.match(byName.get("SpiffeAuthzDenySpike")?.expr ?? "", /decision="deny"/);
    assert.match(
      byName.get("SpiffeAuthzVerificationBypassed")?.expr ?? "",
      /spiffe_authz_decisions_total\{reason=~"fail_open\|log_and_allow"\}/,
    );
    assert.match(
      byName.get("SpiffeAuthzConfigReloadFailed")?.expr ?? "",
      /increase\(spiffe_authz_config_reloads_total\{result="failure"\}\[10m\]\)\) > 0/,
    );
    assert.match(
      byName.get("SpiffeAuthzSvidExpiringSoon")?.expr ?? "",
      /\(spiffe_authz_svid_expiry_timestamp_seconds\) - time\(\) < \d+/,
    );
    assert.match(
      byName.get("SpiffeAuthzTrustBundleExpiringSoon")?.expr ?? "",
      /by \(job, instance, trust_domain\) \(spiffe_authz_bundle_expiry_timestamp_seconds\) - time\(\) < \d+/,
    );
    const dry = byName.get("SpiffeAuthzDryRunInForce");
    assert.equal(dry?.for, "24h");
    assert.equal(dry?.labels?.["severity"], "warning");
    assert.match(dry?.expr ?? "", /spiffe_authz_dry_run_in_force\) == 1/);
  });

  it("the dashboard can be narrowed to one job and instance: every query is filtered by both", () => {
    const vars = (dashboard.templating?.list ?? []) as Array<{ name?: string; type: string; query?: unknown }>;
    assert.deepEqual(
      vars.filter((v) => v.type === "query").map((v) => v.name),
      ["job", "instance"],
    );
    for (const e of panels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? "")))
      for (const m of e.matchAll(/spiffe_authz_[a-z_]+(\{[^}]*\})?/g))
        assert.match(m[1] ?? "", /job=~"\$job",instance=~"\$instance"/, `${m[0]} in ${e}`);
  });

  it("every metric the alerts query is on /metrics", () => {
    const names = new Set(alertExprs().flatMap(metricNames));
    for (const n of [METRIC.decisions, METRIC.configReloads, METRIC.svidExpiry, METRIC.bundleExpiry])
      assert.ok(names.has(n), `the alerts use ${n}`);
    for (const n of names) assert.ok(served.has(n), `alerts query ${n}, which /metrics does not serve`);
  });

  it("the server these checks scrape serves every metric of the contract (metric-names.ts)", () => {
    for (const n of Object.values(METRIC)) assert.ok(served.has(n), `${n} is not on /metrics`);
  });
});
