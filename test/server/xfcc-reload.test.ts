// tls.xfcc-element is reloadable: SIGHUP with first ↔ last in the config file must change which XFCC element
// speaks for the request, at once and for the very same bytes. The chain cache remembers verified chains by the
// raw XFCC header; if its key forgot the element, the identity of the element chosen before the reload would
// keep answering after it. Through a real server (startServer with --config, dev Workload API, gRPC on
// loopback), both doors, each request sent twice so the second is a cache hit.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { checkRequest, envoyClient, unary, type CheckResponseObj, type Client } from "../helpers/clients.js";
import { connectAsProxy, headerOps, headersEvent, blockOf, type ProxyStream } from "../helpers/zentinel.js";
import { until } from "../helpers/log-capture.js";
import { startServerDoor, WEB, type ServerDoor } from "../helpers/zentinel-server.js";
import { status as grpcStatus } from "@grpc/grpc-js";

let door: ServerDoor;
let envoy: Client;
let stream: ProxyStream;
/** Two elements: the first carries web's certificate (allowed), the last intruder's (verified, not allowed). */
let xfcc: string;

const config = (element: "first" | "last") => ({
  allowlist: { exact: [WEB] },
  routes: [{ name: "api" }],
  tls: { "xfcc-element": element },
  audit: { "log-success": false, "log-failure": false },
});

before(async () => {
  door = await startServerDoor(config("last"));
  const el = (pem: string) => `By=spiffe://example.org/envoy;Hash=00;Cert="${encodeURIComponent(pem)}"`;
  xfcc = `${el(door.certs.web)},${el(door.certs.intruder)}`;
  envoy = envoyClient(door.target);
  stream = await connectAsProxy(door.client);
});

after(async () => {
  stream.call.end();
  envoy.close();
  await door.close();
});

async function reloadTo(element: "first" | "last"): Promise<void> {
  door.writeConfig(config(element));
  process.kill(process.pid, "SIGHUP");
  await until(
    () => door.server.engine.policy.config.tls["xfcc-element"] === element,
    3000,
    `reload to xfcc-element ${element}`,
  );
}

/** What each door says for the same two-element XFCC: the identity it allowed, or "deny <status> <reason>". */
async function answers(): Promise<{ envoy: string; zentinel: string }> {
  const res = await unary<CheckResponseObj>(
    envoy,
    "Check",
    checkRequest({ headers: { "x-forwarded-client-cert": xfcc } }),
  );
  const e =
    res.status.code === grpcStatus.OK
      ? `allow ${res.ok_response!.headers.find((h) => h.header.key.toLowerCase() === "x-spiffe-id")?.header.value}`
      : `deny ${res.denied_response!.status.code} ${JSON.parse(res.denied_response!.body).reason}`;
  const cid = `x${stream.responses().length}`;
  stream.call.write(headersEvent(cid, undefined, { headers: [{ name: "x-forwarded-client-cert", value: xfcc }] }));
  await until(() => stream.responses().some((r) => r["correlation_id"] === cid), 5000, `answer to ${cid}`);
  const r = stream.responses().find((x) => x["correlation_id"] === cid)!;
  const z =
    r["decision"] === "allow"
      ? `allow ${headerOps(r).find(([op, name]) => op === "set" && name.toLowerCase() === "x-spiffe-id")?.[2]}`
      : `deny ${blockOf(r).status} ${JSON.parse(blockOf(r).body).reason}`;
  return { envoy: e, zentinel: z };
}

const DENIED = { envoy: "deny Forbidden not_allowed", zentinel: "deny 403 not_allowed" };
const ALLOWED = { envoy: `allow ${WEB}`, zentinel: `allow ${WEB}` };

test("SIGHUP switching tls.xfcc-element last → first → last changes the answer for the same XFCC bytes, cache hits included", async () => {
  // last: intruder's element speaks.
  assert.deepEqual(await answers(), DENIED, "xfcc-element last: intruder");
  assert.deepEqual(await answers(), DENIED, "xfcc-element last, again (cached)");

  await reloadTo("first");
  assert.deepEqual(await answers(), ALLOWED, "after reload to first: web's element speaks");
  assert.deepEqual(await answers(), ALLOWED, "first, again (cached)");

  await reloadTo("last");
  assert.deepEqual(await answers(), DENIED, "after reload back to last: intruder again");
  assert.deepEqual(await answers(), DENIED, "last, again (cached)");
});

test("the same holds the other way round: starting from first, a reload to last stops allowing", async () => {
  await reloadTo("first");
  assert.deepEqual(await answers(), ALLOWED);
  await reloadTo("last");
  assert.deepEqual(await answers(), DENIED);
});
