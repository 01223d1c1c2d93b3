"""The sensor's status file (``/run/h7/status.json``) and ``h7 status``.

The sensor rewrites the file every few seconds; ``h7 status`` only reads it.
A file is just a file, though: a sensor that was kill -9'd leaves its last
words behind.  So the writer records its pid *and* that process's start
time, and the reader believes the file only if that exact process is
still alive — a pid alone could have been recycled by now.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from h7.errors import H7Error, StorageError
from h7.safeio import read_regular

STATUS_SCHEMA = "h7.status/1"


def proc_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: start time in clock ticks since boot."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses; fields resume after the last ')'.
    rest = raw[raw.rfind(")") + 2 :].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def write_status(path: Path, state: dict[str, Any]) -> None:
    """Atomically replace the status file with ``state`` plus who wrote it and when."""
    path = Path(path)
    doc = {
        **state,
        "schema": STATUS_SCHEMA,
        "pid": os.getpid(),
        "pid_start_ticks": proc_start_ticks(os.getpid()),
        "written_at": time.time(),
    }
    data = json.dumps(doc, indent=1, default=str, allow_nan=False).encode()
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise StorageError.from_os("cannot write status file", path, e) from e


def writer_alive(doc: dict[str, Any]) -> bool:
    pid = doc.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    want = doc.get("pid_start_ticks")
    return want is None or proc_start_ticks(pid) == want


MAX_STATUS_FILE = 16 << 20  # the sensor writes a few KiB; anything near this is not ours


def read_status(path: Path) -> dict[str, Any]:
    """The status document with ``running`` (bool) and ``reason`` added.

    Never raises for a missing or stale file: "no sensor running" is an
    answer, not an error.
    """
    path = Path(path)
    try:
        doc = json.loads(read_regular(path, MAX_STATUS_FILE, "status file"))
    except FileNotFoundError:
        return {"running": False, "reason": f"no sensor running (no status file at {path})"}
    except (OSError, ValueError, RecursionError, H7Error) as e:
        return {"running": False, "reason": f"status file {path} is unreadable: {e}"}
    if not isinstance(doc, dict):
        return {"running": False, "reason": f"status file {path} is not a JSON object"}
    pid, written = doc.get("pid"), doc.get("written_at", 0)
    if type(pid) is not int or pid <= 0 or not _isnum(written):
        # one line for a damaged file, rather than a report about "pid None"
        return {"running": False, "reason": f"status file {path} is malformed (no valid pid / written_at)"}
    age = time.time() - float(written)
    doc["age_s"] = round(age, 1)
    if writer_alive(doc):
        doc["running"] = True
        doc["reason"] = f"sensor pid {doc.get('pid')} is running"
    else:
        doc["running"] = False
        doc["reason"] = (
            f"no sensor running: {path} was written by pid {doc.get('pid')}, which has exited "
            f"(last update {_ago(age)})"
        )
    return doc


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _num(v: Any, fmt: str = "{:.3g}") -> str:
    return fmt.format(v) if isinstance(v, int | float) and not isinstance(v, bool) else "-"


def _table(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _isnum(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def normalise_status(doc: dict[str, Any]) -> dict[str, Any]:
    """The view ``h7 status`` prints, from either of the shapes a sensor may write.

    The documented shape has ``agents`` (each with ``state`` and
    ``channels``), ``alerts_emitted``, ``spool`` and ``ringbuf_drops``.
    ``h7 attach`` writes its engine's own status instead (``engine``, a list
    of agent infos, ``sink``, ``ring``); both are mapped onto the first so
    neither side has to change when the other does.
    """
    view = dict(doc)
    engine: dict[str, Any] = _table(doc.get("engine"))
    eng_agents: dict[str, Any] = _table(engine.get("agents"))
    agents = []
    for a in doc.get("agents") or []:
        if not isinstance(a, dict):
            continue
        a = dict(a)
        e = _table(eng_agents.get(str(a.get("agent_id"))))
        a.setdefault("pid", a.get("root_pid"))
        if "state" not in a:
            a["state"] = "exited" if e.get("exited") else engine.get("phase", "?")
        if "channels" not in a and isinstance(e.get("channels"), dict):
            a["channels"] = e["channels"]
        if "baseline_progress" not in a and isinstance(engine.get("baseline_progress"), int | float):
            a["baseline_progress"] = engine["baseline_progress"]
        agents.append(a)
    view["agents"] = agents
    if "alerts_emitted" not in view:
        n = doc.get("alerts") if isinstance(doc.get("alerts"), int) else engine.get("alerts")
        view["alerts_emitted"] = n if isinstance(n, int) else 0
    if "spool" not in view and isinstance(doc.get("sink"), dict):
        view["spool"] = doc["sink"]
    if "ringbuf_drops" not in view:
        ring = _table(doc.get("ring"))
        view["ringbuf_drops"] = sum(
            int(v) for k, v in ring.items() if k.endswith("_dropped") and k != "scratch_dropped" and _isnum(v)
        )
    if "started_at" not in view and isinstance(doc.get("started"), int | float):
        view["started_at"] = doc["started"]
    return view


def format_status(doc: dict[str, Any], sink: dict[str, Any] | None = None) -> str:
    """Human-readable ``h7 status``; tolerant of missing keys (the state is an open object)."""
    doc = normalise_status(doc)
    lines: list[str] = []
    if not doc.get("running"):
        lines.append(f"h7: {doc.get('reason', 'no sensor running')}")
    else:
        started = doc.get("started_at")
        up = (
            f", up {_ago(time.time() - started).removesuffix(' ago')}"
            if isinstance(started, int | float)
            else ""
        )
        lines.append(
            f"sensor: running (pid {doc.get('pid')}{up}; status updated {_ago(doc.get('age_s', 0))})"
        )
    if doc.get("running") or doc.get("pid"):
        agents = doc.get("agents") or []
        lines.append(f"agents attached: {len(agents)}")
        for a in agents:
            state = a.get("state", "?")
            extra = ""
            if state == "baseline" and isinstance(a.get("baseline_remaining_s"), int | float):
                extra = f", {a['baseline_remaining_s']:.0f} s of baseline left"
            elif state == "baseline" and isinstance(a.get("baseline_progress"), int | float):
                extra = f", baseline {a['baseline_progress'] * 100:.0f}% done"
            lines.append(f"  {a.get('agent_id', '?')}  pid {a.get('pid', '?')}  {state}{extra}")
            chans = a.get("channels") or {}
            for ch in sorted(chans):
                c = chans[ch] if isinstance(chans[ch], dict) else {}
                div, thr = c.get("divergence"), c.get("threshold")
                mark = ""
                if isinstance(div, int | float) and isinstance(thr, int | float) and thr and div >= thr:
                    mark = "  ABOVE THRESHOLD"
                cstate = c.get("state", state)
                lines.append(
                    f"    {ch}: {cstate:<10} divergence {_num(div)} / threshold {_num(thr)}"
                    f"  alerts {c.get('alerts', 0)}{mark}"
                )
        lines.append(f"alerts emitted: {doc.get('alerts_emitted', 0)}")
        sp = doc.get("spool") or {}
        if sp:
            full = "  SPOOL FULL — alerts are being refused" if sp.get("spool_full") else ""
            lines.append(
                f"spool: {sp.get('spool_depth', 0)} pending ({sp.get('spool_bytes', 0)} bytes), "
                f"{sp.get('delivered', 0)} delivered, {sp.get('failed', 0)} failed attempts, "
                f"{sp.get('refused', 0)} refused{full}"
            )
            if sp.get("last_error"):
                lines.append(f"  last delivery error: {sp['last_error']}")
        lines.append(f"ring-buffer drops: {doc.get('ringbuf_drops', 0)}")
        gaps = _table(doc.get("gaps"))
        if gaps:  # issue 13: what this run's kernel side can see, as `h7 doctor` would say
            modes = ", ".join(f"{n} {_table(g).get('mode', '?')}" for n, g in sorted(gaps.items()))
            lines.append(f"gap modes: {modes}")
        for k, label in (
            ("sink_refused", "alerts refused by a full spool"),
            ("cal_failed", ".cal writes failed"),
            ("cal_held", "detections waiting in memory for the cal disk"),
            ("cal_uncertified", "detections beyond that, to be signed as a gap record"),
            ("spool_held", "certified alerts waiting in memory for the spool disk"),
            ("agent_capacity_refused", "matches not watched (all agent numbers in use)"),
            ("scope_insert_failed", "threads not watched (scope map full)"),
            ("scratch_dropped", "kernel finds lost: a preempted call's per-CPU scratch was reused"),
        ):
            v = doc.get(k) or _table(doc.get("ring")).get(k)
            if v:
                lines.append(f"ALARM: {label}: {v}")
    if sink is not None:
        if sink.get("reachable"):
            st = sink.get("stats") or {}
            lines.append(
                f"sinkhole: listening on {sink['socket']} (pid {sink.get('pid')}), "
                f"{st.get('delivered', 0)} alerts delivered, {st.get('duplicates', 0)} duplicates ignored"
            )
            if st.get("refused") or st.get("connections_refused"):
                by_uid = ", ".join(f"uid {u}: {n}" for u, n in (st.get("refused_by_uid") or {}).items())
                lines.append(
                    f"ALARM: sinkhole refused {st.get('refused', 0)} unauthenticated alert(s)"
                    + (f" ({by_uid})" if by_uid else "")
                    + f" and {st.get('connections_refused', 0)} connection(s) over the per-peer limit"
                )
            for o in sink.get("outputs") or []:
                lines.append(f"  output {o}")
        else:
            lines.append(f"sinkhole: not reachable at {sink.get('socket')} ({sink.get('error')})")
    return "\n".join(lines)
