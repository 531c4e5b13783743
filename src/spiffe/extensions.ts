// The X.509 v3 extensions a certificate carries, as our verifier needs them (RFC 5280 §4.2): key usage, basic
// constraints, subject alternative names, name constraints, key identifiers; any other critical extension
// is recorded so the certificate can be refused. Part of certificate.ts's strict parser (see there for why).
import {
  DerError,
  TAG_BIT_STRING,
  TAG_BOOLEAN,
  TAG_INTEGER,
  TAG_OCTET_STRING,
  TAG_SEQUENCE,
  children,
  content,
  readBitString,
  readBoolean,
  readOid,
  readSmallUint,
  readTlv,
  type Tlv,
} from "./der.js";

/** URI and DNS name constraints (RFC 5280 §4.2.1.10), the only kinds we evaluate. */
export interface NameConstraints {
  readonly permittedUris: readonly string[];
  readonly excludedUris: readonly string[];
  readonly permittedDns: readonly string[];
  readonly excludedDns: readonly string[];
  /** Set when the extension holds a constraint we cannot evaluate; such a CA never validates a path. */
  readonly unsupported: string | undefined;
}

const OID_SUBJECT_KEY_ID = "2.5.29.14";
const OID_KEY_USAGE = "2.5.29.15";
const OID_SAN = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_NAME_CONSTRAINTS = "2.5.29.30";
const OID_CERT_POLICIES = "2.5.29.32";
const OID_AUTHORITY_KEY_ID = "2.5.29.35";
const OID_EXT_KEY_USAGE = "2.5.29.37";
/** Extensions we understand well enough that their being critical is no reason to refuse a certificate. */
const HANDLED = new Set([
  OID_SUBJECT_KEY_ID,
  OID_KEY_USAGE,
  OID_SAN,
  OID_BASIC_CONSTRAINTS,
  OID_NAME_CONSTRAINTS,
  OID_CERT_POLICIES,
  OID_AUTHORITY_KEY_ID,
  OID_EXT_KEY_USAGE,
]);

const GN_DNS = 0x82;
const GN_URI = 0x86;
const GN_NAMES: Record<number, string> = {
  0xa0: "otherName",
  0x81: "rfc822Name",
  0x82: "dNSName",
  0xa3: "x400Address",
  0xa4: "directoryName",
  0xa5: "ediPartyName",
  0x86: "uniformResourceIdentifier",
  0x87: "iPAddress",
  0x88: "registeredID",
};

export function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** IA5String content as a JS string; bytes >= 0x80 are not IA5 and make the certificate malformed. */
function ia5(buf: Uint8Array, tlv: Tlv, what: string): string {
  const c = content(buf, tlv);
  for (const b of c) if (b >= 0x80) throw new DerError(`${what} is not an IA5String`);
  return latin1(c);
}

export interface Extensions {
  isCA: boolean;
  hasBasicConstraints: boolean;
  pathLen: number | undefined;
  keyUsage: number | undefined;
  uris: string[];
  dnsNames: string[];
  sanCount: number;
  nameConstraints: NameConstraints | undefined;
  unhandledCritical: string[];
}

function parseKeyUsage(buf: Uint8Array, v: Tlv): number {
  const { bytes } = readBitString(buf, v);
  let bits = 0;
  for (let i = 0; i < Math.min(bytes.length, 2); i++) {
    const b = bytes[i] as number;
    for (let j = 0; j < 8; j++) if (b & (0x80 >> j)) bits |= 1 << (i * 8 + j);
  }
  return bits;
}

function parseGeneralNames(buf: Uint8Array, v: Tlv, ext: Extensions): void {
  if (v.tag !== TAG_SEQUENCE) throw new DerError("subjectAltName: expected SEQUENCE");
  const names = children(buf, v);
  if (names.length === 0) throw new DerError("subjectAltName is empty");
  for (const gn of names) {
    if (!(gn.tag in GN_NAMES)) throw new DerError("subjectAltName: unknown GeneralName type");
    if (gn.tag === GN_URI) ext.uris.push(ia5(buf, gn, "URI SAN"));
    else if (gn.tag === GN_DNS) ext.dnsNames.push(ia5(buf, gn, "DNS SAN"));
  }
  ext.sanCount += names.length;
}

function parseSubtrees(buf: Uint8Array, tlv: Tlv, uris: string[], dns: string[]): string | undefined {
  let unsupported: string | undefined;
  const subtrees = children(buf, tlv);
  if (subtrees.length === 0) throw new DerError("nameConstraints: empty subtrees");
  for (const st of subtrees) {
    if (st.tag !== TAG_SEQUENCE) throw new DerError("nameConstraints: expected GeneralSubtree");
    const [base, ...rest] = children(buf, st);
    if (!base) throw new DerError("nameConstraints: empty GeneralSubtree");
    // minimum/maximum "MUST NOT be used" (RFC 5280); whoever sets them means something we do not evaluate.
    if (rest.length > 0) unsupported ??= "name constraint with minimum/maximum";
    if (base.tag === GN_URI) uris.push(ia5(buf, base, "URI constraint").toLowerCase());
    else if (base.tag === GN_DNS) dns.push(ia5(buf, base, "DNS constraint").toLowerCase());
    else unsupported ??= `${GN_NAMES[base.tag] ?? "unknown"} name constraint`;
  }
  return unsupported;
}

