// Builds one X.509 certificate for the dev CA with @peculiar/x509: the template of each kind (root,
// intermediate, X.509-SVID), its extensions, and the options that each break one thing on purpose, so that
// tests can make every kind of bad certificate a verifier must refuse.
// @peculiar/x509 (through tsyringe) needs the Reflect metadata polyfill loaded before it.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { randomBytes, webcrypto } from "node:crypto";
import { parseCertificate, type Certificate } from "../spiffe/certificate.js";
import type { TrustDomain } from "../spiffe/trust-domain.js";
import {
  generateKeyPair,
  keyTypeOf,
  signingAlgorithm,
  type CryptoKey,
  type CryptoKeyPair,
  type KeyType,
} from "./keys.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type KeyUsageName = keyof typeof x509.KeyUsageFlags;

/** A certificate extension, as CertificateOptions.extensions takes it. */
export type DevExtension = x509.Extension;

/** An extension from its OID and DER value: for name constraints, unknown critical extensions, etc. */
export function rawExtension(oid: string, critical: boolean, value: Uint8Array): DevExtension {
  return new x509.Extension(oid, critical, value);
}

/** Knobs for one certificate. Defaults make a correct SVID / CA; each option breaks one thing on purpose. */
export interface CertificateOptions {
  notBefore?: Date;
  notAfter?: Date;
  /** Lifetime from notBefore when notAfter is not given (default: 1 h for SVIDs, 1 day for CAs). */
  ttlSeconds?: number;
  /** Subject DN in RFC 4514 form, e.g. "O=Example,CN=web". */
  subject?: string;
  /** Replaces the URI SANs (default: exactly the SPIFFE ID). [] means no URI SAN. */
  uris?: string[];
  dnsNames?: string[];
  /** false omits the SAN extension entirely. */
  san?: boolean;
  /** basicConstraints cA; undefined keeps the default for the certificate kind. */
  isCA?: boolean;
  /** false omits basicConstraints. */
  basicConstraints?: boolean;
  pathLength?: number;
  /** Key usage bits; false omits the extension. */
  keyUsage?: KeyUsageName[] | false;
  /** Subject key type, when `keys` is not given (default ec-p256). */
  keyType?: KeyType;
  /** Sign RSA certificates with RSASSA-PSS. Applies to keys this call generates. */
  rsaPss?: boolean;
  /** Use these subject keys instead of generating new ones. */
  keys?: CryptoKeyPair;
  /** Hex serial; random by default. */
  serialNumber?: string;
  /** Self-sign (issuer = subject, signed with the certificate's own key). */
  selfSigned?: boolean;
  /** Sign with this key instead of the issuer's, while still naming the issuer: a forged signature. */
  signingKey?: CryptoKey;
  /** Name this issuer DN instead of the real issuer's subject. */
  issuerName?: string;
  /** Extra extensions, appended as given (e.g. raw name constraints, unknown critical extensions). */
  extensions?: DevExtension[];
}

export interface IssuedCertificate {
  der: Uint8Array;
  pem: string;
  /** Our parsed view, for assertions (parsed on first use; throws SvidError for a malformed certificate). */
  readonly certificate: Certificate;
  keys: CryptoKeyPair;
}
const HOUR = 3600;
const DAY = 24 * HOUR;
/** Backdating covers clock skew between the CA and its verifiers, as SPIRE does. */
const BACKDATE_MS = 10_000;
const CA_KEY_USAGE: KeyUsageName[] = ["keyCertSign", "cRLSign", "digitalSignature"];

/** What a certificate of one kind is unless CertificateOptions say otherwise. */
export interface Template {
  isCA: boolean;
  keyUsage: KeyUsageName[];
  ttlSeconds: number;
  subject: string;
  uris: string[];
}

/** A root CA: a year, URI SAN `spiffe://td`; `name` is the CN. */
export function rootTemplate(td: TrustDomain, name = `${td.name} root`): Template {
  const subject = `C=US,O=SPIFFE dev CA,CN=${name}`;
  return { isCA: true, keyUsage: [...CA_KEY_USAGE], ttlSeconds: 365 * DAY, subject, uris: [td.idString()] };
}

