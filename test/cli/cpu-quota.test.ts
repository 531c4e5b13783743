// `--workers auto` follows the cgroup CPU quota (a Kubernetes CPU limit), not the node's core count.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { autoWorkers, cgroupCpuLimit } from "../../src/cli/cpu-quota.js";

function tree(files: Record<string, string>): { root: string; self: string } {
  const root = mkdtempSync(join(tmpdir(), "cgroup-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return { root, self: join(root, "proc-self-cgroup") };
}

test("cgroup v2: cpu.max of the process's own cgroup, rounded down, at least 1", () => {
  const cases: Array<[string, number | undefined]> = [
    ["200000 100000\n", 2],
    ["150000 100000", 1],
    ["50000 100000", 1],
    ["800000 100000", 8],
    ["max 100000", undefined],
  ];
  for (const [max, want] of cases) {
    const t = tree({ "kubepods/pod1/c1/cpu.max": max, "proc-self-cgroup": "0::/kubepods/pod1/c1\n" });
    assert.equal(cgroupCpuLimit(t.root, t.self), want, max);
  }
  // Inside a cgroup namespace the own cgroup is the root.
  const ns = tree({ "cpu.max": "300000 100000", "proc-self-cgroup": "0::/\n" });
  assert.equal(cgroupCpuLimit(ns.root, ns.self), 3);
});

test("cgroup v1: cfs_quota_us / cfs_period_us; -1 is no quota", () => {
  const q = tree({ "cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000", "proc-self-cgroup": "" });
  assert.equal(cgroupCpuLimit(q.root, q.self), 2);
  const none = tree({ "cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000", "proc-self-cgroup": "" });
  assert.equal(cgroupCpuLimit(none.root, none.self), undefined);
  const nothing = tree({});
  assert.equal(cgroupCpuLimit(nothing.root, nothing.self), undefined);
});

test("auto = the cores we may run on, capped by the quota", () => {
  const cores = availableParallelism();
  const one = tree({ "cpu.max": "100000 100000", "proc-self-cgroup": "0::/\n" });
  assert.equal(autoWorkers(one.root, one.self), 1);
  const many = tree({ "cpu.max": `${(cores + 4) * 100000} 100000`, "proc-self-cgroup": "0::/\n" });
  assert.equal(autoWorkers(many.root, many.self), cores);
  const unlimited = tree({ "cpu.max": "max 100000", "proc-self-cgroup": "0::/\n" });
  assert.equal(autoWorkers(unlimited.root, unlimited.self), cores);
});
