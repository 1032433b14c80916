#!/usr/bin/env bash
# Tests cross/buster-check.py on tiny armhf programs linked like the agent (zig, glibc
# stubs, the sysroot's libstrophe/libzip/libsystemd): one that Buster can run must pass,
# each deliberately too-new import must fail, naming the symbol and the version it needs.
# Then the same for arm64 against Bullseye's floor, read from Bullseye's own packages.
#
#   cross/test-buster-check.sh        (prepares zig and the sysroot under build/ if needed)
#
# Ends with a line "N passed, N failed"; exit status 1 when any case failed.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pi_arch armhf
OUT="$ARCH_CACHE"
ensure_zig
"$TA_ROOT/cross/sysroot.sh" armhf "$OUT" >/dev/null 2>&1 || "$TA_ROOT/cross/sysroot.sh" armhf "$OUT"
need_apt binutils readelf
need_apt python3 python3
CHECK=(python3 "$TA_ROOT/cross/buster-check.py" --control "$OUT/control")

T="$(mktemp -d "${TMPDIR:-/tmp}/buster-check-test.XXXXXX")"
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
passed=0; failed=0

# build NAME GLIBC [EXTRA_LINK_ARGS...] < C source
build() {
    local name="$1" glibc="$2"; shift 2
    cat >"$T/$name.c"
    "$ZIG" cc -target "arm-linux-gnueabihf.$glibc" -mcpu="$ZIG_CPU" -Os -w \
        -isystem "$OUT/libinclude" -o "$T/$name" "$T/$name.c" -L "$OUT/linklibs" "$@"
}

# expect NAME pass|fail [CHECK_ARGS...] [-- PATTERN...]: run the check on $T/NAME and
# compare its outcome; each PATTERN must appear in its output.
expect() {
    local name="$1" want="$2"; shift 2
    local args=() patterns=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
    [ $# -gt 0 ] && shift && patterns=("$@")
    local rc=0
    "${CHECK[@]}" "${args[@]}" "$T/$name" >"$T/$name.out" 2>&1 || rc=$?
    local ok=1
    case "$want" in
        pass) [ $rc -eq 0 ] || ok=0 ;;
        fail) [ $rc -eq 1 ] || ok=0 ;;
    esac
    local p
    for p in "${patterns[@]}"; do grep -qF -- "$p" "$T/$name.out" || ok=0; done
    if [ $ok = 1 ]; then
        passed=$((passed + 1)); echo "ok   - $name: the check $([ "$want" = pass ] && echo passes || echo fails)${patterns:+, saying: ${patterns[*]}}"
    else
        failed=$((failed + 1)); echo "FAIL - $name: expected $want (exit $rc) with: ${patterns[*]}"
        sed 's/^/       /' "$T/$name.out"
    fi
}

build good 2.28 -lstrophe -lzip -lsystemd <<'EOF'
#include <strophe.h>
#include <zip.h>
#include <systemd/sd-daemon.h>
int main(int argc, char **argv) {
    xmpp_initialize();
    xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);
    xmpp_conn_t *conn = xmpp_conn_new(ctx);
    xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_MANDATORY_TLS);
    int err = 0;
    zip_t *z = zip_open(argc > 1 ? argv[1] : "x.zip", ZIP_RDONLY, &err);
    if (z) zip_close(z);
    uint64_t usec;
    sd_watchdog_enabled(0, &usec);
    return sd_notify(0, "READY=1");
}
EOF
expect good pass -- "OK for Raspbian Buster" "libstrophe.so.0"

build strophe_cafile 2.28 -lstrophe <<'EOF'
#include <strophe.h>
int main(void) {
    xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);
    xmpp_conn_t *conn = xmpp_conn_new(ctx);
    xmpp_conn_set_cafile(conn, "/home/pi/technospurs/certs/cacert.pem");
    return 0;
}
EOF
expect strophe_cafile fail -- "xmpp_conn_set_cafile" "libstrophe0 >= 0.11.0" "Buster has 0.9.2"
# The allow-list does not excuse a strong import.
printf 'xmpp_conn_set_cafile  test entry\n' >"$T/allow.txt"
expect strophe_cafile fail --allow "$T/allow.txt" -- "allow-listed but imported strong"

