#!/bin/sh
# Sample SmartMeter shell process: heartbeats through the agent's CLI.
# Usage: meter_script.sh [NAME [VERSION [INTERVAL]]]  (defaults: meter_script 1.0.0 5)
# TINYAGENT_BIN names the CLI (default: ../bin/tinyagent next to this folder,
# the installed layout, else tinyagent from PATH). The CLI's
# default --pid is its parent's, i.e. this shell's, which is what the agent
# should watch. A fractional INTERVAL needs a sleep that takes one (GNU, busybox).
NAME=${1:-meter_script}
VERSION=${2:-1.0.0}
INTERVAL=${3:-5}
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
if [ -z "$TINYAGENT_BIN" ]; then
    TINYAGENT_BIN=$(dirname "$SELF")/../bin/tinyagent
    [ -x "$TINYAGENT_BIN" ] || TINYAGENT_BIN=tinyagent
fi

# Quote for sh -c, which is how the agent runs --run-command.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
RUN="/bin/sh $(q "$SELF") $(q "$NAME") $(q "$VERSION") $(q "$INTERVAL")"
# The agent restarts it with its own environment: carry a non-default port.
[ -n "$TINYAGENT_HEARTBEAT_PORT" ] && RUN="TINYAGENT_HEARTBEAT_PORT=$TINYAGENT_HEARTBEAT_PORT $RUN"

while :; do
    # A failed heartbeat (no agent yet) must not stop the loop.
    "$TINYAGENT_BIN" heartbeat --name "$NAME" --version "$VERSION" --run-command "$RUN" ||
        echo "meter_script: heartbeat failed" >&2
    sleep "$INTERVAL"
done
