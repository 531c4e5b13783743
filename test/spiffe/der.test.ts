// The strict DER reader (src/spiffe/der.ts) on hand-made encodings: each rule at its boundary (the last input
// accepted and the first refused) with the exact error, and the values read. Certificate-level tests reach these
// rules only through whole certificates, and until now asserted only "malformed_certificate", so a rule could be
// dropped (or one of its errors replaced by another) without any test noticing.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  TAG_BIT_STRING,
  TAG_BOOLEAN,
  TAG_GENERALIZED_TIME,
  TAG_INTEGER,
  TAG_OID,
  TAG_UTC_TIME,
  children,
  content,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOid,
  readSmallUint,
  readTime,
  readTlv,
  validateOid,
  type Tlv,
} from "../../src/spiffe/der.js";
import { derError } from "../helpers/der-build.js";

const bytes = (...b: number[]) => new Uint8Array(b);
/** The whole buffer read as one TLV. */
const whole = (buf: Uint8Array): Tlv => readTlv(buf, 0, buf.length);
/** One primitive TLV with a short-form length. */
const prim = (tag: number, body: number[] | Uint8Array): Uint8Array => bytes(tag, body.length, ...body);

describe("readTlv", () => {
  test("short-form lengths: offsets, a two-byte element at its limit, one byte short", () => {
    assert.deepEqual(readTlv(bytes(0x05, 0x00), 0, 2), { tag: 0x05, start: 0, contentStart: 2, end: 2 });
    assert.deepEqual(readTlv(bytes(0xff, 0x04, 0x02, 0xaa, 0xbb, 0x99), 1, 5), {
      tag: 0x04,
      start: 1,
      contentStart: 3,
      end: 5,
    });
    assert.equal(
      derError(() => readTlv(bytes(0x05, 0x00), 0, 1)),
      "truncated element",
    );
    assert.equal(
      derError(() => readTlv(bytes(0x00, 0x05), 1, 2)),
      "truncated element",
    );
    assert.equal(
      derError(() => readTlv(bytes(0x04, 0x02, 0xaa), 0, 3)),
      "element extends past its container",
    );
    // The content may end exactly at the limit, not after it, even when the buffer goes on.
    assert.deepEqual(readTlv(bytes(0x04, 0x01, 0xaa, 0xbb), 0, 3), { tag: 0x04, start: 0, contentStart: 2, end: 3 });
    assert.equal(
      derError(() => readTlv(bytes(0x04, 0x02, 0xaa, 0xbb), 0, 3)),
      "element extends past its container",
    );
  });

  test("high tag numbers are refused; every other tag is read as one byte", () => {
    for (const tag of [0x1f, 0x3f, 0x9f, 0xbf, 0xff]) {
      assert.equal(
        derError(() => whole(bytes(tag, 0x00))),
        "high tag numbers are not supported",
        tag.toString(16),
      );
    }
    for (const tag of [0x1e, 0x0f, 0x10, 0x30, 0xa3, 0x86]) assert.equal(whole(bytes(tag, 0x00)).tag, tag);
  });

  test("long-form lengths: minimal only, at most four octets, inside the buffer", () => {
    const body = (n: number) => new Array<number>(n).fill(0x61);
    assert.deepEqual(whole(bytes(0x04, 0x81, 0x80, ...body(0x80))), {
      tag: 0x04,
      start: 0,
      contentStart: 3,
      end: 3 + 0x80,
    });
    assert.deepEqual(whole(bytes(0x04, 0x82, 0x01, 0x02, ...body(0x102))), {
      tag: 0x04,
      start: 0,
      contentStart: 4,
      end: 4 + 0x102,
    });
    assert.equal(
      derError(() => whole(bytes(0x04, 0x80, 0x00, 0x00))),
      "indefinite length is not DER",
    );
    assert.equal(
      derError(() => whole(bytes(0x04, 0x81, 0x7f, ...body(0x7f)))),
      "non-minimal length encoding",
    );
    assert.equal(
      derError(() => whole(bytes(0x04, 0x82, 0x00, 0x80, ...body(0x80)))),
      "non-minimal length encoding",
    );
    // Four length octets are read (and this length then runs past the buffer); five are refused outright.
    assert.equal(
      derError(() => whole(bytes(0x04, 0x84, 0x01, 0x00, 0x00, 0x00, 0x61))),
      "element extends past its container",
    );
    assert.equal(
      derError(() => whole(bytes(0x04, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00, 0x61))),
      "length too large",
    );
    assert.equal(
      derError(() => whole(bytes(0x04, 0x82, 0x01))),
      "truncated length",
    );
    // The length octets end exactly at the limit: read, and then the (missing) content is what is wrong.
    assert.equal(
      derError(() => whole(bytes(0x04, 0x81, 0x80))),
      "element extends past its container",
    );
    assert.equal(
      derError(() => readTlv(bytes(0x04, 0x82, 0x01, 0x00), 0, 3)),
      "truncated length",
    );
  });
});

