// Distinguished names: structural validation while parsing, and an RFC 4514 string only when someone
// asks (logs, audit). Path building compares the raw DER bytes, as Go's crypto/x509 does.
import {
  DerError,
  TAG_BMP_STRING,
  TAG_IA5_STRING,
  TAG_OID,
  TAG_PRINTABLE_STRING,
  TAG_SEQUENCE,
  TAG_SET,
  TAG_T61_STRING,
  TAG_UNIVERSAL_STRING,
  TAG_UTF8_STRING,
  children,
  content,
  readOid,
  validateOid,
  type Tlv,
} from "./der.js";

const SHORT_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.5": "SERIALNUMBER",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.1": "UID",
};

/** Checks Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }. */
export function validateName(buf: Uint8Array, name: Tlv): void {
  if (name.tag !== TAG_SEQUENCE) throw new DerError("Name: expected SEQUENCE");
  for (const rdn of children(buf, name)) {
    if (rdn.tag !== TAG_SET) throw new DerError("Name: expected SET");
    const atvs = children(buf, rdn);
    if (atvs.length === 0) throw new DerError("Name: empty RDN");
    for (const atv of atvs) {
      if (atv.tag !== TAG_SEQUENCE) throw new DerError("Name: expected AttributeTypeAndValue");
      const parts = children(buf, atv);
      if (parts.length !== 2 || (parts[0] as Tlv).tag !== TAG_OID)
        throw new DerError("Name: bad AttributeTypeAndValue");
      validateOid(buf, parts[0] as Tlv);
    }
  }
}

function decodeValue(buf: Uint8Array, v: Tlv): string | undefined {
  const c = Buffer.from(content(buf, v));
  switch (v.tag) {
    case TAG_UTF8_STRING:
      return c.toString("utf8");
    case TAG_PRINTABLE_STRING:
    case TAG_IA5_STRING:
    case TAG_T61_STRING:
      return c.toString("latin1");
    case TAG_BMP_STRING:
      return c.length % 2 === 0 ? Buffer.from(c).swap16().toString("utf16le") : undefined;
    case TAG_UNIVERSAL_STRING: {
      if (c.length % 4 !== 0) return undefined;
      let s = "";
      for (let i = 0; i < c.length; i += 4) s += String.fromCodePoint(c.readUInt32BE(i) % 0x110000);
      return s;
    }
    default:
      return undefined;
  }
}

function escapeValue(s: string): string {
  let out = s.replace(/[\\,+"<>;=]/g, (m) => `\\${m}`);
  // Control characters would let a certificate forge lines in a log.
  let safe = "";
  for (const ch of out) {
    const c = ch.charCodeAt(0);
    safe += c < 0x20 || c === 0x7f ? `\\${c.toString(16).padStart(2, "0")}` : ch;
  }
  out = safe;
  if (out.startsWith("#") || out.startsWith(" ")) out = `\\${out}`;
  if (out.endsWith(" ")) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** RFC 4514 string (last RDN first, like Go's pkix.Name.String()). Only for display. */
export function formatName(buf: Uint8Array, name: Tlv): string {
  const rdns: string[] = [];
  for (const rdn of children(buf, name)) {
    const parts: string[] = [];
    for (const atv of children(buf, rdn)) {
      const [type, value] = children(buf, atv) as [Tlv, Tlv];
      const oid = readOid(buf, type);
      const text = decodeValue(buf, value);
      const v =
        text === undefined
          ? `#${Buffer.from(buf.subarray(value.start, value.end)).toString("hex")}`
          : escapeValue(text);
      parts.push(`${SHORT_NAMES[oid] ?? oid}=${v}`);
    }
    rdns.push(parts.join("+"));
  }
  return rdns.reverse().join(",");
}
