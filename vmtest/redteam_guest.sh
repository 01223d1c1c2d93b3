#!/bin/bash
# Runs the red-team suite inside one vmtest guest (fentry mode where the kernel allows it).
# usage: vmtest/redteam_guest.sh OUTDIR [HARNESS ARGS...]
# OUTDIR/harness.args (one argument a line), when present, replaces HARNESS ARGS: vmtest/redteam.py
# writes it there because the --exec line rides on the kernel command line (2048 bytes on x86).
# Writes OUTDIR/redteam.json (the results), redteam.log (the harness's output), uname.txt, done.
# Python comes from the ext4 image vmtest/redteam.py builds (same layout as vmtest/guest.sh, plus redteam/).
set -u
OUT=$1; shift
ARGS=("$@")
[ -f "$OUT/harness.args" ] && mapfile -t ARGS < "$OUT/harness.args"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/.venv/bin/python
export PYTHONDONTWRITEBYTECODE=1 HOME=/tmp
mkdir -p "$OUT"
rm -f "$OUT"/*
uname -r > "$OUT/uname.txt"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/kernel/debug || mount -t debugfs nodev /sys/kernel/debug 2>/dev/null || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
modprobe virtio_blk 2>/dev/null; modprobe ext4 2>/dev/null
# loop devices (a module in Debian's kernels, not loaded by virtme's init): round 10's and the DEV
# loop-image exec acts attach one; without it they failed with ENOENT (no /dev/loop-control).
modprobe loop 2>/dev/null
# FUSE (/dev/fuse): g4_fuse_served_padded_dash serves its own exec from a FUSE mount
modprobe fuse 2>/dev/null
for _ in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done
if [ -b /dev/vda ] && mkdir -p /run/h7img && mount -o ro /dev/vda /run/h7img; then
    mount --bind /run/h7img/pylib /usr/lib/python3.11
    for d in .venv h7 tests redteam; do mount --bind "/run/h7img/main/$d" "$ROOT/$d"; done
    echo "python from /dev/vda" > "$OUT/pyroot.txt"
else
    echo "python over 9p (no /dev/vda)" > "$OUT/pyroot.txt"
fi
# The host's root is read-only in the guest: atd needs its spool and pid file writable.  One tmpfs
# for all of /var/spool (not one per spool directory): g5r6_atjob_spool_rename stages its job on the
# spool's own mount, outside the spool, and rename(2) across two mounts is EXDEV.
if [ -d /var/spool/cron/atjobs ] && mount -t tmpfs -o mode=755 tmpfs /var/spool 2>/dev/null; then
    for d in /var/spool/cron/atjobs /var/spool/cron/atspool; do
        install -d -o daemon -g daemon -m 1770 "$d"
    done
fi
# at(1) opens its job-number lock without creating it ("Cannot open lockfile .../.SEQ").
install -o daemon -g daemon -m 600 /dev/null /var/spool/cron/atjobs/.SEQ 2>/dev/null
export H7_TEST_TIMESCALE=${H7_TEST_TIMESCALE:-4}
# numpy's AVX2/AVX-512 loops off, as in vmtest/guest.sh: under QEMU 7.2's TCG, numpy's AVX2
# argsort returns wrong orders (vmtest/numpy_probe.py, docs/kernels.md) and the sensor died in it.
# H7_NPY comes from vmtest/redteam.py --npy-disable (commas: the --exec line is split on spaces;
# "none" keeps every dispatch target, to reproduce the emulator's fault).
case "${H7_NPY:-X86_V3,X86_V4}" in
    none) unset NPY_DISABLE_CPU_FEATURES ;;
    *) export NPY_DISABLE_CPU_FEATURES=${H7_NPY//,/ } ;;
esac
echo "NPY_DISABLE_CPU_FEATURES=${NPY_DISABLE_CPU_FEATURES:-}" > "$OUT/npy.txt"
grep -m1 '^flags' /proc/cpuinfo > "$OUT/cpuflags.txt"
# A native crash leaves a core file in OUT (the guest's rwdir) for gdb on the host.
ulimit -c unlimited
echo "$OUT/core.%e.%p" > /proc/sys/kernel/core_pattern 2>/dev/null
cd "$ROOT" || exit 1
# No H7 at all: numpy's own loops on this emulated CPU, checked against digests from the host,
# with every dispatch target numpy finds and then with AVX2/AVX-512 off (vmtest/numpy_probe.py).
if [ "${H7_NUMPY_PROBE:-0}" != 0 ] && [ -f "$OUT/../numpy_expect.json" ]; then
    env -u NPY_DISABLE_CPU_FEATURES "$PY" vmtest/numpy_probe.py check "$OUT/../numpy_expect.json" \
        "$H7_NUMPY_PROBE" > "$OUT/numpy_probe.jsonl" 2>&1
    NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4" "$PY" vmtest/numpy_probe.py check "$OUT/../numpy_expect.json" \
        "$H7_NUMPY_PROBE" >> "$OUT/numpy_probe.jsonl" 2>&1
fi
# The harness works on /run (virtme's tmpfs), not /tmp: virtme's /tmp is an overlay of the host's /tmp
# without nfs_export, so name_to_handle_at(2) fails there (round 9's open_by_handle loop: EOPNOTSUPP, not
# run in session 12) and overlay inodes are not what a host's disk gives the sensor.
WORK=/run/h7-redteam
# A systemd host enables the cpu/memory/pids/io controllers for its cgroups; virtme's init does not (round
# 9's cpu-throttle act found "no cpu controller hierarchy" in session 12).
echo "+cpu +memory +pids +io" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
cat /sys/fs/cgroup/cgroup.subtree_control > "$OUT/cgroup_controllers.txt" 2>/dev/null
timeout "${H7_REDTEAM_TIMEOUT:-5400}" "$PY" -m redteam.harness --workdir "$WORK" --out "$OUT/redteam.json" "${ARGS[@]}" \
    > "$OUT/redteam.log" 2>&1
echo $? > "$OUT/redteam.rc"
cp "$WORK/sensor.log" "$OUT/sensor.log" 2>/dev/null
# the engine's last status (per-channel divergence, folded verdicts) and a journal when the run kept one
# (harness --journal /run/h7-redteam/run.h7j): a miss is read from them on the host (h7 replay)
cp "$WORK/status.json" "$OUT/status.json" 2>/dev/null
for j in "$WORK"/*.h7j; do [ -f "$j" ] && gzip -1 -c "$j" > "$OUT/$(basename "$j").gz"; done
dmesg 2>/dev/null | tail -60 > "$OUT/dmesg.txt"
free -m > "$OUT/free.txt" 2>/dev/null
echo ok > "$OUT/done"
sync