build glibc_234 2.34 <<'EOF'
#include <unistd.h>
int main(void) { closefrom(3); return 0; }
EOF
expect glibc_234 fail -- "GLIBC_2.34" "glibc 2.34 > 2.28"

build systemd_246 2.28 -lsystemd <<'EOF'
#include <systemd/sd-daemon.h>
int main(void) { return sd_notify_barrier(0, 1000000); }
EOF
expect systemd_246 fail -- "sd_notify_barrier@LIBSYSTEMD_246" "libsystemd0 >= 246"

# libgcrypt: Bookworm's symbols file says 1.10.0 for all; the agent's hashing calls are older
# (buster-check.py's SYMBOL_MINIMUMS), any other 1.10 symbol still fails.
build gcrypt_hash 2.28 -lgcrypt <<'EOF'
#include <gcrypt.h>
int main(void) {
    if (!gcry_check_version("1.8.0")) return 1;
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    gcry_md_hd_t h;
    if (gcry_md_open(&h, GCRY_MD_SHA256, 0)) return 1;
    gcry_md_write(h, "x", 1);
    int first = gcry_md_read(h, 0)[0];
    gcry_md_close(h);
    return first;
}
EOF
expect gcrypt_hash pass -- "OK for Raspbian Buster" "libgcrypt.so.20"

build gcrypt_110 2.28 -lgcrypt <<'EOF'
#include <gcrypt.h>
int main(void) { return gcry_pk_hash_sign(0, 0, 0, 0, 0); }
EOF
expect gcrypt_110 fail -- "gcry_pk_hash_sign@GCRYPT_1.6" "libgcrypt20 >= 1.10.0"

build zip_16 2.28 -lzip <<'EOF'
#include <zip.h>
int main(void) {
    int err = 0;
    zip_t *z = zip_open("x.zip", 0, &err);
    return z ? zip_file_set_dostime(z, 0, 0, 0, 0) : 1;
}
EOF
expect zip_16 fail -- "zip_file_set_dostime" "libzip4 >= 1.6.0" "Buster has 1.5.1"

# A newer function used only when present: weak, tested for NULL, and allow-listed.
build strophe_weak 2.28 -lstrophe <<'EOF'
#include <strophe.h>
#pragma weak xmpp_conn_set_cafile
int main(void) {
    xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);
    xmpp_conn_t *conn = xmpp_conn_new(ctx);
    if (xmpp_conn_set_cafile) xmpp_conn_set_cafile(conn, "cacert.pem");
    return 0;
}
EOF
expect strophe_weak fail -- "weak import: allow-list it"
expect strophe_weak pass --allow "$T/allow.txt" -- "allowed: xmpp_conn_set_cafile" "checked at run time"
expect strophe_weak pass --allow "$TA_ROOT/cross/buster-allow.txt" -- "allowed: xmpp_conn_set_cafile"

# A library Buster does not have (it has libssl1.1): DT_NEEDED fails.
mkdir -p "$T/libs" && ln -s "$(realpath "$OUT/sysroot/usr/lib/arm-linux-gnueabihf/libssl.so.3")" "$T/libs/libssl.so"
build needs_ssl3 2.28 -L "$T/libs" -lssl <<'EOF'
extern int OPENSSL_init_ssl(unsigned long long, const void *);
int main(void) { return OPENSSL_init_ssl(0, 0); }
EOF
expect needs_ssl3 fail -- "DT_NEEDED libssl.so.3: not available on Raspbian Buster"

