// A minimal protobuf wire decoder and just enough of the OTLP metrics schema (field numbers from
// opentelemetry/proto/metrics/v1/metrics.proto) to find a metric's data points in an
// ExportMetricsServiceRequest — independent of the serializer that produced the bytes.

type Field = {
  no: number;
  wire: number;
  varint?: bigint;
  bytes?: Uint8Array;
  fixed64?: Uint8Array;
  fixed32?: Uint8Array;
};

function decode(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let shift = 0n;
    let v = 0n;
    for (;;) {
      const b = buf[i++];
      if (b === undefined) throw new Error("protobuf: truncated varint");
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    switch (wire) {
      case 0:
        out.push({ no, wire, varint: varint() });
        break;
      case 1:
        out.push({ no, wire, fixed64: buf.subarray(i, i + 8) });
        i += 8;
        break;
      case 2: {
        const len = Number(varint());
        out.push({ no, wire, bytes: buf.subarray(i, i + len) });
        i += len;
        break;
      }
      case 5:
        out.push({ no, wire, fixed32: buf.subarray(i, i + 4) });
        i += 4;
        break;
      default:
        throw new Error(`protobuf: unsupported wire type ${wire}`);
    }
    if (i > buf.length) throw new Error("protobuf: truncated field");
  }
  return out;
}

const messages = (fields: Field[], no: number): Uint8Array[] =>
  fields.filter((f) => f.no === no && f.bytes).map((f) => f.bytes as Uint8Array);
const text = (b: Uint8Array): string => Buffer.from(b).toString("utf8");
const double = (b: Uint8Array): number => Buffer.from(b).readDoubleLE(0);

export interface OtlpPoint {
  attributes: Record<string, string>;
  value: number;
}

export interface OtlpMetric {
  name: string;
  kind: "sum" | "gauge" | "histogram" | "other";
  points: OtlpPoint[];
}

function attributes(point: Field[], no: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of messages(point, no)) {
    const f = decode(kv);
    const key = messages(f, 1)[0];
    const any = messages(f, 2)[0];
    if (!key || !any) continue;
    const str = messages(decode(any), 1)[0]; // AnyValue.string_value
    out[text(key)] = str ? text(str) : "";
  }
  return out;
}

function numberPoints(data: Uint8Array): OtlpPoint[] {
  // Sum/Gauge.data_points = 1; NumberDataPoint: attributes = 7, as_double = 4, as_int = 6
  return messages(decode(data), 1).map((p) => {
    const f = decode(p);
    const d = f.find((x) => x.no === 4 && x.fixed64);
    const n = f.find((x) => x.no === 6 && x.fixed64);
    const value = d
      ? double(d.fixed64 as Uint8Array)
      : n
        ? Number(Buffer.from(n.fixed64 as Uint8Array).readBigInt64LE(0))
        : 0;
    return { attributes: attributes(f, 7), value };
  });
}

function histogramPoints(data: Uint8Array): OtlpPoint[] {
  // Histogram.data_points = 1; HistogramDataPoint: attributes = 9, count = 4 (fixed64)
  return messages(decode(data), 1).map((p) => {
    const f = decode(p);
    const c = f.find((x) => x.no === 4 && x.fixed64);
    return {
      attributes: attributes(f, 9),
      value: c ? Number(Buffer.from(c.fixed64 as Uint8Array).readBigUInt64LE(0)) : 0,
    };
  });
}

/** ExportMetricsServiceRequest bytes → metrics (resource_metrics = 1 → scope_metrics = 2 → metrics = 2). */
export function decodeExportMetricsRequest(body: Uint8Array): OtlpMetric[] {
  const out: OtlpMetric[] = [];
  for (const rm of messages(decode(body), 1)) {
    for (const sm of messages(decode(rm), 2)) {
      for (const m of messages(decode(sm), 2)) {
        const f = decode(m);
        const name = text(messages(f, 1)[0] ?? new Uint8Array());
        const sum = messages(f, 7)[0];
        const gauge = messages(f, 5)[0];
        const hist = messages(f, 9)[0];
        if (sum) out.push({ name, kind: "sum", points: numberPoints(sum) });
        else if (gauge) out.push({ name, kind: "gauge", points: numberPoints(gauge) });
        else if (hist) out.push({ name, kind: "histogram", points: histogramPoints(hist) });
        else out.push({ name, kind: "other", points: [] });
      }
    }
  }
  return out;
}

/** The same from an OTLP/JSON ExportMetricsServiceRequest. */
export function decodeExportMetricsJson(body: unknown): OtlpMetric[] {
  type Kv = { key: string; value?: { stringValue?: string } };
  type Dp = { attributes?: Kv[]; asDouble?: number; asInt?: number | string; count?: number | string };
  type M = {
    name: string;
    sum?: { dataPoints?: Dp[] };
    gauge?: { dataPoints?: Dp[] };
    histogram?: { dataPoints?: Dp[] };
  };
  const req = body as { resourceMetrics?: { scopeMetrics?: { metrics?: M[] }[] }[] };
  const attrs = (kvs: Kv[] = []) => Object.fromEntries(kvs.map((kv) => [kv.key, kv.value?.stringValue ?? ""]));
  const out: OtlpMetric[] = [];
  for (const rm of req.resourceMetrics ?? []) {
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const kind = m.sum ? "sum" : m.gauge ? "gauge" : m.histogram ? "histogram" : "other";
        const dps = (m.sum ?? m.gauge ?? m.histogram)?.dataPoints ?? [];
        out.push({
          name: m.name,
          kind,
          points: dps.map((dp) => ({
            attributes: attrs(dp.attributes),
            value: kind === "histogram" ? Number(dp.count ?? 0) : Number(dp.asDouble ?? dp.asInt ?? 0),
          })),
        });
      }
    }
  }
  return out;
}
