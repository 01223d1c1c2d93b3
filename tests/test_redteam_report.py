"""The red-team harness's own logic, without a kernel: phases, verdicts, latency, totals, the suite's shape.

The suite itself runs live with `make redteam` (minutes); this checks the
bookkeeping that turns its acts and certificates into the table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redteam import harness, report
from redteam.harness import Harness, load_variants, order
from redteam.rt import ACT_PREFIX

MS = 1_000_000


def cert(name: str, pid: int, ch: str, code: str, ts: int, sign: int, hook: str = "") -> report.Cert:
    return report.Cert(name, pid, ch, code, ts, sign, hook)


def variant(
    name: str,
    start: int,
    end: int,
    *,
    gap: int = 1,
    expect: tuple[str, ...] = ("L4",),
    pid: int = 100,
    act_ns: int | None = None,
    ok: bool = True,
    held: bool = False,
) -> report.Phase:
    return report.Phase(name, "variant", start, end, gap, held, expect, pid, ok, act_ns, "")


def test_agent_pid_is_the_second_field_of_the_agent_id() -> None:
    assert report.agent_pid_of("agent:4242:1700000000") == 4242
    assert report.agent_pid_of("watched-agent:17:x") == 17
    assert report.agent_pid_of("garbage") == -1


def test_certificates_go_to_the_phase_holding_their_ts_and_strays_are_returned() -> None:
    b = report.Phase("benign-00", "benign", 0, 10 * MS)
    v = variant("v", 10 * MS, 20 * MS)
    early = cert("a.cal", 100, "L4", "UNKNOWN_DESTINATION", -5, 1)
    inb = cert("b.cal", 100, "L1", "DRIFT_DETECTED", 9 * MS, 9 * MS + 1)
    edge = cert("c.cal", 100, "L4", "UNKNOWN_DESTINATION", 10 * MS, 11 * MS)  # start is inclusive
    after = cert("d.cal", 100, "L4", "UNKNOWN_DESTINATION", 20 * MS, 21 * MS)  # end is exclusive
    stray = report.assign([v, b], [early, inb, edge, after])
    assert [c.name for c in b.certs] == ["b.cal"]
    assert [c.name for c in v.certs] == ["c.cal"]
    assert [c.name for c in stray] == ["a.cal", "d.cal"]


def test_act_to_cal_is_sign_time_of_the_first_detecting_alert_minus_the_act() -> None:
    v = variant("v", 0, 100 * MS, act_ns=5 * MS)
    report.assign(
        [v],
        [
            cert("late.cal", 100, "L4", "NET_EGRESS_BURST", 7 * MS, 60 * MS),
            cert(
                "first.cal",
                100,
                "L4",
                "UNKNOWN_DESTINATION",
                6 * MS,
                12 * MS + 500_000,
                hook="cgroup/connect4",
            ),
        ],
    )
    row = report.verdict(v)
    assert row["state"] == "detected" and row["detected"]
    assert row["act_to_cal_ms"] == 7.5  # 12.5 ms - 5 ms
    assert row["cal"] == "first.cal"
    assert row["codes"] == ["L4:NET_EGRESS_BURST", "L4:UNKNOWN_DESTINATION"]
    assert row["hooks"] == ["cgroup/connect4"]


def test_other_channels_and_other_agents_are_incidental_not_detections() -> None:
    v = variant("v", 0, 100 * MS, expect=("L5",), pid=100, act_ns=0)
    report.assign(
        [v],
        [
            cert("x.cal", 100, "L3", "STRUCTURAL_DRIFT", 1 * MS, 2 * MS),  # right agent, wrong channel
            cert("y.cal", 999, "L5", "PTRACE_ATTACH_DETECTED", 1 * MS, 2 * MS),  # right channel, other agent
        ],
    )
    row = report.verdict(v)
    assert row["state"] == "MISSED" and not row["detected"] and row["act_to_cal_ms"] is None
    assert row["incidental"] == ["L3:STRUCTURAL_DRIFT"]
    assert row["bystander"] == ["L5:PTRACE_ATTACH_DETECTED@999"]


def test_expect_may_name_a_code_not_only_a_channel() -> None:
    v = variant("v", 0, 100 * MS, expect=("L2:DAEMON_HANDOFF",), act_ns=0)
    report.assign([v], [cert("x.cal", 100, "L2", "LIVING_OFF_THE_LAND", MS, 2 * MS)])
    assert report.verdict(v)["state"] == "MISSED"
    v2 = variant("v2", 0, 100 * MS, expect=("L2:DAEMON_HANDOFF",), act_ns=0)
    report.assign([v2], [cert("y.cal", 100, "L2", "DAEMON_HANDOFF", MS, 3 * MS)])
    assert report.verdict(v2)["act_to_cal_ms"] == 3.0


def test_a_failed_act_is_not_run_neither_hit_nor_miss() -> None:
    v = variant("v", 0, 100 * MS, ok=False)
    report.assign([v], [cert("x.cal", 100, "L4", "UNKNOWN_DESTINATION", MS, 2 * MS)])
    assert report.verdict(v)["state"] == "not run"


def test_totals_per_gap_split_held_out_and_exclude_variants_that_did_not_run() -> None:
    rows = [
        {
            "variant": "a",
            "gap": 1,
            "held_out": False,
            "state": "detected",
            "detected": True,
            "act_to_cal_ms": 10.0,
        },
        {
            "variant": "b",
            "gap": 1,
            "held_out": False,
            "state": "MISSED",
            "detected": False,
            "act_to_cal_ms": None,
        },
        {
            "variant": "c",
            "gap": 2,
            "held_out": True,
            "state": "detected",
            "detected": True,
            "act_to_cal_ms": 30.0,
        },
        {
            "variant": "d",
            "gap": 2,
            "held_out": True,
            "state": "not run",
            "detected": False,
            "act_to_cal_ms": None,
        },
        {
            "variant": "e",
            "gap": 2,
            "held_out": False,
            "state": "detected",
            "detected": True,
            "act_to_cal_ms": 20.0,
        },
    ]
    t = report.totals(rows)
    assert t["gap1"] == {
        "variants": 2,
        "ran": 2,
        "detected": 1,
        "rate": 0.5,
        "folded": 0,
        "rate_with_folded": 0.5,
        "median_act_to_cal_ms": 10.0,
        "max_act_to_cal_ms": 10.0,
    }
    assert t["gap2"]["ran"] == 2 and t["gap2"]["detected"] == 2 and t["gap2"]["rate"] == 1.0
    assert t["held out"]["variants"] == 2 and t["held out"]["ran"] == 1 and t["held out"]["rate"] == 1.0
    assert t["suite (not held out)"]["detected"] == 2 and t["suite (not held out)"]["ran"] == 3
    assert t["all"]["median_act_to_cal_ms"] == 20.0 and t["all"]["max_act_to_cal_ms"] == 30.0


def test_benign_phases_count_every_alert_as_false() -> None:
    b1 = report.Phase("benign-00", "benign", 0, 6_000 * MS)
    b2 = report.Phase("benign-01", "benign", 10_000 * MS, 16_000 * MS)
    v = variant("v", 6_000 * MS, 10_000 * MS)
    report.assign([b1, v, b2], [cert("z.cal", 100, "L1", "DRIFT_DETECTED", 12_000 * MS, 12_001 * MS)])
    s = report.benign_summary([b1, v, b2])
    assert s["phases"] == 2 and s["seconds"] == 12.0 and s["false_alerts"] == 1
    assert s["alerts"][0] == {
        "phase": "benign-01",
        "agent_pid": 100,
        "channel": "L1",
        "code": "DRIFT_DETECTED",
        "cal": "z.cal",
    }


def test_render_prints_every_variant_the_totals_and_false_alerts() -> None:
    v = variant("g9_example", 0, 10 * MS, act_ns=0, held=True)
    report.assign([v], [cert("x.cal", 100, "L4", "UNKNOWN_DESTINATION", MS, 4 * MS)])
    rows = [report.verdict(v)]
    text = report.render(
        {
            "mode": "tracepoint",
            "kernel": "k",
            "git": "g",
            "variants": rows,
            "benign": {
                "phases": 1,
                "seconds": 6,
                "false_alerts": 1,
                "alerts": [{"phase": "benign-00", "channel": "L1", "code": "DRIFT_DETECTED", "cal": "y.cal"}],
            },
        }
    )
    assert "g9_example" in text and "detected" in text and "4.0" in text
    assert "held out" in text and "100.0%" in text
    assert "FALSE ALERT in benign-00: L1 DRIFT_DETECTED" in text  # no agent_pid in that summary


def test_report_main_reads_results_and_rejects_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "r.json"
    good.write_text(json.dumps({"mode": "fentry", "variants": [], "benign": {}}))
    assert report.main([str(good)]) == 0
    assert "fentry mode" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert report.main([str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("redteam.report: error:")


def test_the_suite_has_thirty_variants_across_the_five_gaps_plus_the_demo_attacks() -> None:
    vs = load_variants()
    gaps = {g: [v for v in vs if v.gap == g] for g in range(6)}
    assert len([v for v in vs if v.gap in (1, 2, 3, 4, 5)]) >= 30
    assert all(len(gaps[g]) >= 3 for g in range(1, 6)), {g: len(x) for g, x in gaps.items()}
    assert {v.name for v in gaps[0]} == {
        f"demo_{n}" for n in ("l1_miner", "l2_shell", "l3_cycle", "l4_egress", "l5_ptrace")
    }
    assert any(v.held_out for v in vs) and not all(v.held_out for v in vs)
    for v in vs:
        assert v.doc, f"{v.name}: first docstring line says what it does"
        assert v.mode in ("inject", "external", "nsenter") and v.target in ("host", "ns")
        if v.benign:  # real agent work: nothing is expected, any alert is false
            assert v.expect == () and v.gap == -1, v.name
        else:
            assert v.expect and all(e.split(":")[0] in ("L1", "L2", "L3", "L4", "L5") for e in v.expect)
        if v.warmup:
            assert v.benign and v.mode == "inject", v.name
        if v.prime:  # an attack that prepares during the baseline: never routine work
            assert not v.benign and not v.warmup and v.mode == "inject", v.name
        if v.mode == "nsenter":
            assert v.target == "ns"


def test_order_runs_the_miner_first_and_interleaves_the_gaps() -> None:
    vs = order(load_variants())
    assert vs[0].name == "demo_l1_miner"
    assert sorted(v.name for v in vs) == sorted(v.name for v in load_variants())
    gaps = [v.gap for v in vs[1:8]]
    assert len(set(gaps)) >= 5  # no run of one gap at the start


def test_act_lines_are_read_complete_only(tmp_path: Path) -> None:
    p = tmp_path / "agent.log"
    rec = {"act_ns": 123, "ok": True, "detail": "x"}
    p.write_bytes(
        b"agent: turn 3: noise\n" + (ACT_PREFIX + json.dumps(rec) + "\n").encode() + b'H7RT-ACT {"act'
    )
    acts, off = Harness.read_acts(p, 0)
    assert acts == [rec]
    assert off == p.stat().st_size - len(b'H7RT-ACT {"act')  # the torn line is read next time
    with open(p, "ab") as f:
        f.write(b'_ns": 5, "ok": false, "detail": ""}\n')
    acts2, _ = Harness.read_acts(p, off)
    assert acts2 == [{"act_ns": 5, "ok": False, "detail": ""}]


def test_a_results_file_is_recomputed_from_its_raw_phases() -> None:
    v = variant("v", 0, 10 * MS, act_ns=0)
    b = report.Phase("benign-00", "benign", 10 * MS, 20 * MS)
    raw = [{**{k: val for k, val in p.__dict__.items() if k != "certs"}, "certs": []} for p in (v, b)]
    raw[0]["certs"] = [report.Cert("x.cal", 100, "L4", "UNKNOWN_DESTINATION", MS, 2 * MS).__dict__]
    raw[0]["expect"] = list(raw[0]["expect"])  # as JSON gives it back
    out = report.recompute(json.loads(json.dumps({"mode": "tracepoint", "variants": [], "phases": raw})))
    assert [r["state"] for r in out["variants"]] == ["detected"]
    assert out["totals"]["all"]["detected"] == 1 and out["benign"]["false_alerts"] == 0


def test_a_verdict_folded_into_an_earlier_certificate_is_folded_not_missed() -> None:
    v = variant("tmux2", 0, 10 * MS, gap=5, expect=("L2",), pid=100, act_ns=0)
    v.folded = {"100": {"DAEMON_HANDOFF": 1, "STRUCTURAL_DRIFT": 3}, "200": {"FILELESS_EXEC": 1}}
    row = report.verdict(v)
    assert row["state"] == "folded" and not row["detected"]
    assert row["codes"] == ["L2:DAEMON_HANDOFF (folded)"]
    other = variant("tmux3", 0, 10 * MS, gap=5, expect=("L2",), pid=100, act_ns=0)
    other.folded = {"100": {"STRUCTURAL_DRIFT": 3}, "200": {"DAEMON_HANDOFF": 1}}  # wrong channel / agent
    assert report.verdict(other)["state"] == "MISSED"
    t = report.totals([row, report.verdict(other)])
    assert t["gap5"]["rate"] == 0.0 and t["gap5"]["folded"] == 1 and t["gap5"]["rate_with_folded"] == 0.5


def test_benign_phases_count_folded_verdicts_too() -> None:
    b = report.Phase("benign-03", "benign", 0, 8_000 * MS)
    b.folded = {"100": {"STRUCTURAL_DRIFT": 2, "DRIFT_DETECTED": 0}}
    s = report.benign_summary([b])
    assert s["false_alerts"] == 0 and s["folded_false_verdicts"] == 2
    assert s["folded"] == [{"phase": "benign-03", "agent_pid": 100, "code": "STRUCTURAL_DRIFT", "count": 2}]


def test_a_done_line_marks_the_end_of_an_injected_variant(tmp_path: Path) -> None:
    p = tmp_path / "agent.log"
    p.write_text(ACT_PREFIX + json.dumps({"act_ns": 1, "ok": True, "detail": ""}) + "\nH7RT-DONE\n")
    acts, _ = Harness.read_acts(p, 0)
    assert acts == [{"act_ns": 1, "ok": True, "detail": ""}, {"done": True}]


def test_benign_acts_count_every_alert_as_false_and_are_listed_apart() -> None:
    b = report.Phase("benign-00", "benign", 0, 10 * MS)
    act = report.Phase(
        "benign_ps_aux", "benign-act", 10 * MS, 20 * MS, -1, True, (), 100, True, 11 * MS, "ps"
    )
    act.folded = {"100": {"LLM_AGENT_HIJACK": 2}}
    v = variant("v", 20 * MS, 30 * MS, act_ns=21 * MS)
    report.assign([b, act, v], [cert("x.cal", 100, "L2", "LLM_AGENT_HIJACK", 12 * MS, 13 * MS)])
    s = report.benign_summary([b, act, v])
    assert s["false_alerts"] == 1 and s["phases"] == 2 and s["folded_false_verdicts"] == 2
    assert s["acts"] == [
        {
            "name": "benign_ps_aux",
            "act_ok": True,
            "detail": "ps",
            "alerts": ["L2:LLM_AGENT_HIJACK@100"],
            "folded": 2,
        }
    ]
    rows = [report.verdict(p) for p in (b, act, v) if p.kind == "variant"]
    assert [r["variant"] for r in rows] == ["v"]  # a benign act is never a row of the detection table
    text = report.render({"variants": rows, "benign": s, "mode": "tracepoint"})
    assert "benign_ps_aux" in text and "L2:LLM_AGENT_HIJACK@100" in text


def test_round_totals_are_reported_apart() -> None:
    v1 = variant("old", 0, 10 * MS, act_ns=0)
    v3 = variant("new", 10 * MS, 20 * MS, act_ns=10 * MS)
    v3.rnd = 3
    report.assign([v1, v3], [cert("a.cal", 100, "L4", "UNKNOWN_DESTINATION", 5 * MS, 6 * MS)])
    tots = report.totals([report.verdict(v1), report.verdict(v3)])
    assert tots["round 3"]["ran"] == 1 and tots["round 3"]["detected"] == 0
    assert tots["all"]["detected"] == 1


def test_totals_per_channel_count_the_variants_expecting_it_and_false_alerts_by_channel() -> None:
    a = variant("a", 0, 10 * MS, expect=("L4",), act_ns=0)
    b = variant("b", 10 * MS, 20 * MS, expect=("L2:DAEMON_HANDOFF", "L4"), act_ns=10 * MS)
    c = variant("c", 20 * MS, 30 * MS, expect=("L5",), act_ns=20 * MS)
    ben = report.Phase("benign-00", "benign", 30 * MS, 40 * MS)
    report.assign(
        [a, b, c, ben],
        [
            cert("1.cal", 100, "L4", "UNKNOWN_DESTINATION", 1 * MS, 2 * MS),
            cert("2.cal", 100, "L2", "DAEMON_HANDOFF", 11 * MS, 12 * MS),
            cert("3.cal", 100, "L1", "DRIFT_DETECTED", 31 * MS, 32 * MS),
            cert("4.cal", 100, "L1", "DRIFT_DETECTED", 33 * MS, 34 * MS),
            cert("5.cal", 100, "L3", "STRUCTURAL_DRIFT", 35 * MS, 36 * MS),
        ],
    )
    tots = report.totals([report.verdict(p) for p in (a, b, c)])
    assert (tots["channel L4"]["ran"], tots["channel L4"]["detected"]) == (2, 2)
    assert (tots["channel L2"]["ran"], tots["channel L2"]["detected"]) == (1, 1)
    assert (tots["channel L5"]["ran"], tots["channel L5"]["detected"]) == (1, 0)
    assert "channel L1" not in tots
    s = report.benign_summary([ben])
    assert s["false_alerts_by_channel"] == {"L1": 2, "L3": 1}
    assert "false alerts: 3 (L1 2, L3 1)" in report.render({"variants": [], "benign": s})


def test_variant_flags_are_read_and_a_warmup_must_be_injected(tmp_path: Path) -> None:
    head = '"""Doc line."""\nGAP = -1\nTARGET = "host"\nHELD_OUT = True\nEXPECT = ()\n'
    (tmp_path / "b_act.py").write_text(head + 'MODE = "inject"\nBENIGN = True\nWARMUP = True\nROUND = 3\n')
    (tmp_path / "s_var.py").write_text(
        head.replace("GAP = -1", "GAP = 4") + 'MODE = "inject"\nSTAGE = True\n'
    )
    vs = {v.name: v for v in load_variants(tmp_path)}
    assert vs["b_act"].benign and vs["b_act"].warmup and vs["b_act"].round == 3 and not vs["b_act"].stage
    assert vs["s_var"].stage and not vs["s_var"].benign and vs["s_var"].round == 1
    (tmp_path / "bad.py").write_text(head + 'MODE = "external"\nBENIGN = True\nWARMUP = True\n')
    with pytest.raises(ValueError, match="WARMUP"):
        load_variants(tmp_path)
    # benign acts interleave like a gap of their own, never first
    (tmp_path / "bad.py").unlink()
    assert [v.name for v in order(load_variants(tmp_path))] == ["s_var", "b_act"]


def test_shared_variant_helpers_do_what_the_variants_relied_on(tmp_path: Path) -> None:
    """rt.fresh_dir / other_tid / pid_of_comm / creat replaced copies in the variants: same behaviour."""
    import os
    import threading

    from redteam import rt

    d = tmp_path / "scratch"
    (d / "old").mkdir(parents=True)
    assert rt.fresh_dir(d) == d and list(d.iterdir()) == []  # a stale file never survives
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, args=(10,))
    t.start()
    try:
        tid = rt.other_tid(os.getpid())
        assert tid != os.getpid() and os.path.exists(f"/proc/{os.getpid()}/task/{tid}")
    finally:
        stop.set()
        t.join()
    assert rt.pid_of_comm("no-such-comm-h7") is None
    me = (Path("/proc/self/comm").read_text()).strip()
    assert rt.pid_of_comm(me) is not None
    fd = rt.creat(d / "c", 0o600)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)
    assert (d / "c").read_bytes() == b"x"
    with pytest.raises(OSError):
        rt.creat(d / "missing" / "c")


def test_round9_memory_oracle_and_cgroup_lookup_answer_for_a_real_process() -> None:
    """rt.memory_oracle asks the kernel about another process by pid (round 9's gap-2/3 recon variants)."""
    import os
    import time

    from redteam import rt

    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(10)
        finally:
            os._exit(0)
    try:
        time.sleep(0.1)
        lo, _ = rt.writable_region(pid)
        got = rt.memory_oracle(pid, lo)
        # a forked child has the parent's robust list (glibc sets it at thread start) and its heap mapped
        assert got["robust_list_head"] > 0, got
        assert isinstance(got["move_pages"], list) and got["move_pages"][0] >= 0, got
        assert got["kcmp_file"][0] == 0, got  # fd 0 inherited: the very same file
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert rt.memory_oracle(2**22 + 12345, lo)["robust_list_head"] < 0  # no such process: -errno
    root = rt.cgroup_dir("cpu") or rt.cgroup_dir("memory")
    if root is not None:
        assert rt.cgroup_of(os.getpid(), root).is_dir()


def test_results_files_are_compact_and_load_back_unchanged() -> None:
    stored = Path(__file__).resolve().parents[1] / "redteam" / "results" / "round4-first-tracepoint.json"
    result = json.loads(stored.read_text())
    text = report.dumps(result)
    assert json.loads(text) == result
    assert len(text) < 0.85 * len(json.dumps(result, indent=1))
    # one row per line: a changed variant is a one-line diff
    rows = [json.loads(x.strip().rstrip(",")) for x in text.splitlines() if x.startswith("  {")]
    assert sum("variant" in r for r in rows) == len(result["variants"])
    assert sum("certs" in r for r in rows) == len(result["phases"])


def test_report_defaults_to_the_run_that_started_last(tmp_path: Path) -> None:
    for name, started in (("a.json", "2026-12-01T05:00:00Z"), ("b.json", "2026-12-01T08:00:00Z")):
        (tmp_path / name).write_text(json.dumps({"started": started, "variants": []}))
    (tmp_path / "broken.json").write_text("{")
    assert report.newest_results(tmp_path) == [tmp_path / "b.json"]
    assert report.newest_results(tmp_path / "none") == []


def test_variants_a_time_limited_run_never_started_are_listed_not_counted() -> None:
    text = report.render({"variants": [], "benign": {}, "not_started": ["g1r5_mptcp_connect", "g2r4_x"]})
    assert "not started (the run's --max-seconds was reached): 2: g1r5_mptcp_connect, g2r4_x" in text
    assert "not started" not in report.render({"variants": [], "benign": {}, "not_started": []})


def test_render_names_variants_whose_stage_failed() -> None:
    """A variant dropped at set-up (its helper could not start) is named with the reason, not lost."""
    why = "OSError: staged helper ['dgram', '136'] exited with 1"
    text = report.render({"variants": [], "benign": {}, "stage_failed": {"g1r6_udplite_sendto": why}})
    assert f"not run (its staged helper failed at set-up): g1r6_udplite_sendto: {why}" in text
    assert "staged helper failed" not in report.render({"variants": [], "benign": {}, "stage_failed": {}})


def test_the_runs_mode_comes_from_the_sensors_gap_modes() -> None:
    """The harness names a run's mode from the sensor's own status (``gaps``), not from a second load.

    Every gap that has a fentry mode decides; proc_files (no fentry mode: its tracepoints serve
    both) does not make a guest run "mixed".  Without gaps, an attached fentry program decides.
    """
    from h7.sensor.sensor import GAPS

    two = [g.name for g in GAPS if g.fentry]
    one = [g.name for g in GAPS if not g.fentry]
    assert two and one  # the table has both kinds, or this test tests nothing

    def kernel(mode: dict[str, str]) -> dict[str, object]:
        return {"gaps": {n: {"gap": 1, "mode": mode.get(n, "tracepoint"), "hooks": []} for n in two + one}}

    assert harness.mode_of(kernel({n: "fentry" for n in two})) == "fentry"
    assert harness.mode_of(kernel({})) == "tracepoint"
    assert harness.mode_of(kernel({two[0]: "fentry"})) == "mixed:fentry+tracepoint"
    assert harness.mode_of(kernel({two[0]: "syscall"})) == "mixed:syscall+tracepoint"
    fentry_hook = {"hooks": [{"program": "p", "section": "fentry/security_bprm_check", "state": "attached"}]}
    assert harness.mode_of(fentry_hook) == "fentry"
    assert harness.mode_of({"hooks": [{**fentry_hook["hooks"][0], "state": "failed"}]}) == "tracepoint"
    line = harness.gap_line(kernel({two[0]: "fentry"}))
    assert f"{two[0]}=fentry" in line and f"{one[0]}=tracepoint" in line


def test_round10_state_helpers_and_ia32_entry_answer_for_real_processes(tmp_path: Path) -> None:
    """rt.proc_state / wait_state (round 10's SIGSTOP variants) and librt10's int $0x80 (its ia32 ones)."""
    import os
    import shutil
    import signal
    import time

    from redteam import rt

    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(10)
        finally:
            os._exit(0)
    try:
        assert rt.wait_state(pid, "S", 3), rt.proc_state(pid)
        os.kill(pid, signal.SIGSTOP)
        assert rt.wait_state(pid, "T", 3) and rt.proc_state(pid) == "T"
        os.kill(pid, signal.SIGCONT)
        assert rt.wait_state(pid, "!T", 3)
        assert not rt.wait_state(pid, "T", 0.2)  # bounded, and false when the state never comes
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert rt.proc_state(pid) == ""  # gone
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to build librt10")
    work = tmp_path / "work"
    work.mkdir()
    rt.build_r10_lib(work)
    lib = rt.r10_lib(work)
    assert lib.rt10_int80(20, 0, 0, 0, 0) == os.getpid()  # ia32 getpid through int $0x80
    assert lib.rt10_int80(97, 0, 2**22 + 12345, 0, 0) < 0  # ia32 setpriority of no such pid: -errno
