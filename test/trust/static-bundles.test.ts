import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DevCertificateAuthority, spiffeBundleJson } from "../../src/dev-ca/index.js";
import { StaticBundles } from "../../src/trust/static-bundles.js";
import { TrustStore } from "../../src/trust/store.js";
import { ConfigError } from "../../src/config/errors.js";
import { capturedLogger, until } from "../helpers/log-capture.js";

test("static bundle file: PEM, DER and SPIFFE bundle JSON load; replaced by rename → applied; malformed → logged, previous kept", async () => {
  const dir = mkdtempSync(join(tmpdir(), "static-"));
  const a = await DevCertificateAuthority.createRoot("partner.org");
  const b = await DevCertificateAuthority.createRoot("partner.org");
  const path = join(dir, "partner.pem");
  writeFileSync(path, a.pem);
  writeFileSync(join(dir, "other.der"), b.der);
  writeFileSync(
    join(dir, "third.json"),
    spiffeBundleJson("third.org", { x509: [await DevCertificateAuthority.createRoot("third.org")] }),
  );
  const store = new TrustStore("fail_closed", 3600);
  const { log, lines } = capturedLogger();
  const statics = new StaticBundles(
    [
      { "trust-domain": "partner.org", path },
      { "trust-domain": "other.org", path: join(dir, "other.der") },
      { "trust-domain": "third.org", path: join(dir, "third.json") },
    ],
    store,
    log,
  );
  try {
    statics.loadAll();
    statics.watch(200);
    const root = () => store.current().bundles.x509Bundle("partner.org")?.authorities[0];
    assert.ok(root()?.equals(a.certificate));
    assert.equal(store.current().bundles.x509Bundle("other.org")?.authorities.length, 1);
    assert.equal(store.current().bundles.x509Bundle("third.org")?.authorities.length, 1);
    assert.equal(store.ready(), true);

    // Atomic replace, as config management tools do it.
    writeFileSync(join(dir, ".partner.tmp"), b.pem);
    renameSync(join(dir, ".partner.tmp"), path);
    await until(() => root()?.equals(b.certificate) ?? false, 3000, "renamed file applied");

    writeFileSync(join(dir, ".partner.tmp"), "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
    renameSync(join(dir, ".partner.tmp"), path);
    await until(
      () => lines().some((l) => l["msg"] === "bundle file unreadable or malformed; previous bundle kept"),
      3000,
      "error logged",
    );
    assert.ok(root()?.equals(b.certificate), "previous bundle kept");

    // Deleting the file is a decision to stop trusting it.
    rmSync(path);
    await until(() => root() === undefined, 3000, "deleted file's bundle dropped");
    assert.ok(lines().some((l) => l["msg"] === "bundle file deleted; its bundle is no longer trusted"));
  } finally {
    statics.close();
    store.close();
  }
});

test("a missing or malformed bundle file at start-up is a ConfigError naming the entry", () => {
  const dir = mkdtempSync(join(tmpdir(), "static-bad-"));
  writeFileSync(join(dir, "bad.json"), "{ nope");
  const store = new TrustStore("fail_closed", 3600);
  const { log } = capturedLogger();
  for (const path of [join(dir, "missing.pem"), join(dir, "bad.json")]) {
    const s = new StaticBundles([{ "trust-domain": "x.org", path }], store, log);
    assert.throws(
      () => s.loadAll(),
      (e: unknown) => e instanceof ConfigError && e.keyPath === "trust-bundles[0].path" && e.message.includes(path),
      path,
    );
  }
  store.close();
});

test("Kubernetes ConfigMap update (..data symlink swap, no event under the file's name) is applied", async () => {
  const dir = mkdtempSync(join(tmpdir(), "static-k8s-"));
  const a = await DevCertificateAuthority.createRoot("partner.org");
  const b = await DevCertificateAuthority.createRoot("partner.org");
  // The kubelet's layout: bundle.pem -> ..data/bundle.pem, ..data -> ..v1; an update swaps ..data atomically.
  mkdirSync(join(dir, "..v1"));
  writeFileSync(join(dir, "..v1", "bundle.pem"), a.pem);
  symlinkSync("..v1", join(dir, "..data"));
  symlinkSync(join("..data", "bundle.pem"), join(dir, "bundle.pem"));
  const store = new TrustStore("fail_closed", 3600);
  const { log } = capturedLogger();
  const statics = new StaticBundles([{ "trust-domain": "partner.org", path: join(dir, "bundle.pem") }], store, log);
  try {
    statics.loadAll();
    statics.watch(60_000); // the poll must not be what finds it
    const root = () => store.current().bundles.x509Bundle("partner.org")?.authorities[0];
    assert.ok(root()?.equals(a.certificate));
    mkdirSync(join(dir, "..v2"));
    writeFileSync(join(dir, "..v2", "bundle.pem"), b.pem);
    symlinkSync("..v2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    await until(() => root()?.equals(b.certificate) ?? false, 3000, "symlink swap applied");
  } finally {
    statics.close();
    store.close();
  }
});

test("the slow stat poll finds a change the watcher did not deliver", async () => {
  const dir = mkdtempSync(join(tmpdir(), "static-poll-"));
  const a = await DevCertificateAuthority.createRoot("partner.org");
  const b = await DevCertificateAuthority.createRoot("partner.org");
  const path = join(dir, "bundle.der");
  writeFileSync(path, a.der);
  const store = new TrustStore("fail_closed", 3600);
  const { log, lines } = capturedLogger();
  // A debounce longer than the test stands for "watch events lost"; only the 100 ms poll can see the change.
  const statics = new StaticBundles([{ "trust-domain": "partner.org", path }], store, log, () => {}, 60_000);
  try {
    statics.loadAll();
    statics.watch(100);
    const gen = store.current().generation;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(store.current().generation, gen, "an unchanged file is not re-applied");
    writeFileSync(path, b.der);
    await until(
      () => store.current().bundles.x509Bundle("partner.org")?.authorities[0]?.equals(b.certificate) ?? false,
      2000,
      "poll applied",
    );
    writeFileSync(path, "garbage");
    await until(
      () => lines().some((l) => l["msg"] === "bundle file unreadable or malformed; previous bundle kept"),
      2000,
      "error logged",
    );
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(
      lines().filter((l) => l["msg"] === "bundle file unreadable or malformed; previous bundle kept").length,
      1,
      "logged once per broken version, not every poll",
    );
    assert.ok(store.current().bundles.x509Bundle("partner.org")?.authorities[0]?.equals(b.certificate));
  } finally {
    statics.close();
    store.close();
  }
});
