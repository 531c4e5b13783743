#!/usr/bin/env bash
# Fails when src/gen is not what `buf generate` makes from proto/ (someone edited generated code or forgot to
# regenerate). Generates into a temporary directory, so the working tree is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Same plugin and options as buf.gen.yaml, different output directory.
cat > "$tmp/buf.gen.yaml" <<YAML
version: v2
plugins:
  - local: "$PWD/node_modules/.bin/protoc-gen-es"
    out: "$tmp/gen"
    opt: [target=ts, import_extension=js]
YAML
if ! node scripts/buf.mjs generate --template "$tmp/buf.gen.yaml"; then
  echo "generate-check: buf generate failed" >&2
  exit 1
fi
if ! diff -r "$tmp/gen" src/gen > "$tmp/diff"; then
  head -40 "$tmp/diff"
  echo "generate-check: src/gen is out of date with proto/; run 'npm run generate' and commit the result" >&2
  exit 1
fi
echo "generate-check: src/gen matches proto/"