describe("children and content", () => {
  test("every direct child in order; an empty SEQUENCE has none; [0] is constructed", () => {
    const buf = bytes(0x30, 0x08, 0x02, 0x01, 0x05, 0x04, 0x00, 0xa0, 0x01, 0x07);
    const kids = children(buf, whole(buf));
    assert.deepEqual(
      kids.map((k) => [k.tag, k.start, k.contentStart, k.end]),
      [
        [0x02, 2, 4, 5],
        [0x04, 5, 7, 7],
        [0xa0, 7, 9, 10],
      ],
    );
    assert.deepEqual([...content(buf, kids[0] as Tlv)], [0x05]);
    assert.deepEqual([...content(buf, kids[1] as Tlv)], []);
    assert.deepEqual(children(bytes(0x30, 0x00), whole(bytes(0x30, 0x00))), []);
    const ctx = bytes(0xa0, 0x03, 0x02, 0x01, 0x02);
    assert.deepEqual(
      children(ctx, whole(ctx)).map((k) => k.tag),
      [0x02],
    );
  });

  test("a primitive element has no children; a child may not run past its parent", () => {
    for (const tag of [0x04, 0x02, 0x80, 0x86]) {
      const buf = bytes(tag, 0x02, 0x05, 0x00);
      assert.equal(
        derError(() => children(buf, whole(buf))),
        "element is not constructed",
      );
    }
    // The child's length fits the buffer but not its parent.
    const buf = bytes(0x30, 0x02, 0x04, 0x02, 0xaa, 0xbb);
    assert.equal(
      derError(() => children(buf, readTlv(buf, 0, buf.length))),
      "element extends past its container",
    );
  });
});

describe("readBoolean", () => {
  const read = (...b: number[]) => readBoolean(bytes(...b), whole(bytes(...b)));
  test("0x00 and 0xff only, one octet, BOOLEAN tag", () => {
    assert.equal(read(TAG_BOOLEAN, 1, 0x00), false);
    assert.equal(read(TAG_BOOLEAN, 1, 0xff), true);
    for (const v of [0x01, 0x7f, 0x80, 0xfe]) {
      assert.equal(
        derError(() => read(TAG_BOOLEAN, 1, v)),
        "BOOLEAN is not DER (must be 0x00 or 0xff)",
      );
    }
    assert.equal(
      derError(() => read(TAG_BOOLEAN, 0)),
      "invalid BOOLEAN",
    );
    assert.equal(
      derError(() => read(TAG_BOOLEAN, 2, 0xff, 0xff)),
      "invalid BOOLEAN",
    );
    assert.equal(
      derError(() => read(TAG_INTEGER, 1, 0xff)),
      "invalid BOOLEAN",
    );
  });
});

describe("INTEGER", () => {
  const int = (...c: number[]) => prim(TAG_INTEGER, c);
  const bytesOf = (...c: number[]) => [...readIntegerBytes(int(...c), whole(int(...c)))];
  const uint = (...c: number[]) => readSmallUint(int(...c), whole(int(...c)));

  test("minimal two's-complement encodings only", () => {
    for (const c of [[0x00], [0xff], [0x7f], [0x80], [0x00, 0x80], [0xff, 0x7f], [0x01, 0x00], [0x00, 0xff, 0x00]]) {
      assert.deepEqual(bytesOf(...c), c);
    }
    for (const c of [
      [0x00, 0x7f],
      [0x00, 0x00],
      [0xff, 0x80],
      [0xff, 0xff],
    ]) {
      assert.equal(
        derError(() => bytesOf(...c)),
        "non-minimal INTEGER",
        JSON.stringify(c),
      );
    }
    assert.equal(
      derError(() => bytesOf()),
      "empty INTEGER",
    );
    const notInt = prim(TAG_OID, [0x01]);
    assert.equal(
      derError(() => readIntegerBytes(notInt, whole(notInt))),
      "expected INTEGER",
    );
  });

  test("small unsigned values up to four octets", () => {
    assert.equal(uint(0x00), 0);
    assert.equal(uint(0x05), 5);
    assert.equal(uint(0x00, 0x80), 128);
    assert.equal(uint(0x01, 0x02), 258);
    assert.equal(uint(0x7f, 0xff, 0xff, 0xff), 0x7fffffff);
    assert.equal(
      derError(() => uint(0x00, 0x80, 0x00, 0x00, 0x00)),
      "INTEGER too large",
    );
    for (const c of [[0x80], [0xff], [0xff, 0x00]]) {
      assert.equal(
        derError(() => uint(...c)),
        "negative INTEGER",
      );
    }
  });
});

