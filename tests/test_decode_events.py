"""decode_events: ring bytes -> the event dicts every consumer reads.

The records are written here field by field through the same numpy views the
layout test holds to bpf/h7.h, with the kernel's habits that a decoder can get
wrong: garbage after a string's NUL (ring slots are not zeroed), an argv whose
last argument is empty, an executable's head ending in zero bytes, records of
several types interleaved, a type this build does not know, and a buffer
longer than ``count``.
"""

from __future__ import annotations

import socket

import numpy as np

from h7 import decode as d


def _type(name: str) -> int:
    return next(k for k, v in d.EVENT_TYPE_NAMES.items() if v == name)


def _buffer(n: int) -> np.ndarray:
    # 0xAA everywhere: whatever a field does not set is garbage, as in a reused ring slot
    return np.full(n * d.EVENT_SIZE, 0xAA, dtype=np.uint8)


def _header(buf: np.ndarray, i: int, etype: int, ts: int, tgid: int, comm: bytes) -> None:
    hdr = np.frombuffer(buf, dtype=d.EVENT_HDR_DTYPE)
    hdr[i] = (ts, etype, 3, tgid, tgid + 1, 1, 1000, comm)


def test_mixed_records_keep_ring_order_and_every_field() -> None:
    buf = _buffer(6)
    _header(buf, 0, _type("exec"), 10, 100, b"sh\0garbage")
    ex = np.frombuffer(buf, dtype=d.EVENT_DTYPES["exec"])
    ex[0]["filename"] = b"/bin/sh\0tail"
    ex[0]["interp"] = b""
    ex[0]["exe_name"] = b"dash"
    argv = b"sh\0-c\0\0"  # the last argument is empty: still an argument
    ex[0]["args"] = argv + b"\xaa" * (d.ARGS_LEN - len(argv))
    ex[0]["args_len"] = len(argv)
    ex[0]["args_truncated"] = 0
    ex[0]["head"] = b"\x7fELF" + b"\0" * (d.HEAD_LEN - 4)
    ex[0]["id_flags"] = d.EXF_MEMFD | d.EXF_WRITTEN
    ex[0]["hook"] = 11
    for f in ("ino", "dev", "old_tid", "nlink", "mode", "size", "mtime_ns", "ctime_ns", "written_ns", "gen"):
        ex[0][f] = 7

    _header(buf, 1, _type("open"), 20, 101, b"python3")
    op = np.frombuffer(buf, dtype=d.EVENT_DTYPES["open"])
    op[1]["path"] = b"/etc/passwd\0old"
    op[1]["dfd"] = -100
    op[1]["flags"] = 0o2
    op[1]["mode"] = 0
    op[1]["op"] = 2

    _header(buf, 2, _type("net"), 30, 102, b"python3")
    net = np.frombuffer(buf, dtype=d.EVENT_DTYPES["net"])
    net[2]["op"] = 1
    net[2]["family"] = socket.AF_INET
    net[2]["addr"] = socket.inet_aton("127.0.0.9") + b"\0" * 12
    net[2]["port"] = 8443
    net[2]["fd"] = 5
    net[2]["bytes"] = 0
    net[2]["count"] = 1
    net[2]["from_socket"] = d.ADDR_IPHDR
    net[2]["inbound"] = d.INBOUND_OWN
    net[2]["lport"] = 9000
    net[2]["hook"] = 2
    net[2]["proto"] = 6
    net[2]["stype"] = 1

    _header(buf, 3, 0xFFFF, 40, 103, b"x")  # a type this build does not know: kept, not dropped

    _header(buf, 4, _type("recv_exec"), 50, 104, b"tmux")
    ex[4] = ex[0]
    _header(buf, 4, _type("recv_exec"), 50, 104, b"tmux")
    ex[4]["recv_kind"] = 2
    ex[4]["recv_obj"] = 77
    ex[4]["recv_act_ns"] = 45
    ex[4]["recv_agent_tgid"] = 100
    ex[4]["recv_holder"] = 900
    ex[4]["recv_hops"] = 1
    ex[4]["recv_holder_comm"] = b"tmux: server"

    _header(buf, 5, _type("fork"), 60, 105, b"never read")  # past count

    out = d.decode_events(buf.tobytes(), 5)

    assert [e["type"] for e in out] == ["exec", "open", "net", "unknown", "recv_exec"]
    assert [e["ts_ns"] for e in out] == [10, 20, 30, 40, 50]
    assert out[0]["comm"] == "sh" and out[0]["pid"] == 100 and out[0]["tid"] == 101
    assert (out[0]["agent"], out[0]["ppid"], out[0]["uid"]) == (3, 1, 1000)
    e = out[0]
    assert e["filename"] == "/bin/sh" and e["interp"] == "" and e["exe_name"] == "dash"
    assert e["args"] == ["sh", "-c", ""] and e["args_truncated"] is False
    assert e["head"] == "7f454c46" + "00" * (d.HEAD_LEN - 4)
    assert e["id_flags"] == ["memfd", "agent-written"] and e["hook"] == "tp_btf/sched_process_exec"
    assert e["ino"] == 7 and e["size"] == 7 and e["gen"] == 7
    assert out[1]["path"] == "/etc/passwd" and out[1]["op"] == "openat" and out[1]["dfd"] == -100
    n = out[2]
    assert (n["op"], n["family"], n["addr"], n["port"]) == ("connect", "inet", "127.0.0.9", 8443)
    assert n["ip_header"] is True and n["inbound"] is True and n["peer_own"] is True and n["lport"] == 9000
    assert n["protocol"] == "tcp" and n["hook"] == "cgroup/connect4"
    assert set(out[3]) == {"type", "ts_ns", "agent", "pid", "tid", "ppid", "uid", "comm"}
    r = out[4]
    assert r["args"] == ["sh", "-c", ""] and r["channel"] == "unix" and r["channel_ino"] == 77
    receiver = (r["act_pid"], r["receiver_pid"], r["receiver_comm"], r["receiver_hops"])
    assert receiver == (100, 900, "tmux: server", 1)


def test_a_batch_of_one_type_and_an_empty_one() -> None:
    buf = _buffer(3)
    for i in range(3):
        _header(buf, i, _type("exit"), i, 200 + i, b"w")
    ex = np.frombuffer(buf, dtype=d.EVENT_DTYPES["exit"])
    ex["code"] = [0, 3 << 8, 9]
    out = d.decode_events(memoryview(buf.tobytes()), 3)
    assert [(e["pid"], e["exit_status"], e["signal"]) for e in out] == [(200, 0, 0), (201, 3, 0), (202, 0, 9)]
    assert d.decode_events(buf, 0) == []
