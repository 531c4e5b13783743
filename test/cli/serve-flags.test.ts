import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveServeOptions, type ServeOptions } from "../../src/cli/serve-flags.js";
import { UsageError } from "../../src/cli/errors.js";
import { ConfigError } from "../../src/config/errors.js";

function opts(argv: string[], env: Record<string, string> = {}): ServeOptions {
  const o = resolveServeOptions(argv, env);
  assert.ok(o);
  return o;
}

test("defaults", () => {
  const o = opts([]);
  assert.deepEqual(
    o.listen.map((a) => a.target),
    ["0.0.0.0:50051"],
  );
  assert.equal(o.spireSocket.target, "unix:///run/spire/sockets/agent.sock");
  assert.deepEqual(o.metrics, { host: "0.0.0.0", port: 9464 });
  assert.equal(o.verbose, false);
  assert.equal(o.workers, 1);
});

test("--socket alone listens only on the socket; with --grpc-address on both", () => {
  assert.deepEqual(
    opts(["--socket", "/tmp/a.sock"]).listen.map((a) => a.target),
    ["unix:///tmp/a.sock"],
  );
  assert.deepEqual(
    opts([
      "--grpc-address",
      "127.0.0.1:7000",
      "--grpc-address",
      "unix:///tmp/b.sock",
      "--socket",
      "/tmp/a.sock",
    ]).listen.map((a) => a.target),
    ["127.0.0.1:7000", "unix:///tmp/b.sock", "unix:///tmp/a.sock"],
  );
  assert.deepEqual(
    opts(["--grpc-address", "[::1]:7000"]).listen.map((a) => a.target),
    ["[::1]:7000"],
  );
});

test("--plaintext-address takes loopback or unix addresses only", () => {
  assert.deepEqual(
    opts([
      "--plaintext-address",
      "127.0.0.1:50052",
      "--plaintext-address",
      "[::1]:50053",
      "--plaintext-address",
      "unix:///tmp/p.sock",
    ]).plaintextListen?.map((a) => a.target),
    ["127.0.0.1:50052", "[::1]:50053", "unix:///tmp/p.sock"],
  );
  for (const bad of ["0.0.0.0:50052", "10.0.0.1:50052", "[::]:50052", "example.org:50052"]) {
    assert.throws(
      () => opts(["--plaintext-address", bad]),
      (e: unknown) => e instanceof UsageError && /not a loopback address/.test(e.message),
      bad,
    );
  }
});

test("flag beats env beats file beats default", () => {
  const dir = mkdtempSync(join(tmpdir(), "opts-"));
  const file = join(dir, "c.yaml");
  writeFileSync(file, "spire: { socket: /from/file.sock }\n");
  assert.equal(opts(["--config", file]).spireSocket.path, "/from/file.sock");
  assert.equal(
    opts(["--config", file], { SPIFFE_ENDPOINT_SOCKET: "unix:///from/endpoint.sock" }).spireSocket.path,
    "/from/endpoint.sock",
  );
  assert.equal(
    opts(["--config", file], { SPIRE_AGENT_SOCKET: "/from/env.sock", SPIFFE_ENDPOINT_SOCKET: "/x.sock" }).spireSocket
      .path,
    "/from/env.sock",
  );
  assert.equal(
    opts(["--config", file, "--spire-socket", "/from/flag.sock"], { SPIRE_AGENT_SOCKET: "/from/env.sock" }).spireSocket
      .path,
    "/from/flag.sock",
  );
  assert.equal(opts([], { SPIFFE_AUTHZ_CONFIG: file }).spireSocket.path, "/from/file.sock");
  assert.equal(opts([], { SPIFFE_VERBOSE: "true" }).verbose, true);
  assert.equal(opts(["--verbose"], { SPIFFE_VERBOSE: "false" }).verbose, true);
  assert.deepEqual(
    opts([], { AGENT_GRPC_ADDRESS: "127.0.0.1:1234" }).listen.map((a) => a.target),
    ["127.0.0.1:1234"],
  );
  assert.deepEqual(
    opts(["--grpc-address", "127.0.0.1:1"], { AGENT_GRPC_ADDRESS: "127.0.0.1:1234" }).listen.map((a) => a.target),
    ["127.0.0.1:1"],
  );
  assert.deepEqual(
    opts([], { AGENT_SOCKET: "/tmp/env.sock" }).listen.map((a) => a.target),
    ["unix:///tmp/env.sock"],
  );
  assert.equal(opts([], { METRICS_ADDRESS: "off" }).metrics, null);
  assert.equal(opts(["--spire-socket", "tcp://127.0.0.1:8081"]).spireSocket.target, "127.0.0.1:8081");
});

test("bad flags and env are usage errors naming the flag", () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [["--grpc-address", "nope"], {}, /^--grpc-address: expected host:port/],
    [["--grpc-address", "1.2.3.4:70000"], {}, /^--grpc-address: port 70000 is out of range \(0 to 65535\)/],
    [["--metrics-address", "9464"], {}, /^--metrics-address: /],
    [["--spire-socket", "http://x"], {}, /^--spire-socket: unsupported scheme/],
    [["--workers", "0"], {}, /^--workers: /],
    [["--bogus"], {}, /bogus/],
    [[], { SPIFFE_VERBOSE: "maybe" }, /^env SPIFFE_VERBOSE: expected true or false/],
  ];
  for (const [argv, env, re] of cases) {
    assert.throws(
      () => resolveServeOptions(argv, env),
      (err: unknown) => err instanceof UsageError && re.test(err.message),
      `${argv.join(" ")}`,
    );
  }
});

test("a bad config file is a ConfigError, not a crash", () => {
  assert.throws(() => resolveServeOptions(["--config", "/nonexistent/c.yaml"], {}), ConfigError);
});
