"""L2 marker identity: an interpreter is known by its own words when its bytes and headers were edited.

Red-team round 8 (held out, first run recorded before this): a dash copy with its code
padding refilled, PT_NOTE made PT_NULL and 4 KiB appended matched no hash, layout or
code digest; busybox appended to a loader stub (a user-space exec) was never exec'd at
all.  Both still hold the interpreter's own marker words (``KnownBinaries.build_markers``).
Real binaries of this host, edited here; no BPF.
"""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import subprocess
import time
from array import array
from pathlib import Path
from typing import Any

import pytest
from conftest import file_exec

from h7.config import EngineConfig
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import (
    INTERPRETERS,
    LOTL_TOOLS,
    ExecChannel,
    IndexBuild,
    KnownBinaries,
    _classifier,
    _singles,
)

PT_NOTE, PT_LOAD, PF_X, SHF_EXECINSTR = 4, 1, 1, 4


@pytest.fixture(scope="module")
def known() -> KnownBinaries:
    kb = KnownBinaries(_classifier(INTERPRETERS, LOTL_TOOLS), None)
    kb.build_markers()
    return kb


def _recode(src: str, dst: Path, runnable: bool = False) -> None:
    """Edit a copy as round 8 did, by other means: PT_NOTE -> PT_NULL, int3 in its code, +4 KiB.

    The int3 go over 256 bytes mid-code, or with ``runnable`` only where no instruction runs:
    the padding between the code segment's sections (the copy still works as its original).
    """
    data = bytearray(Path(os.path.realpath(src)).read_bytes())
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    for i in range(phnum):
        o = phoff + i * phentsize
        ptype, flags = struct.unpack_from("<II", data, o)
        if ptype == PT_NOTE:
            struct.pack_into("<I", data, o, 0)
        if ptype == PT_LOAD and flags & PF_X and not runnable:
            off, filesz = struct.unpack_from("<Q", data, o + 8)[0], struct.unpack_from("<Q", data, o + 32)[0]
            mid = off + filesz // 2
            data[mid : mid + 256] = b"\xcc" * 256
    if runnable:
        spans = sorted(
            (off, off + size)
            for flags, _addr, off, size in (
                struct.unpack_from("<QQQQ", data, shoff + i * shentsize + 8) for i in range(shnum)
            )
            if flags & SHF_EXECINSTR
        )
        gaps = [(end, nxt) for (_s, end), (nxt, _e) in itertools.pairwise(spans) if nxt > end]
        assert gaps, f"{src}: no padding between its code sections"
        for end, nxt in gaps:
            data[end:nxt] = b"\xcc" * (nxt - end)
    dst.write_bytes(bytes(data) + os.urandom(4096))
    dst.chmod(0o755)


def _exec(path: Path, pid: int, args: list[str] | None = None) -> dict[str, Any]:
    return file_exec(str(path), args or [path.name, "-c", "true"], pid, 1, exe_name=path.name)


def _channel(live: bool = False) -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig(read_proc=False)
    ch = ExecChannel(cfg)
    return ch, ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(live))


@pytest.mark.parametrize("shell", ["/bin/dash", "/bin/bash"])
def test_a_recoded_shell_copy_is_known_by_its_markers(
    known: KnownBinaries, tmp_path: Path, shell: str
) -> None:
    if not os.path.exists(shell):
        pytest.skip(f"{shell} is not installed")
    name = os.path.basename(os.path.realpath(shell))
    copy = tmp_path / "run-tests"
    _recode(shell, copy)
    ch, ctx = _channel()
    ch._known = known
    alerts = ch.on_events([_exec(copy, 4_200_001)], ctx)
    assert [a.code for a in alerts] == ["LLM_AGENT_HIJACK"], [a.evidence for a in alerts]
    ev = alerts[0].evidence
    assert ev["content_identity"] == "markers", ev
    assert ev["identified_by"][0]["by"] == "markers" and ev["identified_by"][0]["name"] == name, ev
    assert alerts[0].key == f"{name}:markers:{copy}<-agent"


def test_a_file_carrying_busybox_is_busybox(known: KnownBinaries, tmp_path: Path) -> None:
    """A user-space exec's loader with the program in its tail: the file holds busybox's words."""
    bb = shutil.which("busybox")
    if bb is None:
        pytest.skip("busybox is not installed")
    stub = tmp_path / "fmt"
    stub.write_bytes(Path("/bin/true").read_bytes() + Path(bb).read_bytes() + struct.pack("<Q", 1))
    stub.chmod(0o755)
    ch, ctx = _channel()
    ch._known = known
    alerts = ch.on_events([_exec(stub, 4_200_002, ["fmt", "sh", "-c", "touch x"])], ctx)
    assert [a.code for a in alerts] == ["LIVING_OFF_THE_LAND"], [a.evidence for a in alerts]
    ident = alerts[0].evidence["identified_by"][0]
    assert (ident["by"], ident["name"], ident["class"]) == ("markers", "busybox", "lotl"), ident
    hits, total = (int(x) for x in ident["markers"].split("/"))
    assert hits == total, ident


