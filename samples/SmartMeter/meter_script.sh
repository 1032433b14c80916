#!/bin/sh
# Sample SmartMeter shell process: heartbeats through the agent's CLI.
# Usage: meter_script.sh [NAME [VERSION [INTERVAL]]]  (defaults: meter_script 1.0.0 5)
# TINYAGENT_BIN names the CLI (default: tinyagent, from PATH). The CLI's
# default --pid is its parent's, i.e. this shell's, which is what the agent
# should watch. A fractional INTERVAL needs a sleep that takes one (GNU, busybox).
NAME=${1:-meter_script}
VERSION=${2:-1.0.0}
INTERVAL=${3:-5}
TINYAGENT_BIN=${TINYAGENT_BIN:-tinyagent}

# Quote for sh -c, which is how the agent runs --run-command.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
RUN="/bin/sh $(q "$SELF") $(q "$NAME") $(q "$VERSION") $(q "$INTERVAL")"

while :; do
    # A failed heartbeat (no agent yet) must not stop the loop.
    "$TINYAGENT_BIN" heartbeat --name "$NAME" --version "$VERSION" --run-command "$RUN" ||
        echo "meter_script: heartbeat failed" >&2
    sleep "$INTERVAL"
done
