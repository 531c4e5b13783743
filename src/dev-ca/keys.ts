// Key generation for the dev CA (WebCrypto: @peculiar/x509 and jose both sign with CryptoKeys).
import { webcrypto } from "node:crypto";

// The project compiles without the DOM lib; Node's own WebCrypto types stand in.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
type Algorithm = webcrypto.Algorithm;
type EcKeyGenParams = webcrypto.EcKeyGenParams;
type RsaHashedKeyGenParams = webcrypto.RsaHashedKeyGenParams;
type EcdsaParams = webcrypto.EcdsaParams;
type RsaPssParams = webcrypto.RsaPssParams;

export type KeyType = "ec-p256" | "ec-p384" | "rsa-2048" | "ed25519";
export const KEY_TYPES: readonly KeyType[] = ["ec-p256", "ec-p384", "rsa-2048", "ed25519"];

export interface KeyOptions {
  /** RSA only: sign certificates with RSASSA-PSS instead of PKCS#1 v1.5. */
  rsaPss?: boolean;
}

const subtle = webcrypto.subtle;

/** The EC key types: curve to generate on, and the hash its certificate signatures use (SPIRE's pairing). */
const EC = {
  "ec-p256": { namedCurve: "P-256", hash: "SHA-256" },
  "ec-p384": { namedCurve: "P-384", hash: "SHA-384" },
} as const;

function genParams(type: KeyType, opts: KeyOptions): EcKeyGenParams | RsaHashedKeyGenParams | Algorithm {
  switch (type) {
    case "ec-p256":
    case "ec-p384":
      return { name: "ECDSA", namedCurve: EC[type].namedCurve } as EcKeyGenParams;
    case "rsa-2048":
      return {
        name: opts.rsaPss ? "RSA-PSS" : "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      } as RsaHashedKeyGenParams;
    case "ed25519":
      return { name: "Ed25519" };
  }
}

/** A fresh extractable key pair of `type`. */
export async function generateKeyPair(type: KeyType = "ec-p256", opts: KeyOptions = {}): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(genParams(type, opts), true, ["sign", "verify"])) as CryptoKeyPair;
}

/** The X.509 signature algorithm a key of `type` signs with (SHA-384 for P-384, as SPIRE does). */
export function signingAlgorithm(type: KeyType, opts: KeyOptions = {}): Algorithm {
  switch (type) {
    case "ec-p256":
    case "ec-p384":
      return { name: "ECDSA", hash: EC[type].hash } as EcdsaParams;
    case "rsa-2048":
      return opts.rsaPss
        ? ({ name: "RSA-PSS", hash: "SHA-256", saltLength: 32 } as RsaPssParams & { hash: string })
        : ({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as Algorithm & { hash: string });
    case "ed25519":
      return { name: "Ed25519" };
  }
}

/** The key type of a CryptoKey we generated. */
export function keyTypeOf(key: CryptoKey): KeyType {
  const a = key.algorithm as Algorithm & { namedCurve?: string };
  if (a.name === "ECDSA") return a.namedCurve === "P-384" ? "ec-p384" : "ec-p256";
  if (a.name === "Ed25519") return "ed25519";
  return "rsa-2048";
}

/** PKCS#8 PEM of a private key (for writing svid.key files). */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await subtle.exportKey("pkcs8", key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString("base64").replace(/.{1,64}/g, "$&\n")}-----END PRIVATE KEY-----\n`;
}