describe("OBJECT IDENTIFIER", () => {
  const oid = (...c: number[]) => prim(TAG_OID, c);
  const read = (...c: number[]) => readOid(oid(...c), whole(oid(...c)));

  test("dotted decimal, the first two arcs from one subidentifier", () => {
    assert.equal(read(0x55, 0x1d, 0x11), "2.5.29.17");
    assert.equal(read(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02), "1.2.840.10045.4.3.2");
    assert.equal(read(0x09), "0.9");
    assert.equal(read(0x27), "0.39");
    assert.equal(read(0x28), "1.0");
    assert.equal(read(0x4f), "1.39");
    assert.equal(read(0x50), "2.0");
    assert.equal(read(0x88, 0x37, 0x03), "2.999.3");
    // A five-octet arc: 2^32 + 1 and the largest, 2^35 - 1.
    assert.equal(read(0x2a, 0x90, 0x80, 0x80, 0x80, 0x01), "1.2.4294967297");
    assert.equal(read(0x2a, 0xff, 0xff, 0xff, 0xff, 0x7f), "1.2.34359738367");
    // Sixty-four octets of short arcs: many arcs are fine, only each arc's length is bounded.
    assert.equal(read(...new Array<number>(64).fill(0x01)), `0.1${".1".repeat(63)}`);
  });

  test("refused: wrong tag, empty, over 64 octets, a leading 0x80, a six-octet arc, a last arc cut off", () => {
    const cases: Array<[number[], string]> = [
      [[], "invalid OBJECT IDENTIFIER length"],
      [new Array<number>(65).fill(0x01), "invalid OBJECT IDENTIFIER length"],
      [[0x80, 0x01], "non-minimal OBJECT IDENTIFIER arc"],
      [[0x2a, 0x80, 0x01], "non-minimal OBJECT IDENTIFIER arc"],
      [[0x2a, 0x81, 0x80, 0x80, 0x80, 0x80, 0x01], "OBJECT IDENTIFIER arc too large"],
      [[0x2a, 0x86], "truncated OBJECT IDENTIFIER"],
      [[0x86], "truncated OBJECT IDENTIFIER"],
    ];
    for (const [c, message] of cases) {
      assert.equal(
        derError(() => read(...c)),
        message,
        JSON.stringify(c),
      );
      assert.equal(
        derError(() => validateOid(oid(...c), whole(oid(...c)))),
        message,
      );
    }
    // 0x80 inside an arc is an ordinary continuation octet.
    assert.equal(read(0x2a, 0x81, 0x80, 0x00), "1.2.16384");
    const notOid = prim(TAG_INTEGER, [0x01]);
    assert.equal(
      derError(() => readOid(notOid, whole(notOid))),
      "expected OBJECT IDENTIFIER",
    );
    assert.doesNotThrow(() => validateOid(oid(0x2a, 0x03), whole(oid(0x2a, 0x03))));
  });
});

describe("BIT STRING", () => {
  const read = (...c: number[]) => {
    const b = prim(TAG_BIT_STRING, c);
    const r = readBitString(b, whole(b));
    return [r.unusedBits, ...r.bytes];
  };

  test("the unused-bit count and the bytes; unused bits must be zero", () => {
    assert.deepEqual(read(0x00), [0]);
    assert.deepEqual(read(0x00, 0xff), [0, 0xff]);
    assert.deepEqual(read(0x07, 0x80), [7, 0x80]);
    assert.deepEqual(read(0x01, 0xaa, 0xfe), [1, 0xaa, 0xfe]);
    assert.deepEqual(read(0x05, 0x05, 0xa0), [5, 0x05, 0xa0]);
    const cases: Array<[number[], string]> = [
      [[], "empty BIT STRING"],
      [[0x08, 0x00], "invalid BIT STRING padding"],
      [[0x01], "invalid BIT STRING padding"],
      [[0x07], "invalid BIT STRING padding"],
      [[0x01, 0x01], "BIT STRING padding bits are not zero"],
      [[0x07, 0xc0], "BIT STRING padding bits are not zero"],
      [[0x05, 0xff, 0xb0], "BIT STRING padding bits are not zero"],
    ];
    for (const [c, message] of cases) {
      assert.equal(
        derError(() => read(...c)),
        message,
        JSON.stringify(c),
      );
    }
    const notBits = prim(TAG_INTEGER, [0x00]);
    assert.equal(
      derError(() => readBitString(notBits, whole(notBits))),
      "expected BIT STRING",
    );
  });
});

