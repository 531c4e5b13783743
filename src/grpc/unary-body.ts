// The request side of a unary gRPC call read straight off an HTTP/2 stream (raw-unary.ts): its DATA held in one
// buffer, and the check that it is exactly one uncompressed length-prefixed message. One buffer, not a list of
// the chunks as they came: a client sending its message a byte per DATA frame would otherwise make the server
// hold an object (a couple of hundred bytes of heap) per byte. It grows by doubling, never past the size limit,
// and is refused as soon as the bytes can no longer make an acceptable message.
import { status } from "@grpc/grpc-js";

/** The compression flag and the message length that precede every gRPC message. */
export const HEADER_BYTES = 5;

export interface Refusal {
  code: status;
  message: string;
}

export class UnaryBody {
  /** The first chunk, kept as it came while it is the only one (the usual case: no copy). */
  private single: Buffer | undefined;
  private buf: Buffer | undefined;
  private length = 0;
  /** The message length its prefix declares, once five bytes are in; -1 before. */
  private declared = -1;

  constructor(private readonly maxMessageBytes: number) {}

  /** Takes one DATA chunk; a refusal once the request can no longer be one acceptable message. */
  push(chunk: Buffer): Refusal | undefined {
    const total = this.length + chunk.length;
    if (total - HEADER_BYTES > this.maxMessageBytes) return this.tooLarge(total - HEADER_BYTES);
    this.append(chunk, total);
    if (this.declared < 0 && total >= HEADER_BYTES) {
      this.declared = this.bytes().readUInt32BE(1);
      if (this.declared > this.maxMessageBytes) return this.tooLarge(this.declared);
    }
    if (this.declared >= 0 && total > HEADER_BYTES + this.declared) {
      return { code: status.INTERNAL, message: "more than one request message received for a unary call" };
    }
    return undefined;
  }

  /** Everything received (a view, valid until the next push). */
  bytes(): Buffer {
    return this.single ?? this.buf?.subarray(0, this.length) ?? Buffer.alloc(0);
  }

  /** Why the whole request is not exactly one uncompressed message, or undefined if it is. */
  problem(): string | undefined {
    const body = this.bytes();
    if (body.length === 0) return "no request message received for a unary call";
    if (body.length < HEADER_BYTES) return "request message truncated (incomplete length prefix)";
    if (body[0] !== 0) {
      return body[0] === 1
        ? "compressed request message without a grpc-encoding"
        : `request message has an invalid compression flag (${body[0]})`;
    }
    if (body.length < HEADER_BYTES + body.readUInt32BE(1)) return "request message truncated";
    return undefined; // more than one message was refused by push()
  }

  /** The message itself, once problem() is undefined. */
  message(): Buffer {
    return this.bytes().subarray(HEADER_BYTES);
  }

  /** Lets go of what was held (after a refusal). */
  clear(): void {
    this.single = undefined;
    this.buf = undefined;
  }

  private tooLarge(size: number): Refusal {
    return {
      code: status.RESOURCE_EXHAUSTED,
      message: `Received message larger than max (${size} vs. ${this.maxMessageBytes})`,
    };
  }

  private append(chunk: Buffer, total: number): void {
    if (this.length === 0) {
      this.single = chunk;
      this.length = total;
      return;
    }
    if (this.buf === undefined || this.buf.length < total) {
      // total never passes HEADER_BYTES + maxMessageBytes here (push refused it), so neither does the buffer.
      const next = Buffer.allocUnsafe(Math.max(total, Math.min(2 * total, HEADER_BYTES + this.maxMessageBytes), 4096));
      (this.single ?? this.buf!).copy(next, 0, 0, this.length);
      this.buf = next;
      this.single = undefined;
    }
    chunk.copy(this.buf, this.length);
    this.length = total;
  }
}
