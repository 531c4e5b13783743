// Name constraints of the CAs in a path (src/spiffe/name-constraints.ts), through verifyX509Svid with chains the
// dev CA signs: the leading-dot (subdomains only) and exact forms for URI hosts and DNS names, several permitted
// subtrees (any one suffices), exclusions, case, and the empty DNS constraint. The mutation run found only the
// plain exact forms tested (x509-svid.test.ts).
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { DevCertificateAuthority, rawExtension, type DevExtension } from "../../src/dev-ca/index.js";
import { BundleSet, verifyX509Svid } from "../../src/spiffe/index.js";
import { reasonOf, svidErrorOf } from "../helpers/spiffe.js";

const TD = "a.example";
const ID = `spiffe://${TD}/ns/default/sa/web`;
const URI = 0x86;
const DNS = 0x82;

/** DER of a nameConstraints extension with URI/DNS subtrees (a tiny encoder of our own). */
function nameConstraints(permitted: Array<[number, string]>, excluded: Array<[number, string]> = []): DevExtension {
  const tlv = (tag: number, body: Uint8Array): Uint8Array => {
    const len = body.length < 128 ? [body.length] : [0x81, body.length];
    return new Uint8Array([tag, ...len, ...body]);
  };
  const subtrees = (tag: number, list: Array<[number, string]>) =>
    tlv(tag, Buffer.concat(list.map(([t, v]) => tlv(0x30, tlv(t, Buffer.from(v, "ascii"))))));
  const parts: Uint8Array[] = [];
  if (permitted.length) parts.push(subtrees(0xa0, permitted));
  if (excluded.length) parts.push(subtrees(0xa1, excluded));
  return rawExtension("2.5.29.30", true, tlv(0x30, Buffer.concat(parts)));
}

let root: DevCertificateAuthority;
let bundles: BundleSet;
before(async () => {
  root = await DevCertificateAuthority.createRoot(TD);
  bundles = new BundleSet([root.x509Bundle()]);
});

/** "ok", or the reason and detail of the refusal, for a leaf under an intermediate with these constraints. */
async function verdict(
  permitted: Array<[number, string]>,
  excluded: Array<[number, string]> = [],
  dnsNames: string[] = [],
): Promise<string> {
  const int = await root.createIntermediate({ extensions: [nameConstraints(permitted, excluded)] });
  const chain = (await int.issueX509Svid(ID, dnsNames.length > 0 ? { dnsNames } : {})).chain;
  const reason = reasonOf(() => verifyX509Svid(chain, bundles, new Date()));
  if (reason === "ok") return "ok";
  return `${reason}: ${svidErrorOf(() => verifyX509Svid(chain, bundles, new Date())).detail}`;
}

describe("URI constraints on the trust domain", () => {
  test("a leading dot permits subdomains only", async () => {
    assert.equal(await verdict([[URI, ".example"]]), "ok");
    assert.equal(
      await verdict([[URI, ".a.example"]]),
      "untrusted: URI host a.example is not permitted by a name constraint",
    );
    assert.equal(
      await verdict([[URI, ".ample"]]),
      "untrusted: URI host a.example is not permitted by a name constraint",
    );
  });

  test("without a dot, exactly that host", async () => {
    assert.equal(
      await verdict([[URI, "example"]]),
      "untrusted: URI host a.example is not permitted by a name constraint",
    );
    assert.equal(
      await verdict([[URI, "b.a.example"]]),
      "untrusted: URI host a.example is not permitted by a name constraint",
    );
  });

  test("one permitted subtree of several suffices; an excluded one refuses whatever is permitted", async () => {
    assert.equal(
      await verdict([
        [URI, "other.example"],
        [URI, TD],
      ]),
      "ok",
    );
    assert.equal(
      await verdict([[URI, TD]], [[URI, ".example"]]),
      "untrusted: URI host a.example is excluded by a name constraint",
    );
  });
});

describe("DNS constraints on the leaf's DNS names", () => {
  const permitTd: [number, string] = [URI, TD];

  test("without a dot: the name itself and names below it, any case; not a longer label", async () => {
    const c: Array<[number, string]> = [permitTd, [DNS, "a.example"]];
    assert.equal(await verdict(c, [], ["a.example"]), "ok");
    assert.equal(await verdict(c, [], ["WEB.A.Example"]), "ok");
    assert.equal(
      await verdict(c, [], ["xa.example"]),
      "untrusted: DNS name xa.example is not permitted by a name constraint",
    );
  });

  test("a leading dot: names below it only", async () => {
    const c: Array<[number, string]> = [permitTd, [DNS, ".a.example"]];
    assert.equal(await verdict(c, [], ["web.a.example"]), "ok");
    assert.equal(
      await verdict(c, [], ["a.example"]),
      "untrusted: DNS name a.example is not permitted by a name constraint",
    );
  });

  test("every DNS name must pass; a leaf without DNS names passes DNS constraints", async () => {
    const c: Array<[number, string]> = [permitTd, [DNS, "a.example"]];
    assert.equal(
      await verdict(c, [], ["web.a.example", "evil.test"]),
      "untrusted: DNS name evil.test is not permitted by a name constraint",
    );
    assert.equal(await verdict(c), "ok");
  });

  test("an empty DNS constraint matches every name: permitted lets all through, excluded refuses all", async () => {
    assert.equal(await verdict([permitTd, [DNS, ""]], [], ["anything.test"]), "ok");
    assert.equal(
      await verdict([permitTd], [[DNS, ""]], ["anything.test"]),
      "untrusted: DNS name anything.test is excluded by a name constraint",
    );
  });
});
