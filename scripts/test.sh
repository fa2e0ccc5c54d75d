#!/usr/bin/env bash
# The whole test suite, from nothing: installs the Python packages (dev extra),
# Azurite (npm) and the other emulators, starts them on 127.0.0.1, runs lint,
# types, the terraform checks and every test, then stops the emulators.
# Usage: ./scripts/test.sh [--long] [extra pytest args]
#   --long  also run the tests marked `long` (fault, crash, load and the cloud
#           variants of the slow scenarios); the default run stays within CI's time.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--long" ]; then
  export STATESYNC_LONG=1
  shift
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
scripts/install_chromium.sh  # Debian's chromium for the web view's browser tests

echo "== lint and types"
.venv/bin/ruff check src tests bench scripts
.venv/bin/ruff format --check src tests bench scripts
.venv/bin/mypy
.venv/bin/python scripts/import_graph.py --check >/dev/null  # layers and cycles (ARCHITECTURE.md §1)

echo "== emulators (moto S3+KMS, Azurite, fake-gcs-server) on 127.0.0.1"
mkdir -p .emulators
ENV_FILE=.emulators/env
.venv/bin/python scripts/emulators.py start --env-file "$ENV_FILE"
trap '.venv/bin/python scripts/emulators.py stop --env-file "$ENV_FILE"' EXIT
# shellcheck disable=SC1090
source "$ENV_FILE"

echo "== terraform: checkov (offline, own virtualenv)"
scripts/check_terraform.sh

echo "== tests"
set +e
# Three workers on two cores: much of a test is spent waiting on an emulator or a CLI
# child; the whole suite took 19m09s with three against 23m30s with two (2026-12-03).
.venv/bin/python -m pytest -q -n 3 "$@"
status=$?
set -e
# pytest exits 5 when it collected no tests: that is a failure here, never a pass.
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
fi

# The floors in pyproject.toml are promises: install the lowest version of every
# direct dependency that they allow (uv's lowest-direct resolution) into a second
# virtualenv and run a smoke subset on it (every backend, the crypto, the CLI,
# the LangGraph conformance suite).
echo "== dependency floors: lowest direct versions, smoke subset"
.venv/bin/python -m pip install -q 'uv>=0.4'
[ -x .venv-floors/bin/python ] || .venv/bin/uv venv -q --python .venv/bin/python .venv-floors
VIRTUAL_ENV=.venv-floors .venv/bin/uv pip install -q --resolution lowest-direct -e '.[dev]'
set +e
.venv-floors/bin/python -m pytest -q -n 2 -p no:cacheprovider tests/conformance tests/backends \
  tests/crypto tests/sync/test_push_pull.py tests/e2e/test_cli.py \
  tests/integrations/test_langgraph_conformance.py
floors=$?
set -e
if [ "$floors" -ne 0 ]; then
  echo "the lowest allowed dependency versions fail the smoke subset: raise the floors" >&2
fi
[ "$status" -ne 0 ] && exit "$status"
exit "$floors"
