// How the trust store combines bundles: a SPIFFE bundle document split into its X.509 and JWT parts, two
// sources' bundles for one trust domain merged (union of roots; the first source's JWT key wins a kid), and
// a bundle's content identity, so a re-sent bundle is not mistaken for a change.
import { JwtBundle, X509Bundle, type AnyBundle } from "../spiffe/index.js";

/** Static SPIFFE bundle documents split into their parts; an empty part of a JSON document adds nothing. */
export function splitDocument(b: AnyBundle): Array<X509Bundle | JwtBundle> {
  if (b instanceof X509Bundle || b instanceof JwtBundle) return [b];
  const out: Array<X509Bundle | JwtBundle> = [];
  if (b.x509.authorities.length > 0) out.push(b.x509);
  if (b.jwt.size > 0) out.push(b.jwt);
  if (out.length === 0) out.push(b.x509); // an explicitly empty document still names its domain
  return out;
}

export function mergeBundles(a: X509Bundle | JwtBundle | undefined, b: X509Bundle | JwtBundle): X509Bundle | JwtBundle {
  if (!a) return b;
  if (a instanceof X509Bundle && b instanceof X509Bundle)
    return X509Bundle.fromCertificates(a.trustDomain, [...a.authorities, ...b.authorities]);
  if (a instanceof JwtBundle && b instanceof JwtBundle) {
    const kids = new Set(a.authorities.map((k) => k.keyId));
    return JwtBundle.fromAuthorities(a.trustDomain, [
      ...a.authorities,
      ...b.authorities.filter((k) => !kids.has(k.keyId)),
    ]);
  }
  return b;
}

const fingerprints = new WeakMap<X509Bundle | JwtBundle, string>();

/** Content identity of a bundle, to tell a real change from a re-sent one. */
export function fingerprint(b: X509Bundle | JwtBundle): string {
  let fp = fingerprints.get(b);
  if (fp === undefined) {
    fp =
      b instanceof X509Bundle
        ? `x509 ${b.trustDomain.name} ${b.authorities.map((c) => c.sha256Hex()).join(",")}`
        : `jwt ${b.trustDomain.name} ${JSON.stringify(b.toJwks())}`;
    fingerprints.set(b, fp);
  }
  return fp;
}
