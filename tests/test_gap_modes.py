"""How the sensor picks each gap's mode from its table (Gap.modes), on every branch.

fentry never attaches on this host (EPERM), so the branch where it wins only
runs in the vmtest guests.  Here the libbpf programs are stand-ins that
attach or refuse as told; what is tested is the choice and the bookkeeping
around it: the first mode whose whole set attaches wins, a partial set is
detached again, the later modes' programs are marked skipped, sys_enter
serves a tracepoint mode without programs and every gap nothing attached for.
"""

from __future__ import annotations

from typing import Any

import pytest

from h7.errors import BPFError
from h7.sensor.sensor import Gap, Sensor


class Link:
    def __init__(self, name: str, destroyed: list[str]) -> None:
        self.name = name
        self._destroyed = destroyed

    def destroy(self) -> None:
        self._destroyed.append(self.name)


class Prog:
    def __init__(self, name: str, section: str, ok: bool, destroyed: list[str]) -> None:
        self.name, self.section, self.ok, self.autoload = name, section, ok, True
        self._destroyed = destroyed

    def attach(self) -> Link:
        if not self.ok:
            raise BPFError(f"attach {self.name}: Operation not permitted", errno=1, program=self.name)
        return Link(self.name, self._destroyed)


class Obj:
    def __init__(self) -> None:
        self.links: list[Any] = []


GAP = Gap("g", 9, "a gap", fentry=("fe_a", "fe_b"), tracepoint=("tp_a",))


def attach(gap: Gap, ok: dict[str, bool]) -> tuple[dict[str, Any], Sensor, Obj, list[str]]:
    destroyed: list[str] = []
    progs = {
        n: Prog(n, ("fentry/" if n.startswith("fe") else "tp_btf/") + n, v, destroyed) for n, v in ok.items()
    }
    s = Sensor()
    s._programs = progs  # type: ignore[assignment]
    obj = Obj()
    mode = s._attach_gap(obj, gap, dict(progs))  # type: ignore[arg-type]
    return mode, s, obj, destroyed


def states(s: Sensor) -> dict[str, tuple[str, str]]:
    return {h.program: (h.state, h.detail) for h in s.hooks}


def test_fentry_wins_when_its_whole_set_attaches() -> None:
    mode, s, obj, destroyed = attach(GAP, {"fe_a": True, "fe_b": True, "tp_a": True})
    assert mode == {"gap": 9, "mode": "fentry", "hooks": ["fentry/fe_a", "fentry/fe_b"], "what": "a gap"}
    assert states(s) == {
        "fe_a": ("attached", ""),
        "fe_b": ("attached", ""),
        "tp_a": ("skipped", "g: fentry mode"),
    }
    assert [link.name for link in obj.links] == ["fe_a", "fe_b"] and destroyed == []


def test_a_partial_fentry_set_is_detached_and_tracepoint_mode_runs() -> None:
    mode, s, obj, destroyed = attach(GAP, {"fe_a": True, "fe_b": False, "tp_a": True})
    assert mode["mode"] == "tracepoint" and mode["hooks"] == ["tp_btf/tp_a", "tp_btf/sys_enter"]
    assert destroyed == ["fe_a"]  # no act reported twice
    assert [link.name for link in obj.links] == ["tp_a"]
    assert states(s)["fe_a"][0] == states(s)["fe_b"][0] == "failed" and states(s)["tp_a"] == ("attached", "")


def test_nothing_attaches_leaves_sys_enter_alone() -> None:
    mode, s, obj, _ = attach(GAP, {"fe_a": False, "fe_b": True, "tp_a": False})
    assert mode["mode"] == "syscall" and mode["hooks"] == ["tp_btf/sys_enter"] and obj.links == []
    assert {state for state, _ in states(s).values()} == {"failed"}


@pytest.mark.parametrize("fentry_ok", [True, False])
def test_a_gap_without_tracepoint_programs(fentry_ok: bool) -> None:
    gap = Gap("t", 2, "tampering-like", fentry=("fe_a",))
    assert gap.modes() == [("fentry", ("fe_a",)), ("tracepoint", ())]
    mode, _, _, _ = attach(gap, {"fe_a": fentry_ok})
    # without programs of its own, tracepoint mode is sys_enter's check: it always "attaches"
    assert mode["mode"] == ("fentry" if fentry_ok else "tracepoint")
    assert mode["hooks"] == (["fentry/fe_a"] if fentry_ok else ["tp_btf/sys_enter"])


def test_a_program_shared_by_two_gaps_is_attached_once() -> None:
    destroyed: list[str] = []
    progs = {"fe_a": Prog("fe_a", "fentry/fe_a", True, destroyed)}
    s = Sensor()
    s._programs = progs  # type: ignore[assignment]
    obj = Obj()
    first = s._attach_gap(obj, Gap("one", 2, "x", fentry=("fe_a",)), dict(progs))  # type: ignore[arg-type]
    second = s._attach_gap(obj, Gap("two", 3, "y", fentry=("fe_a",)), dict(progs))  # type: ignore[arg-type]
    assert first["mode"] == second["mode"] == "fentry" and len(obj.links) == 1
    assert second["hooks"] == ["fentry/fe_a"]


def test_a_gap_without_fentry_programs_has_no_fentry_mode() -> None:
    assert Gap("n", 1, "x", fentry=(), tracepoint=("tp_a",)).modes() == [("tracepoint", ("tp_a",))]


def test_a_gap_nothing_sees_outside_fentry_mode_names_no_hook_there() -> None:
    """fallback_sees=False (the use of a /proc/<pid>/mem fd): sys_enter is not claimed as its hook."""
    gap = Gap("g", 2, "a use", fentry=("fe_a",), fallback_sees=False)
    mode, _, _, _ = attach(gap, {"fe_a": False})
    assert mode["mode"] == "tracepoint" and mode["hooks"] == []
    mode, _, _, _ = attach(gap, {"fe_a": True})
    assert mode["mode"] == "fentry" and mode["hooks"] == ["fentry/fe_a"]
