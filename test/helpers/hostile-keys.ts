// Keys of kinds an X.509 path may not hold, for tests of certificatePublicKeyProblem through every layer.
// Generating a real 8192-bit RSA key takes seconds, and we refuse such keys before any signature is checked,
// so the RSA keys here are public halves only: a random odd modulus of the wanted size with the wanted
// exponent. A certificate can carry one as its subject key; whatever it "signs" must be signed with another
// key (the dev CA's `signingKey` option), which is fine because verification never gets that far.
import { randomBytes, webcrypto } from "node:crypto";
import type { CryptoKeyPair } from "../../src/dev-ca/keys.js";
import { tlv } from "./der-build.js";

const der = (tag: number, body: Buffer): Buffer => Buffer.from(tlv(tag, body));

const integer = (b: Buffer) => der(0x02, (b[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);

/** SubjectPublicKeyInfo DER of an rsaEncryption key with a random `bits`-bit odd modulus and exponent `e`. */
export function fakeRsaSpki(bits: number, e: Uint8Array): Buffer {
  const n = randomBytes(Math.ceil(bits / 8));
  n[0] = ((n[0] as number) | 0x80) & (0xff >> ((8 - (bits % 8)) % 8));
  n[n.length - 1] = (n[n.length - 1] as number) | 1;
  const rsaPublicKey = der(0x30, Buffer.concat([integer(n), integer(Buffer.from(e))]));
  const algorithm = der(
    0x30,
    Buffer.concat([der(0x06, Buffer.from("2a864886f70d010101", "hex")), der(0x05, Buffer.alloc(0))]),
  );
  return der(0x30, Buffer.concat([algorithm, der(0x03, Buffer.concat([Buffer.from([0]), rsaPublicKey]))]));
}

/**
 * A "key pair" whose public key is a fake RSA key (see above) and whose private key is the same public key:
 * usable as a certificate's subject key with the dev CA, never to sign (pass a real `signingKey` for that).
 */
export async function fakeRsaKeys(bits: number, e: Uint8Array): Promise<CryptoKeyPair> {
  const key = await webcrypto.subtle.importKey(
    "spki",
    fakeRsaSpki(bits, e),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    true,
    ["verify"],
  );
  return { publicKey: key, privateKey: key } as CryptoKeyPair;
}

/** e = 2^32 - 1: the largest exponent that fits the WebCrypto import, ~2x the work of 65537 per check. */
export const E_2_32_MINUS_1 = new Uint8Array([0xff, 0xff, 0xff, 0xff]);
export const E_3 = new Uint8Array([3]);

/** A real ECDSA P-521 key pair (WebCrypto): a curve we refuse in X.509 paths. */
export async function p521Keys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-521" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
}

/** A real RSA key pair of `bits` bits with exponent `e` (slow above 4096 bits). */
export async function rsaKeys(bits: number, e: Uint8Array = new Uint8Array([1, 0, 1])): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: bits, publicExponent: e, hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
}
