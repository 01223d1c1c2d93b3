"""Verifying a directory of certificates as one hash chain.

Each certificate carries ``seq`` and ``prev_hash`` (SHA-256 of the previous
certificate's file), both under the signature.  Walking the certificates in
``seq`` order from 1 therefore detects a deleted certificate (a gap), an
inserted one (a duplicate seq or a prev_hash that does not match), a
modified one (bad signature, and its successor's prev_hash no longer
matches), and a reordered or renamed one (file name disagrees with the
signed seq).  What no chain can show on its own is that the *newest*
certificates were removed: the shortened chain is still a valid chain.  An
expected head (seq and hash recorded elsewhere) closes that gap.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from h7.cal.format import (
    BASELINE_LEARNT,
    DETECTIONS_UNCERTIFIED,
    LIFECYCLE_ACTIONS,
    MAX_FILE,
    SENSOR_RECOVERED,
    SENSOR_STARTED,
    SENSOR_STOPPED,
    SUFFIX,
    ZERO_HASH,
    file_name,
    seq_from_name,
    verify_bytes,
)
from h7.cal.keys import load_public_key
from h7.errors import H7Error, UsageError, VerificationError
from h7.safeio import read_regular

MAX_FILES = 10_000_000  # bounds the directory walk

TRUNCATION_NOTE = (
    "a hash chain cannot show that its newest certificates were deleted; "
    "pass --expect-head SEQ:SHA256 recorded outside this host to rule that out"
)


@dataclass(frozen=True)
class ChainBreak:
    """One problem, located by seq (when known) and file."""

    seq: int | None
    path: Path | None
    reason: str

    def line(self) -> str:
        where = str(self.path) if self.path is not None else "<chain>"
        at = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{where}{at}: {self.reason}"


@dataclass(frozen=True)
class LifecycleRecord:
    """A sensor start/stop/recovery or gap record found in the chain (already verified)."""

    seq: int
    action: str
    ts_ns: int
    sensor_pid: int
    sensor_key: tuple[int, int, str]  # (pid, start_ticks, boot_id): one sensor run
    reason: str
    count: int = 0  # DETECTIONS_UNCERTIFIED
    down_ns: int = 0  # SENSOR_RECOVERED: upper bound of the unmonitored time
    previous_pid: int = 0  # SENSOR_RECOVERED: the run that died
    previous_key: tuple[int, int, str] | None = None
    #: BASELINE_LEARNT: the agent, and what its baseline allowed that no operator rule does
    agent_id: str = ""
    learnt: tuple[str, ...] = ()

    def line(self) -> str:
        if self.action == SENSOR_RECOVERED:
            return (
                f"seq {self.seq}: sensor run pid {self.previous_pid} ended without a stop record "
                f"(crash or kill); nothing was monitored for up to {self.down_ns / 1e9:.1f} s before "
                f"pid {self.sensor_pid} recovered"
            )
        if self.action == DETECTIONS_UNCERTIFIED:
            return f"seq {self.seq}: {self.count} detection(s) have no certificate ({self.reason})"
        if self.action == BASELINE_LEARNT:
            shown = ", ".join(self.learnt[:8]) + (
                f" (+{len(self.learnt) - 8} more)" if len(self.learnt) > 8 else ""
            )
            return (
                f"seq {self.seq}: agent {self.agent_id}'s baseline learnt what no allowlist allows "
                f"(allowed since, unreviewed): {shown}"
            )
        return f"seq {self.seq}: {self.action} pid {self.sensor_pid}: {self.reason}"


@dataclass
class ChainReport:
    """The result of :func:`verify_chain`.  ``first_break`` is the lowest-seq problem."""

    directory: Path
    count: int = 0  # certificates whose signature verified
    head_seq: int = 0
    head_hash: bytes = ZERO_HASH
    breaks: list[ChainBreak] = field(default_factory=list)
    expect_head_checked: bool = False
    note: str = TRUNCATION_NOTE
    lifecycle: list[LifecycleRecord] = field(default_factory=list)

    def lifecycle_lines(self) -> list[str]:
        """What the chain says about monitoring coverage: runs, crashes, gaps, a run not stopped."""
        recs = sorted(self.lifecycle, key=lambda r: r.seq)
        if not recs:
            return []
        starts = sum(r.action == SENSOR_STARTED for r in recs)
        stops = sum(r.action == SENSOR_STOPPED for r in recs)
        crashes = [r for r in recs if r.action == SENSOR_RECOVERED]
        gaps = [r for r in recs if r.action == DETECTIONS_UNCERTIFIED]
        out = [
            f"sensor runs: {starts} started, {stops} stopped cleanly, {len(crashes)} ended without a stop"
            f" record, {sum(g.count for g in gaps)} detection(s) without a certificate"
        ]
        out += [r.line() for r in crashes + gaps]
        out += [r.line() for r in recs if r.action == BASELINE_LEARNT]
        open_runs: dict[tuple[int, int, str], LifecycleRecord] = {}
        for r in recs:
            if r.action == SENSOR_STARTED:
                open_runs[r.sensor_key] = r
            elif r.action == SENSOR_STOPPED:
                open_runs.pop(r.sensor_key, None)
            elif r.action == SENSOR_RECOVERED and r.previous_key is not None:
                open_runs.pop(r.previous_key, None)
        for r in open_runs.values():
            out.append(
                f"seq {r.seq}: sensor pid {r.sensor_pid} started and has not signed a stop "
                "(still running, or it died and no sensor has started on this directory since)"
            )
        return out

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> ChainBreak | None:
        if not self.breaks:
            return None
        return min(self.breaks, key=_order)

    @property
    def head(self) -> str:
        """The head in the form --expect-head accepts."""
        return f"{self.head_seq}:{self.head_hash.hex()}"

    def lines(self) -> list[str]:
        return [b.line() for b in sorted(self.breaks, key=_order)]


def _order(b: ChainBreak) -> tuple[int, int]:
    """Chain order; problems whose position is unknown come after all located ones."""
    return (1, 0) if b.seq is None else (0, b.seq)


@dataclass(frozen=True)
class _Link:
    """What the walk needs of a verified certificate; not its bytes, so big directories fit in memory."""

    seq: int
    prev_hash: bytes
    hash: bytes


def parse_head_spec(spec: str) -> tuple[int | None, bytes]:
    """``SEQ:SHA256HEX`` or ``SHA256HEX`` as printed by ``h7 verify``."""
    m = re.fullmatch(r"(?:([0-9]{1,20}):)?([0-9a-fA-F]{64})", spec.strip())
    if not m:
        raise UsageError(f"--expect-head must be SEQ:SHA256 or SHA256 (64 hex digits), got {spec!r}")
    seq = int(m.group(1)) if m.group(1) is not None else None
    return seq, bytes.fromhex(m.group(2))


def _list_certs(directory: Path) -> list[Path]:
    try:
        with os.scandir(directory) as it:
            out = []
            for i, e in enumerate(it):
                if i >= MAX_FILES:
                    raise VerificationError(f"{directory}: more than {MAX_FILES} entries")
                if e.name.endswith(SUFFIX) and not e.name.startswith("."):
                    out.append(Path(e.path))
    except FileNotFoundError:
        raise UsageError(f"{directory}: no such directory") from None
    except NotADirectoryError:
        raise UsageError(f"{directory}: not a directory") from None
    except OSError as e:
        raise VerificationError(f"{directory}: cannot list: {e.strerror}") from None
    return sorted(out)


def verify_chain(
    directory: Path | str,
    public_key: Ed25519PublicKey | Path | str | bytes,
    expect_head: str | tuple[int | None, bytes] | None = None,
) -> ChainReport:
    """Check every ``*.cal`` in ``directory`` and the chain they form; never raises for bad files."""
    directory = Path(directory)
    pub = load_public_key(public_key)
    expected = parse_head_spec(expect_head) if isinstance(expect_head, str) else expect_head
    report = ChainReport(directory=directory)
    # HEAD first, certificates second: a running writer adds certificate N before it
    # moves HEAD to N, so a HEAD read before the listing can never name a certificate
    # the listing misses unless it was deleted.  The other order flags a live chain as
    # truncated whenever an append lands between the listing and the HEAD read.
    head = _read_head(directory)

    by_seq: dict[int, list[tuple[Path, _Link]]] = {}
    newest_named = 0  # highest seq any file name claims, valid or not
    for path in _list_certs(directory):
        name_seq = seq_from_name(path.name)
        newest_named = max(newest_named, name_seq or 0)
        try:
            data = read_regular(path, MAX_FILE, "certificate", exc=VerificationError)
            cert = verify_bytes(data, pub)
        except OSError as e:
            report.breaks.append(ChainBreak(name_seq, path, f"cannot read: {e.strerror}"))
            continue
        except VerificationError as e:
            report.breaks.append(ChainBreak(name_seq, path, str(e)))
            continue
        report.count += 1
        if cert.action in LIFECYCLE_ACTIONS:
            report.lifecycle.append(_lifecycle_record(cert.body))
        if path.name != file_name(cert.seq):
            report.breaks.append(
                ChainBreak(
                    cert.seq,
                    path,
                    f"file name does not match the signed seq {cert.seq} (renamed, swapped or copied in;"
                    f" expected {file_name(cert.seq)})",
                )
            )
        by_seq.setdefault(cert.seq, []).append((path, _Link(cert.seq, cert.prev_hash, cert.hash)))

    prev: _Link | None = None
    expect_seq = 1
    for seq in sorted(by_seq):
        entries = by_seq[seq]
        if len(entries) > 1:
            for p, _ in entries:
                report.breaks.append(
                    ChainBreak(seq, p, f"{len(entries)} certificates claim seq {seq} (inserted or forked)")
                )
        path, link = entries[0]
        if seq != expect_seq:
            missing = f"{expect_seq}" if seq == expect_seq + 1 else f"{expect_seq}..{seq - 1}"
            report.breaks.append(
                ChainBreak(seq, path, f"certificate(s) {missing} missing before this one (deleted)")
            )
        else:
            want = ZERO_HASH if prev is None else prev.hash
            for p, c in entries:
                if c.prev_hash != want:
                    what = "the chain start" if prev is None else f"certificate {prev.seq}"
                    report.breaks.append(
                        ChainBreak(
                            seq,
                            p,
                            f"prev_hash does not match {what} (modified, inserted or reordered)",
                        )
                    )
        prev = link
        expect_seq = seq + 1
        report.head_seq, report.head_hash = seq, link.hash

    if not by_seq and not report.breaks:
        report.breaks.append(
            ChainBreak(None, None, f"no certificates in {directory}: nothing to verify (wrong directory?)")
        )
    _check_head_file(report, directory / "HEAD", head, by_seq, max(newest_named, report.head_seq))
    if expected is not None:
        report.expect_head_checked = True
        _check_expected_head(report, by_seq, expected)
    return report


def _lifecycle_record(b: dict[str, Any]) -> LifecycleRecord:
    sensor = b["sensor"]
    details = b["details"]
    prev = details.get("previous_sensor")
    down = details.get("down_ns_at_most")
    prev_key = None
    if isinstance(prev, dict):
        prev_key = (prev.get("pid", 0), prev.get("start_ticks", 0), prev.get("boot_id", ""))
    learnt: list[str] = []
    if b["action"] == BASELINE_LEARNT and isinstance(details.get("learnt"), dict):
        for ch, items in sorted(details["learnt"].items()):
            for item in items if isinstance(items, list) else []:
                # what it allows (``learnt``: an ephemeral port is never a key), else an older
                # record's first destination
                what = item.get("learnt", item.get("destination", "?")) if isinstance(item, dict) else item
                learnt.append(f"{ch} {what}")
    return LifecycleRecord(
        seq=b["seq"],
        action=b["action"],
        ts_ns=b["ts_ns"],
        sensor_pid=sensor["pid"],
        sensor_key=(sensor["pid"], sensor["start_ticks"], sensor["boot_id"]),
        reason=b["reason"],
        count=b.get("count", 0),
        down_ns=down if type(down) is int else 0,
        previous_pid=prev.get("pid", 0) if isinstance(prev, dict) and type(prev.get("pid")) is int else 0,
        previous_key=prev_key,
        agent_id=str(details.get("agent_id", "")),
        learnt=tuple(learnt),
    )


def _check_expected_head(
    report: ChainReport,
    by_seq: dict[int, list[tuple[Path, _Link]]],
    expected: tuple[int | None, bytes],
) -> None:
    exp_seq, exp_hash = expected
    for seq, entries in by_seq.items():
        for p, c in entries:
            if c.hash == exp_hash:
                if exp_seq is not None and exp_seq != seq:
                    report.breaks.append(
                        ChainBreak(seq, p, f"expected head names seq {exp_seq} but this certificate is {seq}")
                    )
                return
    if exp_seq is not None and exp_seq > report.head_seq:
        reason = (
            f"expected head seq {exp_seq} not found: chain ends at seq {report.head_seq}, "
            f"so the newest {exp_seq - report.head_seq} certificate(s) were deleted (truncation)"
        )
    elif exp_seq is not None:
        reason = f"expected head seq {exp_seq} has a different hash here (replaced, or another chain)"
    else:
        reason = "expected head not found in this directory (truncated, replaced, or another chain)"
    report.breaks.append(ChainBreak(exp_seq, None, reason))


def _read_head(directory: Path) -> bytes | Exception:
    """HEAD's bytes, or the error reading them (judged later, with the certificates)."""
    try:
        return read_regular(directory / "HEAD", 4096, "chain head file")
    except (OSError, H7Error) as e:
        return e


