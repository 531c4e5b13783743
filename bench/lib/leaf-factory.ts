// Many distinct X.509-SVIDs, fast: one template leaf from the dev CA (@peculiar/x509, ~ms each), then every
// further leaf is the template's TBSCertificate with its serial number and the digits of its SPIFFE ID
// patched in place (same lengths, so no DER length changes) and re-signed by the intermediate with
// node:crypto (one ECDSA P-256 signature, tens of µs). Leaves share the template's subject key pair (it is
// not part of what the verifier or the cache keys on); serial, URI SAN, signature and DER bytes all differ.
import { createPrivateKey, randomBytes, sign, type KeyObject } from "node:crypto";
import type { DevCertificateAuthority } from "../../src/dev-ca/index.js";
import { privateKeyPem } from "../../src/dev-ca/index.js";

export const ID_DIGITS = 8;

function toPem(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(der)
    .toString("base64")
    .replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`;
}

/** Tag + length header of the DER element at `off`: where its content starts and how long it is. */
function element(buf: Buffer, off: number): { content: number; length: number; end: number } {
  let p = off + 1;
  let len = buf[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  return { content: p, length: len, end: p + len };
}

function derHeader(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length]);
  if (length < 0x100) return Buffer.from([tag, 0x81, length]);
  return Buffer.from([tag, 0x82, length >> 8, length & 0xff]);
}

/** What a LeafFactory needs, serializable (it crosses into a driver process over IPC). */
export interface LeafTemplate {
  /** DER of the template leaf; its SPIFFE ID is `${idPrefix}${"0".repeat(ID_DIGITS)}`. */
  leafDer: string;
  idPrefix: string;
  /** The intermediates that follow the leaf in a presented chain, PEM. */
  intermediatesPem: string;
  /** The issuing CA's private key, PKCS#8 PEM. */
  issuerKeyPem: string;
}

export async function leafTemplate(
  issuer: DevCertificateAuthority,
  idPrefix: string,
  ttlSeconds = 6 * 3600,
): Promise<LeafTemplate> {
  const svid = await issuer.issueX509Svid(`${idPrefix}${"0".repeat(ID_DIGITS)}`, { ttlSeconds });
  return {
    leafDer: Buffer.from(svid.der).toString("base64"),
    idPrefix,
    intermediatesPem: issuer.intermediates().map(toPem).join(""),
    issuerKeyPem: await privateKeyPem(issuer.keys.privateKey),
  };
}

export class LeafFactory {
  private readonly tbs: Buffer;
  private readonly sigAlg: Buffer;
  private readonly serialAt: number;
  private readonly serialLen: number;
  private readonly idAt: number;
  private readonly key: KeyObject;
  private readonly salt = randomBytes(6);
  /** Time spent generating, ms. */
  spentMs = 0;

  constructor(private readonly t: LeafTemplate) {
    const der = Buffer.from(t.leafDer, "base64");
    const cert = element(der, 0);
    const tbs = element(der, cert.content);
    this.tbs = Buffer.from(der.subarray(cert.content, tbs.end));
    const alg = element(der, tbs.end);
    this.sigAlg = Buffer.from(der.subarray(tbs.end, alg.end));
    // TBSCertificate: [0] version, then serialNumber INTEGER.
    const inner = element(this.tbs, 0).content;
    const version = element(this.tbs, inner);
    if (this.tbs[inner] !== 0xa0 || this.tbs[version.end] !== 0x02)
      throw new Error("leaf template: unexpected TBSCertificate layout");
    const serial = element(this.tbs, version.end);
    if (serial.length < 12) throw new Error("leaf template: serial too short to patch");
    this.serialAt = serial.content;
    this.serialLen = serial.length;
    const marker = Buffer.from(`${t.idPrefix}${"0".repeat(ID_DIGITS)}`);
    this.idAt = this.tbs.indexOf(marker);
    if (this.idAt < 0 || this.tbs.indexOf(marker, this.idAt + 1) >= 0)
      throw new Error("leaf template: SPIFFE ID not found exactly once");
    this.idAt += marker.length - ID_DIGITS;
    this.key = createPrivateKey(t.issuerKeyPem);
  }

  idFor(n: number): string {
    return `${this.t.idPrefix}${String(n).padStart(ID_DIGITS, "0")}`;
  }

  /** Leaf number n (0 ≤ n < 10^8): DER. */
  leafDer(n: number): Buffer {
    const t0 = performance.now();
    const tbs = Buffer.from(this.tbs);
    // Serial: 0x01 (positive, no leading zero), 6 salt bytes, then n, then zero padding.
    tbs[this.serialAt] = 0x01;
    this.salt.copy(tbs, this.serialAt + 1);
    tbs.writeUInt32BE(n >>> 0, this.serialAt + 7);
    tbs.fill(0x5a, this.serialAt + 11, this.serialAt + this.serialLen);
    tbs.write(String(n).padStart(ID_DIGITS, "0"), this.idAt, "latin1");
    const sig = sign("sha256", tbs, { key: this.key, dsaEncoding: "der" });
    const bits = Buffer.concat([derHeader(0x03, sig.length + 1), Buffer.from([0]), sig]);
    const body = Buffer.concat([tbs, this.sigAlg, bits]);
    const out = Buffer.concat([derHeader(0x30, body.length), body]);
    this.spentMs += performance.now() - t0;
    return out;
  }

  /** Leaf n followed by the intermediates, PEM (what Envoy forwards as source.certificate, URL-encoded). */
  chainPem(n: number): string {
    return toPem(this.leafDer(n)) + this.t.intermediatesPem;
  }
}
