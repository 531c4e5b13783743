// CPU time of a process and its descendants from /proc (utime + stime), for "CPU seconds per 1000 requests".
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { childrenOf } from "./processes.js";

let ticksPerSecond: number | undefined;
function clkTck(): number {
  if (ticksPerSecond === undefined) {
    const t = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    ticksPerSecond = Number.isFinite(t) && t > 0 ? t : 100;
  }
  return ticksPerSecond;
}

function ownTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces and parentheses: fields are counted after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return Number(rest[11]) + Number(rest[12]);
}

/** CPU seconds used so far by `pid` and its live descendants (spiffe-authz --workers: the workers too). */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  const visit = (p: number) => {
    try {
      ticks += ownTicks(p);
    } catch {
      return; // gone
    }
    for (const c of childrenOf(p)) visit(c);
  };
  visit(pid);
  return ticks / clkTck();
}

/** CPU seconds of one process by thread name (/proc/<pid>/task/<tid>/comm): main, libuv workers, V8 helpers. */
export function threadCpuSeconds(pid: number): Array<{ thread: string; seconds: number }> {
  const by = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const name = Number(tid) === pid ? `${comm} (main)` : comm;
      by.set(name, (by.get(name) ?? 0) + taskTicks(pid, Number(tid)) / clkTck());
    } catch {
      // the thread ended
    }
  }
  return [...by].map(([thread, seconds]) => ({ thread, seconds })).sort((a, b) => b.seconds - a.seconds);
}

function taskTicks(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(rest[11]) + Number(rest[12]);
}
