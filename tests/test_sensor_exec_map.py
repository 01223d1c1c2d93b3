"""Real BPF: agent-written code mapped executable by a process that is gone in milliseconds.

Red-team round 9's first run (held out) missed ``g4r9_gconv_module_in_iconv``: the installed
``iconv``, run by the agent with ``GCONV_PATH`` naming an agent-written module, ``dlopen``ed it
and exited before L2 could read its ``/proc/PID/maps``.  The class: an executable mapping of a
file the agent wrote, by a short-lived process of the agent.  The kernel now reports the
mapping where it is made (``exec_map`` records: ``mmap``/``mprotect`` with ``PROT_EXEC`` at
``sys_enter`` in tracepoint mode, ``security_mmap_file``/``security_file_mprotect`` in fentry
mode), only for files the same agent closed writable.  These tests run the class with their
own program (``tests/native/map_probe.c``: ``dlopen`` then ``_exit``; ``mmap`` then
``mprotect``), not round 9's script, and check the record and L2's ``AGENT_WRITTEN_EXEC``
(``act: mapped``); a read-only mapping and a library the agent did not write are not reported.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sensor_gaps import _l2, native, wait_event, watched

#: fixtures this module takes from test_sensor_gaps (a watched gap agent; the native helpers)
FIXTURES = (watched, native)
PROT_EXEC = 0x4


def map_hook(sensor: Any, op: str) -> str:
    """The hook that reports an executable mapping made by ``op`` in the sensor's mode."""
    if sensor.gap_modes["exec_mappings"]["mode"] == "fentry":
        return "fentry/security_mmap_file" if op == "mmap" else "fentry/security_file_mprotect"
    return "tp_btf/sys_enter"


@contextlib.contextmanager
def workdir(tmp_path: Path, fs: str) -> Iterator[Path]:
    """A directory on ``fs``: the test's own tmp (``plain``), or an overlayfs mounted over it
    (``overlay``, a container's root): there a mapping's vm_file is the layer's real file, whose
    inode the agent never closed (it wrote the overlay's)."""
    if fs == "plain":
        yield tmp_path
        return
    # the layers on a tmpfs of their own: an upper layer may not be on an overlayfs itself (the
    # vmtest guests' /tmp is one)
    layers_fs, merged = tmp_path / "layers", tmp_path / "merged"
    layers_fs.mkdir()
    merged.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "h7-layers", str(layers_fs)], capture_output=True, text=True)
    assert r.returncode == 0, f"tmpfs mount failed: {r.stderr}"
    try:
        layers = {n: layers_fs / n for n in ("lower", "upper", "work")}
        for d in layers.values():
            d.mkdir()
        opts = f"lowerdir={layers['lower']},upperdir={layers['upper']},workdir={layers['work']}"
        r = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], capture_output=True, text=True
        )
        assert r.returncode == 0, f"overlayfs mount failed: {r.stderr}"
        try:
            yield merged
        finally:
            subprocess.run(["umount", "-l", str(merged)], capture_output=True)
    finally:
        subprocess.run(["umount", "-l", str(layers_fs)], capture_output=True)


@pytest.mark.parametrize("fs", ["plain", "overlay"])
def test_agent_written_library_mapped_by_a_short_lived_child(
    watched: Any, native: Path, tmp_path: Path, fs: str
) -> None:
    """dlopen and mprotect of agent-written files by children that exit at once are reported, with
    the agent's write time; a read-only mapping of one and a dlopen of a library the test (not the
    agent) wrote are not.  L2 certifies the two after a baseline that ended before the writes."""
    with workdir(tmp_path, fs) as base:
        _mapped_by_a_short_lived_child(watched, native, base)


def _mapped_by_a_short_lived_child(watched: Any, native: Path, tmp_path: Path) -> None:
    sensor, agent, col = watched
    probe, lib = native / "h7mapprobe", native / "libh7uring.so"
    mods = tmp_path / "gconv"
    mods.mkdir()
    theirs = mods / "THEIRS.so"
    shutil.copyfile(lib, theirs)  # written by this (unwatched) process
    baseline_end = time.monotonic_ns()  # bpf_ktime_get_ns is CLOCK_MONOTONIC
    for name in ("READONLY.so", "DLOPENED.so", "MPROTECTED.so"):
        assert agent.cmd(f"copy {lib} {mods / name}") == str(lib.stat().st_size)
    # not executable, and not the agent's: reported by neither hook
    assert agent.cmd(f"run {probe} read {mods / 'READONLY.so'}") == "rc 0"
    assert agent.cmd(f"run {probe} dlopen {theirs}") == "rc 0"
    assert agent.cmd(f"run {probe} dlopen {mods / 'DLOPENED.so'}") == "rc 0"
    assert agent.cmd(f"run {probe} mprotect {mods / 'MPROTECTED.so'}") == "rc 0"
    got = {}
    for name, op in (("DLOPENED.so", "mmap"), ("MPROTECTED.so", "mprotect")):
        e = wait_event(
            col, lambda e, n=name: e["type"] == "exec_map" and e["name"] == n, f"executable mapping of {name}"
        )
        assert e["op"] == op and e["prot"] & PROT_EXEC and e["hook"] == map_hook(sensor, op), e
        assert e["pid"] != agent.proc.pid and e["ppid"] == agent.proc.pid, e  # the child, gone since
        assert e["written_ns"] > baseline_end and e["ino"] == (mods / name).stat().st_ino, e
        got[name] = e
    seen = [e for _, e in list(col.urgent_at)]
    assert not [e for e in seen if e["type"] == "exec_map" and e["name"] in ("READONLY.so", "THEIRS.so")]

    ch, ctx = _l2({}, live=True)
    ch.baseline_end_ns = baseline_end
    alerts = ch.on_events([e for e in seen if e["type"] in ("open", "exec", "exec_map", "exit")], ctx)
    mapped = [a for a in alerts if a.evidence.get("act") == "mapped"]
    assert {a.code for a in mapped} == {"AGENT_WRITTEN_EXEC"}, alerts
    files = {a.evidence["mapped_file"] for a in mapped}
    assert files <= {str(mods / "DLOPENED.so"), str(mods / "MPROTECTED.so")} and files, files
    assert {a.key for a in mapped} == {f"mapped:{mods}"}, mapped  # one directory: one key
    assert {a.evidence["written"] for a in mapped} == {"after-baseline"}, mapped
    # written during the baseline and mapped then too: the agent's repertoire, nothing certified
    # then or when mapped again after it
    ch2, ctx2 = _l2({}, live=True)
    assert not [a for a in ch2.on_events(seen, ctx2) if a.evidence.get("act") == "mapped"]
    ch2._last_batch_ns = max(e["written_ns"] for e in got.values()) + 1
    ch2.finish_baseline(ctx2)
    assert not [a for a in ch2.on_events(seen, ctx2) if a.evidence.get("act") == "mapped"]
    # written during the baseline, first mapped after it (red-team round 9's prime class): certified
    ch3, ctx3 = _l2({}, live=True)
    ch3.baseline_end_ns = ch2.baseline_end_ns
    late = [a for a in ch3.on_events(seen, ctx3) if a.evidence.get("act") == "mapped"]
    assert {a.evidence["written"] for a in late} == {"during-baseline, first run after it"}, late
