// A tiny DER writer for tests that hand-make certificate parts (extensions, TBS fields), and a way to take a
// certificate the dev CA made apart and put it back together with one part changed, re-signed by the real
// issuer key (so that whatever the verifier then says is about the change, not about a broken signature).
import { sign as cryptoSign, KeyObject } from "node:crypto";
import type { CryptoKey } from "../../src/dev-ca/keys.js";
import assert from "node:assert/strict";
import { children, DerError, readTlv, type Tlv } from "../../src/spiffe/der.js";

type Part = Uint8Array | readonly number[];

/** The DerError message fn throws (fails on success or any other exception). */
export function derError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof DerError) return err.message;
    throw err;
  }
  assert.fail("expected a DerError");
}

/** One TLV; the length in the shortest form. */
export function tlv(tag: number, ...parts: Part[]): Uint8Array {
  const body = Buffer.concat(parts.map((p) => Uint8Array.from(p)));
  const n = body.length;
  const len =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Uint8Array.from([tag, ...len, ...body]);
}

export const seq = (...parts: Part[]) => tlv(0x30, ...parts);
export const octets = (...parts: Part[]) => tlv(0x04, ...parts);
export const ia5 = (tag: number, s: string) => tlv(tag, Buffer.from(s, "latin1"));
export const BOOL_TRUE = Uint8Array.from([0x01, 0x01, 0xff]);
export const BOOL_FALSE = Uint8Array.from([0x01, 0x01, 0x00]);
export const NULL = Uint8Array.from([0x05, 0x00]);

/** A small non-negative INTEGER. */
export function int(v: number): Uint8Array {
  const b: number[] = [];
  do {
    b.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if ((b[0] as number) & 0x80) b.unshift(0);
  return tlv(0x02, b);
}

/** OBJECT IDENTIFIER from dotted decimal. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const out: number[] = [];
  const push = (v: number) => {
    const b = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) b.unshift((v & 0x7f) | 0x80);
    out.push(...b);
  };
  push((arcs[0] as number) * 40 + (arcs[1] as number));
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, out);
}

/** One Extension: `critical` undefined leaves the BOOLEAN out (DEFAULT FALSE), as DER requires for false. */
export function extension(dotted: string, critical: boolean | undefined, value: Part): Uint8Array {
  return seq(oid(dotted), critical === undefined ? [] : critical ? BOOL_TRUE : BOOL_FALSE, octets(value));
}

/** The TLVs of a certificate: Certificate, TBSCertificate, its fields, outer algorithm, signature. */
export function certificateParts(der: Uint8Array) {
  const top = readTlv(der, 0, der.length);
  const [tbs, alg, sig] = children(der, top) as [Tlv, Tlv, Tlv];
  const slice = (t: Tlv) => der.subarray(t.start, t.end);
  return { tbs, alg, sig, fields: children(der, tbs).map(slice), slice };
}

/**
 * The certificate with its TBS fields replaced by `edit(fields)` (version, serial, signature algorithm, issuer,
 * validity, subject, SPKI, then [1]/[2]/[3] as present), keeping the original signature: enough for the parser.
 */
export function withTbsFields(der: Uint8Array, edit: (fields: Uint8Array[]) => Uint8Array[]): Uint8Array {
  const { alg, sig, fields, slice } = certificateParts(der);
  return seq(seq(...edit([...fields])), slice(alg), slice(sig));
}

/** As withTbsFields, but the TBS signed anew with `key` (the issuer's ECDSA P-256 private key). */
export function resignedWithTbsFields(
  der: Uint8Array,
  key: CryptoKey,
  edit: (fields: Uint8Array[]) => Uint8Array[],
): Uint8Array {
  const { alg, fields, slice } = certificateParts(der);
  const tbs = seq(...edit([...fields]));
  const signature = cryptoSign("sha256", tbs, { key: KeyObject.from(key), dsaEncoding: "der" });
  return seq(tbs, slice(alg), tlv(0x03, [0], signature));
}

/** The certificate with its extensions ([3]) replaced by these Extension DERs ([] drops the field). */
export function withExtensions(der: Uint8Array, exts: Uint8Array[], key?: CryptoKey): Uint8Array {
  const edit = (fields: Uint8Array[]) => {
    const kept = fields.filter((f) => f[0] !== 0xa3);
    return exts.length === 0 ? kept : [...kept, tlv(0xa3, seq(...exts))];
  };
  return key ? resignedWithTbsFields(der, key, edit) : withTbsFields(der, edit);
}
