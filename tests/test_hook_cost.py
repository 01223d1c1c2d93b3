"""bench/hook_cost.py's arithmetic: set-ups compared round by round, and the table it prints.

The measurement itself needs root, real BPF and minutes (`make bench`); what
can silently go wrong without either is the pairing of rounds (a ratio of
medians is not a median of per-round ratios) and which set-up a figure
names, so these pin both on made-up rounds.
"""

from __future__ import annotations

import pytest

from bench.harness import BenchError
from bench.hook_cost import _compare, _mark_added, _marks, selected_ops, summary


def _raw() -> dict[str, dict[str, list[float]]]:
    # three rounds; round 1 is a slow round for every set-up alike (a neighbour took the CPU)
    return {
        "base": {"open_unmonitored": [100.0, 200.0, 100.0]},
        "floor": {"open_unmonitored": [110.0, 220.0, 110.0]},
        "ref": {"open_unmonitored": [120.0, 240.0, 120.0]},
        "syscall": {"open_unmonitored": [130.0, 260.0, 130.0]},
        "h7": {"open_unmonitored": [150.0, 300.0, 150.0]},
    }


def test_rounds_are_compared_pairwise() -> None:
    res = _compare(_raw(), "hook_cpu")
    k = "open_unmonitored"
    assert res[f"hook_cpu_ns_base_{k}"] == 100.0
    # per round h7/base = 1.5 every time: the slow round does not widen the spread
    assert res[f"hook_cpu_ratio_h7_{k}"] == pytest.approx(1.5)
    assert res[f"hook_cpu_ratio_h7_{k}_spread"] == pytest.approx(0.0)
    assert res[f"hook_cpu_ns_added_h7_{k}"] == 50.0  # median of 50, 100, 50
    assert res[f"hook_cpu_ns_added_floor_{k}"] == 10.0
    assert res[f"hook_cpu_h7_share_ns_{k}"] == 40.0  # h7 - floor
    assert res[f"hook_cpu_gap_hooks_ns_{k}"] == 20.0  # h7 - syscall
    assert res[f"hook_cpu_growth_ns_{k}"] == 30.0  # h7 - ref (before issue 13)
    assert res[f"hook_cpu_growth_ratio_{k}"] == pytest.approx(1.25)


def test_a_monitored_row_has_no_reference() -> None:
    raw = _raw()
    for setup in raw:
        if setup != "ref":
            raw[setup]["open_monitored"] = [1.0, 1.0, 1.0]
    res = _compare(raw, "hook")
    assert "hook_growth_ns_open_monitored" not in res
    assert "hook_ratio_ref_open_monitored" not in res
    assert res["hook_ratio_h7_open_monitored"] == 1.0


def test_summary_prints_each_measured_row_and_program_growth() -> None:
    res = {"hook_rounds": 3.0, **_compare(_raw(), "hook_cpu"), **_compare(_raw(), "hook")}
    res["hook_bpf_h7_sys_enter_open_unmonitored_ns_per_run"] = 190.0
    res["hook_bpf_ref_h7_sys_enter_open_unmonitored_ns_per_run"] = 75.0
    text = summary(res)
    rows = [line for line in text.splitlines() if line.startswith("open ")]
    assert len(rows) == 1 and "unmonitored" in rows[0] and "+50 (1.500, 0.00)" in rows[0]
    growth = [line.split()[:5] for line in text.splitlines()]
    assert ["h7_sys_enter", "open", "190", "75", "+115"] in growth
    assert summary({}) == ""


