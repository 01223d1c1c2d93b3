"""Real BPF: a file the agent wrote, run through an overlay or from a loop-mounted image it wrote.

Red-team round 10's first run (held out) missed two exec-identity classes (docs/redteam.md,
round 10): the kernel's ``written_files`` mark sits on the inode the agent's close saw, while the
exec names another one.  (1) Through overlayfs the exec's file is the OVERLAY's inode; the agent
wrote the layer's file (``upper/`` or ``lower/``) directly.  (2) A file inside a file-system image
the agent wrote, attached to a loop device and mounted, was never closed by anyone: only the image
is marked.  At exec the kernel now looks under the file (``under_written`` in bpf/h7.bpf.c: the
overlay inode's real upper, then lower, inode; a loop device's backing file) and flags the exec
``agent-written`` with ``written-via-overlay`` / ``written-via-loop-image``.

These tests run the classes with their own steps (not round 10's scripts): the test process
(never watched) mounts and attaches, so only the agent's WRITES make a file agent-written, and a
file or image the test wrote is not.  On this host overlay and loop are built in (their types in
vmlinux BTF: the CO-RE path); in the 6.1 guest both are modules, and ``loop`` is loaded by the
test after the sensor (the fixed-layout path, checked by the loop's back pointer).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sensor_gaps import _l2, wait_event, watched

#: fixtures this module takes from test_sensor_gaps (a watched gap agent)
FIXTURES = (watched,)
TOOL = "/usr/bin/id"


def _sh(*argv: str) -> str:
    """Run a setup command of the test (unwatched); its failure is the test's, in one line."""
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, f"{' '.join(argv)}: rc {r.returncode}: {r.stderr.strip()}"
    return r.stdout.strip()


@contextlib.contextmanager
def _mounted(fstype: str, src: str, dst: Path, opts: str | None = None) -> Iterator[Path]:
    dst.mkdir(exist_ok=True)
    _sh("mount", "-t", fstype, *(["-o", opts] if opts else []), src, str(dst))
    try:
        yield dst
    finally:
        subprocess.run(["umount", "-l", str(dst)], capture_output=True, check=False)


def _exec_of(col: Any, path: Path) -> dict[str, Any]:
    return wait_event(col, lambda e: e["type"] == "exec" and e["filename"] == str(path), f"exec of {path}")


def _certified(col: Any, baseline_end: int, path: Path) -> list[Any]:
    """L2's AGENT_WRITTEN_EXEC for the exec of ``path``, the baseline ended at ``baseline_end``."""
    ch, ctx = _l2({}, live=True)
    ch.baseline_end_ns = baseline_end
    seen = [e for _, e in list(col.urgent_at) if e["type"] in ("open", "exec", "exec_fd", "exit")]
    return [
        a
        for a in ch.on_events(seen, ctx)
        if a.code == "AGENT_WRITTEN_EXEC" and a.evidence.get("filename") == str(path)
    ]


def test_agent_written_layer_file_run_through_an_overlay(watched: Any, tmp_path: Path) -> None:
    """The agent writes a program into an overlay's upper and lower directories (not through the
    overlay); run as ``merged/NAME`` (the overlay's inode) each is agent-written, via the overlay.
    A file the test wrote into the upper layer, run the same way, is not."""
    _sensor, agent, col = watched
    layers_fs = tmp_path / "layers"  # the layers on a tmpfs of their own (an upper on an overlay
    layers_fs.mkdir()  # -- the guests' /tmp -- is refused)
    with _mounted("tmpfs", "h7-layers", layers_fs):
        lower, upper, work = (layers_fs / n for n in ("lower", "upper", "work"))
        for d in (lower, upper, work):
            d.mkdir()
        baseline_end = time.monotonic_ns()  # bpf_ktime_get_ns is CLOCK_MONOTONIC
        size = str(Path(TOOL).stat().st_size)
        assert agent.cmd(f"copy {TOOL} {upper / 'fmt'}") == size
        assert agent.cmd(f"copy {TOOL} {lower / 'lowfmt'}") == size
        shutil.copyfile(TOOL, upper / "theirs")  # written by this (unwatched) process
        for f in (upper / "fmt", lower / "lowfmt", upper / "theirs"):
            f.chmod(0o755)  # a mode change is no write: the marks stay
        opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
        with _mounted("overlay", "overlay", tmp_path / "merged", opts) as merged:
            for name in ("fmt", "lowfmt", "theirs"):
                assert agent.cmd(f"run {merged / name}") == "rc 0", name
            for name, layer in (("fmt", upper), ("lowfmt", lower)):
                e = _exec_of(col, merged / name)
                assert {"agent-written", "written-via-overlay"} <= set(e["id_flags"]), e
                assert e["written_ns"] > baseline_end, e
                # the exec names the overlay's inode, not the layer file the agent closed
                assert e["dev"] != 0 and os.stat(layer / name).st_dev != os.stat(merged / name).st_dev
            o = _exec_of(col, merged / "theirs")
            assert "agent-written" not in o["id_flags"] and "written-via-overlay" not in o["id_flags"], o
            got = _certified(col, baseline_end, merged / "fmt")
            assert got and got[0].evidence["written_via"] == "overlay", got
            assert not _certified(col, baseline_end, merged / "theirs")


