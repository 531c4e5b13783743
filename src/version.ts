// This package's version, read from our own package.json (the nearest one above this module: src/, dist/ or
// the bundle in dist/), so `--version`, build_info and OTLP's service.version say the same however we were
// started (npm_package_version is set only under `npm run`).
import { readFileSync } from "node:fs";

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  for (let dir = new URL(".", import.meta.url); ; dir = new URL("..", dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { name?: string; version: string };
      if (pkg.name === "spiffe-authz") return (cached = pkg.version);
    } catch {
      // not here; look one level up
    }
    if (dir.pathname === "/") return (cached = "unknown");
  }
}
