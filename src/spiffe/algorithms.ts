// Signature algorithms we accept in certificate paths, and synchronous verification with node:crypto: ECDSA
// with SHA-2, RSA PKCS#1 v1.5 and RSA-PSS with SHA-2, and Ed25519; anything else parses but never verifies,
// so a certificate signed with SHA-1 or DSA is "untrusted", not a crash. The keys are public-key.ts's.
import { constants, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { DerError, TAG_NULL, TAG_SEQUENCE, children, readOid, readSmallUint, readTlv, type Tlv } from "./der.js";
import { OID_ED25519, type PublicKeyInfo } from "./public-key.js";

export type HashName = "sha256" | "sha384" | "sha512";

export type SignatureAlgorithm =
  | { readonly kind: "ecdsa"; readonly hash: HashName; readonly name: string }
  | { readonly kind: "rsa-pkcs1"; readonly hash: HashName; readonly name: string }
  | { readonly kind: "rsa-pss"; readonly hash: HashName; readonly saltLength: number; readonly name: string }
  | { readonly kind: "ed25519"; readonly name: string }
  | { readonly kind: "unsupported"; readonly name: string };

const HASH_OIDS: Record<string, HashName> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
const HASH_BYTES: Record<HashName, number> = { sha256: 32, sha384: 48, sha512: 64 };

const ECDSA_OIDS: Record<string, HashName> = {
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
};
const RSA_PKCS1_OIDS: Record<string, HashName> = {
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
};
const OID_RSASSA_PSS = "1.2.840.113549.1.1.10";
const OID_MGF1 = "1.2.840.113549.1.1.8";
/** Hash of an AlgorithmIdentifier whose parameters are NULL or absent (both occur in the wild). */
function hashFromAlgId(buf: Uint8Array, tlv: Tlv): HashName | undefined {
  const parts = children(buf, tlv);
  const oid = parts[0];
  if (!oid || parts.length > 2) return undefined;
  const params = parts[1];
  if (params && (params.tag !== TAG_NULL || params.end !== params.contentStart)) return undefined;
  return HASH_OIDS[readOid(buf, oid)];
}

/** RSASSA-PSS-params: SHA-2 hash, MGF1 with the same hash, salt = hash length, trailer 1 (as Go requires). */
function parsePssParams(buf: Uint8Array, params: Tlv | undefined): SignatureAlgorithm {
  const unsupported = { kind: "unsupported", name: "RSASSA-PSS with unsupported parameters" } as const;
  if (!params || params.tag !== TAG_SEQUENCE) return unsupported;
  let hash: HashName | undefined;
  let mgfHash: HashName | undefined;
  let salt = 20;
  for (const field of children(buf, params)) {
    const inner = readTlv(buf, field.contentStart, field.end);
    if (inner.end !== field.end) return unsupported;
    switch (field.tag) {
      case 0xa0:
        hash = hashFromAlgId(buf, inner);
        break;
      case 0xa1: {
        const mgf = children(buf, inner);
        if (mgf.length !== 2 || readOid(buf, mgf[0] as Tlv) !== OID_MGF1) return unsupported;
        mgfHash = hashFromAlgId(buf, mgf[1] as Tlv);
        break;
      }
      case 0xa2:
        salt = readSmallUint(buf, inner);
        break;
      case 0xa3:
        if (readSmallUint(buf, inner) !== 1) return unsupported;
        break;
      default:
        return unsupported;
    }
  }
  if (!hash || mgfHash !== hash || salt !== HASH_BYTES[hash]) return unsupported;
  return { kind: "rsa-pss", hash, saltLength: salt, name: `RSASSA-PSS-${hash.toUpperCase()}` };
}

/** Reads a signature AlgorithmIdentifier. Unknown algorithms are returned as "unsupported". */
export function parseSignatureAlgorithm(buf: Uint8Array, algId: Tlv): SignatureAlgorithm {
  if (algId.tag !== TAG_SEQUENCE) throw new DerError("AlgorithmIdentifier: expected SEQUENCE");
  const parts = children(buf, algId);
  if (parts.length < 1 || parts.length > 2) throw new DerError("AlgorithmIdentifier: bad field count");
  const oid = readOid(buf, parts[0] as Tlv);
  const params = parts[1];
  const paramsAbsent = params === undefined;
  const paramsNull = params !== undefined && params.tag === TAG_NULL && params.end === params.contentStart;
  const ecHash = ECDSA_OIDS[oid];
  if (ecHash) {
    return paramsAbsent
      ? { kind: "ecdsa", hash: ecHash, name: `ECDSA-${ecHash.toUpperCase()}` }
      : { kind: "unsupported", name: `${oid} with parameters` };
  }
  const rsaHash = RSA_PKCS1_OIDS[oid];
  if (rsaHash) {
    return paramsAbsent || paramsNull
      ? { kind: "rsa-pkcs1", hash: rsaHash, name: `RSA-PKCS1-${rsaHash.toUpperCase()}` }
      : { kind: "unsupported", name: `${oid} with parameters` };
  }
  if (oid === OID_RSASSA_PSS) return parsePssParams(buf, params);
  if (oid === OID_ED25519) {
    return paramsAbsent
      ? { kind: "ed25519", name: "Ed25519" }
      : { kind: "unsupported", name: "Ed25519 with parameters" };
  }
  return { kind: "unsupported", name: oid };
}

/** Why `alg` cannot be checked with a key of this kind, or undefined if the pair fits. */
export function algorithmKeyMismatch(alg: SignatureAlgorithm, key: PublicKeyInfo): string | undefined {
  if (alg.kind === "unsupported") return `unsupported signature algorithm ${alg.name}`;
  const want = alg.kind === "ecdsa" ? "ec" : alg.kind === "ed25519" ? "ed25519" : "rsa";
  return key.kind === want ? undefined : `signature algorithm ${alg.name} does not match a ${key.kind} key`;
}

/** Synchronous signature check; any error inside OpenSSL counts as a bad signature. */
export function verifySignature(
  alg: SignatureAlgorithm,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
): boolean {
  try {
    switch (alg.kind) {
      case "ecdsa":
        return cryptoVerify(alg.hash, data, { key, dsaEncoding: "der" }, signature);
      case "rsa-pkcs1":
        return cryptoVerify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case "rsa-pss":
        return cryptoVerify(
          alg.hash,
          data,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength },
          signature,
        );
      case "ed25519":
        return cryptoVerify(null, data, key, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}
