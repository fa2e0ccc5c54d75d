#!/usr/bin/env bash
# Install statesync and run the main job on the default local store:
# snapshot a folder of agent state, list the history, restore it elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
ss=.venv/bin/statesync

data="${XDG_DATA_HOME:-$HOME/.local/share}/statesync"
work="$data/quickstart/agent-state"      # the folder we keep in sync
restore="$data/quickstart/restored"      # where we restore it
if [ ! -d "$work" ]; then mkdir -p "$(dirname "$work")"; cp -r examples/agent-state "$work"; fi

$ss envs >/dev/null 2>&1 || $ss init
echo "\$ statesync push $work --env quickstart"
$ss push "$work" --env quickstart -m "quickstart $(date -u +%FT%TZ)" --tag source=quickstart
echo "\$ statesync log --env quickstart"
$ss log --env quickstart --limit 5
echo "\$ statesync pull $restore --env quickstart"
$ss pull "$restore" --env quickstart
echo "restored files:"
(cd "$restore" && find . -path ./.statesync -prune -o -type f -print | sort)
