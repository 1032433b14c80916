#!/usr/bin/env bash
# Smoke test of a Pi binary under qemu-user, with the sysroot's (bookworm) libraries:
# armhf under qemu-arm's default CPU, arm64 under `qemu-aarch64 -cpu cortex-a53` (the
# Pi 3's and Zero 2 W's core, the oldest 64-bit Pi).
#
#   cross/smoke.sh ARCH [BINARY]          (ARCH armhf or arm64; default: build/ARCH/tinyagent)
#
# Cases:
#   version      `tinyagent version` exits 0 and prints an X.Y.Z version
#   help         `tinyagent --help` exits 0 and prints the usage
#   config       `config encrypt` output decrypts with `openssl enc` to the input, and
#                `config decrypt --show-secrets` reads it back
#   restart      the agent (`run --root TMP --heartbeat-port N`) and a sample process that
#                heartbeats with `tinyagent heartbeat` (both under qemu-user), then stops;
#                the agent must start it again, seen in the sample's own start log and in
#                `tinyagent status --root TMP --json`.
#   update-worker  cross/smoke_update.py: HTTPS download (chunked) of a real archive and its
#                signature + sha256 with the device's mbedTLS, the ECDSA P-256 signature checked
#                by `tinyagent verify` (a good one accepted, another key's refused), unzip by a
#                fresh worker with libzip; a rogue CA and a zip-slip refused; CA rotation's probe
#                (a `probe` worker, STARTTLS to a private prosody on loopback) passes with the
#                test CA and refuses another CA.
#   canary       the stack protector's canary the programs' own code checks (zig's compiler-rt
#                defines it as a constant, Sources/CShims/stackguard.c sets it at start; or the
#                link binds it to glibc's, which the loader sets), read
#                at main under qemu's gdb stub with gdb-multiarch in two runs: not the
#                constant, lowest byte zero, and not the same twice
# Every case runs and must pass. The restart case's time budget is SMOKE_RESTART_TIMEOUT
# seconds (default 150: the default heartbeat deadline is 30 s); SMOKE_AGENT_ARGS adds
# arguments to `tinyagent run`.
#
# Ends with "N passed, N failed"; exit status 1 when any case failed.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pi_arch "${1:?usage: cross/smoke.sh armhf|arm64 [BINARY]}"
BIN="$(realpath "${2:-$TA_BUILD/$PI_ARCH/tinyagent}")"
SYSROOT="$ARCH_CACHE/sysroot"
[ -f "$BIN" ] || die "$BIN missing: run cross/build.sh $PI_ARCH first"
[ -x "$SYSROOT$LOADER" ] || "$TA_ROOT/cross/sysroot.sh" "$PI_ARCH"
need_apt qemu-user "$QEMU_USER"
need_apt python3 python3
QEMU_CPU=(); [ "$PI_ARCH" = arm64 ] && QEMU_CPU=(-cpu cortex-a53)
QEMU=("$QEMU_USER" "${QEMU_CPU[@]}" -L "$SYSROOT")

