// Public keys we accept in X.509 paths (leaf, intermediates, roots): RSA 2048–4096 bits with e = 65537, ECDSA
// P-256 and P-384, Ed25519 (certificatePublicKeyProblem). Everything SPIRE issues fits; everything else only
// costs CPU: an 8192-bit modulus with e = 2^32-1 makes one check ~30x dearer than RSA-2048, P-521 twice P-384.
// Read from a SubjectPublicKeyInfo and imported into node:crypto for algorithms.ts to verify with.
import { createPublicKey, type KeyObject } from "node:crypto";
import {
  DerError,
  TAG_NULL,
  TAG_SEQUENCE,
  children,
  readBitString,
  readIntegerBytes,
  readOid,
  readTlv,
  type Tlv,
} from "./der.js";

export const OID_ED25519 = "1.3.101.112";
export type EcCurve = "P-256" | "P-384" | "P-521";

export type PublicKeyInfo =
  | { readonly kind: "ec"; readonly curve: EcCurve; readonly x: Uint8Array; readonly y: Uint8Array }
  | { readonly kind: "rsa"; readonly n: Uint8Array; readonly e: Uint8Array; readonly bits: number }
  | { readonly kind: "ed25519"; readonly key: Uint8Array }
  | { readonly kind: "unsupported"; readonly name: string };

const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
const CURVES: Record<string, { curve: EcCurve; size: number }> = {
  "1.2.840.10045.3.1.7": { curve: "P-256", size: 32 },
  "1.3.132.0.34": { curve: "P-384", size: 48 },
  "1.3.132.0.35": { curve: "P-521", size: 66 },
};

export const MIN_RSA_BITS = 2048;
/**
 * Ceiling for RSA keys in JWT bundles (jwt-bundle.ts). Those keys come from SPIRE or our own files, never
 * from the client, so the client cannot make us use a big one; Go's crypto/x509 has the same ceiling.
 */
export const MAX_RSA_BITS = 8192;
/**
 * Ceiling for RSA keys in an X.509 path. A presented chain is chosen by the client, so every key in it is a
 * cost the client picks: SPIRE's RSA key types are rsa-2048 and rsa-4096, and nothing larger is needed.
 */
export const MAX_CERTIFICATE_RSA_BITS = 4096;
/** The only RSA public exponent we accept in an X.509 path (F4: what SPIRE, Go, OpenSSL and WebCrypto use). */
export const CERTIFICATE_RSA_EXPONENT = 65537;

function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

function bitLength(b: Uint8Array): number {
  const first = b[0] ?? 0;
  return first === 0 ? 0 : (b.length - 1) * 8 + (32 - Math.clz32(first));
}

/**
 * Reads a SubjectPublicKeyInfo. Structural errors in a key of a supported type throw DerError (Go's
 * parser fails those certificates too); unknown key algorithms come back as "unsupported".
 */
