"""Every reader, fed corrupted and odd inputs through the real CLI: no traceback, no hang.

Seeds are real files (a certificate chain, the keys, a recorded journal, a
saved baseline); mutations are bit flips, truncations, insertions, random
bytes, type-confused msgpack records and non-regular files (FIFOs, a
directory, a character device).  Each run is bounded by an interval timer
(a hang fails the case instead of stalling the suite) and the whole test by a
time budget.  The assertion is the operator's contract: either exit 0, or a
non-zero exit with a one-line ``h7: error:`` (or click usage) message, never
an uncaught exception.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import msgpack
import pytest
from click.testing import CliRunner
from test_cal_support import make_chain

from h7.cli import main

REPO = Path(__file__).resolve().parent.parent
SEED_JOURNAL = REPO / "tests" / "journals" / "real" / "benign.h7j"
BUDGET_S = 45.0  # the whole fuzz run; each case is also bounded by CASE_TIMEOUT_S
CASE_TIMEOUT_S = 10.0


class Hang(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang()


def run_cli(args: list[str]) -> tuple[int, str, BaseException | None]:
    """Invoke the CLI in-process under an interval timer; (exit code, output, uncaught exception)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
    try:
        res = CliRunner().invoke(main, args, catch_exceptions=True)
    except Hang:
        pytest.fail(f"h7 {' '.join(args)} hung for {CASE_TIMEOUT_S} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    exc = res.exception if not isinstance(res.exception, SystemExit) else None
    if isinstance(exc, Hang):
        pytest.fail(f"h7 {' '.join(args)} hung for {CASE_TIMEOUT_S} s")
    return res.exit_code, res.output, exc


def check(args: list[str], what: str, failures: list[str]) -> int:
    code, out, exc = run_cli(args)
    if exc is not None:
        failures.append(f"{what}: h7 {' '.join(args)} raised {type(exc).__name__}: {exc}")
    elif code != 0:
        # `h7 status` exits 1 for "no sensor running" and says why on an "h7:" line
        prefixes = ("h7: error:", "Error:", "Usage:") + (("h7: ",) if args[0] == "status" else ())
        errs = [x for x in out.splitlines() if x.startswith(prefixes)]
        if not errs:
            failures.append(f"{what}: exit {code} without a one-line error: {out[-300:]!r}")
        elif "Traceback" in out:
            failures.append(f"{what}: traceback in output")
    return code


# ------------------------------------------------------------------ mutators


def mutations(seed: bytes, rng: random.Random, n: int) -> Iterator[tuple[str, bytes]]:
    yield "empty", b""
    yield "one byte", seed[:1]
    yield "truncated half", seed[: len(seed) // 2]
    yield "truncated by one", seed[:-1]
    yield "appended garbage", seed + b"\x00\xff" * 7
    yield "random bytes", rng.randbytes(max(1, len(seed)))
    yield "not utf-8", b"\xff\xfe\xfd" + seed
    for i in range(n):
        b = bytearray(seed)
        kind = i % 4
        if kind == 0 and b:
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(len(b))
                b[pos] ^= 1 << rng.randrange(8)
            yield f"bit flips #{i}", bytes(b)
        elif kind == 1 and b:
            pos = rng.randrange(len(b))
            yield f"insert #{i}", bytes(b[:pos] + rng.randbytes(rng.randint(1, 16)) + b[pos:])
        elif kind == 2 and b:
            pos = rng.randrange(len(b))
            yield f"cut at {pos}", bytes(b[:pos])
        else:
            pos = rng.randrange(max(1, len(b)))
            yield f"overwrite #{i}", bytes(b[:pos] + b"\xff" * rng.randint(1, 12) + b[pos + 12 :])


def journal_records(path: Path, n_batches: int) -> list[Any]:
    up = msgpack.Unpacker(open(path, "rb"), raw=False, strict_map_key=False, max_buffer_size=1 << 30)  # noqa: SIM115
    out = []
    for rec in up:
        out.append(rec)
        if len(out) > n_batches:
            break
    return out


def pack_all(recs: list[Any]) -> bytes:
    return b"".join(msgpack.packb(r, use_bin_type=True) for r in recs)


def structural_journals(recs: list[Any]) -> Iterator[tuple[str, bytes]]:
    """Valid msgpack, wrong shapes: the cases byte mutation rarely reaches."""
    header, batches = recs[0], recs[1:]
    b = batches[len(batches) // 2]
    weird: list[tuple[str, Any]] = [
        ("stats=[1]", {**b, "stats": [1]}),
        ("stats value int", {**b, "stats": {1: 5}}),
        ("stats key str", {**b, "stats": {"x": b"\0" * 8}}),
        ("events=[1]", {**b, "events": [1]}),
        ("events not list", {**b, "events": {"a": 1}}),
        ("event missing fields", {**b, "events": [{"type": "exec"}]}),
        ("event wrong types", {**b, "events": [{"type": 5, "agent": "x", "ts_ns": "y", "pid": None}]}),
        ("t0 str", {**b, "t0": "x"}),
        ("t1 float", {**b, "t1": 1.5}),
        ("sys int", {**b, "sys": 7}),
        ("sys odd length", {**b, "sys": b"\0" * 13}),
        ("drops list", {**b, "drops": [1]}),
        ("drops str value", {**b, "drops": {"a": "b"}}),
        ("batch is a list", [1, 2, 3]),
        ("deep nesting", {**b, "events": [{"type": "exec", "x": _nest(200)}]}),
    ]
    for name, rec in weird:
        yield f"journal {name}", pack_all([header, *batches[:2], rec, *batches[2:]])
    hdr_weird: list[tuple[str, Any]] = [
        ("header agents=1", {**header, "agents": 1}),
        ("header agents=[1]", {**header, "agents": [1]}),
        ("header agent fields wrong", {**header, "agents": [{"agent": "x"}]}),
        ("header version 99", {**header, "version": 99}),
        ("header start_ns str", {**header, "start_ns": "x"}),
        ("header is int", 5),
    ]
    for name, rec in hdr_weird:
        yield f"journal {name}", pack_all([rec, *batches])
    # a length prefix claiming 4 GiB of binary: must not be buffered
    yield "journal huge bin length", pack_all(recs[:2]) + b"\xc6\xff\xff\xff\xf0" + b"\0" * 64


CONFIG_SEED = b"""[sensor]
max_held_alerts = 16
[detect]
baseline = "2s"
l4_allow = ["127.0.0.1:8080"]
thresholds = { L1 = 0.5 }
[sinkhole]
socket = "/run/h7/x.sock"
dedup_window = 100
[spool]
max_bytes = 1000000
[[output]]
type = "stdout"
"""


def structural_configs() -> Iterator[tuple[str, bytes]]:
    """TOML the byte mutator rarely writes: the shapes the issue's tracebacks came from."""
    yield "config deeply nested", b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"
    yield "config deep tables", b"".join(b"[" + b".".join([b"t"] * n) + b"]\n" for n in range(1, 300))
    yield "config thresholds str", b'[detect]\nthresholds = "x"\n'
    yield "config thresholds nested", b"[detect]\nthresholds = { L1 = { a = 1 } }\n"
    yield "config unknown table", b"[detectt]\nx = 1\n"
    yield "config unknown key", b"[sinkhole]\nsockett = 1\n"
    yield "config wrong types", b"[sinkhole]\ndedup_window = true\nidle_timeout = 'x'\n"
    yield "config agents not array", b"[agent]\npid = 1\n"
    yield "config output not table", b"output = [1, 2]\n"
    yield "config huge int", b"[spool]\nmax_bytes = 99999999999999999999999\n"
    yield "config latin-1", b"[sinkhole]\nhost = '\xe9t\xe9'\n"
    yield "config nul", b"[sinkhole]\nhost = 'a\x00b'\n"


def _nest(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return v


def special_files(d: Path) -> Iterator[tuple[str, Path]]:
    fifo = d / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    yield "FIFO", fifo
    sub = d / "a-directory"
    sub.mkdir(exist_ok=True)
    yield "directory", sub
    yield "character device", Path("/dev/zero")
    link = d / "link-to-urandom"
    if not link.exists():
        link.symlink_to("/dev/urandom")
    yield "symlink to /dev/urandom", link


# ------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz-seeds")
    cal, priv, pub, paths = make_chain(root, 3)
    recs = journal_records(SEED_JOURNAL, 8)
    journal = root / "small.h7j"
    journal.write_bytes(pack_all(recs))
    baseline = root / "baseline.bin"
    _, out, exc = run_cli(["replay", str(journal), "--baseline", "2s", "--save-baseline", str(baseline)])
    assert exc is None and baseline.exists(), out
    return {"cal": cal, "priv": priv, "pub": pub, "cert": paths[1], "journal": journal, "baseline": baseline}


def test_fuzz_every_reader(seeds: dict[str, Path], tmp_path: Path) -> None:
    rng = random.Random(0x4837)
    deadline = time.monotonic() + BUDGET_S
    failures: list[str] = []
    cases = 0
    pub, cert, journal = seeds["pub"], seeds["cert"], seeds["journal"]
    work = tmp_path / "w"
    work.mkdir()

    def target(name: str, data: bytes) -> Path:
        p = work / name
        p.write_bytes(data)
        return p

    plans: list[tuple[str, bytes, Any]] = [
        ("certificate", cert.read_bytes(), lambda p: [["verify", str(p), "--pubkey", str(pub)],
                                                      ["show", str(p), "--pubkey", str(pub)]]),
        ("public key", pub.read_bytes(), lambda p: [["verify", str(cert), "--pubkey", str(p)]]),
        ("private key", seeds["priv"].read_bytes(), lambda p: [
            ["contain", "999999999", "--reason", "fuzz", "--key", str(p), "--cal-dir", str(work / "cal")]]),
        ("journal", journal.read_bytes(), lambda p: [["replay", str(p), "--baseline", "2s"]]),
        ("baseline", seeds["baseline"].read_bytes(), lambda p: [
            ["replay", str(journal), "--baseline-from", str(p)]]),
        ("status file", b'{"pid": 1, "written_at": 1}', lambda p: [
            ["status", "--status-file", str(p), "--socket", str(work / "no.sock")]]),
        ("config", CONFIG_SEED, lambda p: [
            ["sinkhole", "--config", str(p), "--check"],
            ["replay", str(journal), "--baseline", "2s", "--config", str(p)]]),
    ]  # fmt: skip

    # Non-regular files first: the hangs the issue found.
    for kind, special in special_files(work):
        for label, _, cmds in plans:
            for args in cmds(special):
                check(args, f"{label} as {kind}", failures)
                cases += 1
    # A FIFO named like a certificate inside a chain directory.
    chain = work / "chain-with-fifo"
    shutil.copytree(seeds["cal"], chain)
    os.mkfifo(chain / "000000000004.cal")
    code = check(["verify", str(chain), "--pubkey", str(pub)], "FIFO in cal dir", failures)
    assert code != 0
    cases += 1
    # Byte mutations of every seed, round-robin so the budget covers all readers.
    gens = [(label, mutations(seed, rng, 200), cmds) for label, seed, cmds in plans] + [
        ("journal (structural)", structural_journals(journal_records(journal, 8)), plans[3][2]),
        ("config (structural)", structural_configs(), plans[6][2]),
    ]
    live = list(range(len(gens)))
    for _ in range(10_000):
        if not live or time.monotonic() > deadline:
            break
        for i in list(live):
            label, gen, cmds = gens[i]
            nxt = next(gen, None)
            if nxt is None:
                live.remove(i)
                continue
            name, data = nxt
            p = target(f"case-{cases}", data)
            for args in cmds(p):
                check(args, f"{label} {name}", failures)
            cases += 1
            p.unlink()
    print(f"fuzz: {cases} cases, {len(failures)} failures")
    assert not failures, f"{len(failures)} of {cases} cases failed:\n" + "\n".join(failures[:30])
    assert cases >= 150, f"only {cases} cases ran within the budget"


@pytest.mark.parametrize("cmd", ["verify", "show", "replay"])
def test_fifo_does_not_hang_the_real_cli(tmp_path: Path, cmd: str) -> None:
    """The same FIFO through a real `h7` process (no in-process timer to rescue it)."""
    fifo = tmp_path / "x.cal"
    os.mkfifo(fifo)
    args = {"verify": ["verify", str(fifo)], "show": ["show", str(fifo)], "replay": ["replay", str(fifo)]}[
        cmd
    ]
    p = subprocess.run(
        [sys.executable, "-m", "h7", *args], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("h7: error:"), p.stderr