T="$(mktemp -d "${TMPDIR:-/tmp}/tinyagent-smoke.XXXXXX")"
passed=0; failed=0
agent_pid=""
cleanup() {
    # Only what this script started, by pid: the agent, then the sample's shells.
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
    touch "$T/root/stop" 2>/dev/null || true
    if [ -f "$T/root/starts" ]; then
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$T/root/starts"
    fi
    [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT

ok()   { passed=$((passed + 1)); echo "ok   - $*"; }
bad()  { failed=$((failed + 1)); echo "FAIL - $*"; }
show() { sed 's/^/       /' "$@" | tail -n 40; }

echo "# $PI_ARCH: $("${QEMU[0]}" --version | head -n1) ${QEMU_CPU[*]:-default CPU}; binary $(stat -c %s "$BIN") bytes"

# ---- version, help ----------------------------------------------------------------------
rc=0; "${QEMU[@]}" "$BIN" version >"$T/version.out" 2>&1 || rc=$?
if [ $rc -eq 0 ] && grep -Eq '[0-9]+\.[0-9]+\.[0-9]+' "$T/version.out"; then
    ok "version: $(head -n1 "$T/version.out")"
else
    bad "version: exit $rc, expected 0 and an X.Y.Z version"; show "$T/version.out"
fi

rc=0; "${QEMU[@]}" "$BIN" --help >"$T/help.out" 2>&1 || rc=$?
if [ $rc -eq 0 ] && [ -s "$T/help.out" ]; then
    ok "--help: $(wc -l <"$T/help.out") lines of usage"
else
    bad "--help: exit $rc, expected 0 and a usage text"; show "$T/help.out"
fi

# ---- the stack protector's canary is random --------------------------------------------
canary_at_main() {  # prints the canary as the program's code sees it when main starts
    local port pid value
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${QEMU[0]}" "${QEMU_CPU[@]}" -g "$port" -L "$SYSROOT" "$BIN" version >/dev/null 2>&1 &
    pid=$!
    # The sysroot: when the link binds the canary to glibc's own, it is the loader's symbol.
    value="$(timeout 60 gdb-multiarch -q -batch -nx -ex "set sysroot $SYSROOT" -ex "file $BIN.unstripped" \
        -ex "target remote 127.0.0.1:$port" \
        -ex "break main" -ex continue -ex 'printf "canary %#lx\n", *(unsigned long *)&__stack_chk_guard' -ex kill \
        2>/dev/null | sed -n 's/^canary //p')"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "$value"
}
canary_case() {
    [ -f "$BIN.unstripped" ] || { bad "canary: $BIN.unstripped missing (its symbols)"; return; }
    need_apt gdb-multiarch gdb-multiarch
    local first second
    first="$(canary_at_main)"; second="$(canary_at_main)"
    case "$first $second" in
        0x*00\ 0x*00) ;;
        *) bad "canary: not read as a value with a zero lowest byte at main: '$first', '$second'"; return ;;
    esac
    if [ "$first" = "$second" ] || [ "$first" = 0xff0a0000 ] || [ "$first" = 0xff0a000000000000 ]; then
        bad "canary: $first then $second: the constant or the same twice, not random"
    else
        ok "canary: random at each start ($first, then $second; zig's constant is 0xff0a0000…)"
    fi
}
canary_case

# ---- the agent restarts a process that stopped heartbeating -----------------------------
# Config round trip: encrypted by the Pi binary, decrypted by openssl with the seed's
# key and IV, and back; decrypted by the Pi binary with --show-secrets.
config_case() {
    local plain="$T/plain.json" enc="$T/config_file.bin" rc=0
    printf '%s' '{"xmpp_client": {"client_jid": "meter@example.org", "client_password": "s3cret",
        "cpanel_jid": "panel@example.org", "rpi_unique_id": "smoke-01"}}' >"$plain"
    "${QEMU[@]}" "$BIN" config encrypt --in "$plain" --out "$enc" >"$T/config.out" 2>&1 || rc=$?
    local key iv
    key=$(printf '01234567890123456789012345678901' | od -An -tx1 | tr -d ' \n')
    iv=$(printf '0123456789012345' | od -An -tx1 | tr -d ' \n')
    if [ "$rc" -ne 0 ] || ! openssl enc -d -aes-256-cbc -K "$key" -iv "$iv" -in "$enc" | cmp -s - "$plain"; then
        bad "config: $PI_ARCH encrypt does not decrypt with openssl to the input"; show "$T/config.out"; return
    fi
    "${QEMU[@]}" "$BIN" config decrypt --in "$enc" --show-secrets >"$T/config.dec" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ] && grep -q '"client_password":"s3cret"' "$T/config.dec"; then
        ok "config: encrypt → openssl → identical; decrypt --show-secrets reads it back"
    else
        bad "config: $PI_ARCH decrypt"; show "$T/config.dec"
    fi
}
config_case

