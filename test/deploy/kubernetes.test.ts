// The Kubernetes manifests, checked offline (there is no cluster here): every object against the Kubernetes
// OpenAPI schema of its kind (kubernetes-models, and the Prometheus Operator's for ServiceMonitor), and each
// documented `kubectl apply` in the order kubectl applies it: a folder's files in name order, objects in file order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import * as core from "kubernetes-models/v1";
import * as apps from "kubernetes-models/apps/v1";
import * as policy from "kubernetes-models/policy/v1";
import * as networking from "kubernetes-models/networking.k8s.io/v1";
import * as autoscaling from "kubernetes-models/autoscaling/v2";
import * as monitoring from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { parseConfigText } from "../../src/config/load.js";
import { compilePolicy } from "../../src/policy/index.js";

const ROOT = join(import.meta.dirname, "../..");
const K8S = join(ROOT, "deploy/kubernetes");

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  file: string;
}

const MODELS: Record<string, Record<string, unknown>> = {
  v1: core,
  "apps/v1": apps,
  "policy/v1": policy,
  "networking.k8s.io/v1": networking,
  "autoscaling/v2": autoscaling,
  "monitoring.coreos.com/v1": monitoring,
};
/** Kinds that exist only once a CRD is installed: not part of an apply that must work on any cluster. */
const CRD_KINDS = new Set(["monitoring.coreos.com/v1/ServiceMonitor"]);

