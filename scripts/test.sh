#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests need (the Python
# venv with moto and python-tuf; SoftHSM2, and Prometheus for its `promtool`, from Debian when
# run as root), then checks formatting
# and lints, then runs the whole workspace's tests, then every fuzz target briefly
# (scripts/fuzz.sh). CI (.ci/run) calls exactly this.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -p tuf-merkle   # extra arguments go to `cargo test`
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# Debian packages for the real components (SoftHSM2 for PKCS#11 tests; prometheus for
# `promtool`, which checks the alert rules in deploy/prometheus and the /metrics exposition).
# Installed only as root; elsewhere the tests that need them say so and skip (under CI=true they
# fail instead).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for pkg in softhsm2 prometheus; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    # npm installs Redocly's OpenAPI linter (scripts/test-env.sh); a machine with its own Node
    # keeps it.
    command -v npm >/dev/null || missing+=(npm)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "test: installing ${missing[*]}"
        apt-get update -qq >/dev/null
        # No recommends: prometheus would bring its node exporter along.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

bash scripts/test-env.sh

echo "test: cargo fmt --check"
cargo fmt --all --check
echo "test: cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The verifier a client embeds without its default features (no HTTP stack, no C compiler):
# nothing else builds it that way, and it once stopped compiling unnoticed.
echo "test: tuf-client without default features"
cargo clippy -p tuf-client --no-default-features --lib --quiet -- -D warnings
echo "test: cargo test"
cargo test --workspace "$@"

# Every fuzz target for a few seconds, after replaying its recorded findings (docs/fuzzing.md).
# Only for the whole suite: a run given cargo test arguments tests a part. FUZZ_SECONDS=0 skips.
if [ $# -eq 0 ] && [ "${FUZZ_SECONDS:-5}" != 0 ]; then
    echo "test: fuzz targets (scripts/fuzz.sh, ${FUZZ_SECONDS:-5} s each)"
    bash scripts/fuzz.sh
fi