def _check_head_file(
    report: ChainReport,
    path: Path,
    head: bytes | Exception,
    by_seq: dict[int, list[tuple[Path, _Link]]],
    newest: int,
) -> None:
    """The writer's HEAD may lag the directory after a crash, but never lead it.

    HEAD lives next to the certificates, so whoever deletes certificates can
    rewrite it too: this catches careless truncation, not a careful attacker.
    """
    try:
        if isinstance(head, Exception):
            raise head
        parts = head.decode("ascii").split()
    except FileNotFoundError:
        if newest > 0:
            report.breaks.append(
                ChainBreak(
                    None,
                    path,
                    "chain head file HEAD is missing (every H7 writer keeps one: deleted, or certificates "
                    "copied without it)",
                )
            )
        return
    except PermissionError:
        return  # an auditor without access to HEAD loses only this weak extra check
    except (OSError, UnicodeDecodeError, H7Error):
        report.breaks.append(ChainBreak(None, path, "chain head file is unreadable or not a regular file"))
        return
    try:
        if len(parts) != 4 or parts[0] != "h7-cal-head" or parts[1] != "1":
            raise ValueError
        seq, h = int(parts[2]), bytes.fromhex(parts[3])
    except ValueError:
        report.breaks.append(ChainBreak(None, path, "chain head file is malformed"))
        return
    if seq > newest:
        report.breaks.append(
            ChainBreak(
                seq,
                path,
                f"HEAD records seq {seq} but the newest certificate is seq {newest} "
                "(newest certificates deleted)",
            )
        )
    elif seq > 0 and seq in by_seq and all(c.hash != h for _, c in by_seq[seq]):
        report.breaks.append(ChainBreak(seq, path, f"HEAD hash does not match certificate {seq}"))
