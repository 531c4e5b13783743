// A minimal, strict DER reader: exactly what X.509 certificates need and nothing more. Strict because a
// lenient parser is where two parsers disagree about what a certificate says; every deviation from DER
// (indefinite or non-minimal lengths, high tag numbers, trailing bytes) is an error.

/** Thrown for any encoding problem; callers turn it into their own typed error. */
export class DerError extends Error {
  override readonly name = "DerError";
}

export const TAG_BOOLEAN = 0x01;
export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_OCTET_STRING = 0x04;
export const TAG_NULL = 0x05;
export const TAG_OID = 0x06;
export const TAG_UTF8_STRING = 0x0c;
export const TAG_PRINTABLE_STRING = 0x13;
export const TAG_T61_STRING = 0x14;
export const TAG_IA5_STRING = 0x16;
export const TAG_UTC_TIME = 0x17;
export const TAG_GENERALIZED_TIME = 0x18;
export const TAG_UNIVERSAL_STRING = 0x1c;
export const TAG_BMP_STRING = 0x1e;
export const TAG_SEQUENCE = 0x30;
export const TAG_SET = 0x31;

/** One TLV: `tag` is the full identifier octet; offsets index the buffer the element was read from. */
export interface Tlv {
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  /** Offset just past the last content octet. */
  readonly end: number;
}

/** Reads the TLV at `pos`; it must end at or before `limit`. */
export function readTlv(buf: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new DerError("truncated element");
  const tag = buf[pos] as number;
  // High-tag-number form never occurs in X.509; refusing it keeps the reader one byte per tag.
  if ((tag & 0x1f) === 0x1f) throw new DerError("high tag numbers are not supported");
  let len = buf[pos + 1] as number;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError("indefinite length is not DER");
    if (n > 4) throw new DerError("length too large");
    if (p + n > limit) throw new DerError("truncated length");
    if (buf[p] === 0) throw new DerError("non-minimal length encoding");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[p + i] as number);
    if (len < 0x80) throw new DerError("non-minimal length encoding");
    p += n;
  }
  if (len > limit - p) throw new DerError("element extends past its container");
  return { tag, start: pos, contentStart: p, end: p + len };
}

/** All direct children of a constructed element, in order. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  if ((parent.tag & 0x20) === 0) throw new DerError("element is not constructed");
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const child = readTlv(buf, pos, parent.end);
    out.push(child);
    pos = child.end;
  }
  return out;
}

export function content(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.contentStart, tlv.end);
}

export function readBoolean(buf: Uint8Array, tlv: Tlv): boolean {
  if (tlv.tag !== TAG_BOOLEAN || tlv.end - tlv.contentStart !== 1) throw new DerError("invalid BOOLEAN");
  const v = buf[tlv.contentStart];
  if (v === 0x00) return false;
  if (v === 0xff) return true;
  throw new DerError("BOOLEAN is not DER (must be 0x00 or 0xff)");
}

/** INTEGER content bytes (two's complement, big-endian), checked for minimal encoding. */
export function readIntegerBytes(buf: Uint8Array, tlv: Tlv): Uint8Array {
  if (tlv.tag !== TAG_INTEGER) throw new DerError("expected INTEGER");
  const c = content(buf, tlv);
  if (c.length === 0) throw new DerError("empty INTEGER");
  if (
    c.length > 1 &&
    ((c[0] === 0x00 && ((c[1] as number) & 0x80) === 0) || (c[0] === 0xff && ((c[1] as number) & 0x80) !== 0))
  ) {
    throw new DerError("non-minimal INTEGER");
  }
  return c;
}

/** A small non-negative INTEGER (versions, path lengths, salt lengths). */
export function readSmallUint(buf: Uint8Array, tlv: Tlv): number {
  const c = readIntegerBytes(buf, tlv);
  if (((c[0] as number) & 0x80) !== 0) throw new DerError("negative INTEGER");
  if (c.length > 4) throw new DerError("INTEGER too large");
  let v = 0;
  for (const b of c) v = v * 256 + b;
  return v;
}

