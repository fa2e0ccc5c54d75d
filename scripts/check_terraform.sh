#!/usr/bin/env bash
# Static security/compliance checks of the Terraform modules under terraform/
# with checkov, run offline from its own virtualenv (.venv-checkov in the repo
# root, created on first use). Exits non-zero if any check fails.
#
# Every check a module deliberately does not satisfy is skipped in the code,
# on the resource, with a "#checkov:skip=CKV_XXX:reason" comment.
#
# Environment:
#   CHECKOV_VENV     virtualenv to use/create   (default: <repo>/.venv-checkov)
#   CHECKOV_VERSION  pip requirement for checkov (default: pinned below)
#   PYTHON           interpreter for the venv   (default: python3)
# Extra arguments are passed on to checkov.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CHECKOV_VENV:-$ROOT/.venv-checkov}"
PYTHON="${PYTHON:-python3}"
CHECKOV_REQ="checkov==${CHECKOV_VERSION:-3.3.30}"

if [ ! -x "$VENV/bin/checkov" ]; then
    echo "check_terraform: installing $CHECKOV_REQ into $VENV" >&2
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$CHECKOV_REQ"
fi

cd "$ROOT"
# --skip-download: no policies, guidelines or suppressions fetched from the
# platform; the run needs no network once the venv exists.
exec "$VENV/bin/checkov" -d terraform --skip-download --framework terraform \
    --quiet --compact "$@"
