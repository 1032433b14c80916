#!/bin/bash
# The Embedded binary (make embedded) under valgrind memcheck with a heartbeat,
# command and update workload: tests/sanitize/test_valgrind.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v valgrind >/dev/null; then
    echo "installing valgrind"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
start=$(date +%s)
python3 -m pytest -q -s -p no:cacheprovider tests/sanitize "$@"
echo "== valgrind workload passed in $(( $(date +%s) - start )) s"
