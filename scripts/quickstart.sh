#!/usr/bin/env bash
# Install statesync as an application and run the main job on the default
# local store: snapshot a folder of agent state, list the history, restore it
# elsewhere. Every command is shown exactly as it is run ("+ statesync ...").
#
#   ./scripts/quickstart.sh                        # statesync itself (local stores)
#   STATESYNC_EXTRAS=s3,gcs ./scripts/quickstart.sh  # with extras: s3 azure gcs all serve service langgraph
#
# The application lives in its own virtualenv, $XDG_DATA_HOME/statesync/venv
# (~/.local/share/statesync/venv), installed from this clone (not editable: the
# clone can move or go); the `statesync` command is a link in $XDG_BIN_HOME
# (~/.local/bin). Running the script again upgrades it from the clone.
# Environment: PYTHON (default python3, 3.11+), STATESYNC_EXTRAS, XDG_DATA_HOME, XDG_BIN_HOME.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=${PYTHON:-python3}
data="${XDG_DATA_HOME:-$HOME/.local/share}/statesync"
venv="$data/venv"
bin="${XDG_BIN_HOME:-$HOME/.local/bin}"
extras="${STATESYNC_EXTRAS:-}"
user_path="$PATH"

fail() { echo "quickstart: $*" >&2; exit 1; }

# A word as a shell would need it typed: bare when safe, else single-quoted.
shell_word() {
    if [[ "$1" =~ ^[A-Za-z0-9_./=:@%+,-]+$ ]]; then printf '%s' "$1"
    else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}

# Show a command exactly as it is run, then run it.
run() {
    local word line="+"
    for word in "$@"; do line+=" $(shell_word "$word")"; done
    echo "$line"
    "$@"
}

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || fail "statesync needs Python 3.11 or newer; '$PYTHON' is $("$PYTHON" -V 2>&1 || echo missing). Run: PYTHON=python3.12 $0"
[[ "$extras" =~ ^[a-z0-9,]*$ ]] || fail "STATESYNC_EXTRAS must be extras separated by commas (e.g. s3,azure), got '$extras'"
target=$([ -L "$bin/statesync" ] && readlink "$bin/statesync" || true)
if [ -e "$bin/statesync" ] && [ "$target" != "$venv/bin/statesync" ]; then
    fail "$bin/statesync already exists and is not this installation's link; move it away first"
fi

# --- install ------------------------------------------------------------------
spec="$repo"
[ -z "$extras" ] || spec="$repo[$extras]"
[ -x "$venv/bin/python" ] || run "$PYTHON" -m venv "$venv"
run "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$spec"
run mkdir -p "$bin"
run ln -sfn "$venv/bin/statesync" "$bin/statesync"

# --- the main job, with the command just installed ------------------------------
# The default local store, whatever this shell's STATESYNC_* variables say.
unset STATESYNC_STORE STATESYNC_ENV STATESYNC_CONFIG
export PATH="$bin:$PATH"
hash -r
work="$data/quickstart/agent-state" # the folder we keep in sync
restore="$data/quickstart/restored" # where we restore it
mkdir -p "$data/quickstart"
cd "$data/quickstart"
[ -d "$work" ] || run cp -r "$repo/examples/agent-state" "$work"

[ -f "$data/store/statesync.json" ] || run statesync init
run statesync push "$work" --env quickstart -m "quickstart $(date -u +%FT%TZ)" --tag source=quickstart
run statesync log --env quickstart --limit 5
run statesync pull "$restore" --env quickstart
run find "$restore" -type f -not -path '*/.statesync/*'

# --- what next ------------------------------------------------------------------
cat <<EOF

statesync is installed: $bin/statesync -> $venv/bin/statesync
The store is $data/store; the folder in sync is $work.

Try next (edit a file in the folder first):
  statesync status $(shell_word "$work") --env quickstart
  statesync push $(shell_word "$work") --env quickstart -m "my change"
  statesync log --env quickstart
  statesync diff SNAPSHOT quickstart        # SNAPSHOT: an id from the log
  statesync pull $(shell_word "$restore") --env quickstart
  statesync --help                          # every command and the exit codes
Cloud stores need an extra: STATESYNC_EXTRAS=s3 $0   (s3, azure, gcs, all)
EOF

found="$(PATH="$user_path" command -v statesync || true)"
if [ -z "$found" ]; then
    # Typed as is: $HOME stays a variable when the folder is under it.
    shown="$bin"
    [[ "$bin" == "$HOME"/* ]] && shown="\$HOME/${bin#"$HOME"/}"
    cat <<EOF

$bin is not on your PATH, so typing \`statesync\` finds nothing yet. Type:
  export PATH="$shown:\$PATH"
and add that same line to ~/.bashrc (or ~/.zshrc, ~/.profile) to keep it. Or run $bin/statesync.
EOF
elif [ "$found" != "$bin/statesync" ]; then
    echo
    echo "Note: \`statesync\` on your PATH is $found, not this installation; put $bin first in PATH."
fi
