"""bpf/h7.h and h7/decode.py must describe the same bytes.

The reference is the BTF that clang emitted into the object embedded in the
extension (the very bytes that get loaded), so a header change that is not
mirrored in Python fails here rather than mis-decoding in production.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from h7 import decode

pytestmark = pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool not installed")


@pytest.fixture(scope="module")
def btf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    from h7.sensor.libbpf import embedded_object

    obj = tmp_path_factory.mktemp("btf") / "h7.bpf.o"
    obj.write_bytes(embedded_object())
    out = subprocess.run(
        ["bpftool", "btf", "dump", "file", str(obj), "format", "raw", "-j"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    types = json.loads(out)["types"]
    return {t["name"]: t for t in types if t.get("kind") in ("STRUCT", "UNION") and t.get("name")}


def members(btf: dict[str, dict[str, Any]], name: str) -> dict[str, int]:
    return {m["name"]: m["bits_offset"] // 8 for m in btf[name]["members"]}


def dtype_offsets(dt: np.dtype) -> dict[str, int]:
    fields = dt.fields
    assert fields is not None, f"{dt} is not a record dtype"
    return {n: fields[n][1] for n in dt.names or ()}


def test_sys_record(btf: dict[str, dict[str, Any]]) -> None:
    assert btf["h7_sys_rec"]["size"] == decode.SYS_DTYPE.itemsize
    assert members(btf, "h7_sys_rec") == dtype_offsets(decode.SYS_DTYPE)


def test_event_header(btf: dict[str, dict[str, Any]]) -> None:
    assert btf["h7_hdr"]["size"] == decode.HDR_SIZE == decode.HDR_DTYPE.itemsize
    assert members(btf, "h7_hdr") == dtype_offsets(decode.HDR_DTYPE)


def test_event_size(btf: dict[str, dict[str, Any]]) -> None:
    assert btf["h7_event"]["size"] == decode.EVENT_SIZE
    for dt in decode.EVENT_DTYPES.values():
        assert dt.itemsize == decode.EVENT_SIZE


@pytest.mark.parametrize("member", sorted(decode.UNION_FIELDS))
def test_union_members(btf: dict[str, dict[str, Any]], member: str) -> None:
    c = members(btf, f"h7_{member}")
    py = dtype_offsets(np.dtype(decode.UNION_FIELDS[member]))
    assert c == py
    assert btf[f"h7_{member}"]["size"] == np.dtype(decode.UNION_FIELDS[member]).itemsize
    # and the union starts right after the header
    ev = members(btf, "h7_event")
    assert ev["hdr"] == 0
    assert sorted(ev.values()) == [0, decode.HDR_SIZE]
    full = dtype_offsets(decode.EVENT_DTYPES[member])
    for name, off in py.items():
        assert full[name] == decode.HDR_SIZE + off


def test_stats(btf: dict[str, dict[str, Any]]) -> None:
    assert btf["h7_stats"]["size"] == decode.STATS_DTYPE.itemsize
    assert members(btf, "h7_stats") == dtype_offsets(decode.STATS_DTYPE)
    assert members(btf, "h7_ring_stats") == dtype_offsets(decode.RING_STATS_DTYPE)
    assert members(btf, "h7_scope") == dtype_offsets(decode.SCOPE_DTYPE)
    assert btf["h7_scope"]["size"] == decode.SCOPE_DTYPE.itemsize
    assert members(btf, "h7_run") == dtype_offsets(decode.RUN_DTYPE)
    assert btf["h7_run"]["size"] == decode.RUN_DTYPE.itemsize
    assert members(btf, "h7_agent_cfg") == dtype_offsets(decode.AGENT_CFG_DTYPE)
    assert btf["h7_agent_cfg"]["size"] == decode.AGENT_CFG_DTYPE.itemsize
    assert members(btf, "h7_hook_cfg") == dtype_offsets(decode.HOOK_CFG_DTYPE)
    assert btf["h7_hook_cfg"]["size"] == decode.HOOK_CFG_DTYPE.itemsize
    assert members(btf, "h7_nspid_key") == dtype_offsets(decode.NSPID_KEY_DTYPE)
    assert btf["h7_nspid_key"]["size"] == decode.NSPID_KEY_DTYPE.itemsize


def _enum(text: str, prefix: str) -> dict[int, tuple[str, str]]:
    """``PREFIX_NAME = n, /* comment */`` lines of bpf/h7.h: n -> (NAME, comment)."""
    out: dict[int, tuple[str, str]] = {}
    for m in re.finditer(rf"\b{prefix}([A-Z0-9_]+) = (\d+),\s*(?:/\*\s*(.*?)\s*\*/)?", text):
        out[int(m.group(2))] = (m.group(1), m.group(3) or "")
    return out


def test_hook_and_access_enums_match() -> None:
    """Every hook id names the program section Python reports as evidence, and the access ops agree."""
    text = (Path(__file__).resolve().parent.parent / "bpf" / "h7.h").read_text()
    hooks = _enum(text, "H7_HOOK_")
    assert set(hooks) == set(decode.HOOKS)
    for n, (_, comment) in hooks.items():
        assert comment.split(":")[0].strip() == decode.HOOKS[n]
    ops = _enum(text, "H7_ACC_")
    assert set(ops) == set(decode.ACCESS_OPS)
    sections = {p.section for p in _programs()}
    assert set(decode.HOOKS.values()) <= sections


def test_open_ops_match() -> None:
    """The open record's ops (rename's two halves included) are named in Python as in bpf/h7.h."""
    text = (Path(__file__).resolve().parent.parent / "bpf" / "h7.h").read_text()
    ops = _enum(text, "H7_OPEN_")
    assert {n: name.lower() for n, (name, _) in ops.items()} == decode.OPEN_OPS


def test_file_ops_match() -> None:
    """The file record's ops (a writable open's file, a received fd's) are named as in bpf/h7.h."""
    text = (Path(__file__).resolve().parent.parent / "bpf" / "h7.h").read_text()
    ops = _enum(text, "H7_FILE_")
    assert {n: name.lower() for n, (name, _) in ops.items()} == decode.FILE_OPS


