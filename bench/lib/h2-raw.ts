// A minimal HTTP/2 client for unary gRPC calls, over a plain TCP socket, for the open-loop driver. node:http2's
// client spends ~100 µs of JavaScript per stream (stream objects, events, header objects); at several thousand
// calls/s that makes the generator, not the server, the bottleneck and its event-loop delays show up as latency.
// Here a call is one write of two precomputed frames (HEADERS with a fixed HPACK block that never touches the
// dynamic table, then DATA with END_STREAM) with the stream id patched in, and an answer is read from the frame
// headers: the response's DATA (a CheckResponse, whose status code decides allow/deny) and the END_STREAM that
// ends it. Header blocks from the server are skipped, not decoded (HPACK state is only needed to read them): a
// gRPC error answer is trailers-only, i.e. no DATA, and counts as an error. Flow control is honoured both ways,
// as are SETTINGS (initial window, max concurrent streams), PING, RST_STREAM and GOAWAY.
import { connect as tcpConnect, type Socket } from "node:net";
import type { Outcome } from "./grpc-wire.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const OUR_WINDOW = 1 << 30;

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const b = Buffer.alloc(9);
  b.writeUIntBE(length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream, 5);
  return b;
}

function hpackString(s: string): Buffer {
  const v = Buffer.from(s, "latin1");
  if (v.length >= 127) throw new Error("header value too long for the fixed HPACK encoder");
  return Buffer.concat([Buffer.from([v.length]), v]);
}

/** Literal header fields without indexing, names from the static table where it has them (RFC 7541 appendix A). */
function headerBlock(authority: string, path: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http (indexed)
    Buffer.from([0x04]),
    hpackString(path), // :path (name index 4)
    Buffer.from([0x01]),
    hpackString(authority), // :authority (name index 1)
    Buffer.from([0x0f, 0x10]),
    hpackString("application/grpc"), // content-type (name index 31)
    Buffer.from([0x00]),
    hpackString("te"),
    hpackString("trailers"),
  ]);
}

/** A request template: HEADERS + DATA(END_STREAM) frames with the stream id left to patch. */
export interface RequestTemplate {
  bytes: Buffer;
  dataLength: number;
  dataFrameAt: number;
}

export function requestTemplate(authority: string, path: string, grpcFrame: Uint8Array): RequestTemplate {
  const block = headerBlock(authority, path);
  const head = Buffer.concat([frameHeader(block.length, HEADERS, END_HEADERS, 0), block]);
  if (grpcFrame.length > 16384) throw new Error("request larger than one DATA frame");
  const data = Buffer.concat([frameHeader(grpcFrame.length, DATA, END_STREAM, 0), grpcFrame]);
  return { bytes: Buffer.concat([head, data]), dataLength: grpcFrame.length, dataFrameAt: head.length };
}

/** allow/deny from a framed CheckResponse: field 1 (google.rpc.Status) → its field 1 (code); absent = 0 = OK. */
export function checkResponseOutcome(body: Buffer): Outcome {
  if (body.length < 5) return "error";
  const len = body.readUInt32BE(1);
  if (body[0] !== 0 || body.length < 5 + len) return "error";
  let p = 5;
  const end = 5 + len;
  const skip = (n: number) => (p += n); // `p += varint()` would read p before varint() moves it
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (p >= end) throw new Error("truncated");
      const b = body[p++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
      shift += 7;
    }
  };
  try {
    while (p < end) {
      const tag = varint();
      const wire = tag & 7;
      if (tag === 0x0a) {
        const sub = varint();
        const stop = p + sub;
        let code = 0;
        while (p < stop) {
          const t = varint();
          if (t === 0x08) code = varint();
          else if ((t & 7) === 0) varint();
          else if ((t & 7) === 2) skip(varint());
          else if ((t & 7) === 1) skip(8);
          else if ((t & 7) === 5) skip(4);
          else return "error";
        }
        return code === 0 ? "allow" : "deny";
      }
      if (wire === 0) varint();
      else if (wire === 2) skip(varint());
      else if (wire === 1) skip(8);
      else if (wire === 5) skip(4);
      else return "error";
    }
    return "allow";
  } catch {
    return "error";
  }
}

/** The outcome, and the framed CheckResponse when one arrived (for checks beyond allow/deny, e.g. its headers). */
export type Done = (o: Outcome, body?: Buffer) => void;

interface Stream {
  data: Buffer[];
  done: Done;
}

interface Queued {
  t: RequestTemplate;
  done: Done;
}