/** An intermediate CA: a day, URI SAN `spiffe://td`; `name` is the CN (default: unique per call). */
export function intermediateTemplate(
  td: TrustDomain,
  name = `${td.name} intermediate ${randomBytes(4).toString("hex")}`,
): Template {
  const subject = `C=US,O=SPIFFE dev CA,CN=${name}`;
  return { isCA: true, keyUsage: [...CA_KEY_USAGE], ttlSeconds: DAY, subject, uris: [td.idString()] };
}

/** An X.509-SVID as SPIRE issues it: an hour, exactly one URI SAN (the SPIFFE ID). */
export function svidTemplate(id: string): Template {
  const keyUsage: KeyUsageName[] = ["digitalSignature", "keyEncipherment", "keyAgreement"];
  return { isCA: false, keyUsage, ttlSeconds: HOUR, subject: "C=US,O=SPIRE", uris: [id] };
}

export function toPem(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(der)
    .toString("base64")
    .replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`;
}

function keyUsageFlags(names: KeyUsageName[]): number {
  return names.reduce((bits, n) => bits | x509.KeyUsageFlags[n], 0);
}

/** The CA that signs a certificate: its subject DN string, keys, and how it signs. */
export interface Issuer {
  name: string;
  keys: CryptoKeyPair;
  keyType: KeyType;
  rsaPss: boolean;
}

export interface BuildParams {
  defaults: Template;
  /** undefined: self-signed. */
  issuer: Issuer | undefined;
  opts: CertificateOptions;
}

export interface Built extends IssuedCertificate {
  keyType: KeyType;
  rsaPss: boolean;
  /** The DN string given to the generator; issuers must be named by the same string to get the same DER. */
  subjectDn: string;
}

export async function build({ defaults, issuer, opts }: BuildParams): Promise<Built> {
  const keyType = opts.keys ? keyTypeOf(opts.keys.privateKey) : (opts.keyType ?? "ec-p256");
  const rsaPss = opts.keys ? opts.keys.privateKey.algorithm.name === "RSA-PSS" : (opts.rsaPss ?? false);
  const keys = opts.keys ?? (await generateKeyPair(keyType, { rsaPss }));
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.ttlSeconds ?? defaults.ttlSeconds) * 1000);
  const subject = opts.subject ?? defaults.subject;
  const selfSigned = opts.selfSigned === true || issuer === undefined;
  const issuerName = opts.issuerName ?? (selfSigned ? subject : (issuer as Issuer).name);
  const signer = selfSigned ? { keys, keyType, rsaPss } : (issuer as Issuer);

  const extensions: x509.Extension[] = [];
  if (opts.basicConstraints !== false) {
    const isCA = opts.isCA ?? defaults.isCA;
    extensions.push(new x509.BasicConstraintsExtension(isCA, opts.pathLength, true));
  }
  if (opts.keyUsage !== false) {
    extensions.push(new x509.KeyUsagesExtension(keyUsageFlags(opts.keyUsage ?? defaults.keyUsage), true));
  }
  if (!(opts.isCA ?? defaults.isCA)) {
    extensions.push(
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    );
  }
  const names: x509.JsonGeneralName[] = [
    ...(opts.uris ?? defaults.uris).map((value) => ({ type: "url" as const, value })),
    ...(opts.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
  ];
  if (opts.san !== false && names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(signer.keys.publicKey));
  extensions.push(...(opts.extensions ?? []));

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serialNumber ?? `01${randomBytes(15).toString("hex")}`,
    subject,
    issuer: issuerName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: opts.signingKey ?? signer.keys.privateKey,
    signingAlgorithm: signingAlgorithm(opts.signingKey ? keyTypeOf(opts.signingKey) : signer.keyType, {
      rsaPss: opts.signingKey ? opts.signingKey.algorithm.name === "RSA-PSS" : signer.rsaPss,
    }),
    extensions,
  });
  const der = new Uint8Array(cert.rawData);
  let parsed: Certificate | undefined;
  return {
    der,
    pem: toPem(der),
    // Lazy: a deliberately malformed certificate must still be issuable; only reading it as parsed fails.
    get certificate() {
      return (parsed ??= parseCertificate(der));
    },
    keys,
    keyType,
    rsaPss,
    subjectDn: subject,
  };
}
