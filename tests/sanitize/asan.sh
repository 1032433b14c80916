#!/bin/bash
# The integration suites against a host build of `tinyagent` (full Swift, not
# Embedded) under AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer
# (the C targets; Swift on Linux has no -sanitize=undefined, its own arithmetic
# and bounds checks trap in every build). Every process of that binary runs
# instrumented: the agent, its helper programs tinyagent-link and
# tinyagent-fetch (built beside it, started from there) and the CLI the tests
# and meter_script.sh run. Reports go to files in one folder, not to stderr (which
# the helpers do not have), and that folder must be empty at the end.
#
#   tests/sanitize/asan.sh [pytest arguments]   (default: the suites below)
set -euo pipefail
cd "$(dirname "$0")/../.."
SWIFT=${SWIFT:-/opt/swift/usr/bin/swift}
scratch=.build-asan

echo "== building the ASan/UBSan host binaries ($scratch)"
mkdir -p "$scratch"
# ld.gold warns about every ASan register thunk ("Cannot export local symbol"):
# noise, filtered out.
"$SWIFT" build --scratch-path "$scratch" \
    -Xswiftc -sanitize=address \
    -Xcc -fsanitize=address,undefined -Xcc -fno-omit-frame-pointer -Xcc -fno-sanitize-recover=all \
    > "$scratch/build.log" 2>&1 || { grep -v "Cannot export local symbol" "$scratch/build.log" >&2; exit 1; }
grep -v "Cannot export local symbol" "$scratch/build.log" | tail -1
binary="$PWD/$scratch/debug/tinyagent"

reports=$(mktemp -d /tmp/tinyagent-asan-XXXXXX)
chmod 1777 "$reports"   # processes started as other users (the trust tests) write here too
common="halt_on_error=1:log_path=$reports/report:print_stacktrace=1"
export ASAN_OPTIONS="$common:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
export UBSAN_OPTIONS="$common"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitize/lsan.supp:print_suppressions=0"
export TINYAGENT_BIN="$binary"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(tests/https tests/integration)
echo "== pytest ${suites[*]} with TINYAGENT_BIN=$binary; reports in $reports"
start=$(date +%s)
status=0
python3 -m pytest -q -p no:cacheprovider "${suites[@]}" || status=$?
echo "== pytest exit status $status after $(( $(date +%s) - start )) s"

found=$(find "$reports" -type f | sort)
if [ -n "$found" ]; then
    echo "== sanitizer reports (from any process, helpers included):"
    for f in $found; do echo "--- $f"; cat "$f"; done
    echo "asan.sh: $(echo "$found" | wc -l) sanitizer report(s)" >&2
    exit 1
fi
rm -rf "$reports"
[ "$status" -eq 0 ] || { echo "asan.sh: the tests failed under the sanitizers" >&2; exit "$status"; }
echo "== no sanitizer reports"
