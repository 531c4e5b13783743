// tls.client-cert-format through a real server (startServer with --config, dev Workload API, the Envoy door on
// loopback gRPC): RFC 9440 Client-Cert decides as XFCC does, and a SIGHUP that switches the format changes the
// answer for the very same request bytes at once. The chain cache remembers verified chains by the raw header;
// if its key forgot the format, an identity read one way would keep answering after the reload to another.
// Each request is sent twice, so the second answer is a cache hit.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { status as grpcStatus } from "@grpc/grpc-js";
import { checkRequest, envoyClient, unary, type CheckResponseObj, type Client } from "../helpers/clients.js";
import { until } from "../helpers/log-capture.js";
import { startServerDoor, WEB, type ServerDoor } from "../helpers/zentinel-server.js";

let door: ServerDoor;
let envoy: Client;
const sf = (pem: string) => `:${new X509Certificate(pem).raw.toString("base64")}:`;

type Format = "xfcc" | "rfc9440" | "pem-url";
const TLS: Record<Format, object> = {
  xfcc: {},
  rfc9440: { "client-cert-format": "rfc9440" },
  // The same Client-Cert header's bytes, read as URL-encoded PEM.
  "pem-url": { "client-cert-format": "pem-url", "client-cert-header": "Client-Cert" },
};
const config = (format: Format) => ({
  allowlist: { exact: [WEB] },
  tls: TLS[format],
  audit: { "log-success": false, "log-failure": false },
});

before(async () => {
  door = await startServerDoor(config("rfc9440"));
  envoy = envoyClient(door.target);
});

after(async () => {
  envoy.close();
  await door.close();
});

/** The Envoy door's answer: "allow <x-spiffe-id set>" or "deny <status> <reason>". */
async function answer(headers: Record<string, string>): Promise<string> {
  const res = await unary<CheckResponseObj>(envoy, "Check", checkRequest({ headers }));
  return res.status.code === grpcStatus.OK
    ? `allow ${res.ok_response!.headers.find((h) => h.header.key.toLowerCase() === "x-spiffe-id")?.header.value}`
    : `deny ${res.denied_response!.status.code} ${JSON.parse(res.denied_response!.body).reason}`;
}

test("rfc9440 through the Envoy door: web's Client-Cert allowed with its identity, intruder's 403, malformed ones 401", async () => {
  assert.equal(await answer({ "client-cert": sf(door.certs.web) }), `allow ${WEB}`);
  assert.equal(await answer({ "client-cert": sf(door.certs.web), "client-cert-chain": "" }), `allow ${WEB}`);
  assert.equal(await answer({ "client-cert": sf(door.certs.intruder) }), "deny Forbidden not_allowed");
  const der = new X509Certificate(door.certs.web).raw.toString("base64");
  for (const bad of <Array<Record<string, string>>>[
    { "client-cert": der },
    { "client-cert": `:${der}` },
    { "client-cert": `${sf(door.certs.web)};by=proxy` },
    { "client-cert": `:${der.replace(/[+/]/g, "-")}:` },
    { "client-cert": ` ${" ".repeat(64 * 1024)}${sf(door.certs.web)}` },
    { "client-cert": sf(door.certs.web), "client-cert-chain": Array(8).fill(sf(door.certs.web)).join(", ") },
  ]) {
    assert.equal(await answer(bad), "deny Unauthorized malformed_certificate", JSON.stringify(bad).slice(0, 80));
  }
  // The XFCC header is not read under rfc9440: intruder's XFCC beside web's Client-Cert changes nothing.
  const xfcc = `Cert="${encodeURIComponent(door.certs.intruder)}"`;
  assert.equal(await answer({ "client-cert": sf(door.certs.web), "x-forwarded-client-cert": xfcc }), `allow ${WEB}`);
  assert.equal(await answer({ "x-forwarded-client-cert": xfcc }), "deny Unauthorized no_certificate");
});

async function reloadTo(format: Format): Promise<void> {
  door.writeConfig(config(format));
  process.kill(process.pid, "SIGHUP");
  await until(
    () => door.server.engine.policy.config.tls["client-cert-format"] === format,
    3000,
    `reload to client-cert-format ${format}`,
  );
}

test("SIGHUP switching tls.client-cert-format changes the answer for the same request bytes, cache hits included", async () => {
  // web's certificate as Client-Cert, intruder's as XFCC: which one speaks is the format's choice alone.
  const headers = {
    "client-cert": sf(door.certs.web),
    "x-forwarded-client-cert": `By=spiffe://example.org/envoy;Cert="${encodeURIComponent(door.certs.intruder)}"`,
  };
  const expected: Record<Format, string> = {
    rfc9440: `allow ${WEB}`,
    xfcc: "deny Forbidden not_allowed",
    "pem-url": "deny Unauthorized malformed_certificate",
  };
  for (const format of ["rfc9440", "xfcc", "pem-url", "rfc9440", "pem-url", "xfcc", "rfc9440"] as const) {
    await reloadTo(format);
    assert.equal(await answer(headers), expected[format], format);
    assert.equal(await answer(headers), expected[format], `${format}, again (cached)`);
  }
});
