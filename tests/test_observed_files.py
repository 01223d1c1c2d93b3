"""The detectors read files a watched process named without the process ever noticing.

Red-team round 9's ``l3r9_cycle_named_fifo`` (session 19): the agent made a named pipe, a
child opened it for writing, the agent opened it for reading.  L2's check of "an agent
process reads a file an agent process wrote" opened the path with a plain ``open()`` to look
for an ELF header -- and so became one of the FIFO's readers and took the child's answer out of
the pipe (the act failed in every run since round 9; with no writer it would have blocked the
sensor's main thread for good).  ``h7.safeio.open_observed`` stats first and never opens
anything but a regular file.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from h7.safeio import open_observed


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "result.pipe"
    os.mkfifo(fifo, 0o600)
    opened = threading.Event()

    def writer() -> None:  # blocks in open() until some reader opens the FIFO
        fd = os.open(fifo, os.O_WRONLY)
        opened.set()
        os.write(fd, b'{"next": 1}')
        os.close(fd)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    with pytest.raises(OSError, match="a FIFO, not a regular file"):
        open_observed(fifo)
    assert time.monotonic() - t0 < 1.0  # refused at once, never blocked
    # the writer is still waiting for a reader: the sensor never was one
    assert not opened.wait(0.3)
    # the real reader gets all of it
    fd = os.open(fifo, os.O_RDONLY)
    try:
        assert opened.wait(5)
        assert os.read(fd, 100) == b'{"next": 1}'
    finally:
        os.close(fd)
    t.join(5)


def test_a_regular_file_reads_and_other_kinds_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "tool"
    f.write_bytes(b"\x7fELF" + bytes(60))
    with open_observed(f) as fh:
        assert fh.read(4) == b"\x7fELF"
        assert os.fstat(fh.fileno()).st_ino == f.stat().st_ino
    with pytest.raises(OSError, match="a directory"):
        open_observed(tmp_path)
    with pytest.raises(OSError, match="a character device"):
        open_observed("/dev/null")
    with pytest.raises(FileNotFoundError):
        open_observed(tmp_path / "gone")
    link = tmp_path / "link"
    link.symlink_to(f)  # a symlink to a regular file is that file (an exec'd path may be one)
    with open_observed(link) as fh:
        assert fh.read(4) == b"\x7fELF"