/** Checks OBJECT IDENTIFIER encoding (minimal arcs, complete) without building its string. */
export function validateOid(buf: Uint8Array, tlv: Tlv): void {
  if (tlv.tag !== TAG_OID) throw new DerError("expected OBJECT IDENTIFIER");
  const len = tlv.end - tlv.contentStart;
  if (len === 0 || len > 64) throw new DerError("invalid OBJECT IDENTIFIER length");
  let arcStart = true;
  let arcLen = 0;
  for (let i = tlv.contentStart; i < tlv.end; i++) {
    const b = buf[i] as number;
    if (arcStart && b === 0x80) throw new DerError("non-minimal OBJECT IDENTIFIER arc");
    if (++arcLen > 5) throw new DerError("OBJECT IDENTIFIER arc too large");
    arcStart = (b & 0x80) === 0;
    if (arcStart) arcLen = 0;
  }
  if (!arcStart) throw new DerError("truncated OBJECT IDENTIFIER");
}

/** Dotted-decimal OID. Built without intermediate arrays: it runs several times per certificate. */
export function readOid(buf: Uint8Array, tlv: Tlv): string {
  validateOid(buf, tlv);
  let out = "";
  let v = 0;
  for (let i = tlv.contentStart; i < tlv.end; i++) {
    const b = buf[i] as number;
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (out === "") {
        const first = v < 80 ? (v / 40) | 0 : 2;
        out = `${first}.${v - first * 40}`;
      } else {
        out += `.${v}`;
      }
      v = 0;
    }
  }
  return out;
}

/** BIT STRING content: the unused-bit count and the bytes. Unused bits must be zero (DER). */
export function readBitString(buf: Uint8Array, tlv: Tlv): { unusedBits: number; bytes: Uint8Array } {
  if (tlv.tag !== TAG_BIT_STRING) throw new DerError("expected BIT STRING");
  const c = content(buf, tlv);
  if (c.length === 0) throw new DerError("empty BIT STRING");
  const unusedBits = c[0] as number;
  if (unusedBits > 7 || (c.length === 1 && unusedBits !== 0)) throw new DerError("invalid BIT STRING padding");
  const bytes = c.subarray(1);
  if (bytes.length > 0 && ((bytes[bytes.length - 1] as number) & ((1 << unusedBits) - 1)) !== 0) {
    throw new DerError("BIT STRING padding bits are not zero");
  }
  return { unusedBits, bytes };
}

function digits(buf: Uint8Array, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const c = (buf[i] as number) - 0x30;
    if (c < 0 || c > 9) throw new DerError("invalid time digits");
    v = v * 10 + c;
  }
  return v;
}

/**
 * UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), the only forms RFC 5280 §4.1.2.5 allows.
 * Returns epoch milliseconds.
 */
export function readTime(buf: Uint8Array, tlv: Tlv): number {
  const p = tlv.contentStart;
  const len = tlv.end - p;
  let year: number;
  let rest: number;
  if (tlv.tag === TAG_UTC_TIME) {
    if (len !== 13) throw new DerError("UTCTime must be YYMMDDHHMMSSZ");
    const yy = digits(buf, p, 2);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = p + 2;
  } else if (tlv.tag === TAG_GENERALIZED_TIME) {
    if (len !== 15) throw new DerError("GeneralizedTime must be YYYYMMDDHHMMSSZ");
    year = digits(buf, p, 4);
    rest = p + 4;
  } else {
    throw new DerError("expected UTCTime or GeneralizedTime");
  }
  if (buf[tlv.end - 1] !== 0x5a) throw new DerError("time must be in UTC (Z)");
  const month = digits(buf, rest, 2);
  const day = digits(buf, rest + 2, 2);
  const hour = digits(buf, rest + 4, 2);
  const minute = digits(buf, rest + 6, 2);
  const second = digits(buf, rest + 8, 2);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) {
    throw new DerError("time out of range");
  }
  // setUTCFullYear, not Date.UTC: the latter maps years 0-99 to 1900-1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  // Dates roll 31 Feb over into March; a round trip catches impossible dates.
  if (d.getUTCDate() !== day) throw new DerError("invalid calendar date");
  return d.getTime();
}