# ---- arm64: the floor is Bullseye's, read from its packages (build/arm64/floor-control) --
OUT64="$TA_CACHE/arm64"
"$TA_ROOT/cross/sysroot.sh" arm64 "$OUT64" >/dev/null 2>&1 || "$TA_ROOT/cross/sysroot.sh" arm64 "$OUT64"
ARM64=(--arch arm64 --floor-control "$OUT64/floor-control" --control "$OUT64/control")
build64() {  # build64 NAME GLIBC [EXTRA_LINK_ARGS...] < C source
    local name="$1" glibc="$2"; shift 2
    cat >"$T/$name.c"
    "$ZIG" cc -target "aarch64-linux-gnu.$glibc" -Os -w \
        -isystem "$OUT64/libinclude" -o "$T/$name" "$T/$name.c" -L "$OUT64/linklibs" "$@"
}
build64 good64 2.31 -lstrophe -lzip -lsystemd <"$T/good.c"
expect good64 pass "${ARM64[@]}" -- "OK for Raspberry Pi OS Bullseye (arm64)" "libstrophe0 0.10.1-1"
# sd_notify_barrier is systemd 246: too new for Buster (above), there on Bullseye (247).
build64 systemd_246_64 2.31 -lsystemd <"$T/systemd_246.c"
expect systemd_246_64 pass "${ARM64[@]}" -- "OK for Raspberry Pi OS Bullseye"
build64 strophe_cafile64 2.31 -lstrophe <"$T/strophe_cafile.c"
expect strophe_cafile64 fail "${ARM64[@]}" -- "xmpp_conn_set_cafile" "libstrophe0 >= 0.11.0" "Bullseye has 0.10.1-1"
build64 glibc_234_64 2.34 <"$T/glibc_234.c"
expect glibc_234_64 fail "${ARM64[@]}" -- "GLIBC_2.34" "glibc 2.34 > 2.31"
# An armhf binary is not an arm64 one: wrong loader.
expect good fail "${ARM64[@]}" -- "program interpreter /lib/ld-linux-armhf.so.3"

# The --floor override: with a (pretend) newer libstrophe the same binary passes.
expect strophe_cafile pass --floor libstrophe0=0.12.2-1 -- "OK for Raspbian Buster"

# Debian version ordering agrees with dpkg --compare-versions.
if command -v dpkg >/dev/null; then
    pairs='0.9.2-2 0.11.0
0.11.0 0.9.2-2
1.5.1-4 1.5.1
241-7~deb10u8 241
241 241-7~deb10u8
0 241-7~deb10u8
1.0~rc1 1.0
1:0.1 2.0
2.28 2.28
0.10 0.9.2-2
1.0+dfsg-1 1.0-1
1.0a 1.0~
1.7.3-1+b1 1.7.3-1'
    # The checker's answer for each pair: lt, eq or gt.
    mapfile -t got < <(printf '%s\n' "$pairs" | python3 -c '
import importlib.util, sys
spec = importlib.util.spec_from_file_location("bc", sys.argv[1])
bc = importlib.util.module_from_spec(spec); spec.loader.exec_module(bc)
for line in sys.stdin:
    a, b = line.split()
    c = bc.compare_versions(a, b)
    print("lt" if c < 0 else "eq" if c == 0 else "gt")
' "$TA_ROOT/cross/buster-check.py")
    bad=""; i=0
    while read -r a b; do
        want=gt
        dpkg --compare-versions "$a" lt "$b" && want=lt
        dpkg --compare-versions "$a" eq "$b" && want=eq
        [ "$want" = "${got[$i]}" ] || bad="$bad [$a vs $b: dpkg $want, checker ${got[$i]}]"
        i=$((i + 1))
    done <<<"$pairs"
    if [ -z "$bad" ]; then passed=$((passed + 1)); echo "ok   - version ordering agrees with dpkg --compare-versions ($i pairs)"
    else failed=$((failed + 1)); echo "FAIL - version ordering differs from dpkg:$bad"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
