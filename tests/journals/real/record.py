"""Re-record the real journals in this folder (root, real BPF): `python tests/journals/real/record.py`.

Each journal is the demo agent (h7/demo/agent.py) recorded with `h7 record`
for RECORD_S seconds; attack journals have one attack from h7/demo/attacks
injected at ATTACK_AT seconds.  The replay tests (tests/test_replay_real.py)
replay them with a BASELINE_S baseline.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))

RECORD_S = 45.0
ATTACK_AT = 37.0
BASELINE_S = 30
JOURNALS: dict[str, tuple[str, dict[str, object]] | None] = {
    "benign": None,
    "attack_L1": ("L1", {"seconds": 4.0}),
    "attack_L2": ("L2", {}),
    "attack_L3": ("L3", {}),
    "attack_L4": ("L4", {"host": "127.0.0.2", "count": 3000}),
    "attack_L5": ("L5", {}),
}


def record(name: str, attack: tuple[str, dict[str, object]] | None, workroot: Path) -> Path:
    from h7.demo.runner import Demo

    out = HERE / f"{name}.h7j"
    out.unlink(missing_ok=True)
    d = Demo(workroot / name, baseline_s=0, benign_s=0, wait_s=0, out=io.StringIO())
    try:
        agent_pid, _ = d.setup(record=out, record_s=RECORD_S)
        t0 = time.monotonic()
        if attack is not None:
            time.sleep(max(0.0, ATTACK_AT - (time.monotonic() - t0)))
            ch, args = attack
            if ch == "L5":
                subprocess.run(
                    [sys.executable, "-m", "h7.demo.attacks.l5_ptrace", "--pid", str(agent_pid)], check=True
                )
            else:
                d.inject(ch, args)
        d.sensor.wait(timeout=RECORD_S + 30)
    finally:
        d.stop()
    return out


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name, attack in JOURNALS.items():
            p = record(name, attack, Path(tmp))
            print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