/** What `kubectl apply -f PATH…` sends, in order: a folder's *.yaml files by name (not its subfolders). */
function applySet(...paths: string[]): Obj[] {
  const files = paths.flatMap((p) => {
    const abs = join(K8S, p);
    if (!statSync(abs).isDirectory()) return [abs];
    return readdirSync(abs)
      .filter((f) => /\.(ya?ml|json)$/.test(f) && statSync(join(abs, f)).isFile())
      .sort()
      .map((f) => join(abs, f));
  });
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(file, "utf8")).map((doc) => {
      assert.equal(doc.errors.length, 0, `${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
      return { ...(doc.toJS() as Omit<Obj, "file">), file: file.slice(ROOT.length + 1) };
    }),
  );
}

function validate(o: Obj): void {
  const Model = MODELS[o.apiVersion]?.[o.kind] as (new (x: unknown) => { validate(): void }) | undefined;
  assert.ok(Model, `${o.file}: no schema for ${o.apiVersion} ${o.kind}`);
  const { file: _file, ...manifest } = o;
  new Model(manifest).validate();
}

/** The checks `kubectl apply` on an empty cluster would trip over, in apply order. */
function checkApplyOrder(objs: Obj[], what: string): void {
  const created = new Set<string>();
  const workloads: Obj[] = [];
  for (const o of objs) {
    const id = `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    assert.ok(!CRD_KINDS.has(`${o.apiVersion}/${o.kind}`), `${what}: ${o.file} needs a CRD (${o.kind})`);
    if (o.metadata.namespace)
      assert.ok(
        created.has(`Namespace//${o.metadata.namespace}`),
        `${what}: ${o.file} ${o.kind} comes before its Namespace ${o.metadata.namespace}`,
      );
    if (o.kind === "DaemonSet" || o.kind === "Deployment") {
      const pod = (o.spec as { template: { spec: Record<string, unknown> } }).template.spec;
      const sa = pod["serviceAccountName"] as string | undefined;
      if (sa)
        assert.ok(created.has(`ServiceAccount/${o.metadata.namespace}/${sa}`), `${what}: ${o.file} before its SA`);
      for (const v of (pod["volumes"] ?? []) as Array<{ configMap?: { name: string } }>)
        if (v.configMap)
          assert.ok(
            created.has(`ConfigMap/${o.metadata.namespace}/${v.configMap.name}`),
            `${what}: ${o.file} before its ConfigMap ${v.configMap.name}`,
          );
      workloads.push(o);
    }
    created.add(id);
  }
  assert.equal(workloads.length, 1, `${what}: one workload controller per apply (both select the same pods)`);
}

test("every manifest in deploy/kubernetes passes the schema of its kind", () => {
  const all = applySet(".", "deployment", "monitoring");
  assert.ok(all.length >= 10, `found ${all.length} objects`);
  for (const o of all) validate(o);
});

test("the validator rejects a broken manifest (so the test above can fail)", () => {
  const [ds] = applySet("30-daemonset.yaml");
  const broken = structuredClone(ds!) as Obj & {
    spec: { template: { spec: { containers: Array<Record<string, unknown>> } } };
  };
  broken.spec.template.spec.containers[0]!["ports"] = [{ containerPort: "grpc" }];
  assert.throws(() => validate(broken), /containerPort must be integer/);
  assert.throws(() => validate({ ...ds!, kind: "DaemonSett" }), /no schema/);
  // The apply-order check fails on what the old layout did: the Namespace applied last, both controllers together.
  assert.throws(
    () => checkApplyOrder(applySet("10-configmap.yaml", "30-daemonset.yaml", "00-namespace.yaml"), "x"),
    /before its Namespace/,
  );
  assert.throws(() => checkApplyOrder(applySet(".", "deployment"), "x"), /one workload controller/);
  assert.throws(() => checkApplyOrder(applySet(".", "monitoring"), "x"), /needs a CRD/);
});

test("`kubectl apply -f deploy/kubernetes/` works on an empty cluster: Namespace, SA and ConfigMap first, one DaemonSet, no CRD kinds", () => {
  const objs = applySet(".");
  checkApplyOrder(objs, "kubectl apply -f deploy/kubernetes/");
  assert.ok(objs.some((o) => o.kind === "DaemonSet"));
  assert.ok(objs.some((o) => o.kind === "NetworkPolicy"));
});

test("the Deployment variant, applied as its comment says, instead of the DaemonSet", () => {
  const comment = readFileSync(join(K8S, "deployment/deployment.yaml"), "utf8");
  const paths = [...comment.matchAll(/-f deploy\/kubernetes\/(\S+)/g)].map((m) => m[1]!.replace(/\/$/, "") || ".");
  assert.deepEqual(paths, ["00-namespace.yaml", "10-configmap.yaml", "20-service.yaml", "deployment"]);
  const objs = applySet(...paths);
  checkApplyOrder(objs, "the Deployment variant");
  assert.ok(objs.some((o) => o.kind === "Deployment") && !objs.some((o) => o.kind === "DaemonSet"));
});

test("--workers auto has a CPU limit to size from, and memory for that many workers", () => {
  const PER_WORKER_MIB = 90; // measured RSS of one worker; the primary is about the same
  const mib = (q: string) =>
    Number(/^(\d+)Mi$/.exec(q)?.[1] ?? /^(\d+)Gi$/.exec(q)?.[1] ?? NaN) * (q.endsWith("Gi") ? 1024 : 1);
  for (const o of applySet(".", "deployment")) {
    if (o.kind !== "DaemonSet" && o.kind !== "Deployment") continue;
    const c = (o.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }).template.spec
      .containers[0]!;
    const args = (c["args"] as string[]).join(" ");
    const limits = (c["resources"] as { limits: Record<string, string> }).limits;
    const workers = /--workers auto/.test(args)
      ? Number(limits["cpu"])
      : Number(/--workers (\d+)/.exec(args)?.[1] ?? 1);
    assert.ok(Number.isInteger(workers) && workers >= 1, `${o.file}: --workers auto needs a whole limits.cpu`);
    const processes = workers > 1 ? workers + 1 : 1; // with workers, a primary beside them
    assert.ok(
      mib(limits["memory"]!) >= processes * PER_WORKER_MIB * 1.5,
      `${o.file}: ${limits["memory"]} for ${processes} processes of ~${PER_WORKER_MIB} MiB`,
    );
  }
});

test("the ConfigMap's config.yaml passes our schema", () => {
  const [cm] = applySet("10-configmap.yaml");
  compilePolicy(parseConfigText(cm!.data!["config.yaml"]!, "10-configmap.yaml"));
});

test("the ServiceMonitor is kept apart, with a note that it needs the Prometheus Operator", () => {
  const objs = applySet("monitoring");
  assert.deepEqual(
    objs.map((o) => o.kind),
    ["ServiceMonitor"],
  );
  assert.match(readFileSync(join(K8S, "monitoring/servicemonitor.yaml"), "utf8"), /Prometheus Operator/);
});
