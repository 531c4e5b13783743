#!/usr/bin/env bash
# Fails when src/gen is not what `buf generate` makes from proto/ (someone edited generated code or forgot to regenerate).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/buf.gen.yaml" <<YAML
version: v2
plugins:
  - local: $PWD/node_modules/.bin/protoc-gen-es
    out: $tmp/gen
    opt: [target=ts, import_extension=js]
YAML
node scripts/buf.mjs generate --template "$tmp/buf.gen.yaml"
if ! diff -r "$tmp/gen" src/gen >/dev/null; then
  diff -r "$tmp/gen" src/gen | head -40
  echo "generate-check: src/gen is out of date with proto/; run 'npm run generate' and commit the result" >&2
  exit 1
fi
echo "generate-check: src/gen matches proto/"