def test_shm_ops_match() -> None:
    """The SysV shared-memory record's ops (get, at, dt) are named as in bpf/h7.h."""
    text = (Path(__file__).resolve().parent.parent / "bpf" / "h7.h").read_text()
    ops = _enum(text, "H7_SHM_")
    assert {n: name.lower() for n, (name, _) in ops.items()} == decode.SHM_OPS


def test_map_ops_match() -> None:
    """The executable-mapping record's ops (mmap, mprotect) are named as in bpf/h7.h."""
    text = (Path(__file__).resolve().parent.parent / "bpf" / "h7.h").read_text()
    ops = _enum(text, "H7_MAP_")
    assert {n: name.lower() for n, (name, _) in ops.items()} == decode.MAP_OPS
    modes = {n: name for n, (name, _) in _enum(text, "H7_XMAP_").items()}
    assert modes == {decode.XMAP_SYSCALL: "SYSCALL", decode.XMAP_FENTRY: "FENTRY"}


def test_net_ops_match() -> None:
    """The net record's ops (listen/unlisten, not egress, included) are named in Python as in bpf/h7.h."""
    text = (Path(__file__).resolve().parent.parent / "bpf" / "h7.h").read_text()
    ops = _enum(text, "H7_NET_")
    assert {n: name.lower() for n, (name, _) in ops.items()} == decode.NET_OPS
    assert set(decode.NET_OPS.values()) >= decode.LISTEN_OPS


def _programs() -> list[Any]:
    from h7.sensor.libbpf import BpfObject

    with BpfObject() as obj:
        return obj.programs()


def test_exec_identity_maps(btf: dict[str, dict[str, Any]]) -> None:
    """Keys and values of the maps userspace reads or writes for exec identity and hand-offs."""
    for struct, dt in (
        ("h7_file_key", decode.FILE_KEY_DTYPE),
        ("h7_written", decode.WRITTEN_DTYPE),
        ("h7_follow", decode.FOLLOW_DTYPE),
        ("h7_recv_mark", decode.RECV_MARK_DTYPE),
        ("h7_held_key", decode.HELD_KEY_DTYPE),
    ):
        assert members(btf, struct) == dtype_offsets(dt), struct
        assert btf[struct]["size"] == dt.itemsize, struct


