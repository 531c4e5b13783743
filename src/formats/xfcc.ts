// Envoy's x-forwarded-client-cert header, parsed by its grammar:
//   header  = element *( "," element )
//   element = pair *( ";" pair )
//   pair    = key "=" ( token | quoted )      quoted = DQUOTE *( "\" CHAR / other ) DQUOTE
// Keys are case-insensitive (By, Hash, Cert, Chain, Subject, URI, DNS). Cert and Chain are URL-encoded
// PEM. Envoy appends one element per hop, so the last element is the proxy nearest to us.
// Everything a client can send goes through here, so every path ends in either a result or XfccError,
// and every loop is bounded by the header size limit.
import { CredentialError } from "./errors.js";
import { splitPemCertificates, urlDecode } from "./client-pem.js";

/** Largest header accepted, in UTF-8 bytes. */
export const XFCC_MAX_HEADER_BYTES = 64 * 1024;
/** Most comma-separated elements (one per proxy hop). */
export const XFCC_MAX_ELEMENTS = 16;
/** Most `key=value` pairs in one element (DNS/URI may repeat, one pair per SAN). */
export const XFCC_MAX_PAIRS_PER_ELEMENT = 64;

export type XfccElementChoice = "first" | "last";

export class XfccError extends CredentialError {}

export interface XfccElement {
  by: string[];
  hash?: string;
  /** URL-encoded PEM of the client's leaf, as sent. */
  cert?: string;
  /** URL-encoded PEM of leaf + intermediates, as sent. */
  chain?: string;
  subject?: string;
  uri: string[];
  dns: string[];
}

const KEY = /^[A-Za-z][A-Za-z0-9_-]*$/;
const SINGLE_KEYS = new Set(["hash", "cert", "chain", "subject"]);

function isOws(c: string | undefined): boolean {
  return c === " " || c === "\t";
}

function newElement(): XfccElement {
  return { by: [], uri: [], dns: [] };
}

function addPair(el: XfccElement, rawKey: string, value: string): void {
  const key = rawKey.toLowerCase();
  switch (key) {
    case "by":
      el.by.push(value);
      return;
    case "uri":
      el.uri.push(value);
      return;
    case "dns":
      el.dns.push(value);
      return;
    default:
      if (!SINGLE_KEYS.has(key)) return; // unknown keys are allowed by the grammar and ignored
      if ((el as unknown as Record<string, unknown>)[key] !== undefined) {
        throw new XfccError(`x-forwarded-client-cert: duplicate ${rawKey}`);
      }
      (el as unknown as Record<string, string>)[key] = value;
  }
}

/** Parses the whole header. Throws XfccError on any deviation from the grammar or a limit. */
export function parseXfcc(header: string): XfccElement[] {
  // String length is a lower bound of the UTF-8 length, so the cheap check runs first.
  if (header.length > XFCC_MAX_HEADER_BYTES || Buffer.byteLength(header, "utf8") > XFCC_MAX_HEADER_BYTES) {
    throw new XfccError(`x-forwarded-client-cert: header larger than ${XFCC_MAX_HEADER_BYTES} bytes`);
  }
  const n = header.length;
  const elements: XfccElement[] = [];
  let el = newElement();
  let pairs = 0;
  let i = 0;
  for (;;) {
    while (isOws(header[i])) i++;
    // key
    const eq = findKeyEnd(header, i);
    if (eq < 0 || header[eq] !== "=") throw new XfccError("x-forwarded-client-cert: expected key=value");
    const key = header.slice(i, eq).replace(/[ \t]+$/, "");
    if (!KEY.test(key)) throw new XfccError("x-forwarded-client-cert: invalid key");
    i = eq + 1;
    // value
    let value: string;
    if (header[i] === '"') {
      const parts: string[] = [];
      let start = i + 1;
      let j = start;
      for (;;) {
        if (j >= n) throw new XfccError("x-forwarded-client-cert: unterminated quoted value");
        const c = header[j];
        if (c === "\\") {
          if (j + 1 >= n) throw new XfccError("x-forwarded-client-cert: unterminated quoted value");
          parts.push(header.slice(start, j), header[j + 1] as string);
          j += 2;
          start = j;
        } else if (c === '"') {
          parts.push(header.slice(start, j));
          break;
        } else {
          j++;
        }
      }
      value = parts.join("");
      i = j + 1;
      while (isOws(header[i])) i++;
      if (i < n && header[i] !== ";" && header[i] !== ",") {
        throw new XfccError("x-forwarded-client-cert: text after quoted value");
      }
    } else {
      let j = i;
      while (j < n && header[j] !== ";" && header[j] !== ",") {
        if (header[j] === '"') throw new XfccError("x-forwarded-client-cert: stray quote in value");
        j++;
      }
      value = header.slice(i, j).replace(/[ \t]+$/, "");
      i = j;
    }
    if (++pairs > XFCC_MAX_PAIRS_PER_ELEMENT) {
      throw new XfccError(`x-forwarded-client-cert: more than ${XFCC_MAX_PAIRS_PER_ELEMENT} pairs in an element`);
    }
    addPair(el, key, value);
    // separator
    if (i >= n || header[i] === ",") {
      if (elements.length >= XFCC_MAX_ELEMENTS) {
        throw new XfccError(`x-forwarded-client-cert: more than ${XFCC_MAX_ELEMENTS} elements`);
      }
      elements.push(el);
      if (i >= n) return elements;
      el = newElement();
      pairs = 0;
    }
    i++; // past ";" or ","
  }
}

/** Index of the "=" ending the key at `from`, or -1 if a separator, quote or the end comes first. */
function findKeyEnd(s: string, from: number): number {
  for (let j = from; j < s.length; j++) {
    const c = s[j];
    if (c === "=") return j;
    if (c === ";" || c === "," || c === '"') return -1;
  }
  return -1;
}

export function selectXfccElement(elements: readonly XfccElement[], which: XfccElementChoice): XfccElement {
  const el = which === "first" ? elements[0] : elements[elements.length - 1];
  if (!el) throw new XfccError("x-forwarded-client-cert: no element");
  return el;
}

export interface XfccCertificates {
  /** DER of leaf first, then intermediates. */
  der: Uint8Array[];
  /** Which key supplied them. */
  from: "chain" | "cert";
}

/**
 * The presented chain of the selected element: Chain (leaf + intermediates) when present, else Cert.
 * When both are present the Chain's first certificate must be the Cert, or the element is inconsistent.
 */
export function xfccCertificates(header: string, which: XfccElementChoice = "last"): XfccCertificates {
  const el = selectXfccElement(parseXfcc(header), which);
  if (el.chain !== undefined) {
    const der = splitPemCertificates(
      urlDecode(el.chain, "x-forwarded-client-cert Chain"),
      "x-forwarded-client-cert Chain",
    );
    if (el.cert !== undefined) {
      const leaf = splitPemCertificates(
        urlDecode(el.cert, "x-forwarded-client-cert Cert"),
        "x-forwarded-client-cert Cert",
      );
      const first = der[0];
      if (leaf.length !== 1 || !first || !Buffer.from(first).equals(Buffer.from(leaf[0] as Uint8Array))) {
        throw new XfccError("x-forwarded-client-cert: Cert is not the first certificate of Chain");
      }
    }
    return { der, from: "chain" };
  }
  if (el.cert !== undefined) {
    const der = splitPemCertificates(
      urlDecode(el.cert, "x-forwarded-client-cert Cert"),
      "x-forwarded-client-cert Cert",
    );
    return { der, from: "cert" };
  }
  throw new XfccError("x-forwarded-client-cert: selected element has no Cert or Chain");
}