export function parsePublicKeyInfo(buf: Uint8Array, spki: Tlv): PublicKeyInfo {
  if (spki.tag !== TAG_SEQUENCE) throw new DerError("SubjectPublicKeyInfo: expected SEQUENCE");
  const parts = children(buf, spki);
  if (parts.length !== 2) throw new DerError("SubjectPublicKeyInfo: bad field count");
  const algId = parts[0] as Tlv;
  const algParts = children(buf, algId);
  if (algParts.length < 1 || algParts.length > 2) throw new DerError("SubjectPublicKeyInfo: bad algorithm");
  const oid = readOid(buf, algParts[0] as Tlv);
  const params = algParts[1];
  const bits = readBitString(buf, parts[1] as Tlv);
  if (bits.unusedBits !== 0) throw new DerError("SubjectPublicKeyInfo: key has unused bits");
  const key = bits.bytes;

  if (oid === OID_EC_PUBLIC_KEY) {
    if (!params || params.tag !== 0x06) throw new DerError("EC key: named curve required");
    const curveOid = readOid(buf, params);
    const curve = CURVES[curveOid];
    if (!curve) return { kind: "unsupported", name: `EC curve ${curveOid}` };
    // Uncompressed points only, as Go: compressed or infinity encodings fail to parse.
    if (key.length !== 1 + 2 * curve.size || key[0] !== 0x04) throw new DerError("EC key: invalid point encoding");
    return {
      kind: "ec",
      curve: curve.curve,
      x: key.subarray(1, 1 + curve.size),
      y: key.subarray(1 + curve.size),
    };
  }
  if (oid === OID_RSA_ENCRYPTION) {
    if (params && (params.tag !== TAG_NULL || params.end !== params.contentStart)) {
      throw new DerError("RSA key: parameters must be NULL");
    }
    const seq = readTlv(key, 0, key.length);
    if (seq.tag !== TAG_SEQUENCE || seq.end !== key.length) throw new DerError("RSA key: expected SEQUENCE");
    const nums = children(key, seq);
    if (nums.length !== 2) throw new DerError("RSA key: expected modulus and exponent");
    const n = readIntegerBytes(key, nums[0] as Tlv);
    const e = readIntegerBytes(key, nums[1] as Tlv);
    if (((n[0] as number) & 0x80) !== 0 || ((e[0] as number) & 0x80) !== 0)
      throw new DerError("RSA key: negative value");
    const nn = stripLeadingZeros(n);
    return { kind: "rsa", n: nn, e: stripLeadingZeros(e), bits: bitLength(nn) };
  }
  if (oid === OID_ED25519) {
    if (params) throw new DerError("Ed25519 key: parameters must be absent");
    if (key.length !== 32) throw new DerError("Ed25519 key: must be 32 bytes");
    return { kind: "ed25519", key };
  }
  return { kind: "unsupported", name: oid };
}

function b64u(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64url");
}

/** An RSA public exponent for messages: decimal when it fits in 48 bits, else its size. */
function describeExponent(e: Uint8Array): string {
  if (e.length > 6) return `a ${bitLength(e)}-bit public exponent`;
  let v = 0;
  for (const b of e) v = v * 256 + b;
  return `public exponent ${v}`;
}

/**
 * Why a key of this kind may not appear in an X.509 path (leaf, intermediate or root), or undefined if it
 * may. Allowed: RSA 2048–4096 bits with e = 65537, ECDSA P-256 and P-384, Ed25519. A pure function of the
 * parsed SubjectPublicKeyInfo, checked before any key is imported, so a huge modulus or odd exponent costs
 * nothing. The message names the key, e.g. "RSA key of 8192 bits (allowed: 2048–4096)".
 */
export function certificatePublicKeyProblem(info: PublicKeyInfo): string | undefined {
  switch (info.kind) {
    case "unsupported":
      return `unsupported public key algorithm ${info.name}`;
    case "rsa": {
      if (info.bits < MIN_RSA_BITS || info.bits > MAX_CERTIFICATE_RSA_BITS) {
        return `RSA key of ${info.bits} bits (allowed: ${MIN_RSA_BITS}–${MAX_CERTIFICATE_RSA_BITS})`;
      }
      const e = info.e;
      // stripLeadingZeros leaves 65537 as exactly 01 00 01.
      if (e.length !== 3 || e[0] !== 0x01 || e[1] !== 0x00 || e[2] !== 0x01) {
        return `RSA key with ${describeExponent(e)} (only ${CERTIFICATE_RSA_EXPONENT} is allowed)`;
      }
      return undefined;
    }
    case "ec":
      return info.curve === "P-256" || info.curve === "P-384"
        ? undefined
        : `ECDSA ${info.curve} key (allowed curves: P-256, P-384)`;
    case "ed25519":
      return undefined;
  }
}

/**
 * Builds a node:crypto key. Through JWK, not SPKI DER: with OpenSSL 3.0 (Node 20) the DER decoder path
 * costs about as much as a P-256 signature check, the JWK path a fraction of it (RSA: ~50x less).
 * Node still validates EC points on import. Throws on keys OpenSSL refuses.
 */
export function importPublicKey(info: PublicKeyInfo): KeyObject {
  switch (info.kind) {
    case "ec":
      return createPublicKey({ key: { kty: "EC", crv: info.curve, x: b64u(info.x), y: b64u(info.y) }, format: "jwk" });
    case "rsa":
      return createPublicKey({ key: { kty: "RSA", n: b64u(info.n), e: b64u(info.e) }, format: "jwk" });
    case "ed25519":
      return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64u(info.key) }, format: "jwk" });
    default:
      throw new Error(`cannot import ${info.name}`);
  }
}