def test_installed_programs_hold_no_interpreters_markers(known: KnownBinaries) -> None:
    """Every ELF program of /usr/bin that is no interpreter or LOTL tool: none is taken for one.

    The JDK's launchers share the most with one (jshell, itself only a launcher: fewer own words
    than MARKER_MIN_HITS, so it has no markers).  Files over 8 MiB are left to the bench.
    """
    classify = _classifier(INTERPRETERS, LOTL_TOOLS)
    assert known.markers is not None and {"dash", "python", "busybox"} <= set(known.markers), known.markers
    seen: set[tuple[int, int]] = set()
    taken: list[tuple[str, str]] = []
    scanned = 0
    for e in sorted(os.scandir("/usr/bin"), key=lambda e: e.name):
        try:
            st = os.stat(e.path)
        except OSError:
            continue
        if not e.is_file() or st.st_size > 8 << 20 or (st.st_dev, st.st_ino) in seen or classify(e.name):
            continue
        seen.add((st.st_dev, st.st_ino))
        with open(e.path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        scanned += 1
        hit = known.lookup_markers(e.path, st.st_ino)
        if hit is not None:
            taken.append((e.path, hit[0]))
    assert scanned > 50 and taken == [], taken


def test_live_scans_only_files_not_installed_unchanged(tmp_path: Path) -> None:
    """Live, an installed program unchanged since L2 started watching is not read; anything else is."""
    ch, ctx = _channel(live=True)
    assert not ch._marker_scan_wanted("/usr/bin/env", ctx)
    copy = tmp_path / "env"
    shutil.copyfile("/usr/bin/env", copy)
    assert ch._marker_scan_wanted(str(copy), ctx)
    replay = _channel(live=False)
    assert replay[0]._marker_scan_wanted("/usr/bin/env", replay[1])


def test_singles_keeps_each_names_hashes_that_no_other_name_holds() -> None:
    """The merge behind ``build_markers``: a hash two names share is nobody's marker (a first version
    gave every stream the last name: generators bound the loop variable late)."""
    got = _singles({"a": array("q", [1, 2, 3, 5]), "b": array("q", [2, 4, 5, 6]), "c": array("q", [6, 7])})
    assert got == {"a": [1, 3], "b": [4], "c": [7]}
    assert _singles({"only": array("q", [9])}) == {"only": [9]}
    assert _singles({"a": array("q"), "b": array("q", [1])}) == {"a": [], "b": [1]}


def test_a_copy_that_execs_on_mid_judgement_keeps_its_identity(
    known: KnownBinaries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process replaces its image while L2 still reads the file it exec'd: the verdict stands.

    Found live (session 30's long red-team run, g4r8_dash_recoded under load): ``run-tests -c
    touch`` is a dash that execs ``touch`` within milliseconds.  L2 proved ``/proc/<pid>/exe`` was
    the executed file, then named that link again for the code digest and the marker scan; by
    then it led to ``touch`` (installed, unchanged: not scanned), and the exec went uncertified
    with no stall to say so.  The replay of the same journal (no /proc) certified it.  Here a
    real recoded copy execs ``sleep`` at the worst moment: just before the code-digest look.
    """
    if not os.path.exists("/bin/dash"):
        pytest.skip("/bin/dash is not installed")
    copy = tmp_path / "run-tests"
    _recode("/bin/dash", copy, runnable=True)
    proc = subprocess.Popen(
        [str(copy), "-c", "read x; exec sleep 30"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 5.0
        while os.readlink(f"/proc/{proc.pid}/exe") != str(copy) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.readlink(f"/proc/{proc.pid}/exe") == str(copy)
        real_lookup = known.lookup_code

        def exec_first(path: str, ino: int, image: bytes) -> Any:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            end = time.monotonic() + 5.0
            while os.readlink(f"/proc/{proc.pid}/exe") == str(copy) and time.monotonic() < end:
                time.sleep(0.01)
            assert os.readlink(f"/proc/{proc.pid}/exe") != str(copy), "the copy did not exec sleep"
            return real_lookup(path, ino, image)

        monkeypatch.setattr(known, "lookup_code", exec_first)
        ch, ctx = _channel(live=True)
        ch._known = known
        alerts = ch.on_events([_exec(copy, proc.pid, ["run-tests", "-c", "touch x"])], ctx)
    finally:
        proc.kill()
        proc.wait(5)
    assert [a.code for a in alerts] == ["LLM_AGENT_HIJACK"], [a.evidence for a in alerts]
    ev = alerts[0].evidence
    assert ev["content_identity"] == "markers", ev
    assert ev["identified_by"][0]["name"] == "dash", ev


def test_an_exec_before_the_markers_are_built_waits_for_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live, marker words come from a background build paced to a fifth of the CPU (minutes in a
    1-vCPU emulated guest); a recoded copy exec'd before it is done used to be judged without
    them, uncertified and uncounted.  Now the exec makes the build run unpaced and waits for it
    within ``index_wait_s``; with no budget left it is counted (``markers_not_ready``)."""
    if not os.path.exists("/bin/dash"):
        pytest.skip("/bin/dash is not installed")
    copy = tmp_path / "run-tests"
    _recode("/bin/dash", copy)
    # paced this slowly, the build would take hours: only the exec's hurry can finish it
    monkeypatch.setattr("h7.detect.channels.l2_exec.MARKER_DUTY", 1e-6)
    for budget, expect in ((60.0, ["LLM_AGENT_HIJACK"]), (0.0, [])):
        build = IndexBuild(_classifier(INTERPRETERS, LOTL_TOOLS), None)
        assert build.wait(60.0) and build.known is not None
        cfg = EngineConfig.from_dict({"l2": {"index_wait_s": budget}, "read_proc": False})
        ch = ExecChannel(cfg)
        ch._build = build
        ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(True))
        assert build.known.markers is None, "the paced build finished on its own"
        t0 = time.monotonic()
        alerts = ch.on_events([_exec(copy, 4_200_003)], ctx)
        assert [a.code for a in alerts] == expect, [a.evidence for a in alerts]
        if expect:
            assert alerts[0].evidence["content_identity"] == "markers", alerts[0].evidence
            assert time.monotonic() - t0 < 60.0 and ch.status()["markers_not_ready"] == 0
        else:
            assert ch.status()["markers_not_ready"] == 1
        build.wait_markers(60.0)  # let the thread end before the next build
