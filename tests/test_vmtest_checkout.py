"""vmtest refuses, in one line, a checkout its virtme-ng guests cannot see (no BPF, no guest booted)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _copy_under(parent: str) -> Path:
    """A checkout of just vmtest/ below ``parent`` (what the scripts look at before any set-up)."""
    root = Path(tempfile.mkdtemp(prefix="h7-vmtest-", dir=parent))
    shutil.copytree(ROOT / "vmtest", root / "vmtest")
    return root


@pytest.mark.parametrize("script", ["run.py", "redteam.py"])
def test_checkout_under_var_tmp_is_refused_before_any_set_up(script: str) -> None:
    root = _copy_under("/var/tmp")
    try:
        p = subprocess.run(
            [sys.executable, str(root / "vmtest" / script), "--kernels", "6.1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 2, p
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1, p.stderr
        assert lines[0].startswith("vmtest: error: the checkout ") and "under /var/tmp" in lines[0], lines
        assert not (root / "build").exists()  # refused before the venv, the kernels, the image
    finally:
        shutil.rmtree(root)


def test_host_row_and_other_paths_are_not_refused(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("vmtest_run_check", ROOT / "vmtest" / "run.py")
    assert spec is not None and spec.loader is not None
    vr = importlib.util.module_from_spec(spec)
    sys.modules["vmtest_run_check"] = vr
    try:
        spec.loader.exec_module(vr)
        vr.check_guests_see(tmp_path)  # /tmp is the guest's own: fine
        vr.check_guests_see(Path("/var/tmpfoo/x"))  # a prefix is not a parent
        with pytest.raises(SystemExit) as e:
            vr.check_guests_see(Path("/var/log/h7"))
        assert e.value.code == 2
    finally:
        del sys.modules["vmtest_run_check"]
    root = _copy_under("/var/tmp")
    try:  # the host row runs guest.sh natively: no guest, nothing to refuse
        p = subprocess.run(
            [sys.executable, str(root / "vmtest" / "run.py"), "--kernels", "host", "--collect"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "virtme-ng guests" not in p.stderr, p.stderr
    finally:
        shutil.rmtree(root)


def _run_module() -> object:
    spec = importlib.util.spec_from_file_location("vmtest_run_alt", ROOT / "vmtest" / "run.py")
    assert spec is not None and spec.loader is not None
    vr = importlib.util.module_from_spec(spec)
    sys.modules["vmtest_run_alt"] = vr
    try:
        spec.loader.exec_module(vr)
    finally:
        del sys.modules["vmtest_run_alt"]
    return vr


def test_the_unloadable_half_of_a_renamed_tracepoint_does_not_block_the_retry() -> None:
    """CI 2026-12-01: on 7.3 `h7_tp_uring_submit_sqe` cannot load (6.1's tracepoint name) while
    its twin attached; counting that as a rejection skipped the one re-run a timing failure gets."""
    from h7.sensor.sensor import URING_PROGRAMS

    vr: Any = _run_module()
    assert set(URING_PROGRAMS) in [set(g) for g in vr.ALTERNATIVES]  # kept in step with the sensor
    newest = vr.Result("newest", programs=["h7_sys_enter", "h7_tp_uring_submit"],
                       failed=["h7_tp_uring_submit_sqe: ESRCH: load BPF program ..."])  # fmt: skip
    assert vr.rejected(newest) == []
    neither = vr.Result("x", programs=["h7_sys_enter"],
                        failed=["h7_tp_uring_submit_sqe: ESRCH", "h7_tp_uring_submit: ESRCH"])  # fmt: skip
    assert len(vr.rejected(neither)) == 2  # neither twin attached: a real gap, reported
    verifier = vr.Result(
        "y", programs=["h7_tp_uring_submit"], failed=["h7_sys_enter: EACCES — verifier: R1 invalid"]
    )
    assert vr.rejected(verifier) == ["h7_sys_enter: EACCES — verifier: R1 invalid"]


def _suite(out: Path, name: str, rc: str, cases: list[tuple[str, str, str]], log: str = "") -> None:
    """A guest suite's files as guest.sh leaves them: rc, junit XML of (classname, name, outcome), log."""
    (out / f"{name}.rc").write_text(rc + "\n")
    (out / f"{name}.log").write_text(log)
    body = ""
    for cls, test, outcome in cases:
        inner = {"failed": '<failure message="assert 0"/>', "error": '<error message="boom"/>'}.get(
            outcome, ""
        )
        body += f'<testcase classname="{cls}" name="{test}">{inner}</testcase>'
    (out / f"{name}.xml").write_text(f'<testsuites><testsuite name="pytest">{body}</testsuite></testsuites>')


def test_only_the_failed_tests_are_named_for_the_re_run(tmp_path: Path) -> None:
    """CI 2026-12-01 (session 8): a whole-guest re-run after a failure took the vmtest step to 4200 s.

    The re-run now runs just the failed tests, by node id, which guest.sh passes to pytest."""
    vr: Any = _run_module()
    gaps = "check.work.main.tests.test_sensor_gaps"
    _suite(tmp_path, "sensor", "1", [(gaps, "test_a", "passed"), (gaps, "test_b[1]", "failed")])
    _suite(
        tmp_path,
        "live",
        "1",
        [("tests.test_live_cpu", "test_c", "error"), ("tests.test_live_cpu", "test_d", "")],
    )
    assert vr.failed_ids(tmp_path) == ["test_sensor_gaps.py::test_b[1]", "test_live_cpu.py::test_c"]
    (tmp_path / "live.rc").write_text("none\n")  # a short check has no live suite
    (tmp_path / "live.xml").unlink()
    assert vr.failed_ids(tmp_path) == ["test_sensor_gaps.py::test_b[1]"]
    (tmp_path / "sensor.xml").unlink()  # killed before pytest wrote a report: nothing to name
    assert vr.failed_ids(tmp_path) is None


def test_a_suite_stopped_at_the_budget_names_the_test_it_was_in(tmp_path: Path) -> None:
    """guest.sh stops a suite with SIGINT at the guest's budget: the report says where it hung."""
    vr: Any = _run_module()
    log = ("tests/test_live_cpu.py::test_c PASSED [ 10%]\n"
           "tests/test_live_cpu.py::test_busy \n!!! KeyboardInterrupt !!!\n")  # fmt: skip
    _suite(tmp_path, "live", "2", [("tests.test_live_cpu", "test_c", "passed")], log)
    state, bad = vr._junit(tmp_path / "live.xml", tmp_path / "live.rc", tmp_path / "live.log")
    assert state.startswith("FAIL 1/1")
    assert bad == ["suite stopped (rc 2) in tests/test_live_cpu.py::test_busy"]
    assert vr.guest_budget(2100) == 2100 - vr.GUEST_OVERHEAD_S


def test_guest_sh_stops_a_suite_at_its_budget_with_sigint(tmp_path: Path) -> None:
    """guest.sh's budget arithmetic and signal, run by bash: a suite never outlives the budget."""
    text = (ROOT / "vmtest" / "guest.sh").read_text()
    assert "timeout -s INT" in text and "H7_VMTEST_BUDGET" in text
    start = text.index("budget_end=")
    fn = text[start : text.index("shopt -s nullglob")]
    # the real function, with pytest replaced by a sleeper that reports how it ended
    script = fn.replace('"$PY" -m pytest', 'bash -c "sleep 45" _').replace("-k 60", "-k 5")
    out = subprocess.run(
        ["bash", "-c", f"OUT={tmp_path}; PY=python3; ROOT=/; H7_VMTEST_BUDGET=2\n{script}\nrun_pytest s x\n"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    # the limit is floored at 30 s: the sleeper (45 s) is stopped by SIGINT -> rc 130
    assert (tmp_path / "s.rc").read_text().strip() in ("124", "130"), (tmp_path / "s.rc").read_text()


def test_a_failed_guest_re_runs_only_its_failed_tests_in_a_short_guest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The re-run names the failed tests and gets RERUN_TIMEOUT_S; a guest that timed out gets none."""
    import argparse

    vr: Any = _run_module()
    monkeypatch.delenv("H7_VMTEST_TESTS", raising=False)
    monkeypatch.setattr(vr, "RESULTS", tmp_path)
    calls: list[tuple[int, str | None]] = []

    def fake_guest(name: str, kver: str, img: Path, a: argparse.Namespace, only: str | None = None) -> Any:
        calls.append((a.timeout, only))
        out = tmp_path / name
        out.mkdir(exist_ok=True)
        first = only is None
        _suite(out, "sensor", "1" if first else "0",
               [("tests.test_live_cpu", "test_busy", "failed" if first else "passed")])  # fmt: skip
        (out / "live.rc").write_text("none\n")
        r = vr.Result(name, kver, sensor="FAIL 0/1" if first else "pass 1/1", live="none", boot_rc=0)
        if first:
            r.problems = ["detection test test_busy: assert 0"]
        return r

    monkeypatch.setattr(vr, "run_guest", fake_guest)
    a = argparse.Namespace(timeout=2400)
    r = vr.run_guest_retrying("6.1", "6.1.0", tmp_path / "img", a)
    assert calls == [(2400, None), (vr.RERUN_TIMEOUT_S, "test_live_cpu.py::test_busy")]
    assert r.ok and (tmp_path / "6.1.first" / "sensor.xml").exists()

    calls.clear()

    def timed_out(name: str, kver: str, img: Path, a: argparse.Namespace, only: str | None = None) -> Any:
        calls.append((a.timeout, only))
        return vr.Result(name, kver, boot_rc=-9, problems=["guest timed out after 2400 s"])

    monkeypatch.setattr(vr, "run_guest", timed_out)
    r = vr.run_guest_retrying("newest", "7.3", tmp_path / "img", a)
    assert calls == [(2400, None)] and not r.ok and "not re-run: it timed out" in r.problems


def test_split_live_runs_every_live_file_once_balanced_by_weight() -> None:
    """--split-live: each live file in exactly one guest; the heaviest go to the least loaded guest."""
    vr: Any = _run_module()
    files = [*sorted(p.name for p in (ROOT / "tests").glob("test_live*.py")), "test_live_new.py"]
    shares = vr.split_live(["6.1", "newest"], files)
    dealt = [f for fs in shares.values() for f in fs]
    assert sorted(dealt) == sorted(files) and len(dealt) == len(set(dealt))
    load = {g: sum(vr.LIVE_WEIGHT_S.get(f, vr.DEFAULT_LIVE_WEIGHT_S) for f in fs) for g, fs in shares.items()}
    heaviest = max(vr.LIVE_WEIGHT_S.get(f, vr.DEFAULT_LIVE_WEIGHT_S) for f in files)
    assert abs(load["6.1"] - load["newest"]) <= heaviest  # greedy: never worse than one file apart
    assert vr.split_live(["6.1"], files) == {"6.1": sorted(files)}
    assert vr.split_live(["a", "b", "c"], ["test_live_x.py"])["c"] == []


def test_the_guest_is_told_its_live_share(tmp_path: Path) -> None:
    """vng's --exec carries H7_VMTEST_LIVE (a comma list, or "none"); without a split, nothing."""
    vr: Any = _run_module()
    img = tmp_path / "vmlinuz"

    def exec_of(cmd: list[str]) -> str:
        return cmd[cmd.index("--exec") + 1]

    assert "H7_VMTEST_LIVE" not in exec_of(vr.vng_cmd(img, tmp_path, 1, "1G", False, 100))
    both = exec_of(vr.vng_cmd(img, tmp_path, 1, "1G", False, 100, None, ["test_live_a.py", "test_live_b.py"]))
    assert "H7_VMTEST_LIVE=test_live_a.py,test_live_b.py " in both
    assert "H7_VMTEST_LIVE=none " in exec_of(vr.vng_cmd(img, tmp_path, 1, "1G", False, 100, None, []))


def test_guest_sh_runs_only_its_live_share(tmp_path: Path) -> None:
    """guest.sh's live-suite choice, run by bash with pytest replaced by an echo of its files."""
    text = (ROOT / "vmtest" / "guest.sh").read_text()
    start = text.index('    if [ -n "${H7_VMTEST_LIVE:-}" ]')
    block = text[start : text.index('    run_pytest live "${live[@]}"')]
    for env, want in (("test_live_a.py,test_live_b.py", "/r/tests/test_live_a.py /r/tests/test_live_b.py"),
                      ("none", "")):  # fmt: skip
        out = subprocess.run(
            ["bash", "-c", f'ROOT=/r; H7_VMTEST_LIVE={env}\n{block}\necho "${{live[@]}}"\n'],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == want