restart_case() {
    local R="$T/root" port
    mkdir -p "$R"/{certs,cfg,wdog,downloads,SmartMeter,bin,logs}
    # The sample runs as root (this script's user), which the trust line allows only for
    # a process root's settings list (DESIGN.md §3: SmartMeter/ is root's here, so no app user).
    chmod 0700 "$R/cfg"
    printf '{"root_processes": ["sample"]}\n' >"$R/cfg/agent.json"
    chmod 0600 "$R/cfg/agent.json"
    port="$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

    # The CLI as the sample runs it: exec keeps the pid, so `heartbeat`'s default --pid
    # (its parent) is the sample's shell, as on the device.
    cat >"$R/bin/tinyagent" <<EOF
#!/bin/sh
exec ${QEMU[*]} '$BIN' "\$@"
EOF
    # The sample: logs each start, heartbeats once a second; its first run stops after
    # three heartbeats (exits), a restarted one goes on until told to stop (or 300 s).
    # Its children run in the background and are waited for, so that SIGTERM (the clean-up
    # below) ends the one running too: a bare `sleep 1` would outlive the shell.
    cat >"$R/SmartMeter/sample.sh" <<EOF
#!/bin/sh
echo \$\$ >>'$R/starts'
first=no; [ "\$(wc -l <'$R/starts')" -eq 1 ] && first=yes
child=
trap 'kill \$child 2>/dev/null; exit 0' TERM
n=0
while [ ! -e '$R/stop' ] && [ \$n -lt 300 ]; do
    '$R/bin/tinyagent' heartbeat --name sample --version 1.0.0 --port $port \\
        --run-command "/bin/sh '$R/SmartMeter/sample.sh'" >>'$R/sample.log' 2>&1 &
    child=\$!
    wait \$child || echo "heartbeat failed" >>'$R/sample.log'
    n=\$((n + 1))
    [ \$first = yes ] && [ \$n -ge 3 ] && exit 0
    sleep 1 &
    child=\$!
    wait \$child
done
EOF
    chmod +x "$R/bin/tinyagent" "$R/SmartMeter/sample.sh"

    # shellcheck disable=SC2086
    "${QEMU[@]}" "$BIN" run --root "$R" --heartbeat-port "$port" ${SMOKE_AGENT_ARGS:-} >"$T/agent.log" 2>&1 &
    agent_pid=$!
    local deadline=$((SECONDS + 20))
    until "${QEMU[@]}" "$BIN" status --root "$R" >/dev/null 2>&1; do
        if ! kill -0 "$agent_pid" 2>/dev/null; then bad "restart: the agent exited early"; show "$T/agent.log"; return; fi
        if [ $SECONDS -ge $deadline ]; then bad "restart: no status from the agent within 20 s"; show "$T/agent.log"; return; fi
        sleep 0.2
    done

    /bin/sh "$R/SmartMeter/sample.sh" &
    local budget="${SMOKE_RESTART_TIMEOUT:-150}" started=$SECONDS verdict=""
    deadline=$((SECONDS + budget))
    while [ $SECONDS -lt $deadline ]; do
        sleep 1
        [ "$(wc -l <"$R/starts" 2>/dev/null || echo 0)" -ge 2 ] || continue
        "${QEMU[@]}" "$BIN" status --root "$R" --json >"$T/status.json" 2>"$T/status.err" || continue
        verdict="$(python3 - "$T/status.json" "$(tail -n1 "$R/starts")" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
latest = int(sys.argv[2])
def walk(v):
    if isinstance(v, dict):
        yield v
        for x in v.values(): yield from walk(x)
    elif isinstance(v, list):
        for x in v: yield from walk(x)
for d in walk(doc):
    if d.get("name", d.get("process_name")) != "sample":
        continue
    restarts = [v for k, v in d.items() if "restart" in k.lower() and isinstance(v, int)]
    if d.get("pid") == latest or any(r >= 1 for r in restarts):
        print("pid %s, %s" % (d.get("pid"), ", ".join("%s=%s" % (k, v) for k, v in d.items()
                                                       if k not in ("name", "process_name", "pid"))))
        break
EOF
)" || verdict=""
        [ -n "$verdict" ] && break
    done
    if [ -n "$verdict" ]; then
        ok "restart: the sample stopped heartbeating and was started again after $((SECONDS - started)) s ($verdict)"
    else
        bad "restart: not restarted within ${budget} s (starts: $(tr '\n' ' ' <"$R/starts" 2>/dev/null))"
        echo "       --- agent log"; show "$T/agent.log"
        echo "       --- status --json"; show "$T/status.json" "$T/status.err" 2>/dev/null || true
        echo "       --- sample log"; show "$R/sample.log" 2>/dev/null || true
    fi
    kill "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
    agent_pid=""
}

restart_case

# ---- updates: HTTPS download, unzip and the CA probe with the device's mbedTLS and libzip --
mkdir -p "$T/update"
UPDATE_CASES=8  # the checks in cross/smoke_update.py: all must run and pass
rc=0; python3 "$TA_ROOT/cross/smoke_update.py" "$SYSROOT" "$BIN" "$T/update" "$QEMU_USER" "${QEMU_CPU[@]}" >"$T/update.out" 2>&1 || rc=$?
while read -r line; do
    case $line in
        "ok   - "*) ok "${line#ok   - }" ;;
        "FAIL - "*) bad "${line#FAIL - }" ;;
    esac
done <"$T/update.out"
update_ok=$(grep -c '^ok   - ' "$T/update.out") || update_ok=0
if [ "$rc" -ne 0 ] || [ "$update_ok" -ne "$UPDATE_CASES" ]; then
    bad "update-worker: cross/smoke_update.py exited $rc with $update_ok of $UPDATE_CASES cases passed"
    show "$T/update.out"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
