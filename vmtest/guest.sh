#!/bin/bash
# Runs inside one vmtest guest (or natively on the host for the "host" row) as root.
# usage: vmtest/guest.sh OUTDIR
# Writes into OUTDIR (a --rwdir shared with the host):
#   uname.txt  doctor.json  doctor.rc  fentry.json  sensor.xml/.log/.rc  live.xml/.log/.rc  done
# The host's root filesystem is mounted read-only in the guest (9p), so everything else that
# writes (pytest, hypothesis, __pycache__) is pointed at /tmp (an overlay).
set -u
OUT=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/.venv/bin/python
export PYTHONDONTWRITEBYTECODE=1 H7_REQUIRE_BPF=1 HOME=/tmp
mkdir -p "$OUT"
rm -f "$OUT"/*

uname -r > "$OUT/uname.txt"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/kernel/debug || mount -t debugfs nodev /sys/kernel/debug 2>/dev/null || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true

# Python from the ext4 image on /dev/vda (see build_image in vmtest/run.py), bind-mounted over the
# 9p paths, so that imports hit the guest's page cache instead of 9p round trips.
if [ "${H7_VMTEST_GUEST:-}" = 1 ] || grep -q virtme /proc/cmdline 2>/dev/null; then
    modprobe virtio_blk 2>/dev/null; modprobe ext4 2>/dev/null
    for _ in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done
    if [ -b /dev/vda ] && mkdir -p /run/h7img && mount -o ro /dev/vda /run/h7img; then
        mount --bind /run/h7img/pylib /usr/lib/python3.11
        for d in .venv h7 tests; do mount --bind "/run/h7img/main/$d" "$ROOT/$d"; done
        echo "python from /dev/vda" > "$OUT/pyroot.txt"
    else
        echo "python over 9p (no /dev/vda)" > "$OUT/pyroot.txt"
    fi
    # software emulation is several times slower than the host: stretch test deadlines
    export H7_TEST_TIMESCALE=${H7_TEST_TIMESCALE:-8}
    # numpy's AVX2/AVX-512 loops off in guests: the sensor segfaulted inside numpy
    # (_multiarray_umath, reading a heap address) only in emulated 7.3 guests, never on the host,
    # and TCG's AVX2 emulation is new in Debian 12's QEMU 7.2.  A hypothesis, not a diagnosis:
    # if the crash comes back with these off, it is H7's (docs/kernels.md, known problems).
    export NPY_DISABLE_CPU_FEATURES=${NPY_DISABLE_CPU_FEATURES:-"X86_V3 X86_V4"}
fi

cd /tmp || exit 1
t0=$(date +%s.%N)
"$PY" -m h7 doctor --json > "$OUT/doctor.json" 2> "$OUT/doctor.err"
echo $? > "$OUT/doctor.rc"

"$PY" "$ROOT/vmtest/fentry_probe.py" > "$OUT/fentry.json" 2> "$OUT/fentry.err"

# The suites share the guest's budget (H7_VMTEST_BUDGET s from here; vmtest/run.py sets it below
# its hard limit): a suite that would run past it is stopped with SIGINT, on which pytest still
# writes its report, so one hanging test costs its suite's remaining tests, not every result.
budget_end=$(( $(date +%s) + ${H7_VMTEST_BUDGET:-1800} ))
run_pytest() {  # run_pytest NAME FILES...
    local name=$1; shift
    if [ $# -eq 0 ]; then echo "none" > "$OUT/$name.rc"; return; fi
    local limit=$(( budget_end - $(date +%s) ))
    # an operator's per-suite cap (H7_VMTEST_PYTEST_TIMEOUT) still applies; by default the budget rules
    if [ -n "${H7_VMTEST_PYTEST_TIMEOUT:-}" ] && [ "$limit" -gt "$H7_VMTEST_PYTEST_TIMEOUT" ]; then
        limit=$H7_VMTEST_PYTEST_TIMEOUT
    fi
    [ "$limit" -lt 30 ] && limit=30
    timeout -s INT -k 60 "$limit" "$PY" -m pytest -p no:cacheprovider --rootdir="$ROOT" \
        -c "$ROOT/pyproject.toml" -rA --durations=0 -v --junitxml="$OUT/$name.xml" "$@" > "$OUT/$name.log" 2>&1
    echo $? > "$OUT/$name.rc"
}
shopt -s nullglob
if [ -n "${H7_VMTEST_TESTS:-}" ]; then  # a short check: these test files only (commas), no live suite
    IFS=, read -r -a only <<< "$H7_VMTEST_TESTS"
    run_pytest sensor "${only[@]/#/$ROOT/tests/}"
    run_pytest live
else
    run_pytest sensor "$ROOT/tests/test_sensor_bpf.py" "$ROOT/tests/test_sensor_windows.py" \
        "$ROOT/tests/test_layout.py" "$ROOT/tests/test_sensor_gaps.py" \
        "$ROOT/tests/test_sensor_procfiles.py" "$ROOT/tests/test_sensor_perf_knobs.py" \
        "$ROOT/tests/test_sensor_exec_layers.py" "$ROOT/tests/test_sensor_exec_copy.py" \
        "$ROOT/tests/test_sensor_exec_relay.py"
    if [ -n "${H7_VMTEST_LIVE:-}" ]; then  # vmtest/run.py --split-live: this guest's share, or "none"
        live=()
        if [ "$H7_VMTEST_LIVE" != none ]; then
            IFS=, read -r -a names <<< "$H7_VMTEST_LIVE"
            live=("${names[@]/#/$ROOT/tests/}")
        fi
    else
        live=("$ROOT"/tests/test_live*.py)
    fi
    run_pytest live "${live[@]}"
fi
t1=$(date +%s.%N)
echo "$t0 $t1" > "$OUT/times.txt"
echo ok > "$OUT/done"
sync
