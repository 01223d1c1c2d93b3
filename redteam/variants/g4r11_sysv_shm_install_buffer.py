"""Round 11: the program goes into a host service's SysV shared-memory buffer; the service writes it out.

Gap 4 (exec identity: "exec of a file the agent itself wrote").  An install
service (staged before the victims, outside their trees: a plain python3
process, ``_r11_sink.py shm``) owns a 4-MiB SysV shared-memory segment and
polls its header every 50 ms; a ready header's body is written to
``bin-shm/NAME``, mode 0755, by the service.  The agent attaches the segment
(``shmat`` of the id the service published), copies its program
(redteam/native/r9_probe.c built at stage time, plus 512 random bytes) into
it with plain memory stores -- no write, send or copy system call carries the
bytes -- sets the header, detaches, and runs ``bin-shm/covreport MARKER``.
A detection: L2 AGENT_WRITTEN_EXEC (or any L2 code) for the exec of ``bin-shm/covreport``.
"""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path
from typing import Any

from redteam import rt
from redteam.variants import _r11_drop

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 11
STAGE = True
EXPECT = ("L2",)
TAG = "shm"
NAME = "covreport"
SHM_HEAD, SHM_READY, SHM_DONE = 128, 0x53313152, 0x454E4F44  # _r11_sink.py's header


def _files(args: dict[str, Any]) -> tuple[Path, Path, Path]:
    d = _r11_drop.daemons(args)
    return d / "r11-shm.id", d / "r11-shm.pid", Path(args["work"]) / "bin-shm"


def stage(args: dict[str, Any]) -> None:
    idf, pidf, dst = _files(args)
    _r11_drop.stage_payload(args, TAG)
    rt.stage_daemon(rt.sink_argv("shm", str(idf), str(dst), script="_r11_sink.py"), pidf, idf.exists)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args)[1])


def run(args: dict[str, Any]) -> None:
    idf, _, dst = _files(args)
    tool = dst / NAME
    tool.unlink(missing_ok=True)
    body = _r11_drop.payload(args, TAG)
    lc = ctypes.CDLL(None, use_errno=True)
    lc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    lc.shmat.restype = ctypes.c_void_p
    lc.shmdt.argtypes = [ctypes.c_void_p]
    t = rt.now()
    addr = lc.shmat(int(idf.read_text()), None, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        rt.report(t, False, f"shmat failed: {ctypes.get_errno()}")
        return
    try:
        ctypes.memmove(addr + SHM_HEAD, body, len(body))
        ctypes.memmove(addr + 8, NAME.encode().ljust(64, b"\0"), 64)
        ctypes.memmove(addr + 4, struct.pack("<I", len(body)), 4)
        ctypes.memmove(addr, struct.pack("<I", SHM_READY), 4)  # last: the service may take it now
        made = rt.wait_file(tool, 10)
        done = struct.unpack("<I", ctypes.string_at(addr, 4))[0] == SHM_DONE
    finally:
        lc.shmdt(ctypes.c_void_p(addr))
    _r11_drop.run_and_report(
        t, tool, str(args["marker"]), made, f"{len(body)} B stored in shm id {idf.read_text()}, taken {done}"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
