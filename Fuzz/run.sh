#!/bin/bash
# Builds the libFuzzer targets (TINYAGENT_FUZZ=1) and runs each for a bounded time.
#
#   Fuzz/run.sh SECONDS [TARGET...]     default: every target in Fuzz/Targets/
#
# Each target starts from its committed seeds (Fuzz/corpus/T) plus what earlier runs
# found (.build-fuzz/corpus/T, where new inputs go: the seeds are never written). A crash
# or broken invariant leaves .build-fuzz/artifacts/T/crash-* and fails the run; replay it
# with `.build-fuzz/release/fuzz-T FILE`. FUZZ_JOBS=N runs N targets at once;
# FUZZ_REPORT=FILE writes the figures as a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: Fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls Fuzz/Targets))
export PATH=/opt/swift/usr/bin:$PATH
# Swift's own crash backtracer and AddressSanitizer get in each other's way; libFuzzer reports.
export SWIFT_BACKTRACE=enable=no

mkdir -p .build-fuzz/logs
if ! TINYAGENT_FUZZ=1 swift build -c release --scratch-path .build-fuzz >.build-fuzz/logs/build.log 2>&1; then
    grep -v -e '^\[' -e 'Cannot export local symbol' .build-fuzz/logs/build.log >&2
    echo "fuzz: build failed" >&2
    exit 1
fi

# Per-target options: the heartbeat and archive targets reach past their size caps.
options() {
    case $1 in
        heartbeat) echo "-max_len=4096 -dict=Fuzz/dict/json.dict" ;;
        command|config|settings-manifest) echo "-max_len=4096 -dict=Fuzz/dict/json.dict" ;;
        http-head|http-chunked|http-url) echo "-max_len=4096 -dict=Fuzz/dict/http.dict" ;;
        zip-entry) echo "-max_len=1100" ;;
        zip-archive) echo "-max_len=4096" ;;
    esac
}

# One target: its run's figures as a Markdown row in .build-fuzz/logs/T.row.
run() {
    local t=$1 work=.build-fuzz/corpus/$1 artifacts=.build-fuzz/artifacts/$1 log=.build-fuzz/logs/$1.log
    mkdir -p "$work" "$artifacts" .build-fuzz/logs
    local status=ok
    # shellcheck disable=SC2046
    .build-fuzz/release/fuzz-"$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" $(options "$t") "$work" "Fuzz/corpus/$t" >"$log" 2>&1 || status=FAILED
    local execs rate last cov ft corp seeds
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    seeds=$(ls "Fuzz/corpus/$t" | wc -l)
    printf '%-18s %-6s %9s execs %7s/s  cov %5s  ft %6s  corpus %5s (seeds %s)\n' \
        "$t" "$status" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$seeds"
    if [ $status != ok ]; then
        grep -E 'invariant broken|ERROR: AddressSanitizer|Fatal error|deadly signal|Test unit written' "$log" | head -5 >&2 || true
    fi
    echo "| $t | $status | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $seeds |" >.build-fuzz/logs/$t.row
}

# FUZZ_JOBS targets at a time (one CPU each).
jobs=${FUZZ_JOBS:-1}
rm -f .build-fuzz/logs/*.row
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run "$t" &
done
wait
rows=()
failed=()
for t in "${targets[@]}"; do
    row=$(cat .build-fuzz/logs/$t.row 2>/dev/null || echo "| $t | FAILED | | | | | | |")
    rows+=("$row")
    [[ $row == "| $t | ok |"* ]] || failed+=("$t")
done

if [ -n "${FUZZ_REPORT:-}" ]; then
    {
        echo "# Fuzzing figures"
        echo
        echo "Written by \`${FUZZ_COMMAND:-Fuzz/run.sh $seconds ${targets[*]}}\` (Fuzz/run.sh) on $(date -u +%Y-%m-%d):"
        echo "$seconds s per target, $jobs at a time, libFuzzer with AddressSanitizer, Swift -O;"
        echo "$(uname -sm), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), shared with other work;"
        echo "$(swift --version 2>/dev/null | head -1)."
        echo "What the targets check and what they found: Fuzz/README.md."
        echo
        echo "executions: inputs run; cov: code edges reached (libFuzzer \`cov:\`); ft: features"
        echo "(edges with hit counts and comparisons); corpus: inputs kept, seeds included; seeds:"
        echo "committed in Fuzz/corpus/. Each run starts from the seeds and the corpus earlier runs"
        echo "left in .build-fuzz/corpus/."
        echo
        echo "| target | result | executions | execs/s | cov | ft | corpus | seeds |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|"
        printf '%s\n' "${rows[@]}"
    } >"$FUZZ_REPORT"
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]} (logs in .build-fuzz/logs/, inputs in .build-fuzz/artifacts/)" >&2
    exit 1
fi
