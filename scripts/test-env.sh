#!/usr/bin/env bash
# Creates (or refreshes) the Python virtualenv that the Rust tests use for their real
# components (moto's KMS and S3 server, python-tuf, schemathesis), and the Node tools under
# .tools/node (Redocly's OpenAPI linter). Idempotent: safe to run again.
#
#   bash scripts/test-env.sh        # then: cargo test
#
# The venv lives at <repo>/.venv; tests find it there or through $TUF_TEST_PYTHON.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
requirements="$repo/scripts/requirements-test.txt"
stamp="$venv/.requirements-installed"

if [ ! -x "$venv/bin/python" ]; then
    echo "test-env: creating $venv"
    python3 -m venv "$venv"
fi

# Re-install only when the requirements changed since the last successful install.
if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
    echo "test-env: $venv is up to date"
else
    echo "test-env: installing $(grep -cv '^\s*\(#\|$\)' "$requirements") pinned requirement(s)"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements"
    cp "$requirements" "$stamp"
    echo "test-env: ready: $venv"
fi

# Redocly's CLI lints docs/openapi.yaml (signer/tests/openapi.rs), pinned, from the npm registry.
redocly_version="2.77.0"
node_dir="$repo/.tools/node"
if command -v npm >/dev/null; then
    if [ "$(cat "$node_dir/.installed" 2>/dev/null)" != "$redocly_version" ]; then
        echo "test-env: installing @redocly/cli@$redocly_version under $node_dir"
        mkdir -p "$node_dir"
        npm install --prefix "$node_dir" --no-audit --no-fund --silent "@redocly/cli@$redocly_version"
        echo "$redocly_version" > "$node_dir/.installed"
    fi
else
    echo "test-env: npm is missing: the OpenAPI lint test will skip (and fail under CI=true)"
fi
