"""Every program in the BPF object fits the oldest supported verifier's stack budget.

Why this test exists: Linux 6.1 (a `make vmtest` kernel and Debian 12's own)
refuses a program whose call chain needs more than 512 bytes of stack: its
own frame plus the frames of the subprograms it calls, each rounded up to 32
bytes (`check_max_stack_depth`).  The 6.18 development host does not refuse
such a chain, so a change that breaks 6.1 passed every host test and failed
only in a guest, twenty minutes later (session 16: two designs of
`sys_enter`, at 704 and 544 bytes).  The frames are read here from the
compiled object itself, so any host catches it before a guest does.

A compiled frame is the deepest stack slot the function's code touches.  The
verifier counts only the slots it reaches, so this bound is never lower than
the kernel's; a chain that passes here passes there.  Callbacks handed to
`bpf_loop` are counted as callees of the function that names them: no
looser than any verifier's own count.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("llvm-objdump") is None, reason="llvm-objdump not installed")

MAX_BPF_STACK = 512
"""`MAX_BPF_STACK` in include/linux/filter.h: 512 since eBPF began."""

FRAME_ROUND = 32
"""`check_max_stack_depth` rounds each frame up to 32 bytes before adding it."""

_SECTION = re.compile(r"^Disassembly of section (\S+):$")
_FUNC = re.compile(r"^([0-9a-f]+) <(\S+)>:$")
_INSN = re.compile(r"^\s*(\d+):\t((?:[0-9a-f]{2} )*[0-9a-f]{2})\s*\t(.*)$")
_RELOC = re.compile(r"^\s+[0-9a-f]+:\s+(R_BPF_\S+)\s+(\S+)$")
_FP_OFF = re.compile(r"r10 - (0x[0-9a-f]+|\d+)")
_FP_COPY = re.compile(r"^(r\d+) = (r\d+)$")
_FP_ADD = re.compile(r"^(r\d+) \+= -(\d+)$")
_ASSIGN = re.compile(r"^[rw](\d+) (?:[-+*/|&^%]|<<|>>|s>>)?= ")


@dataclass
class Func:
    """One BPF function: a program (its section's entry) or a subprogram."""

    name: str
    section: str
    start: int
    """Index of its first instruction slot within its section."""
    frame: int = 0
    calls: set[tuple[str, int] | str] = field(default_factory=set)
    """Callees: (section, instruction index), resolved to names later, or a global function's name."""


def disassemble(obj: Path) -> str:
    return subprocess.run(
        ["llvm-objdump", "-d", "-r", str(obj)], check=True, capture_output=True, text=True, timeout=120
    ).stdout


def parse(text: str) -> dict[str, Func]:
    """Frames and bpf-to-bpf calls of every function in an objdump listing.

    A frame is the largest `r10 - N` the code addresses, directly or through a
    register set to `r10` and moved down by `+= -N` (how clang passes the
    address of a stack buffer to a helper).
    """
    funcs: list[Func] = []
    section = ""
    cur: Func | None = None
    fp_regs: dict[str, int] = {}
    last: bytes = b""
    pending: tuple[str, int] | None = None
    """A pseudo call seen on the previous line: pc-relative unless a relocation follows."""
    for line in text.splitlines():
        reloc = _RELOC.match(line)
        if pending is not None and cur is not None:
            if reloc is None:
                cur.calls.add(pending)
            elif reloc.group(2) != ".text":
                cur.calls.add(reloc.group(2))  # a call of a global function, by its symbol
            pending = None
        if m := _SECTION.match(line):
            section, cur, last = m.group(1), None, b""
            continue
        if m := _FUNC.match(line):
            if not m.group(2).startswith("LBB"):
                cur = Func(m.group(2), section, int(m.group(1), 16) // 8)
                funcs.append(cur)
            fp_regs = {}
            continue
        if cur is None:
            continue
        if reloc is not None:
            if last and reloc.group(2) == ".text":
                # libbpf: a call's target is imm + 1 slots into .text, a callback's is imm bytes.
                imm = int.from_bytes(last[4:8], "little", signed=True)
                if last[0] == 0x85 and reloc.group(1) == "R_BPF_64_32":
                    cur.calls.add((".text", imm + 1))
                elif last[0] == 0x18 and reloc.group(1) == "R_BPF_64_64":
                    cur.calls.add((".text", imm // 8))
            continue
        m = _INSN.match(line)
        if not m:
            continue
        idx, last, asm = int(m.group(1)), bytes.fromhex(m.group(2).replace(" ", "")), m.group(3).strip()
        for off in _FP_OFF.findall(asm):
            cur.frame = max(cur.frame, int(off, 0))
        if last[0] == 0x85 and last[1] >> 4 == 1:
            pending = (section, idx + int.from_bytes(last[4:8], "little", signed=True) + 1)
        if last[0] == 0x85:
            for r in range(6):
                fp_regs.pop(f"r{r}", None)
        elif (c := _FP_COPY.match(asm)) is not None and (c.group(2) == "r10" or c.group(2) in fp_regs):
            fp_regs[c.group(1)] = fp_regs.get(c.group(2), 0)
        elif (a := _FP_ADD.match(asm)) is not None and a.group(1) in fp_regs:
            fp_regs[a.group(1)] += int(a.group(2))
            cur.frame = max(cur.frame, fp_regs[a.group(1)])
        elif (s := _ASSIGN.match(asm)) is not None:
            fp_regs.pop(f"r{s.group(1)}", None)
    return {f.name: f for f in funcs}


def resolve(funcs: dict[str, Func]) -> dict[str, set[str]]:
    by_start = {(f.section, f.start): f.name for f in funcs.values()}
    graph: dict[str, set[str]] = {}
    for f in funcs.values():
        graph[f.name] = set()
        for target in f.calls:
            if isinstance(target, str):
                assert target in funcs, f"{f.name} calls {target}, which is no function"
                graph[f.name].add(target)
                continue
            assert target in by_start, f"{f.name} calls {target}, which starts no function"
            graph[f.name].add(by_start[target])
    return graph


def chain_depth(
    name: str, funcs: dict[str, Func], graph: dict[str, set[str]], seen: tuple[str, ...] = ()
) -> int:
    """Largest stack of any call chain from `name`, as the verifier sums it."""
    assert name not in seen, f"recursive call chain {' -> '.join((*seen, name))}: the verifier refuses it"
    own = -(-max(funcs[name].frame, 1) // FRAME_ROUND) * FRAME_ROUND
    return own + max((chain_depth(c, funcs, graph, (*seen, name)) for c in graph[name]), default=0)


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> str:
    from h7.sensor.libbpf import embedded_object

    obj = tmp_path_factory.mktemp("budget") / "h7.bpf.o"
    obj.write_bytes(embedded_object())
    return disassemble(obj)


def test_every_program_fits_the_6_1_stack_budget(listing: str) -> None:
    funcs = parse(listing)
    graph = resolve(funcs)
    programs = [f.name for f in funcs.values() if f.section != ".text"]
    assert len(programs) > 40, f"only {len(programs)} programs found: the listing was not parsed"
    over = {p: d for p in programs if (d := chain_depth(p, funcs, graph)) > MAX_BPF_STACK}
    assert not over, f"call chains over {MAX_BPF_STACK} bytes of stack (6.1 refuses them): {over}"


def test_the_heaviest_program_is_measured(listing: str) -> None:
    """The parser must see sys_enter's frame and its subprogram calls, or the budget test proves nothing."""
    funcs = parse(listing)
    graph = resolve(funcs)
    enter = funcs["h7_sys_enter"]
    assert enter.frame >= 128, f"sys_enter's frame read as {enter.frame} bytes"
    assert graph["h7_sys_enter"], "no subprogram calls found from sys_enter"
    assert chain_depth("h7_sys_enter", funcs, graph) > enter.frame


SYNTHETIC = """
Disassembly of section .text:

0000000000000000 <leaf>:
       0:\t7b 1a f8 ff 00 00 00 00\t*(u64 *)(r10 - 8) = r1
       1:\t95 00 00 00 00 00 00 00\texit

0000000000000010 <mid>:
       2:\tbf a2 00 00 00 00 00 00\tr2 = r10
       3:\t07 02 00 00 90 ff ff ff\tr2 += -112
       4:\t85 10 00 00 ff ff ff ff\tcall -1
\t\t0000000000000020:  R_BPF_64_32\t.text
       5:\t95 00 00 00 00 00 00 00\texit

Disassembly of section tracepoint/x:

0000000000000000 <prog>:
       0:\t7b 1a 00 ff 00 00 00 00\t*(u64 *)(r10 - 256) = r1
       1:\t85 10 00 00 01 00 00 00\tcall 1
\t\t0000000000000008:  R_BPF_64_32\t.text
       2:\t18 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00\tr2 = 0 ll
\t\t0000000000000010:  R_BPF_64_64\t.text
       4:\t85 00 00 00 b5 00 00 00\tcall 181
       5:\t95 00 00 00 00 00 00 00\texit
"""


def test_the_parser_sums_frames_calls_and_callbacks() -> None:
    """A hand-written listing: prog (256) calls mid (112, via r2 = r10; r2 += -112) which calls leaf (8),
    and names leaf as a bpf_loop callback.  The chain is 256 + 128 + 32."""
    funcs = parse(SYNTHETIC)
    graph = resolve(funcs)
    assert {n: f.frame for n, f in funcs.items()} == {"leaf": 8, "mid": 112, "prog": 256}
    assert graph == {"leaf": set(), "mid": {"leaf"}, "prog": {"mid", "leaf"}}
    assert chain_depth("prog", funcs, graph) == 256 + 128 + 32
