#!/usr/bin/env bash
# Static security/compliance checks of the Terraform modules under terraform/
# with checkov, run offline from its own virtualenv (.venv-checkov in the repo
# root, created on first use with `python3 -m venv` + `pip install checkov`).
#
# Exits non-zero if any check fails, if checkov cannot parse a file (checkov
# itself only reports those), or if nothing was scanned.
#
# Every check a module deliberately does not satisfy is skipped in the code,
# on the resource, with a "#checkov:skip=CKV_XXX:reason" comment.
#
# Environment:
#   CHECKOV_VENV     virtualenv to use/create    (default: <repo>/.venv-checkov)
#   CHECKOV_VERSION  checkov version to install  (default: pinned below)
#   PYTHON           interpreter for the venv    (default: python3)
# Extra arguments are passed on to checkov.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CHECKOV_VENV:-$ROOT/.venv-checkov}"
PYTHON="${PYTHON:-python3}"
CHECKOV_REQ="checkov==${CHECKOV_VERSION:-3.3.30}"

if [ ! -d "$ROOT/terraform" ]; then
    echo "check_terraform: $ROOT/terraform does not exist" >&2
    exit 1
fi

if [ ! -x "$VENV/bin/checkov" ]; then
    echo "check_terraform: installing $CHECKOV_REQ into $VENV" >&2
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$CHECKOV_REQ"
fi

cd "$ROOT"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

# --skip-download: no policies, guidelines or suppressions fetched from the
# platform; the run needs no network once the venv exists.
set +e
"$VENV/bin/checkov" -d terraform --skip-download --framework terraform \
    --quiet --compact "$@" | tee "$out"
rc=${PIPESTATUS[0]}
set -e

if [ "$rc" -eq 0 ]; then
    if grep -Eq 'Parsing errors: [1-9]' "$out"; then
        echo "check_terraform: checkov could not parse some files (see above)" >&2
        rc=1
    elif ! grep -q 'Passed checks:' "$out"; then
        echo "check_terraform: checkov scanned nothing" >&2
        rc=1
    fi
fi
exit "$rc"
