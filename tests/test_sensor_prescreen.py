"""The attach-time prescreen decides exactly what a failed object load would have decided.

``prescreen`` switches optional programs off before the first load (a
refused fentry/lsm program type, a target name absent from the kernel's
BTF) so that attaching costs one object load instead of one per refusal.
It must never switch off a program the kernel would have loaded (that
would silently drop a gap to a weaker mode), and what it leaves on must
still be caught by the load loop.  The real-BPF test compares both paths
on the running kernel: here fentry is refused and io_uring_submit_sqe
does not exist; in the vmtest guests fentry loads and 6.1 has the _sqe
tracepoint, so the same test checks the other branches there.
"""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from conftest import bpf_unavailable


def _btf_blob(strings: list[str]) -> bytes:
    """A BTF blob with no types and the given string section (the header libbpf and the kernel use)."""
    data = b"\0" + b"".join(s.encode() + b"\0" for s in strings)
    # magic, version, flags, hdr_len, type_off, type_len, str_off, str_len
    return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 0, 0, len(data)) + data


def test_btf_names_absent_reads_vmlinux_then_modules(tmp_path: Path) -> None:
    from h7.sensor.libbpf import btf_names_absent

    (tmp_path / "vmlinux").write_bytes(_btf_blob(["filp_close", "btf_trace_sched_switch"]))
    (tmp_path / "packet").write_bytes(_btf_blob(["packet_sendmsg"]))
    (tmp_path / "junk").write_bytes(b"not btf at all, longer than a header.......")
    names = {"filp_close", "btf_trace_sched_switch", "packet_sendmsg", "btf_trace_io_uring_submit_sqe"}
    assert btf_names_absent(names, str(tmp_path)) == {"btf_trace_io_uring_submit_sqe"}
    # a name is matched whole, never as a part of a longer string
    assert btf_names_absent({"filp_clos", "ilp_close", "packet_sendmsg_spkt"}, str(tmp_path)) == {
        "filp_clos",
        "ilp_close",
        "packet_sendmsg_spkt",
    }
    # the first string of a section (right after its leading NUL) counts too
    (tmp_path / "vmlinux").write_bytes(_btf_blob(["first"]))
    assert btf_names_absent({"first"}, str(tmp_path)) == set()


def test_btf_names_absent_on_this_kernel() -> None:
    from h7.sensor.libbpf import btf_names_absent

    if not Path("/sys/kernel/btf/vmlinux").exists():
        bpf_unavailable("no /sys/kernel/btf/vmlinux")
    made_up = "btf_trace_h7_no_such_tracepoint_ever"
    assert btf_names_absent({"btf_trace_sched_switch", "filp_close", made_up}) == {made_up}


def _load_decisions(monkeypatch: Any, with_prescreen: bool) -> tuple[dict[str, str], dict[str, str]]:
    """(program -> state, gap -> mode) of a real Sensor.open(), with or without the prescreen."""
    from h7.errors import H7Error
    from h7.sensor import sensor as sensor_mod

    with monkeypatch.context() as m:
        if not with_prescreen:
            m.setattr(sensor_mod, "prescreen", lambda programs, off: None)
        s = sensor_mod.Sensor()
        try:
            s.open()
        except H7Error as e:
            bpf_unavailable(str(e))
    try:
        states = {h.program: h.state for h in s.hooks}
        modes = {g: m["mode"] for g, m in s.gap_modes.items()}
        loaded = {n for n, p in s._programs.items() if p.autoload}
        states.update({n: states.get(n, "loaded") for n in loaded})
        return states, modes
    finally:
        s.close()


@pytest.mark.parametrize("mode", ["auto", "tracepoint"])
def test_prescreen_switches_off_only_what_the_load_would_refuse(monkeypatch: Any, mode: str) -> None:
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    monkeypatch.setenv("H7_HOOK_MODE", mode)
    slow = _load_decisions(monkeypatch, with_prescreen=False)
    fast = _load_decisions(monkeypatch, with_prescreen=True)
    assert fast == slow


def test_prescreen_one_load_and_the_type_probe_answers() -> None:
    """One object load when every refusal is prescreened; the probe's errno is one the kernel gives."""
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from h7.errors import H7Error
    from h7.sensor import libbpf
    from h7.sensor.sensor import Sensor

    probe = libbpf.probe_btf_type()
    # EINVAL: the type is accepted and BTF type 1 refused as a target; EPERM/EACCES: type refused
    assert probe in (errno.EINVAL, errno.EPERM, errno.EACCES), errno.errorcode.get(probe, probe)
    loads = 0
    real = libbpf.BpfObject.load

    def counted(self: Any) -> None:
        nonlocal loads
        loads += 1
        real(self)

    s = Sensor()
    try:
        libbpf.BpfObject.load = counted  # type: ignore[method-assign]
        try:
            s.open()
        except H7Error as e:
            bpf_unavailable(str(e))
    finally:
        libbpf.BpfObject.load = real  # type: ignore[method-assign]
    try:
        reasons = [h.detail for h in s.hooks if h.state == "failed"]
        # every refusal the prescreen knows of was decided before loading: no failed round
        if all("before loading" in r for r in reasons):
            assert loads == 1, reasons
        if probe != errno.EINVAL:
            assert {m["mode"] for m in s.gap_modes.values()} <= {"tracepoint", "syscall"}
    finally:
        s.close()