export class RawH2Connection {
  private readonly streams = new Map<number, Stream>();
  private readonly queue: Queued[] = [];
  private nextId = 1;
  private sendWindow = 65535;
  private streamWindow = 65535;
  private maxStreams = Infinity;
  private unacked = 0;
  private buf = Buffer.alloc(0);
  private dead = false;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => this.onData(d));
    socket.on("error", () => this.fail());
    socket.on("close", () => this.fail());
  }

  static connect(target: string): Promise<RawH2Connection> {
    const i = target.lastIndexOf(":");
    const host = target.slice(0, i);
    const port = Number(target.slice(i + 1));
    return new Promise((resolve, reject) => {
      const socket = tcpConnect({ host, port, noDelay: true }, () => {
        socket.off("error", reject);
        const c = new RawH2Connection(socket);
        const settings = Buffer.alloc(12);
        settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH
        settings.writeUInt32BE(0, 2);
        settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
        settings.writeUInt32BE(OUR_WINDOW, 8);
        const wu = Buffer.alloc(4);
        wu.writeUInt32BE(OUR_WINDOW - 65535);
        socket.write(
          Buffer.concat([PREFACE, frameHeader(12, SETTINGS, 0, 0), settings, frameHeader(4, WINDOW_UPDATE, 0, 0), wu]),
        );
        resolve(c);
      });
      socket.once("error", reject);
    });
  }

  get open(): number {
    return this.streams.size + this.queue.length;
  }

  /** Sends one unary call now, or as soon as flow control and the server's stream limit allow. */
  call(t: RequestTemplate, done: Done): void {
    if (this.dead) return done("error");
    if (this.queue.length > 0 || !this.trySend(t, done)) this.queue.push({ t, done });
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  close(): void {
    this.dead = true;
    this.socket.destroy();
  }

  private trySend(t: RequestTemplate, done: Done): boolean {
    if (this.streams.size >= this.maxStreams || this.sendWindow < t.dataLength || this.streamWindow < t.dataLength)
      return false;
    const id = this.nextId;
    this.nextId += 2;
    const out = Buffer.from(t.bytes);
    out.writeUInt32BE(id, 5);
    out.writeUInt32BE(id, t.dataFrameAt + 5);
    this.sendWindow -= t.dataLength;
    this.streams.set(id, { data: [], done });
    this.socket.write(out);
    return true;
  }

  private drain(): void {
    while (this.queue.length > 0) {
      const q = this.queue[0]!;
      if (!this.trySend(q.t, q.done)) return;
      this.queue.shift();
    }
  }

  private finish(id: number, outcome?: Outcome): void {
    const s = this.streams.get(id);
    if (!s) return;
    this.streams.delete(id);
    if (outcome) return s.done(outcome);
    const body = s.data.length === 1 ? s.data[0]! : Buffer.concat(s.data);
    s.done(checkResponseOutcome(body), body);
  }

  private fail(): void {
    if (this.dead && this.streams.size === 0 && this.queue.length === 0) return;
    this.dead = true;
    for (const id of [...this.streams.keys()]) this.finish(id, "error");
    for (const q of this.queue.splice(0)) q.done("error");
  }

  private onData(chunk: Buffer): void {
    const buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let p = 0;
    let windowGrew = false;
    while (buf.length - p >= 9) {
      const len = buf.readUIntBE(p, 3);
      if (buf.length - p < 9 + len) break;
      const type = buf[p + 3]!;
      const flags = buf[p + 4]!;
      const id = buf.readUInt32BE(p + 5) & 0x7fffffff;
      const payload = buf.subarray(p + 9, p + 9 + len);
      p += 9 + len;
      switch (type) {
        case DATA: {
          const s = this.streams.get(id);
          if (s) {
            const pad = flags & PADDED ? payload[0]! : -1;
            s.data.push(pad >= 0 ? Buffer.from(payload.subarray(1, payload.length - pad)) : Buffer.from(payload));
          }
          this.unacked += len;
          if (flags & END_STREAM) this.finish(id);
          break;
        }
        case HEADERS:
          // Response headers or trailers: only END_STREAM matters (a trailers-only answer has no DATA → error).
          if (flags & END_STREAM) this.finish(id);
          break;
        case RST_STREAM:
          this.finish(id, "error");
          break;
        case SETTINGS:
          if (!(flags & ACK)) {
            for (let i = 0; i + 6 <= payload.length; i += 6) {
              const key = payload.readUInt16BE(i);
              const value = payload.readUInt32BE(i + 2);
              if (key === 0x3) this.maxStreams = value;
              if (key === 0x4) this.streamWindow = value; // a per-stream window; every request fits one
            }
            this.socket.write(frameHeader(0, SETTINGS, ACK, 0));
            windowGrew = true;
          }
          break;
        case PING:
          if (!(flags & ACK)) this.socket.write(Buffer.concat([frameHeader(8, PING, ACK, 0), payload]));
          break;
        case WINDOW_UPDATE:
          if (id === 0) this.sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
          windowGrew = true;
          break;
        case GOAWAY: {
          const last = payload.readUInt32BE(0) & 0x7fffffff;
          for (const sid of [...this.streams.keys()]) if (sid > last) this.finish(sid, "error");
          this.dead = true;
          for (const q of this.queue.splice(0)) q.done("error");
          break;
        }
        default:
          break; // PRIORITY, PUSH_PROMISE (disabled), CONTINUATION of skipped header blocks, unknown
      }
    }
    this.buf = p < buf.length ? Buffer.from(buf.subarray(p)) : Buffer.alloc(0);
    if (this.unacked >= 1 << 20) {
      const wu = Buffer.alloc(4);
      wu.writeUInt32BE(this.unacked);
      this.socket.write(Buffer.concat([frameHeader(4, WINDOW_UPDATE, 0, 0), wu]));
      this.unacked = 0;
    }
    // Streams finished and windows may have grown: queued calls may go now.
    if (this.queue.length > 0 && (windowGrew || this.streams.size < this.maxStreams)) this.drain();
  }
}