def test_map_sizes_match() -> None:
    """Every map of the object has the size bpf/h7.h gives it, and Python knows each one."""
    from h7.sensor.libbpf import BpfObject

    with BpfObject() as obj:
        sizes = {m.name: m.max_entries for m in obj.maps() if "." not in m.name}
    assert sizes == decode.MAP_SIZES


def test_header_constants_match() -> None:
    """Enum values and sizes written in the header are the ones Python uses."""
    text = (Path(__file__).resolve().parent.parent / "bpf" / "h7.h").read_text()
    for cname, value in [
        ("H7_EV_FORK", decode.EV_FORK),
        ("H7_EV_EXEC", decode.EV_EXEC),
        ("H7_EV_EXIT", decode.EV_EXIT),
        ("H7_EV_OPEN", decode.EV_OPEN),
        ("H7_EV_NET", decode.EV_NET),
        ("H7_EV_PTRACE", decode.EV_PTRACE),
        ("H7_EV_EXEC_FD", decode.EV_EXEC_FD),
        ("H7_EV_HANDOFF", decode.EV_HANDOFF),
        ("H7_EV_RECV_EXEC", decode.EV_RECV_EXEC),
        ("H7_EV_FILE", decode.EV_FILE),
        ("H7_EV_SHM", decode.EV_SHM),
        ("H7_RECV_FDS_MAX", decode.RECV_FDS_MAX),
        ("H7_RECV_CMSGS_MAX", decode.RECV_CMSGS_MAX),
        ("H7_RECV_MMSGS_MAX", decode.RECV_MMSGS_MAX),
        ("H7_RECV_WINDOW", decode.RECV_WINDOW),
        ("H7_RECV_UNTIL", decode.RECV_UNTIL),
        ("H7_RECV_RELAY_UNTIL", decode.RECV_RELAY_UNTIL),
        ("H7_RECV_COPIER_UNTIL", decode.RECV_COPIER_UNTIL),
        ("H7_RECV_STATE_SLOTS", decode.RECV_STATE_SLOTS),
        ("H7_COPIER_SIZES", decode.COPIER_SIZES),
        ("H7_WRITTEN_BLOOM_BITS", decode.WRITTEN_BLOOM_BITS),
        ("H7_RECV_FD_SCAN", decode.RECV_FD_SCAN),
        ("H7_EXF_DELETED", decode.EXF_DELETED),
        ("H7_EXF_MEMFD", decode.EXF_MEMFD),
        ("H7_EXF_ANON", decode.EXF_ANON),
        ("H7_EXF_UNHASHED", decode.EXF_UNHASHED),
        ("H7_EXF_WRITTEN", decode.EXF_WRITTEN),
        ("H7_EXF_VIA_OVERLAY", decode.EXF_VIA_OVERLAY),
        ("H7_EXF_VIA_LOOP", decode.EXF_VIA_LOOP),
        ("H7_EXF_VIA_COPY", decode.EXF_VIA_COPY),
        ("H7_WRITTEN_COPY", decode.WRITTEN_COPY),
        ("H7_EXF_VIA_RELAY", decode.EXF_VIA_RELAY),
        ("H7_EXF_VIA_COPIER", decode.EXF_VIA_COPIER),
        ("H7_WRITTEN_RELAY", decode.WRITTEN_RELAY),
        ("H7_HEAD_LEN", decode.HEAD_LEN),
        ("H7_SUN_LEN", decode.SUN_LEN),
        ("H7_EV_ACCESS", decode.EV_ACCESS),
        ("H7_EGRESS_SYSCALL", decode.EGRESS_SYSCALL),
        ("H7_EGRESS_CGROUP", decode.EGRESS_CGROUP),
        ("H7_EGRESS_FENTRY", decode.EGRESS_FENTRY),
        ("H7_ACCESS_SYSCALL", decode.ACCESS_SYSCALL),
        ("H7_ADDR_CALL", decode.ADDR_CALL),
        ("H7_ADDR_SOCKET", decode.ADDR_SOCKET),
        ("H7_ADDR_IPHDR", decode.ADDR_IPHDR),
        ("H7_INBOUND_NONE", decode.INBOUND_NONE),
        ("H7_INBOUND_PEER", decode.INBOUND_PEER),
        ("H7_INBOUND_OWN", decode.INBOUND_OWN),
        ("H7_ACCESS_FENTRY", decode.ACCESS_FENTRY),
        ("H7_RING_SYS", decode.RING_SYS),
        ("H7_RING_EVENTS", decode.RING_EVENTS),
        ("H7_RING_SCRATCH", decode.RING_SCRATCH),
        ("H7_RING_COUNT", len(decode.RING_NAMES)),
        ("H7_PATH_LEN", decode.PATH_LEN),
        ("H7_ARGS_LEN", decode.ARGS_LEN),
        ("H7_HIST_SLOTS", decode.HIST_SLOTS),
        ("H7_PID_LIMIT", decode.PID_LIMIT),
        ("H7_MAX_AGENTS", decode.MAX_AGENTS),
        ("H7_SCOPE_ENTRIES", decode.SCOPE_ENTRIES),
        ("H7_NSPID_ENTRIES", decode.NSPID_ENTRIES),
        ("H7_EGRESS_SEEN_ENTRIES", decode.EGRESS_SEEN_ENTRIES),
        ("H7_SEND_VERDICT_ENTRIES", decode.SEND_VERDICT_ENTRIES),
        ("H7_ACCEPTED_ENTRIES", decode.ACCEPTED_ENTRIES),
        ("H7_WRITTEN_ENTRIES", decode.WRITTEN_ENTRIES),
        ("H7_ENVIRON_RUN_ENTRIES", decode.ENVIRON_RUN_ENTRIES),
        ("H7_LISTENERS_ENTRIES", decode.LISTENERS_ENTRIES),
        ("H7_OWN_CONNS_ENTRIES", decode.OWN_CONNS_ENTRIES),
        ("H7_FOLLOW_COMMS_ENTRIES", decode.FOLLOW_COMMS_ENTRIES),
        ("H7_FOLLOW_ENTRIES", decode.FOLLOW_ENTRIES),
        ("H7_PROC_SEEN_ENTRIES", decode.PROC_SEEN_ENTRIES),
        ("H7_RECV_MARK_ENTRIES", decode.RECV_MARK_ENTRIES),
        ("H7_RECV_PROC_ENTRIES", decode.RECV_PROC_ENTRIES),
        ("H7_COPIER_ENTRIES", decode.COPIER_ENTRIES),
        ("H7_MEM_RW_SEEN_ENTRIES", decode.MEM_RW_SEEN_ENTRIES),
        ("H7_HELD_ENTRIES", decode.HELD_ENTRIES),
        ("H7_SYS_RING_BYTES", f"({decode.SYS_RING_BYTES >> 20} << 20)"),
        ("H7_EVENT_RING_BYTES", f"({decode.EVENT_RING_BYTES >> 20} << 20)"),
        ("H7_TOKEN_BITS", decode.TOKEN_BITS),
        ("H7_TOKEN_OTHER", decode.TOKEN_OTHER),
        ("H7_WINDOW_LEN", decode.WINDOW_LEN),
        ("H7_SEQ_BITS_LOG2", decode.SEQ_BITS_LOG2),
        ("H7_SEQ_AGENT_MUL", f"0x{decode.SEQ_AGENT_MUL:X}ULL"),
        ("H7_SCOPE_RT", decode.SCOPE_RT),
        ("H7_SCOPE_EXITING", decode.SCOPE_EXITING),
        ("H7_RUN_BASE", f"(1ULL << {decode.RUN_BASE.bit_length() - 1})"),
        ("H7_RUN_ON", f"(1ULL << {decode.RUN_ON.bit_length() - 1})"),
    ]:
        assert f"{cname} = {value}" in text or f"#define {cname} {value}" in text, cname


def test_receiver_kinds_match() -> None:
    """The channels a receiver exec names (FIFO, unix, TCP) are numbered in Python as in bpf/h7.h."""
    text = (Path(__file__).resolve().parent.parent / "bpf" / "h7.h").read_text()
    kinds = _enum(text, "H7_RECV_")
    assert {n: name.lower() for n, (name, _) in kinds.items()} == decode.RECV_KINDS
    found = _enum(text, "H7_HOLDER_")
    assert {n: name.lower() for n, (name, _) in found.items()} == decode.RECV_FOUND
