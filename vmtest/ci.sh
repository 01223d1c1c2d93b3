#!/bin/bash
# What CI runs for issue 7, after `make test` (which has built .venv and the extension):
#   1. make deb       -> dist/h7_<version>_amd64.deb, lintian errors fail
#   2. make deb-test  -> install/verify/upgrade/purge in a clean debootstrap bookworm chroot
#   3. vmtest on the oldest and the newest kernel (6.1 and trixie-backports' 7.x), in parallel
# Every step has a hard timeout; the summary names the step that failed and where its log is.
# Budget (CI has 90 min in all, `make test` ~5 min): measured durations are in docs/kernels.md.
#
# Environment: H7_CI_KERNELS (default "6.1,newest"), H7_CI_SKIP_VMTEST=1, H7_VMTEST_TIMEOUT
# (per guest, default 3300 s here; 3000 until session 14).  Session 6's CI guests took 1345 s (6.1) and 1460 s (7.3.4) on
# the CI machine, already near the old 1500 s limit, and sessions 7-8 added sensor tests (session 8's
# sensor suites alone: 915-957 s in parallel guests).  A guest that fails re-runs only its failed
# tests, in a guest limited to 900 s (vmtest/run.py RERUN_TIMEOUT_S; no re-run after a timeout).
# A guest's suites share its budget (limit - 300 s; guest.sh): in a 1-vCPU guest on a loaded host
# (session 9) the live suite alone took ~1500 s and the sensor suite ~950 s.
# Budget: ~1100 s before this step (make test, lint, deb, deb-test); 3000 + 900 s + set-up stays
# under the step's 4300 s and CI's 90 min (5400 s).
# Session 13's CI ran out of it: the 6.1 guest's sensor suite alone took > 2600 s (97 tests done),
# ~25 s of each test being a fresh sensor's verifier work.  Since session 14 consecutive sensor
# tests share one open sensor (tests/conftest.py; the sensor suite ~1300 s in a guest on a host
# loaded by a host `make test`), and --split-live runs each live suite file in ONE of the two
# guests (dealt by measured weight, vmtest/run.py split_live): the sensor suite, where kernels
# differ, still runs on both; `make vmtest` still runs every suite on every kernel.
# Session 14's rehearsal (this script alone on the host): 6.1 2194 s, 7.3.4 2629 s of guest time
# for the 2700-s budget before the weights were re-measured; hence 3300 s per guest (budget
# 3000 s).  Worst case: ~2000 s before this step + 35 s set-up + 3300 s = 5335 s < 5400 s (a
# guest that times out is not re-run); a re-run (<= 900 s) follows only a first run that ended
# in time, ~2300 s here.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LOGS=$ROOT/build/ci-extra
mkdir -p "$LOGS"
KERNELS=${H7_CI_KERNELS:-6.1,newest}
export H7_VMTEST_TIMEOUT=${H7_VMTEST_TIMEOUT:-3300}

declare -a SUMMARY
FAILED=0
step() {  # step NAME TIMEOUT_S LOGNAME CMD...
    local name=$1 limit=$2 logname=$3; shift 3
    local t0 rc
    t0=$(date +%s)
    echo "=== ci-extra: $name (timeout ${limit}s, log $LOGS/$logname.log)"
    timeout --kill-after=30 "$limit" "$@" 2>&1 | tee "$LOGS/$logname.log"
    rc=${PIPESTATUS[0]}
    local dt=$(( $(date +%s) - t0 ))
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        SUMMARY+=("FAIL  $name: timed out after ${dt}s (limit ${limit}s), log $LOGS/$logname.log")
        FAILED=1
    elif [ "$rc" != 0 ]; then
        SUMMARY+=("FAIL  $name: exit $rc after ${dt}s, log $LOGS/$logname.log")
        FAILED=1
    else
        SUMMARY+=("ok    $name: ${dt}s")
    fi
    return "$rc"
}

if [ "$(id -u)" != 0 ]; then echo "ci-extra: needs root" >&2; exit 2; fi

if step "make deb" 900 deb make deb; then
    step "make deb-test" 1500 deb-test make deb-test
else
    SUMMARY+=("skip  make deb-test: no package")
fi
if [ "${H7_CI_SKIP_VMTEST:-}" != 1 ]; then
    step "vmtest $KERNELS" 4300 vmtest vmtest/run.py --kernels "$KERNELS" --parallel 2 --split-live
fi

echo "=== ci-extra summary"
printf '%s\n' "${SUMMARY[@]}"
exit $FAILED
