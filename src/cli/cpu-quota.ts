// `--workers auto`: how many CPUs this process may really use. A container with a CPU limit still sees every
// core of its node (os.availableParallelism counts the cores it may be scheduled on, not the CFS quota), and
// one worker per node core under a 2-CPU limit only multiplies memory and contention.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** This process's cgroup v2 path ("0::/kubepods/…" in /proc/self/cgroup), "/" inside a cgroup namespace. */
function ownCgroupV2(procSelfCgroup: string): string {
  const line = (read(procSelfCgroup) ?? "").split("\n").find((l) => l.startsWith("0::"));
  return line ? line.slice(3) : "/";
}

/**
 * Whole CPUs allowed by the cgroup's CFS quota (v2 `cpu.max` of this process's cgroup, else v1
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us`) under `root`, rounded down and at least 1; undefined when there is
 * no quota.
 */
export function cgroupCpuLimit(root = "/sys/fs/cgroup", procSelfCgroup = "/proc/self/cgroup"): number | undefined {
  let quota: number | undefined;
  let period: number | undefined;
  // "max 100000" (no quota) or "200000 100000" (2 CPUs); inside a cgroup namespace the own cgroup is the root.
  const v2 = read(join(root, ownCgroupV2(procSelfCgroup), "cpu.max")) ?? read(join(root, "cpu.max"));
  if (v2 !== undefined) {
    const [q, p] = v2.split(/\s+/);
    if (q !== "max") [quota, period] = [Number(q), Number(p)];
  } else {
    const q = Number(read(join(root, "cpu", "cpu.cfs_quota_us")) ?? NaN); // -1: no quota
    const p = Number(read(join(root, "cpu", "cpu.cfs_period_us")) ?? NaN);
    if (q > 0) [quota, period] = [q, p];
  }
  if (quota === undefined || period === undefined || !(quota > 0) || !(period > 0)) return undefined;
  return Math.max(1, Math.floor(quota / period));
}

/** The worker count for `--workers auto`: the cores we may run on, capped by the cgroup CPU quota. */
export function autoWorkers(root?: string, procSelfCgroup?: string): number {
  const cores = availableParallelism();
  const limit = cgroupCpuLimit(root, procSelfCgroup);
  return limit === undefined ? cores : Math.min(cores, limit);
}
