#!/usr/bin/python3
"""Run the red-team suite (`make redteam`) inside vmtest guests: the fentry-mode half of issue 13.

    vmtest/redteam.py [--kernels 6.1,6.12,newest] [--memory 2G] [--timeout S] [--tag T] [-- HARNESS ARGS...]

Reuses vmtest/run.py's set-up (virtme-ng, the Debian kernels, the ext4 Python image, with redteam/
added to it) and boots one guest per kernel, one after another (the suite is long and CPU-heavy
under TCG; run this under `flock /work/team/vmtest.lock`).  Each guest runs
vmtest/redteam_guest.sh; its results land in build/vmtest/redteam/<kernel>/redteam.json and are
copied to redteam/results/<mode>-<kernel>[-<tag>].json.  The kernels come from vmtest/kernels.sh,
which reuses H7_VMTEST_CACHE when set.  Stdlib only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_spec = importlib.util.spec_from_file_location("vmtest_run", HERE / "run.py")
assert _spec is not None and _spec.loader is not None
vr = importlib.util.module_from_spec(_spec)
sys.modules["vmtest_run"] = vr  # its dataclasses look their module up there
_spec.loader.exec_module(vr)
OUT = vr.WORK / "redteam"


def guest(name: str, img: Path, a: argparse.Namespace, extra: list[str]) -> Path:
    out = OUT / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    # The harness's arguments go through a file in the guest's rwdir, not the --exec line: virtme
    # puts that line, base64-encoded, on the kernel command line (2048 bytes on x86), and a long
    # --only list (33 names, session 11) cut it so the guest never started its script -- it idled
    # at boot with no error.
    (out / "harness.args").write_text("".join(f"{x}\n" for x in extra))
    cmd = [str(vr.VENV / "bin" / "vng")]
    if not vr.has_hw_virt():
        cmd.append("--disable-kvm")
    cmd += ["--force-9p", "--cpus", str(a.cpus), "--memory", a.memory, f"--rwdir={out}", "--run", str(img),
            f"--qemu-opts=-drive file={vr.IMAGE},format=raw,if=virtio,readonly=on",
            "--exec", " ".join(["env", f"H7_NPY={a.npy_disable}", f"H7_NUMPY_PROBE={a.numpy_probe}",
                                str(HERE / "redteam_guest.sh"), str(out)])]  # fmt: skip
    env = dict(os.environ, PATH=f"{vr.VENV / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin")
    logf = vr.WORK / f"redteam-{name}.log"
    t0 = time.monotonic()
    rc = vr.run_logged(cmd, env, logf, a.timeout)
    vr.log(f"{name}: guest exited {rc} after {time.monotonic() - t0:.0f} s (log {logf})")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernels", default="newest")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--memory", default="2G")
    ap.add_argument("--timeout", type=int, default=6000, help="hard limit per guest, seconds")
    ap.add_argument(
        "--npy-disable",
        default="X86_V3,X86_V4",
        metavar="FEATS",
        help="numpy dispatch targets switched off in the guest, comma-separated, or 'none' "
        "(default X86_V3,X86_V4: TCG runs numpy's AVX2 argsort wrongly, docs/kernels.md)",
    )
    ap.add_argument(
        "--numpy-probe",
        type=int,
        default=0,
        metavar="S",
        help="before the suite, run vmtest/numpy_probe.py for S seconds per setting (no H7)",
    )
    ap.add_argument(
        "--tag",
        default="",
        help="results go to redteam/results/<mode>-<kernel>-TAG.json (e.g. r678-<commit>: "
        "a partial run must not replace the kept whole-suite <mode>-<kernel>.json)",
    )
    ap.add_argument("harness", nargs="*", help="arguments for redteam.harness (after --)")
    a = ap.parse_args()
    names = [n.strip() for n in a.kernels.split(",") if n.strip() and n.strip() != "host"]
    vr.check_guests_see()
    if os.geteuid() != 0:
        vr.die("needs root")
    vr.ensure_deps()
    kernels = vr.fetch_kernels(names)
    vr.IMAGE_DIRS["main/redteam"] = ROOT / "redteam"
    vr.build_image()
    if a.numpy_probe:  # digests from this (trusted) CPU for the guests to compare against
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(HERE / "numpy_probe.py"), "expect",
                        str(OUT / "numpy_expect.json")], check=True)  # fmt: skip
    bad = 0
    for n in names:
        out = guest(n, kernels[n][1], a, a.harness)
        res = out / "redteam.json"
        if not res.exists():
            tail = (
                (out / "redteam.log").read_text(errors="replace")[-1500:]
                if (out / "redteam.log").exists()
                else ""
            )
            vr.log(f"{n}: no results; harness log tail:\n{tail}")
            bad += 1
            continue
        r = json.loads(res.read_text())
        tag = f"-{a.tag}" if a.tag else ""
        dst = ROOT / "redteam" / "results" / f"{r.get('mode', 'unknown')}-{n}{tag}.json"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(res, dst)
        print(subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                              "from redteam import report; report.main([sys.argv[2]])", str(ROOT), str(dst)],
                             capture_output=True, text=True, check=False).stdout)  # fmt: skip
        vr.log(f"{n}: results in {dst}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
