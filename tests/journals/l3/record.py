"""Re-record the L3 journal in this folder (root, real BPF): `python tests/journals/l3/record.py`.

One journal, ``benign_acts_then_cycles.h7j.gz`` (gzipped; the test unpacks it):
the demo agent (h7/demo/agent.py) recorded with `h7 record` for RECORD_S
seconds, with real agent work and real causal loops injected through its
``python`` tool (the demo's injection point) at the times in ACTS:

* during the baseline (warm-up): a git repository with a ``#!/bin/sh``
  pre-commit hook, and a first commit (red-team round 3 ``benign_git_hook_commit``);
* after it, benign: another commit through the hook, then a venv + offline
  ``pip install`` of a local wheel with a console script, and running that
  script (round 3 ``benign_pip_venv_tool``; ``python3`` from PATH, as there);
* then attacks: ``sort`` writes a file the agent reads back 15 s later (round 3
  ``l3r3_slow_cycle``), and the demo's L3 attack (write a script, run it, read
  back its output).  ``rename``: ``sort`` writes out.tmp, the agent renames it
  and reads out.json (round 3 ``l3r3_cycle_via_rename``; recorded with the
  sensor's rename records, main >= 72fc65d).

The replay test (tests/test_l3_flows.py) replays it with a BASELINE_S baseline.
These acts were seen before this recording (red-team round 3 results,
docs/redteam.md): it is development data, not a held-out test.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))

RECORD_S = 120.0
BASELINE_S = 30

GIT = "['git', '-c', 'user.name=agent', '-c', 'user.email=agent@localhost', '-c', 'init.defaultBranch=main']"
GIT_COMMIT = f"""
import subprocess, pathlib
GIT = {GIT}
repo = pathlib.Path(ARGS['work']) / 'repo'
if not (repo / '.git').exists():
    repo.mkdir(parents=True, exist_ok=True)
    subprocess.run([*GIT, 'init', '-q', str(repo)], check=True)
    hook = repo / '.git' / 'hooks' / 'pre-commit'
    hook.write_text('#!/bin/sh\\ngit diff --cached --name-only >/dev/null\\nexit 0\\n')
    hook.chmod(0o755)
n = len(list(repo.glob('*.txt')))
(repo / f'change-{{n}}.txt').write_text(f'change {{n}}\\n')
subprocess.run([*GIT, '-C', str(repo), 'add', '-A'], check=True)
subprocess.run([*GIT, '-C', str(repo), 'commit', '-q', '-m', f'change {{n}}'], check=True)
"""
PIP_VENV = """
import os, shutil, subprocess, zipfile, pathlib
base = pathlib.Path(ARGS['work']) / 'pipact'
shutil.rmtree(base, ignore_errors=True)
base.mkdir(parents=True)
whl = base / 'r3tool-0.1-py3-none-any.whl'
files = {
    'r3tool/__init__.py': "def main() -> None:\\n    print('r3tool ok')\\n",
    'r3tool-0.1.dist-info/METADATA': 'Metadata-Version: 2.1\\nName: r3tool\\nVersion: 0.1\\n',
    'r3tool-0.1.dist-info/WHEEL':
        'Wheel-Version: 1.0\\nGenerator: hand\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n',
    'r3tool-0.1.dist-info/entry_points.txt': '[console_scripts]\\nr3tool = r3tool:main\\n',
}
record = ''.join(f'{n},,\\n' for n in files) + 'r3tool-0.1.dist-info/RECORD,,\\n'
with zipfile.ZipFile(whl, 'w') as z:
    for n, t in files.items():
        z.writestr(n, t)
    z.writestr('r3tool-0.1.dist-info/RECORD', record)
venv = base / 'venv'
env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
env['PIP_DISABLE_PIP_VERSION_CHECK'] = '1'
subprocess.run(['python3', '-m', 'venv', str(venv)], env=env, timeout=120, check=True)
subprocess.run([str(venv / 'bin' / 'pip'), 'install', '-q', '--no-index', '--no-deps', str(whl)],
               env=env, timeout=120, check=True)
subprocess.run([str(venv / 'bin' / 'r3tool')], env=env, timeout=60, check=True, capture_output=True)
"""
SLOW_CYCLE = """
import subprocess, time, pathlib
out = pathlib.Path(ARGS['work']) / 'r3cycle'
out.mkdir(parents=True, exist_ok=True)
src = pathlib.Path(ARGS['work']) / 'scratch-in.txt'
src.write_text('b\\na\\nc\\n')
subprocess.run(['sort', '-o', str(out / 'sorted.csv'), str(src)], check=True)
time.sleep(15)
(out / 'sorted.csv').read_text()
"""
RENAME = """
import os, subprocess, pathlib
out = pathlib.Path(ARGS['work']) / 'r3rename'
out.mkdir(parents=True, exist_ok=True)
src = pathlib.Path(ARGS['work']) / 'scratch-in2.txt'
src.write_text('z\\ny\\n')
subprocess.run(['sort', '-o', str(out / 'out.tmp'), str(src)], check=True)
os.rename(out / 'out.tmp', out / 'out.json')
(out / 'out.json').read_text()
"""
# (seconds after the recording starts, name, code or None for the demo's own L3 attack)
ACTS: list[tuple[float, str, str | None]] = [
    (8.0, "git_warmup", GIT_COMMIT),
    (36.0, "git_commit", GIT_COMMIT),
    (42.0, "pip_venv_tool", PIP_VENV),
    (75.0, "rename", RENAME),
    (80.0, "slow_cycle", SLOW_CYCLE),  # the read lands ~15 s later
    (105.0, "demo_l3", None),
]
BENIGN = ("git_warmup", "git_commit", "pip_venv_tool")


def record_journal(out: Path, record_s: float, acts: list[tuple[float, str, str | None]]) -> None:
    """Record the demo agent into ``out`` (stored as ``out``.gz) for ``record_s`` s, injecting ``acts``.

    Shared with record_novelty.py (the same kind of recording, other acts):
    each act's code runs through the demo's ``python`` tool with
    ``ARGS['work']`` set to the agent's work directory; ``None`` is the
    demo's own L3 attack.
    """
    import tempfile

    from h7.demo.runner import Demo

    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        d = Demo(Path(tmp) / "rec", baseline_s=0, benign_s=0, wait_s=0, out=io.StringIO())
        try:
            d.setup(record=out, record_s=record_s)
            t0 = time.monotonic()
            work = str(Path(tmp) / "rec" / "work")
            for at, name, code in acts:
                time.sleep(max(0.0, at - (time.monotonic() - t0)))
                print(f"{time.monotonic() - t0:6.1f}s {name}", flush=True)
                if code is None:
                    d.inject("L3")
                    continue
                body = json.dumps(
                    {"tool": "python", "name": f"{name}.py", "code": code, "args": {"work": work}}
                )
                req = urllib.request.Request(
                    f"http://127.0.0.1:{d.api_port}/inject",
                    body.encode(),
                    {"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(req, timeout=5) as r:
                    r.read()
            d.sensor.wait(timeout=record_s + 30)
        finally:
            d.stop()
    gz = out.with_suffix(".h7j.gz")  # stored compressed (benign_acts_then_cycles: 4.2 MB raw, 0.6 MB)
    with out.open("rb") as src, gz.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    out.unlink()
    print(f"{gz.name}: {gz.stat().st_size} bytes")


def main() -> None:
    record_journal(HERE / "benign_acts_then_cycles.h7j", RECORD_S, ACTS)


if __name__ == "__main__":
    main()
