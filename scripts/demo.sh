#!/bin/bash
# The agent's job, on loopback: tinyagent on a temporary root supervising two
# sample SmartMeter processes. One hangs (alive but silent), one crashes;
# both are restarted, and `tinyagent status` shows it happen.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.build-embedded/release/tinyagent
ROOT=$(mktemp -d /tmp/tinyagent-demo.XXXXXX)
PORT=${DEMO_PORT:-4951}
PY=/usr/bin/python3

cleanup() {
    [ -n "${AGENT:-}" ] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null || true
    pkill -KILL -f "$ROOT" 2>/dev/null || true
    rm -rf "$ROOT"
}
trap cleanup EXIT

# The device's layout (SPEC §3): the helper in bin/, the code in SmartMeter/.
mkdir -p "$ROOT"/{bin,cfg,logs,wdog,SmartMeter}
cp helpers/python/tinyagent_heartbeat.py "$ROOT/bin/"
cp samples/SmartMeter/meter_reader.py "$ROOT/SmartMeter/"
# Short deadlines so the demo takes seconds, not minutes.
echo '{"heartbeat_timeout_ms": 3000, "kill_grace_ms": 1000}' > "$ROOT/cfg/agent.json"

echo "== tinyagent $("$BIN" version | cut -d' ' -f2) on $ROOT, heartbeats on 127.0.0.1:$PORT"
# Its log goes to stderr too: the lines with timestamps below are the agent's.
"$BIN" run --root "$ROOT" --heartbeat-port "$PORT" &
AGENT=$!
sleep 0.5

echo "== starting two meter readers: 'ocr' hangs after 4 s, 'uploader' crashes after 6 s"
(cd "$ROOT/SmartMeter" && exec setsid $PY meter_reader.py --name ocr --version 1.4.0 --interval 0.5 \
    --hang-after 4 --port "$PORT" >/dev/null 2>&1) &
(cd "$ROOT/SmartMeter" && exec setsid $PY meter_reader.py --name uploader --version 2.0.1 --interval 0.5 \
    --crash-after 6 --port "$PORT" >/dev/null 2>&1) &

for t in 2 6 10 16; do
    sleep $((t == 2 ? 2 : t == 16 ? 6 : 4))
    echo
    echo "== status at ${t} s"
    "$BIN" status --root "$ROOT"
done

echo "== the processes were restarted by the agent (new pids, restarts > 0):"
"$BIN" status --root "$ROOT" --json
