// A V8 .cpuprofile (node --cpu-prof) summarised as self time per function and per origin (a package, Node's own
// internals, the bundle), so a bench can say where a missed target's CPU went.
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface ProfileSummary {
  /** Wall time the profile covers. */
  totalMs: number;
  /** Main-thread time not idle; shares below are of this. */
  busyMs: number;
  byFunction: Array<{ name: string; ms: number; share: number }>;
  byOrigin: Array<{ name: string; ms: number; share: number }>;
}

/** Where a frame's code comes from: node_modules/<pkg>, node:<internal>, the spiffe-authz bundle, or V8 itself. */
export function originOf(url: string): string {
  if (!url) return "(V8 / native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return url;
  if (/dist\/|src\//.test(url)) return "spiffe-authz";
  return url.split("/").slice(-1)[0]!;
}

export function summariseProfile(file: string, top = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const allHits = p.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const totalMs = (p.endTime - p.startTime) / 1000;
  const msPerHit = allHits ? totalMs / allHits : 0;
  // Idle samples are the event loop waiting: not CPU.
  const busy = p.nodes.filter((n) => n.callFrame.functionName !== "(idle)");
  const totalHits = busy.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const fn = new Map<string, number>();
  const origin = new Map<string, number>();
  for (const n of busy) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? `${url.split("/").slice(-1)[0]}:${lineNumber + 1}` : "";
    const key = `${functionName || "(anonymous)"}${where ? ` ${where}` : ""}`;
    fn.set(key, (fn.get(key) ?? 0) + hits);
    const o = originOf(url);
    origin.set(o, (origin.get(o) ?? 0) + hits);
  }
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => ({ name, ms: hits * msPerHit, share: totalHits ? hits / totalHits : 0 }));
  return { totalMs, busyMs: totalHits * msPerHit, byFunction: rank(fn), byOrigin: rank(origin) };
}
