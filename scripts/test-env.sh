#!/usr/bin/env bash
# Creates (or refreshes) the Python virtualenv that the Rust tests use for their real
# components: moto's KMS server, and later python-tuf. Idempotent: safe to run again.
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
    exit 0
fi

echo "test-env: installing $(grep -cv '^\s*\(#\|$\)' "$requirements") pinned requirement(s)"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements"
cp "$requirements" "$stamp"
echo "test-env: ready: $venv"