def _modprobe_loop() -> None:
    """The guests' loop is a module nobody loaded (no /dev/loop-control until it is): load it now,
    after the sensor -- so its BTF is unknown to the loaded object, the case the fixed layout is for."""
    if not Path("/dev/loop-control").exists():
        _sh("modprobe", "loop")


def _image(agent: Any | None, src: Path, img: Path) -> None:
    """An ext2 image of ``src`` (mke2fs -d), made by the agent's child or by the test."""
    argv = ["mke2fs", "-q", "-F", "-t", "ext2", "-d", str(src), str(img), "4M"]
    if agent is None:
        _sh(*argv)
    else:
        assert agent.cmd("run " + " ".join(argv)) == "rc 0"


@contextlib.contextmanager
def _loop_mounted(img: Path, dst: Path) -> Iterator[Path]:
    dev = _sh("losetup", "-r", "-f", "--show", str(img))
    try:
        with _mounted("ext2", dev, dst, "ro") as m:
            yield m
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True, check=False)


@contextlib.contextmanager
def _images_dir(tmp_path: Path, where: str) -> Iterator[Path]:
    """Where the images are written: the test's tmp (``plain``), or an overlayfs (``overlay``: a
    container's root, the 6.1 guests' /tmp), where the image's mark is the overlay's inode."""
    if where == "plain":
        yield tmp_path
        return
    layers_fs = tmp_path / "layers"
    layers_fs.mkdir()
    with _mounted("tmpfs", "h7-layers", layers_fs):
        for n in ("lower", "upper", "work"):
            (layers_fs / n).mkdir()
        opts = f"lowerdir={layers_fs / 'lower'},upperdir={layers_fs / 'upper'},workdir={layers_fs / 'work'}"
        with _mounted("overlay", "overlay", tmp_path / "merged", opts) as merged:
            yield merged


@pytest.mark.parametrize("where", ["plain", "overlay"])
def test_program_in_an_agent_written_image_on_a_loop_device(watched: Any, tmp_path: Path, where: str) -> None:
    """The agent (its mke2fs child) packs a program the TEST wrote into an ext2 image; the test
    attaches the image to a loop device and mounts it; the agent runs the program from it: nobody
    of the agent wrote or closed the executed inode, only the image -- agent-written, via the loop
    image.  The same program in an image the test made is not.  ``overlay``: the images are
    written on an overlayfs (the loop's backing file is then an overlay inode; the first 6.1 guest
    run failed this while the look-under refused overlay inodes)."""
    _sensor, agent, col = watched
    _modprobe_loop()
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(TOOL, src / "tool")  # the test's bytes: only the image is the agent's
    (src / "tool").chmod(0o755)
    baseline_end = time.monotonic_ns()
    with _images_dir(tmp_path, where) as imgs:
        _image(agent, src, imgs / "agent.img")
        _image(None, src, imgs / "their.img")
        _run_from_images(col, agent, tmp_path, imgs, baseline_end)


def _run_from_images(col: Any, agent: Any, tmp_path: Path, imgs: Path, baseline_end: int) -> None:
    with (
        _loop_mounted(imgs / "agent.img", tmp_path / "mnt-agent") as mine,
        _loop_mounted(imgs / "their.img", tmp_path / "mnt-theirs") as theirs,
    ):
        assert agent.cmd(f"run {mine / 'tool'}") == "rc 0"
        assert agent.cmd(f"run {theirs / 'tool'}") == "rc 0"
        e = _exec_of(col, mine / "tool")
        assert {"agent-written", "written-via-loop-image"} <= set(e["id_flags"]), e
        assert e["written_ns"] > baseline_end, e
        o = _exec_of(col, theirs / "tool")
        assert "agent-written" not in o["id_flags"] and "written-via-loop-image" not in o["id_flags"], o
        got = _certified(col, baseline_end, mine / "tool")
        assert got and got[0].evidence["written_via"] == "loop-image", got
        assert not _certified(col, baseline_end, theirs / "tool")