function parseNameConstraints(buf: Uint8Array, v: Tlv): NameConstraints {
  if (v.tag !== TAG_SEQUENCE) throw new DerError("nameConstraints: expected SEQUENCE");
  const permittedUris: string[] = [];
  const excludedUris: string[] = [];
  const permittedDns: string[] = [];
  const excludedDns: string[] = [];
  let unsupported: string | undefined;
  let last = -1;
  for (const part of children(buf, v)) {
    if (part.tag === 0xa0 && last < 0xa0) unsupported ??= parseSubtrees(buf, part, permittedUris, permittedDns);
    else if (part.tag === 0xa1 && last < 0xa1) unsupported ??= parseSubtrees(buf, part, excludedUris, excludedDns);
    else throw new DerError("nameConstraints: unexpected field");
    last = part.tag;
  }
  return { permittedUris, excludedUris, permittedDns, excludedDns, unsupported };
}

/** What a certificate without (or before) its extensions has. */
export function noExtensions(): Extensions {
  return {
    isCA: false,
    hasBasicConstraints: false,
    pathLen: undefined,
    keyUsage: undefined,
    uris: [],
    dnsNames: [],
    sanCount: 0,
    nameConstraints: undefined,
    unhandledCritical: [],
  };
}

export function parseExtensions(buf: Uint8Array, wrapper: Tlv): Extensions {
  const ext: Extensions = noExtensions();
  const seq = readTlv(buf, wrapper.contentStart, wrapper.end);
  if (seq.tag !== TAG_SEQUENCE || seq.end !== wrapper.end) throw new DerError("extensions: expected SEQUENCE");
  const list = children(buf, seq);
  if (list.length === 0) throw new DerError("extensions: empty");
  const seen = new Set<string>();
  for (const e of list) {
    if (e.tag !== TAG_SEQUENCE) throw new DerError("extension: expected SEQUENCE");
    const parts = children(buf, e);
    const oidTlv = parts[0];
    if (!oidTlv || parts.length < 2 || parts.length > 3) throw new DerError("extension: bad field count");
    const oid = readOid(buf, oidTlv);
    // RFC 5280 §4.2: at most one instance of each extension. Two SAN extensions could otherwise smuggle a
    // second identity past a parser that reads only the first.
    if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`);
    seen.add(oid);
    let critical = false;
    let valueTlv = parts[1] as Tlv;
    if (parts.length === 3) {
      if (valueTlv.tag !== TAG_BOOLEAN) throw new DerError("extension: expected critical BOOLEAN");
      critical = readBoolean(buf, valueTlv);
      valueTlv = parts[2] as Tlv;
    }
    if (valueTlv.tag !== TAG_OCTET_STRING) throw new DerError("extension: expected OCTET STRING");
    const v = readTlv(buf, valueTlv.contentStart, valueTlv.end);
    if (v.end !== valueTlv.end) throw new DerError(`extension ${oid}: trailing bytes`);
    switch (oid) {
      case OID_BASIC_CONSTRAINTS: {
        if (v.tag !== TAG_SEQUENCE) throw new DerError("basicConstraints: expected SEQUENCE");
        ext.hasBasicConstraints = true;
        const fields = children(buf, v);
        let k = 0;
        if (fields[k]?.tag === TAG_BOOLEAN) ext.isCA = readBoolean(buf, fields[k++] as Tlv);
        if (fields[k]?.tag === TAG_INTEGER) ext.pathLen = readSmallUint(buf, fields[k++] as Tlv);
        if (k !== fields.length) throw new DerError("basicConstraints: unexpected field");
        break;
      }
      case OID_KEY_USAGE:
        if (v.tag !== TAG_BIT_STRING) throw new DerError("keyUsage: expected BIT STRING");
        ext.keyUsage = parseKeyUsage(buf, v);
        break;
      case OID_SAN:
        parseGeneralNames(buf, v, ext);
        break;
      case OID_NAME_CONSTRAINTS:
        ext.nameConstraints = parseNameConstraints(buf, v);
        break;
      case OID_EXT_KEY_USAGE:
        if (v.tag !== TAG_SEQUENCE) throw new DerError("extKeyUsage: expected SEQUENCE");
        for (const k of children(buf, v)) readOid(buf, k);
        break;
      default:
        if (critical && !HANDLED.has(oid)) ext.unhandledCritical.push(oid);
    }
  }
  return ext;
}