def test_programs_the_reference_lacks_get_their_own_rows() -> None:
    """inet_sock_set_state, the cgroup hooks...: no pre-issue-13 figure, still one row per op."""
    res = {"hook_rounds": 3.0, **_compare(_raw(), "hook_cpu"), **_compare(_raw(), "hook")}
    res["hook_bpf_h7_sys_enter_open_unmonitored_ns_per_run"] = 190.0
    res["hook_bpf_ref_h7_sys_enter_open_unmonitored_ns_per_run"] = 75.0
    res["hook_bpf_h7_sock_state_listen_unmonitored_ns_per_run"] = 250.0
    res["hook_bpf_h7_sock_state_listen_monitored_ns_per_run"] = 11000.0
    res["hook_bpf_h7_cg_connect4_connect_monitored_ns_per_run"] = 21000.0
    text = summary(res)
    new = text.split("new since issue 13")[1].splitlines()
    rows = [line.split() for line in new[2:]]
    assert ["h7_sock_state", "listen", "250", "11000"] in rows
    assert ["h7_cg_connect4", "connect", "nan", "21000"] in rows
    # a program the reference has stays in the growth table only
    assert not any(r[0] == "h7_sys_enter" for r in rows)


def test_a_live_mark_is_judged_against_the_same_exec_without_one() -> None:
    """execmark's added cost minus exec's, round by round: a slow round hits both and cancels."""
    cpu = {
        "base": {"exec_unmonitored": [1000.0, 2000.0], "execmark_unmonitored": [1010.0, 2020.0]},
        "h7": {"exec_unmonitored": [1100.0, 2200.0], "execmark_unmonitored": [1160.0, 2270.0]},
    }
    res = {"hook_bpf_ns_per_op_execmark_unmonitored": 900.0, "hook_bpf_ns_per_op_exec_unmonitored": 500.0}
    out = _mark_added(cpu, res)
    # round 0: (1160 - 1010) - (1100 - 1000) = 50; round 1: (2270 - 2020) - (2200 - 2000) = 50
    assert out["hook_cpu_mark_added_ns_execmark_unmonitored"] == 50.0
    assert out["hook_bpf_mark_added_ns_execmark_unmonitored"] == 400.0
    assert sorted(out) == [
        "hook_bpf_mark_added_ns_execmark_unmonitored",
        "hook_cpu_mark_added_ns_execmark_unmonitored",
    ]
    rows = [line.split() for line in _marks({**res, **out}) if "execmark" in line]
    assert rows == [
        ["execmark", "vs", "exec:", "CPU", "+50", "ns", "per", "exec,", "BPF", "+400", "ns", "per", "exec"]
    ]


def test_an_unknown_op_is_one_clear_error() -> None:
    counts = {"open": 10, "exec": 2, "execmark": 2}
    assert selected_ops(counts, "") == counts
    assert selected_ops(counts, "execmark,open") == {"open": 10, "execmark": 2}
    with pytest.raises(BenchError, match=r"unknown op.*opne"):
        selected_ops(counts, "open,opne")


def test_the_held_gate_is_held_minus_h7_side_by_side() -> None:
    """The held set-up (a pre-attach mem fd registered) is compared with h7 round by round, own rows."""
    raw = _raw()
    for setup in ("base", "floor", "syscall"):
        raw[setup]["read_unmonitored"] = [100.0, 200.0, 100.0]
    raw["h7"]["read_unmonitored"] = [104.0, 204.0, 104.0]
    raw["held"] = {"read_unmonitored": [110.0, 230.0, 112.0]}
    res = {"hook_rounds": 3.0, **_compare(raw, "hook_cpu"), **_compare(raw, "hook")}
    res["hook_held_files_registered"] = 1.0
    res["hook_bpf_h7_sys_enter_read_unmonitored_ns_per_run"] = 40.0
    res["hook_bpf_held_h7_sys_enter_read_unmonitored_ns_per_run"] = 55.0
    assert res["hook_cpu_held_gate_ns_read_unmonitored"] == 8.0  # median of 6, 26, 8
    assert "hook_cpu_held_gate_ns_open_unmonitored" not in res  # not timed in the held set-up
    text = summary(res)
    block = text.split("read-family gate")[1].split("\n\n")[0]
    rows = [line.split() for line in block.splitlines()[2:]]
    # held - base: median of 10, 30, 12; then sys_enter's ns per run without and with a holder
    assert rows == [["read", "unmonitored", "+4", "+12", "+8", "40", "55"]]
    assert "held_h7" not in text  # the held pass is no program of its own in the other tables