describe("readTime", () => {
  const ascii = (tag: number, s: string) => prim(tag, Buffer.from(s, "latin1"));
  const utc = (s: string) => readTime(ascii(TAG_UTC_TIME, s), whole(ascii(TAG_UTC_TIME, s)));
  const gen = (s: string) => readTime(ascii(TAG_GENERALIZED_TIME, s), whole(ascii(TAG_GENERALIZED_TIME, s)));
  const at = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => {
    const t = new Date(0);
    t.setUTCFullYear(y, mo - 1, d);
    t.setUTCHours(h, mi, s, 0);
    return t.getTime();
  };

  test("UTCTime: two-digit years 50-99 are 19xx, 00-49 are 20xx; every field in its place", () => {
    assert.equal(utc("491231235959Z"), Date.UTC(2049, 11, 31, 23, 59, 59));
    assert.equal(utc("500101000000Z"), Date.UTC(1950, 0, 1, 0, 0, 0));
    assert.equal(utc("000229120000Z"), Date.UTC(2000, 1, 29, 12, 0, 0));
    assert.equal(utc("991130010203Z"), Date.UTC(1999, 10, 30, 1, 2, 3));
    assert.equal(utc("261207234517Z"), Date.UTC(2026, 11, 7, 23, 45, 17));
  });

  test("GeneralizedTime: four-digit years, including 0000-0099 and 9999", () => {
    assert.equal(gen("20500101000000Z"), Date.UTC(2050, 0, 1));
    assert.equal(gen("99991231235959Z"), Date.UTC(9999, 11, 31, 23, 59, 59));
    assert.equal(gen("00500101000000Z"), at(50, 1, 1));
    assert.equal(gen("00000101000000Z"), at(0, 1, 1));
    assert.equal(gen("19491231235959Z"), Date.UTC(1949, 11, 31, 23, 59, 59));
  });

  test("the last valid value of each field, and the first invalid one", () => {
    assert.equal(utc("261231235959Z"), Date.UTC(2026, 11, 31, 23, 59, 59));
    assert.equal(utc("260101000000Z"), Date.UTC(2026, 0, 1));
    for (const s of [
      "261301000000Z",
      "260001000000Z",
      "260100000000Z",
      "260101240000Z",
      "260101006000Z",
      "260101000060Z",
    ]) {
      assert.equal(
        derError(() => utc(s)),
        "time out of range",
        s,
      );
    }
    assert.equal(utc("240229000000Z"), Date.UTC(2024, 1, 29));
    for (const s of ["230229000000Z", "260230000000Z", "260431000000Z", "260132000000Z"]) {
      assert.equal(
        derError(() => utc(s)),
        "invalid calendar date",
        s,
      );
    }
  });

  test("forms RFC 5280 does not allow are refused", () => {
    const cases: Array<[() => number, string]> = [
      [() => utc("2612072345Z"), "UTCTime must be YYMMDDHHMMSSZ"],
      [() => utc("26120723451Z"), "UTCTime must be YYMMDDHHMMSSZ"],
      [() => utc("2612072345170Z"), "UTCTime must be YYMMDDHHMMSSZ"],
      [() => utc("261207234517+"), "time must be in UTC (Z)"],
      [() => utc("261207234517z"), "time must be in UTC (Z)"],
      [() => gen("2026120723451Z"), "GeneralizedTime must be YYYYMMDDHHMMSSZ"],
      [() => gen("202612072345170Z"), "GeneralizedTime must be YYYYMMDDHHMMSSZ"],
      [() => gen("20261207234517.Z"), "GeneralizedTime must be YYYYMMDDHHMMSSZ"],
      [() => gen("202612072345170"), "time must be in UTC (Z)"],
      // '/' and ':' sit just below '0' and just above '9'.
      [() => utc("2/1207234517Z"), "invalid time digits"],
      [() => utc("26120723451:Z"), "invalid time digits"],
      [() => gen("2:261207234517Z"), "invalid time digits"],
      [() => utc("26 207234517Z"), "invalid time digits"],
    ];
    for (const [fn, message] of cases) assert.equal(derError(fn), message);
    const str = ascii(0x13, "261207234517Z");
    assert.equal(
      derError(() => readTime(str, whole(str))),
      "expected UTCTime or GeneralizedTime",
    );
  });
});
