// Latency histogram (log-linear, bounded memory: fine for a 10-minute soak) and small formatting helpers.

/** Microsecond histogram: 5 µs buckets below 1 ms, then 64 buckets per doubling (≈ 1.1 % wide) up to ~1 h. */
export class Histogram {
  private readonly counts = new Float64Array(200 + 64 * 32);
  count = 0;
  sum = 0;
  max = 0;
  min = Infinity;

  record(us: number): void {
    const v = us < 0 ? 0 : us;
    this.counts[Histogram.bucket(v)]! += 1;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
  }

  private static bucket(us: number): number {
    if (us < 1000) return Math.floor(us / 5);
    return Math.min(200 + 64 * 32 - 1, 200 + Math.floor(Math.log2(us / 1000) * 64));
  }

  /** Upper edge of a bucket, in µs. */
  private static upper(i: number): number {
    if (i < 200) return (i + 1) * 5;
    return 1000 * 2 ** ((i - 200 + 1) / 64);
  }

  /** The p-quantile (0..1) in µs: the upper edge of the bucket holding it, capped at the exact max. */
  quantile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(p * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(Histogram.upper(i), this.max);
    }
    return this.max;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
    this.min = Math.min(this.min, other.min);
  }

  summary(): LatencySummary {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.count,
      meanMs: this.count ? ms(this.sum / this.count) : NaN,
      p50Ms: ms(this.quantile(0.5)),
      p90Ms: ms(this.quantile(0.9)),
      p99Ms: ms(this.quantile(0.99)),
      p999Ms: ms(this.quantile(0.999)),
      maxMs: ms(this.max),
    };
  }
}

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

export function pass(ok: boolean): "PASS" | "MISS" {
  return ok ? "PASS" : "MISS";
}

/** Linear least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}
