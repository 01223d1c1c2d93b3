"""Run variants against the harness's victims and daemons WITHOUT a sensor: do the acts work?

    python -m redteam.dryrun [--only NAME,...] [--workdir DIR]

A variant written blind must be checked before its first run against the
sensor, and checking it under the sensor would show its author the result.
This sets up everything `redteam.harness` does (victims, daemons, listeners,
broker, native helpers), except `h7 attach`: the sensor is replaced by an
idle process, so no BPF program is loaded and no certificate can exist.
Prints, per variant, whether the act reported success and its detail.
Exit 0 when every act succeeded.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from redteam import harness


class DryHarness(harness.Harness):
    """The harness with its sensor replaced by `sleep`: acts only, nothing watches them."""

    def spawn(self, args: list[str], logname: str, **kw: Any) -> subprocess.Popen[bytes]:
        if "attach" in args and "h7" in args:
            return super().spawn(["sleep", "3600"], logname, **kw)
        return super().spawn(args, logname, **kw)

    def read_modes(self) -> tuple[str, dict[str, Any]]:
        return "dry-run (no sensor)", {}

    def warmups(self, variants: list[harness.Variant]) -> None:
        return

    def wait_monitoring(self) -> None:
        return

    def folding(self, after: float) -> dict[str, dict[str, int]]:
        return {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    ap.add_argument("--round", type=int, default=0, help="only the variants of this round")
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp/h7-redteam-dry"))
    a = ap.parse_args(argv)
    variants = harness.order(harness.load_variants())
    if a.only:
        names = {n.strip() for n in a.only.split(",") if n.strip()}
        unknown = names - {v.name for v in variants}
        if unknown:
            print(f"dryrun: error: unknown variant(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        variants = [v for v in variants if v.name in names]
    if a.round:
        variants = [v for v in variants if v.round == a.round]
    hargs = argparse.Namespace(
        workdir=a.workdir, baseline=0.0, benign=0.0, wait=0.0, settle=0.2, act_timeout=90.0, journal=None
    )
    h = DryHarness(hargs)
    bad = 0
    try:
        h.variants = variants
        h.setup()
        h.open_destinations(len(variants))
        h.listeners.thread.start()
        h.cleanups.append(h.listeners.close)
        for i, v in enumerate(variants):
            before = h.listeners.bytes
            ph = h.run_variant(v, i)
            got = h.listeners.bytes - before
            bad += not ph.act_ok
            print(
                f"{'ok ' if ph.act_ok else 'BAD'} {v.name:34} listener +{got:<6} {ph.act_detail}", flush=True
            )
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        print(f"dryrun: error: {e}", file=sys.stderr)
        return 1
    finally:
        h.stop()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
