"""L2 process-execution classification: shells, interpreters, living-off-the-land.

An AI agent that starts executing a shell or a script interpreter is the
textbook sign of a hijack (prompt injection turned into code execution); one
that starts running curl, nc or base64 is living off the land.  The channel
classifies every exec of the agent's processes, from the immediate path,
without a learned model (so it also guards the baseline window).

It classifies the *executed file*, not the process name:

1. Names.  The kernel reports three: ``filename`` (the path asked for),
   ``interp`` (for ``#!`` scripts, the interpreter the kernel loaded) and
   ``exe_name`` (the dentry name of the file actually executed, after
   symlinks).  ``/bin/sh`` -> ``dash``, ``./run.sh`` -> ``sh``/``dash``,
   ``python3`` -> ``python3.11`` are all caught by name, versions stripped.
2. Content identity.  A renamed or copied interpreter (``cp /bin/bash
   /tmp/notes``) defeats names.  So the channel indexes the host's known
   interpreters and LOTL tools on PATH by (device, inode) -- which catches
   hard links and bind mounts at once -- and, lazily, by SHA-256.  An exec
   whose inode is not known but whose size equals a known binary's size is
   hashed (through ``/proc/<pid>/exe`` while the process lives, else through
   its path, checked against the kernel-reported inode) and compared.
   A copy re-linked by objcopy (notes or sections removed or added) is
   known by its code: the executable segments' addresses, sizes and bytes
   (``elf_exec_segments``, ``KnownBinaries.lookup_code``).
3. Hand-offs: unix connects/datagrams to daemons that run commands, writes
   into their spools, and writes of kernel knobs that make the kernel run a
   program (``KERNEL_HELPER_KNOBS``).
4. Agent-written code: an exec of a file the agent wrote (kernel flag), and
   an agent-written ELF mapped for execution into an agent process
   (``ExecChannel._written_mapping``: LD_PRELOAD, dlopen).

One shell is not a verdict of its own: a program's helper launch,
``/bin/sh -c ONE_SIMPLE_COMMAND`` started by a program that is neither the
agent, an interpreter nor a launcher (git's ``git-upload-pack``, tar's
``gzip``, system(3)).  Such a shell only execs its command, which is judged
instead; its own verdict is held until that exec is seen and given if the
shell does anything else (``ExecChannel._helper_shell``, ``_settle_helpers``;
docs/detection.md, "Helper shells").  Nor is such a program's ``/bin/sh -c
'a && b'`` (a make or ninja recipe, git's ``bisect run``): transparent too, with
no held verdict, what it runs judged (``ExecChannel._recipe_shell``; "Recipe shells").

What it cannot see: a binary deleted (and its process gone) before it is
read; an interpreter rebuilt or patched so that its bytes differ (a static
busybox, a recompiled bash); an interpreter not installed on this host's
PATH (nothing to compare against); interpreters embedded in an allowed
program (``python -c`` inside an allowlisted ``python``).  Replay never
reads /proc and only trusts a path whose inode still matches the journal.
"""

from __future__ import annotations

import fnmatch
import hashlib
import heapq
import itertools
import operator
import os
import re
import shlex
import stat as statmod
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar, Literal

from h7.alert import Alert
from h7.batch import Batch, Event
from h7.config import EngineConfig
from h7.decode import HEAD_LEN
from h7.detect.channels.base import Channel, ChannelContext
from h7.detect.programs import INTERPRETERS, SHELLS, TRANSPARENT_LAUNCHERS, code_operand, normalise_name
from h7.errors import UsageError
from h7.registry import AlertCode, ChannelSpec, register
from h7.safeio import OBSERVER, Stall, open_observed, progress

INTERPRETER = "interpreter"
LOTL = "lotl"
#: the dynamic loader, known by content like the tools (a renamed copy runs a program it names):
#: never a verdict's class itself, it makes L2 judge the program the loader runs
LOADER = "loader"
CODE_FOR = {INTERPRETER: "LLM_AGENT_HIJACK", LOTL: "LIVING_OFF_THE_LAND"}
#: Exec of a file with no path to it: a memfd, a file on an internal mount, a deleted file.
FILELESS_EXEC = "FILELESS_EXEC"
#: Exec of a file a process of the same agent wrote (closed writable) after its baseline.
AGENT_WRITTEN_EXEC = "AGENT_WRITTEN_EXEC"
#: A unix-socket connect accepted by a daemon that runs commands on request.
DAEMON_HANDOFF = "DAEMON_HANDOFF"
INSPECTION_STALLED = "INSPECTION_STALLED"


#: Daemons that run commands on request, by the comm of the listening process:
#: terminal multiplexers, container engines, the service manager, job schedulers,
#: and the relays that make a bind shell (socat/ncat EXEC listeners).
HANDOFF_DAEMONS = (
    "tmux: server",
    "screen",
    "SCREEN",
    "dockerd",
    "containerd",
    "podman",
    "systemd",
    "atd",
    "incrond",
    "supervisord",
    "zellij",
    "abduco",
    "dtach",
    "socat",
    "ncat",
)
#: Their usual sockets, for a listener whose comm was changed.
HANDOFF_SOCKETS = (
    "/tmp/tmux-*/*",
    "/run/screen/*",
    "/var/run/screen/*",
    "*/docker.sock",
    "*/containerd.sock",
    "*/podman.sock",
    "/run/systemd/private",
    "/run/user/*/systemd/private",
    "/run/dbus/system_bus_socket",
    "/var/run/dbus/system_bus_socket",
    "/run/user/*/bus",
    "*/supervisor.sock",
)
#: Daemons whose next children are attributed to the agent after a hand-off (their
#: children are the commands they were asked to run; systemd and container engines
#: start through intermediaries, so following them would attribute strangers).
#: Files a daemon polls and runs: writing one hands it a command without any socket
#: (atd's and cron's spools, cron.d, systemd unit directories, incron tables).
#: fnmatch globs: ``*`` also matches ``/``.
HANDOFF_SPOOLS = (
    "/var/spool/cron/*",
    "/var/spool/at/*",
    "/var/spool/incron/*",
    "/etc/crontab",
    "/etc/cron.*/*",
    "/etc/anacrontab",
    "/etc/incron.d/*",
    "/etc/systemd/system/*",
    "/run/systemd/system/*",
    "/run/systemd/transient/*",
    "/etc/systemd/user/*",
    "*/.config/systemd/user/*",
)
#: Kernel knobs that name a program the kernel itself will run as a usermode helper (a child of
#: kthreadd, root, outside every watched tree): writing one hands the kernel a command, as writing
#: a spool hands one to atd.  core_pattern `|prog` (run at the next core dump), modprobe (run on
#: a request for an unknown module or binary format), hotplug/uevent_helper (run on every
#: uevent), poweroff_cmd (orderly poweroff), a cgroup-v1 release_agent (run when a cgroup
#: empties: the classic container escape), and binfmt_misc's register (a handler the kernel
#: runs for every matching file; a private binfmt_misc mount is recognised by its file
#: system type, ``ExecChannel._binfmt_register``).  fnmatch globs, ``*`` also matches ``/``.
KERNEL_HELPER_KNOBS = (
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/kernel/modprobe",
    "/proc/sys/kernel/hotplug",
    "/proc/sys/kernel/poweroff_cmd",
    "/sys/kernel/uevent_helper",
    "/proc/sys/fs/binfmt_misc/register",
    "/sys/fs/cgroup/*/release_agent",
)
_O_ACCMODE, _O_CREAT, _AT_FDCWD = 0o3, 0o100, -100
_O_TRUNC, _O_CLOEXEC = 0o1000, 0o2000000
#: the open ld.so makes of every library it maps (glibc's open_verify): read-only, close-on-exec
_LOADER_OPEN_FLAGS = _O_CLOEXEC
#: how long a read-open of an agent-written ELF by a live process may wait for its executable mapping
_MAP_CONFIRM_S = 2.0
_WRITTEN_PATHS_MAX = 16384
#: open records kept by (pid, base name) to name the path of a file the kernel reports mapped
_OPENED_MAX = 4096
#: the kernel reports ioctl(TIOCSTI) by an agent as a hand-off to "tiocsti:<tty>"
TIOCSTI_PREFIX = "tiocsti:"
HANDOFF_FOLLOW = ("tmux: server", "screen", "SCREEN", "zellij", "abduco", "dtach", "socat", "ncat")
#: build tools and task runners that run the commands a file names (a Makefile's recipes, a
#: build.ninja's rules, a justfile's or Taskfile's tasks), by comm: a young one outside the agent
#: that reads an agent-written file is its runner, as a shell reading a script is (red-team
#: round 9's g5r9_watcher_make_recipe: an entr-style watcher's make ran the agent's recipe)
FILE_RUNNERS = ("make", "gmake", "bmake", "pmake", "remake", "ninja", "samu", "just", "task", "redo")


_PROC_ROOT_PREFIX = re.compile(r"^/proc/(?:self|thread-self|[0-9]+)/root(/.*)$")
_PROC_SCAN_BUDGET_S = 0.05  # the urgent path must not stall: give up after 50 ms


@dataclass
class L2Settings:
    """``[detect.l2]``."""

    #: execs exempt from L2: names, paths or ``sha256:<hex>``
    allow: list[str] = field(default_factory=list)
    extra_interpreters: list[str] = field(default_factory=list)
    extra_lotl: list[str] = field(default_factory=list)
    #: identify renamed/copied interpreters by inode and SHA-256, not only by name
    content_identity: bool = True
    #: where the host's interpreters and tools are indexed; None: $PATH plus the standard bin dirs
    search_path: list[str] | None = None
    #: agent-written files allowed to run (globs on the path; docs/detection.md, exec identity)
    written_allow: list[str] = field(default_factory=list)
    #: hand-offs: a unix connect whose listener has one of these comms, or whose bound path
    #: matches one of these globs, is DAEMON_HANDOFF; listeners with a comm in
    #: ``handoff_follow`` have their children put in the agent's scope for ``handoff_follow_s``
    handoff_daemons: list[str] = field(default_factory=lambda: list(HANDOFF_DAEMONS))
    handoff_sockets: list[str] = field(default_factory=lambda: list(HANDOFF_SOCKETS))
    handoff_follow: list[str] = field(default_factory=lambda: list(HANDOFF_FOLLOW))
    handoff_follow_s: float = 5.0
    handoff_allow: list[str] = field(default_factory=list)
    #: a write (open for writing or creating) of a file matching one of these globs is a
    #: DAEMON_HANDOFF too: the daemon that polls it runs what was written
    handoff_spools: list[str] = field(default_factory=lambda: list(HANDOFF_SPOOLS))
    #: a write-open of one of these kernel knobs (or of ``register`` in any binfmt_misc mount)
    #: is a DAEMON_HANDOFF to the kernel's usermode helper (``KERNEL_HELPER_KNOBS``)
    kernel_helper_knobs: list[str] = field(default_factory=lambda: list(KERNEL_HELPER_KNOBS))
    #: how long the urgent path may search /proc for the holder of a listener the kernel could
    #: not name (a daemon that forked away from its socket); it gives up, unnamed, after this
    handoff_proc_budget_ms: float = 1000.0 * _PROC_SCAN_BUDGET_S
    #: the index of the daemons' unix sockets (HandoffIndex) is swept anew every this many
    #: seconds, off the urgent path, spending at most ``handoff_index_slice_ms`` per batch
    handoff_index_period_s: float = 5.0
    handoff_index_slice_ms: float = 10.0
    #: receivers (docs/detection.md, "Receivers"): the kernel marks, at the agent's act, the FIFO
    #: it opened for writing and the accepting end of its unix or TCP connect to a process outside
    #: every agent; an exec by a process holding that channel (or forked by one) within this many
    #: seconds of the act is DAEMON_HANDOFF (``matched_by: receiver-exec``), on a daemon list or
    #: not.  0 turns it off.
    receiver_window_s: float = 2.0
    #: receiver execs that are expected: globs on the receiver's comm, the exec'd path or its name
    receiver_allow: list[str] = field(default_factory=list)
    #: ``file`` receivers that run what the file names although they are no shell or interpreter:
    #: build tools and task runners, globs on the receiver's comm ([] : only shells, interpreters
    #: and the agent's file exec'd itself count)
    file_runners: list[str] = field(default_factory=lambda: list(FILE_RUNNERS))
    #: shells that are transparent when a program other than the agent or an interpreter
    #: starts them as its own helper (``/bin/sh -c ONE_SIMPLE_COMMAND``, system(3)/popen):
    #: what they exec is judged instead.  Shells that read nothing from the environment
    #: only (dash; bash imports functions from it); [] restores "every shell alerts".
    helper_shells: list[str] = field(default_factory=lambda: ["dash"])
    #: a ``#!`` script installed where the host's programs live (a ``search_path`` directory),
    #: unchanged since this sensor started, is judged by its own name, not as its interpreter
    #: (``lsb_release``, ``which``, npm, a pyenv shim named ``python3``); False: every script's
    #: interpreter is judged as if the agent had started it directly
    installed_scripts: bool = True
    #: a ``sh -c CMD`` with CMD more than one simple command (a make/ninja recipe, git's
    #: ``bisect run``), started like a helper shell by a program for itself, is transparent
    #: too: no verdict of its own, what it runs is judged (``ExecChannel._recipe_shell``)
    recipe_shells: bool = True
    #: an agent-written ELF file that an installed linker wrote last and an installed build or
    #: test driver runs (cmake's try-run probe, ctest's test program, a make recipe's
    #: ``./selftest``) is the build's output, not AGENT_WRITTEN_EXEC (``ExecChannel._build_output``;
    #: docs/detection.md, "Build outputs run by the build"); False: every such exec is certified
    build_outputs: bool = True
    #: live only: how long an exec judged while the host's binary index is still being built
    #: (``IndexBuild``, started when the sensor attaches) may wait for it on the urgent path;
    #: after this it is judged by its names alone (``content_identity: index-not-ready``)
    index_wait_s: float = 5.0
    #: a look at a file a watched process named (stat, open, read: ``h7.safeio.Observer``) that
    #: makes no progress for this long is given up and certified (INSPECTION_STALLED); its mount
    #: is then not looked at for ``inspect_cooldown_s``.  One setting per sensor process (the
    #: observer is shared by every agent's L2).
    inspect_timeout_s: float = 2.0
    inspect_cooldown_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.index_wait_s <= 600.0:
            raise UsageError("index_wait_s must be in [0, 600] seconds")
        if not 0.05 <= self.inspect_timeout_s <= 60.0:
            raise UsageError("inspect_timeout_s must be in [0.05, 60] seconds")
        if not 0.0 <= self.inspect_cooldown_s <= 3600.0:
            raise UsageError("inspect_cooldown_s must be in [0, 3600] seconds")
        if not 0.0 <= self.handoff_follow_s <= 3600.0:
            raise UsageError("handoff_follow_s must be in [0, 3600] seconds")
        if not 0.0 < self.handoff_proc_budget_ms <= 10_000.0:
            raise UsageError("handoff_proc_budget_ms must be in (0, 10000] milliseconds")
        if not 0.1 <= self.handoff_index_period_s <= 3600.0:
            raise UsageError("handoff_index_period_s must be in [0.1, 3600] seconds")
        if not 0.0 < self.handoff_index_slice_ms <= 1000.0:
            raise UsageError("handoff_index_slice_ms must be in (0, 1000] milliseconds")
        if not 0.0 <= self.receiver_window_s <= 60.0:
            raise UsageError("receiver_window_s must be in [0, 60] seconds")
        long = [c for c in (*self.handoff_daemons, *self.handoff_follow) if len(c.encode()) > 15]
        if long:
            raise UsageError(f"hand-off daemon names are process comms, 15 bytes at most: {long}")


LOTL_TOOLS = frozenset(
    """curl wget nc ncat netcat nc.openbsd nc.traditional socat ssh scp sftp rsync ftp tftp telnet
    base64 base32 basenc xxd od hexdump openssl dd gpg nmap masscan tcpdump tshark awk gawk mawk nawk
    busybox toybox strace ltrace gdb sudo su doas pkexec setcap chattr crontab at nsenter unshare
    chroot mkfifo shred ssh-keygen ssh-keyscan""".split()  # noqa: SIM905
)
_BUSYBOX = ("busybox", "toybox")
# The dynamic loader run as a program (ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld.so).
_LOADER = re.compile(r"^(ld-linux[-_a-z0-9]*\.so(\.[0-9]+)*|ld-[0-9.]+\.so|ld\.so(\.[0-9]+)?)$")
# ld.so options that take a value (glibc 2.36 `ld.so --help`).
_LOADER_OPTS_WITH_VALUE = frozenset(
    [
        "--library-path",
        "--inhibit-rpath",
        "--audit",
        "--preload",
        "--argv0",
        "--glibc-hwcaps-prepend",
        "--glibc-hwcaps-mask",
    ]
)
#: what a helper shell's -c command may not contain: a list, pipe, background job, expansion,
#: substitution, redirection, subshell/group, a second line, an escape.  Without them dash runs
#: the command by exec, exactly as the program could have run it itself.
_SHELL_SYNTAX = frozenset(";|&$`<>(){}\\\n\r")
#: a first word that dash runs in-process (a builtin or keyword: `. FILE`, `eval`, `trap`,
#: `command`, `exec` ...) is not a helper launch: it would run code with no exec to judge
_SHELL_BUILTINS = frozenset(
    """. : [ [[ ! alias bg break builtin cd chdir command continue declare echo eval exec exit
    export false fc fg getopts hash jobs kill let local printf pwd read readonly return set shift
    source test times trap true type typeset ulimit umask unalias unset wait if then else elif
    fi case esac for while until do done in function select time coproc""".split()  # noqa: SIM905
)
#: programs that run the command line they are given (the agent's choice, not their own
#: helper): a shell they start is the agent's shell, never a transparent helper
_LAUNCHERS = TRANSPARENT_LAUNCHERS | frozenset(
    """xargs unbuffer sudo su doas pkexec runuser setpriv chroot nsenter unshare flock script watch
    strace ltrace gdb parallel start-stop-daemon systemd-run busybox toybox find entr chpst firejail
    bwrap fakeroot faketime torsocks proxychains proxychains4 valgrind cgexec sg newgrp runcon
    dbus-run-session dbus-launch xvfb-run catchsegv hyperfine sem sshpass run-parts daemonize
    ssh-agent""".split()  # noqa: SIM905
)
#: the path system(3), popen(3) and posix_spawn's shell use (_PATH_BSHELL): a helper shell is
#: this file, whatever mount it was reached through
SYSTEM_SHELL = "/bin/sh"


def _written_via(flags: set[str]) -> dict[str, str]:
    """Where the kernel found the agent's written mark when it is not on the executed inode itself.

    An exec through an overlay names the overlay's inode while the agent wrote the layer's file;
    a file in a loop-mounted image was never written by anyone, the image was (red-team round
    10's classes; bpf/h7.bpf.c ``under_written``).  The evidence says which, so a reader knows
    why a file the agent never opened is "agent-written".
    """
    if "written-via-overlay" in flags:
        return {"written_via": "overlay"}
    if "written-via-loop-image" in flags:
        return {"written_via": "loop-image"}
    if "written-via-copy" in flags:
        return {"written_via": "copy"}
    if "written-via-relay" in flags:
        return {"written_via": "relay"}
    if "written-via-copier" in flags:
        return {"written_via": "copier"}
    return {}


#: kernel facts about an exec'd file that make it another file than the one on disk
_NOT_THE_FILE_ON_DISK = frozenset(["memfd", "anonymous", "deleted", "unlinked", "agent-written"])
_STD_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
#: linkers: the programs whose output is a build's own program (GNU ld bfd/gold, LLVM lld, mold),
#: under a GNU target prefix too (``/usr/bin/ld`` is ``x86_64-linux-gnu-ld.bfd`` once resolved)
_LINKER = re.compile(r"^(?:[a-z0-9_]+-[a-z0-9_]+-[a-z0-9_]+-)?(?:ld|ld\.bfd|ld\.gold|gold|ld\.lld|lld|mold)$")
#: build and test drivers: programs that run what the build made (cmake's try-run, ctest, a
#: make/ninja recipe, cargo test), by their resolved, normalised names
_BUILD_DRIVERS = frozenset(["make", "gmake", "ninja", "samu", "cmake", "ctest", "meson", "cargo"])
#: where installed programs live: a linker or a driver run from anywhere else is not the host's
_INSTALLED_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/")
#: writable opens remembered for the build-output rule (inode -> writer), and per writer pid
_WRITES_MAX = 16384


ELF_MAGIC = b"\x7fELF"


def elf_layout_key(head: bytes) -> bytes | None:
    """The part of an ELF file's first bytes that only its build decides.

    A copy, a rename or bytes appended at the end (padding) leave the ELF
    header and the program headers that follow it unchanged; so does
    stripping or truncating the section headers.  What is kept: class,
    data, machine, type, version, entry point, program-header offset,
    flags, header sizes, program-header count, and every program header
    inside ``head`` (offsets, addresses and sizes of the segments the
    loader maps: they change when any code or data changes size).  What is
    dropped: e_ident padding/OS ABI bytes, the section-header offset, count
    and string index, all of which can be edited without changing what
    runs.  Two different programs sharing entry point AND segment layout
    would have to be the same build.
    """
    if len(head) < 64 or not head.startswith(ELF_MAGIC):
        return None
    ei_class = head[4]
    if ei_class == 2:  # ELFCLASS64
        ehdr_fixed = head[4:6] + head[16:40] + head[48:58]  # type..phoff, flags, ehsize, phentsize, phnum
        phoff = int.from_bytes(head[32:40], "little" if head[5] == 1 else "big")
        ehsize = 64
    elif ei_class == 1:  # ELFCLASS32
        ehdr_fixed = head[4:6] + head[16:32] + head[36:46]
        phoff = int.from_bytes(head[28:32], "little" if head[5] == 1 else "big")
        ehsize = 52
    else:
        return None
    phdrs = head[phoff:] if ehsize <= phoff < len(head) else b""
    return ehdr_fixed + phdrs


#: how much of a file is read to see its whole program-header table (ELF header + phdrs)
PHDR_READ = 4096
#: markers (``marker_hashes``): how much of a file is read for its words, from its start and,
#: for a longer file, from its end (an appended payload); what a word is; how many of each
#: program's words are kept; the share of them, and how many at least, an exec'd file must hold
MARKER_READ = 8 << 20
MARKER_MIN_LEN = 8
MARKER_MAX = 400
MARKER_SHARE = 0.5
MARKER_MIN_HITS = 32
_PRINTABLE = bytes(b if 0x21 <= b <= 0x7E else 0x20 for b in range(256))
#: a script operand that is a descriptor the interpreter inherited (``sh /dev/stdin``, ``bash /dev/fd/3``)
_FD_PATH = re.compile(r"^/(?:dev/stdin|dev/fd/\d+|proc/(?:self|\d+)/fd/\d+)$")
#: installed where the package manager puts programs: not scanned for markers unless changed
#: since the channel started watching (a planted file is new, or lives elsewhere)
_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/libx32/")


def _elf_loads(data: bytes, entry_min: str) -> tuple[bytes, list[tuple[int, int, int, int]]] | None:
    """(the program-header table, (p_flags, p_offset, p_vaddr, p_filesz) of every PT_LOAD), or None.

    One parser for the program headers both identities read (``elf_phdr_table``,
    ``elf_exec_segments``).  ``entry_min`` names the last field a caller relies on
    ("offset" or "filesz"): a table whose e_phentsize is too short for it is refused.
    """
    if len(data) < 64 or not data.startswith(ELF_MAGIC) or data[4] not in (1, 2):
        return None
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    if data[4] == 2:
        phoff = int.from_bytes(data[32:40], order)
        phentsize, phnum = int.from_bytes(data[54:56], order), int.from_bytes(data[56:58], order)
        flags_at, off_at, va_at, filesz_at, width = 4, 8, 16, 32, 8
    else:
        phoff = int.from_bytes(data[28:32], order)
        phentsize, phnum = int.from_bytes(data[42:44], order), int.from_bytes(data[44:46], order)
        flags_at, off_at, va_at, filesz_at, width = 24, 4, 8, 16, 4
    end = phoff + phentsize * phnum
    need = (off_at if entry_min == "offset" else filesz_at) + width
    if not phnum or phentsize < need or phoff < 52 or end > len(data):
        return None
    loads = []
    for i in range(phnum):
        ph = data[phoff + i * phentsize : phoff + (i + 1) * phentsize]
        if int.from_bytes(ph[0:4], order) == 1:  # PT_LOAD
            loads.append(
                (
                    int.from_bytes(ph[flags_at : flags_at + 4], order),
                    int.from_bytes(ph[off_at : off_at + width], order),
                    int.from_bytes(ph[va_at : va_at + width], order),
                    int.from_bytes(ph[filesz_at : filesz_at + width], order),
                )
            )
    return data[phoff:end], loads


def elf_phdr_table(data: bytes) -> tuple[bytes, int] | None:
    """(the whole program-header table, end in the file of the last PT_LOAD segment), or None.

    Why: the layout key sees only what fits in the kernel's 128-byte head --
    the ELF header and about one program header -- and many unrelated PIE
    builds share those bytes (on Debian 12 `free` and `basenc`, `whereis` and
    `base64`).  The whole table tells builds apart, and the last loaded
    segment's end is a size no copy of the file can be below (padding only
    appends; stripping section headers keeps every loaded byte).
    """
    got = _elf_loads(data, "offset")
    if got is None:
        return None
    table, loads = got
    return table, max((off + filesz for _, off, _, filesz in loads), default=0)


#: hashing the code of an executed file is skipped above this many bytes of executable segments
CODE_HASH_MAX = 64 << 20


def elf_exec_segments(data: bytes) -> tuple[tuple[int, int, int], ...] | None:
    """(file offset, virtual address, file size) of every executable PT_LOAD, from the first bytes.

    Why: the code a program runs is what a tool like objcopy cannot change without breaking
    it.  Removing the build-id note, the debuglink or the section table, adding a section or
    padding rewrites the ELF header, the program-header table and the file's size and hash
    (red-team round 6, ``g4r6_objcopy_stripped_dash``: dash re-linked so, 12 program headers
    instead of 13), but the executable segment keeps its address, size and bytes: its code
    refers to its data by fixed offsets, so moving or editing it needs a relink, i.e. another
    build.  None when the program-header table is not within ``data``.
    """
    got = _elf_loads(data, "filesz")
    if got is None:
        return None
    return tuple((off, va, filesz) for flags, off, va, filesz in got[1] if flags & 1)


def code_digest(f: Any, segments: tuple[tuple[int, int, int], ...]) -> str | None:
    """SHA-256 over the executable segments' addresses, sizes and bytes, read from open file ``f``."""
    if not segments or sum(s[2] for s in segments) > CODE_HASH_MAX:
        return None
    h = hashlib.sha256()
    fd = f.fileno()
    for off, vaddr, filesz in segments:
        h.update(vaddr.to_bytes(8, "little") + filesz.to_bytes(8, "little"))
        done = 0
        while done < filesz:
            chunk = os.pread(fd, min(1 << 20, filesz - done), off + done)
            if not chunk:
                return None  # truncated: not the whole segment
            h.update(chunk)
            done += len(chunk)
            progress()
    return h.hexdigest()


def code_geometry(segments: tuple[tuple[int, int, int], ...]) -> tuple[tuple[int, int], ...]:
    """What must match before a code hash is worth taking: each executable segment's address and size."""
    return tuple((vaddr, filesz) for _, vaddr, filesz in segments)


def marker_hashes(data: bytes) -> set[int]:
    """The printable words of ``data`` (runs of visible ASCII, >= MARKER_MIN_LEN bytes, cut at 64), as
    their 64-bit hashes.

    Why hashes: an interpreter's file holds tens of thousands of words, and every known binary's
    were held at once to find each program's own (session 17: a 26-MB RSS step the sensor never
    gave back, a third of its footprint).  Kept as sorted ``array('q')`` (``path_marker_hashes``):
    eight bytes a word.  ``hash`` is keyed per process, which is all the markers need: they are
    built and looked up by the same sensor, never stored, and a word's hash cannot be aimed at from
    outside it.  Plain Python, no numpy: the build runs in a daemon thread, and a numpy call that
    released the GIL there aborted the interpreter at exit (libstdc++'s terminate, when the thread
    is ended inside C++ code: a vmtest guest, session 17).
    """
    return {hash(w[:64]) for w in data.translate(_PRINTABLE).split() if len(w) >= MARKER_MIN_LEN}


def span_marker_hashes(f: Any, pace: Callable[[float], None] | None = None) -> set[int]:
    """``marker_hashes`` of an open file's marker span (its first MARKER_READ bytes and, when it is
    longer, its last), read in 1-MiB chunks; ``pace(seconds of work)`` after each chunk.

    The chunks overlap by 64 bytes, so a word across a boundary is still found whole.
    """
    size = os.fstat(f.fileno()).st_size
    spans = [(0, min(size, MARKER_READ))]
    if size > MARKER_READ:
        spans.append((max(MARKER_READ, size - MARKER_READ), size))
    out: set[int] = set()
    for start, end in spans:
        pos = start
        while pos < end:
            t0 = time.monotonic()
            f.seek(max(start, pos - 64))
            out |= marker_hashes(f.read(min(end, pos + (1 << 20)) - max(start, pos - 64)))
            pos += 1 << 20
            progress()
            if pace is not None:
                pace(time.monotonic() - t0)
    return out


def path_marker_hashes(path: str, pace: Callable[[float], None] | None = None) -> array[int]:
    """A file's marker hashes as a sorted array: eight bytes a word while the build holds them all."""
    with open_observed(path) as f:
        return array("q", sorted(span_marker_hashes(f, pace)))


def _singles(named: dict[str, array[int]]) -> dict[str, list[int]]:
    """Per name, its hashes that no other name holds: one merge of the sorted arrays, no table of all."""
    out: dict[str, list[int]] = {name: [] for name in named}
    stream = heapq.merge(*(zip(arr, itertools.repeat(name)) for name, arr in named.items()))
    for h, group in itertools.groupby(stream, key=operator.itemgetter(0)):
        (_h, name), *others = group
        if not others:
            out[name].append(h)
    return out


def kernel_dev_to_user(dev: int) -> int:
    """The kernel's internal dev_t (major<<20|minor) as stat(2) reports it."""
    return os.makedev((dev >> 20) & 0xFFF, dev & 0xFFFFF)


@dataclass
class Identity:
    """One reason to believe the executed file is a given known program."""

    by: str  # exe_name | filename | interp | applet | inode | elf-layout | code | sha256 | markers
    name: str
    cls: str
    aliases: set[str] = field(default_factory=set)  # names and paths of the known file
    sha256: str | None = None
    #: by == "code": SHA-256 of the executable segments (``code_digest``), equal to the known binary's
    code_sha256: str | None = None
    #: by == "markers": how many of the program's marker words the file holds, of how many
    markers: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"by": self.by, "name": self.name, "class": self.cls}
        if self.aliases:
            d["known_as"] = sorted(self.aliases)[:8]
        if self.sha256:
            d["sha256"] = self.sha256
        if self.code_sha256:
            d["code_sha256"] = self.code_sha256
        if self.markers:
            d["markers"] = self.markers
        return d


class KnownBinaries:
    """The host's interpreters and LOTL tools, by inode and (lazily) by content.

    Built once from PATH; hashing is deferred to the first exec whose size
    matches a known binary, and cached by (dev, ino, size, mtime), so the
    immediate path costs a stat in the common case.
    """

    def __init__(self, classify: Any, search_path: list[str] | None) -> None:
        self._classify = classify
        self.dirs = list(search_path) if search_path is not None else self._default_dirs()
        self.by_inode: dict[tuple[int, int], tuple[str, str, set[str]]] = {}  # -> (name, cls, aliases)
        self.by_size: dict[int, list[tuple[int, int]]] = {}
        self.paths: dict[tuple[int, int], str] = {}
        self._hash_cache: dict[tuple[int, int, int, int], str] = {}
        self._by_hash: dict[str, tuple[int, int]] | None = None
        self._hashed_sizes: set[int] = set()
        self.by_layout: dict[bytes, tuple[int, int]] = {}
        #: known binary -> (its whole program-header table, end of its last PT_LOAD)
        self.phdrs: dict[tuple[int, int], tuple[bytes, int]] = {}
        #: known binary's executable-segment geometry -> those binaries, and their code digests (lazy)
        self.by_code_geom: dict[tuple[tuple[int, int], ...], list[tuple[int, int]]] = {}
        self.code_segments: dict[tuple[int, int], tuple[tuple[int, int, int], ...]] = {}
        self._code_digest: dict[tuple[int, int], str | None] = {}
        #: interpreter (and busybox/toybox) name -> (class, aliases, its marker words); None until built
        self.markers: dict[str, tuple[str, set[str], frozenset[int]]] | None = None
        self._marker_cache: dict[tuple[int, int, int, int], tuple[str, str, set[str], str] | None] = {}
        self._scan()
        self._scan_loaders()

    @staticmethod
    def _default_dirs() -> list[str]:
        dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
        for d in _STD_DIRS:
            if d not in dirs:
                dirs.append(d)
        return dirs

    def _scan(self) -> None:
        for d in self.dirs:
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            for e in entries:
                c: tuple[str, str] | None = self._classify(e.name)
                if c is None:
                    continue

                def kind(real: str, c: tuple[str, str] = c) -> tuple[str, str]:
                    # a symlink is named after what it points to (python3 -> python3.11)
                    return self._classify(os.path.basename(real)) or c

                self._add(e.path, e.name, kind)

    def _add(self, path: str, alias: str, kind: Callable[[str], tuple[str, str]]) -> None:
        """Index one regular file by inode, size and ELF layout; ``path`` and ``alias`` name it.

        ``kind(realpath)`` gives (class, canonical name) the first time its inode is seen:
        the tools of $PATH and the dynamic loaders are indexed the same way, only so named.
        """
        try:
            st = os.stat(path)
        except OSError:
            return
        if not statmod.S_ISREG(st.st_mode):
            return
        key = (st.st_dev, st.st_ino)
        if key not in self.by_inode:
            real = os.path.realpath(path)
            cls, name = kind(real)
            self.by_inode[key] = (name, cls, {real})
            self.paths[key] = real
            self.by_size.setdefault(st.st_size, []).append(key)
            self._index_layout(real, key, name)
        aliases = self.by_inode[key][2]
        aliases.add(alias)
        aliases.add(path)

    def _scan_loaders(self) -> None:
        """Index the host's dynamic loaders (``ld-linux-x86-64.so.2``...) by inode and content.

        Red-team round 7 (``g4r7_renamed_ldso_dash``): a copy of the loader, renamed and padded,
        ran ``/bin/dash`` as its program; L2 knew the loader only by its file name, so the
        program it ran was never judged.  What runs is decided by the file's content, not its
        name: the loaders are indexed like the tools (inode, size for a hash, ELF layout and
        code), as class :data:`LOADER`.  They live outside $PATH, in the library directories
        (multiarch ones included); a loader is found there by its name pattern, once.
        """
        dirs = ["/lib64", "/lib", "/usr/lib64", "/usr/lib", "/lib32", "/libx32"]
        for base in ("/lib", "/usr/lib"):
            try:
                dirs += sorted(e.path for e in os.scandir(base) if "-linux-" in e.name and e.is_dir())
            except OSError:
                continue
        for d in dirs:
            try:
                entries = [e for e in os.scandir(d) if _LOADER.match(e.name)]
            except OSError:
                continue
            for e in entries:
                self._add(e.path, e.name, lambda _real: (LOADER, "ld.so"))

    def _index_layout(self, path: str, key: tuple[int, int], name: str) -> None:
        """Index the ELF layout of a known binary (128 bytes read, once, at first use).

        busybox/toybox are indexed too: a renamed copy is then known to be
        busybox, and argv names the applet it runs.
        """
        try:
            with open_observed(path) as f:
                data = f.read(PHDR_READ)
        except OSError:
            return
        lk = elf_layout_key(data[:HEAD_LEN])
        if lk is not None:
            self.by_layout.setdefault(lk, key)
            table = elf_phdr_table(data)
            if table is not None:
                self.phdrs.setdefault(key, table)
            segs = elf_exec_segments(data)
            if segs and key not in self.code_segments:
                self.code_segments[key] = segs
                self.by_code_geom.setdefault(code_geometry(segs), []).append(key)

    def lookup_layout(
        self, head: bytes, size: int = 0, image: bytes | None = None
    ) -> tuple[str, str, set[str]] | None:
        """Known binary whose ELF layout equals that of ``head`` (the kernel's bprm->buf).

        The 128-byte head is only a first filter: ``image`` (the executed
        file's first PHDR_READ bytes, when it could be read) must hold the
        same whole program-header table, and without it ``size`` (the
        executed file's size, from the kernel) must reach the known binary's
        last loaded byte.  Either refutes a different build that happens to
        share the head's entry point and first program header.
        """
        lk = elf_layout_key(head[:HEAD_LEN])
        found = self.by_layout.get(lk) if lk is not None else None
        if found is None:
            return None
        known = self.phdrs.get(found)
        if known is not None:
            mine = elf_phdr_table(image) if image else None
            if mine is not None:
                if mine[0] != known[0]:
                    return None
            elif size and size < known[1]:
                return None
        return self.by_inode.get(found)

    def lookup_code(self, path: str, ino: int, image: bytes) -> tuple[tuple[str, str, set[str]], str] | None:
        """(known binary, digest) whose executable segments equal those of the file at ``path``, or None.

        ``image`` is the file's first PHDR_READ bytes; ``path`` is read only if it still holds
        inode ``ino`` (the file the kernel executed).  Cost: nothing unless the executable
        segments' addresses and sizes equal a known binary's (a dict lookup); then one read of
        those segments (dash: 75 KiB, 0.1 ms; python3.11: 2.7 MiB, ~11 ms under load) and, once per
        known binary, of its own.
        """
        segs = elf_exec_segments(image)
        if not segs:
            return None
        keys = self.by_code_geom.get(code_geometry(segs))
        if not keys:
            return None

        def digest(f: BinaryIO) -> str | None:
            return code_digest(f, segs) if os.fstat(f.fileno()).st_ino == ino else None

        try:
            mine = OBSERVER.read(path, digest)
        except OSError:
            return None
        if mine is None:
            return None
        for key in keys:
            if key not in self._code_digest:
                try:
                    with open_observed(self.paths[key]) as kf:
                        self._code_digest[key] = code_digest(kf, self.code_segments[key])
                except OSError:
                    self._code_digest[key] = None
            if self._code_digest[key] == mine:
                hit = self.by_inode.get(key)
                if hit is not None:
                    return hit, mine
        return None

    def build_markers(self, pace: Callable[[float], None] | None = None) -> None:
        """Each interpreter's own marker words: printable words of its file found in no other known file.

        Why: a copy whose code bytes and headers were edited (red-team round 8,
        ``g4r8_dash_recoded``: int3 in the padding between dash's code sections, PT_NOTE ->
        PT_NULL, 4 KiB appended) matches no hash, layout or code digest, but still carries
        the interpreter's own strings (its messages, builtin and variable names), and so does
        a file that carries the interpreter inside it to load it without an exec (round 8,
        ``g4r8_userland_exec_busybox``: busybox appended to a loader stub).  A word counts for
        a program when no other known binary (the other interpreters, the LOTL tools, the
        loader and the C library: a static binary holds libc's words) holds it; at most
        MARKER_MAX are kept per program, spread over its words in hash order.  Reads each known
        binary's MARKER_READ first (and last) bytes once: the background build does it after
        the index is published (``IndexBuild``), paced by ``pace``, a replay on first need.
        """
        words: dict[tuple[int, int], array[int]] = {}
        common: set[int] = set()
        for key, path in self.paths.items():
            try:
                w = path_marker_hashes(path, pace)
            except OSError:
                continue
            if self.by_inode[key][1] == LOADER:
                common.update(w)
            words[key] = w
        for lib in self._libc_paths():
            try:
                common.update(path_marker_hashes(lib, pace))
            except OSError:
                continue
        by_name: dict[str, tuple[str, set[str], list[array[int]]]] = {}
        for key, w in words.items():
            name, cls, aliases = self.by_inode[key]
            entry = by_name.setdefault(name, (cls, set(), []))
            entry[1].update(aliases)
            entry[2].append(w)
        del words
        merged = {
            name: parts[0] if len(parts) == 1 else array("q", sorted(set().union(*parts)))
            for name, (_c, _a, parts) in by_name.items()
        }
        single = _singles(merged)  # per program, its words no other program holds (sorted)
        out: dict[str, tuple[str, set[str], frozenset[int]]] = {}
        for name, (cls, aliases, _parts) in by_name.items():
            if cls != INTERPRETER and name not in _BUSYBOX:
                continue
            own = [h for h in single[name] if h not in common]
            if len(own) < MARKER_MIN_HITS:
                continue
            step = max(1, len(own) // MARKER_MAX)
            out[name] = (cls, aliases, frozenset(own[::step][:MARKER_MAX]))
        self.markers = out

    def _libc_paths(self) -> list[str]:
        """The C library beside each known loader (``libc.so.6`` in its directory)."""
        out: list[str] = []
        for key, (_name, cls, _aliases) in self.by_inode.items():
            if cls != LOADER:
                continue
            lib = os.path.join(os.path.dirname(self.paths[key]), "libc.so.6")
            if lib not in out and os.path.isfile(lib):
                out.append(lib)
        return out

    def lookup_markers(self, path: str, ino: int) -> tuple[str, str, set[str], str] | None:
        """(name, class, aliases, "hits/total") of the interpreter whose marker words the file holds.

        ``path`` is read only if it still holds inode ``ino`` (the file the kernel executed);
        the answer is cached per (dev, inode, size, mtime).  None: no markers built yet, the
        file is gone, or no program's share reaches MARKER_SHARE (and MARKER_MIN_HITS words).
        """
        if self.markers is None:
            return None
        cache = self._marker_cache

        def scan(f: BinaryIO) -> tuple[tuple[int, int, int, int], set[int] | None] | None:
            st = os.fstat(f.fileno())
            if st.st_ino != ino:
                return None
            ck = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            return ck, (None if ck in cache else span_marker_hashes(f))

        try:
            got = OBSERVER.read(path, scan)
        except OSError:
            return None
        if got is None:
            return None
        ck, scanned = got
        if scanned is None:
            return cache.get(ck)
        mine = scanned
        best: tuple[str, str, set[str], str] | None = None
        best_share = 0.0
        for name, (cls, aliases, own) in self.markers.items():
            hits = len(own & mine)
            share = hits / len(own)
            if hits >= MARKER_MIN_HITS and share >= MARKER_SHARE and share > best_share:
                best, best_share = (name, cls, aliases, f"{hits}/{len(own)}"), share
        if len(self._marker_cache) >= 4096:
            self._marker_cache.pop(next(iter(self._marker_cache)))
        self._marker_cache[ck] = best
        return best

    def lookup_inode(self, dev: int, ino: int) -> tuple[str, str, set[str]] | None:
        return self.by_inode.get((dev, ino))

    def size_known(self, size: int) -> bool:
        return size in self.by_size

    def sha256_of(self, path: str, st: os.stat_result) -> str | None:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        h = self._hash_cache.get(key)
        if h is None:
            h = _sha256_file(path)
            if h is None:
                return None
            self._hash_cache[key] = h
        return h

    def lookup_hash(self, digest: str, size: int) -> tuple[str, str, set[str]] | None:
        """Known binary with this content; hashes known binaries of that size on first need."""
        if self._by_hash is None:
            self._by_hash = {}
        if size not in self._hashed_sizes:
            self._hashed_sizes.add(size)
            for key in self.by_size.get(size, []):
                path = self.paths[key]
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                h = self.sha256_of(path, st)
                if h is not None:
                    self._by_hash.setdefault(h, key)
        found = self._by_hash.get(digest)
        return self.by_inode.get(found) if found is not None else None


class IndexBuild:
    """The host's binary index and program directories, built once per sensor process, in a thread.

    Why a thread started when the sensor attaches: the build is a scandir of every
    search-path directory, a stat and an ELF-header read per known binary and a readlink
    per symlinked program: 0.3 s on the development host under load, but ~40 s in a
    1-vCPU emulated vmtest guest reading its root over 9p.  It used to run inside the
    first batch (``ExecChannel._warm``), which stalled the sensor's loop that long and
    left the baseline too few batches (docs/detection.md, "Enough batches").  Started by
    ``prepare_index`` before the sensor loads its programs, it overlaps that; the batch
    path only adopts it once done, never waits, and an exec that needs it earlier waits
    at most ``index_wait_s`` of the urgent path (``ExecChannel._binaries``).  One build
    serves every agent's L2: it depends only on the configuration (``shared``).
    """

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _shared: ClassVar[dict[tuple[Any, ...], IndexBuild]] = {}

    def __init__(
        self, classify: Callable[[str], tuple[str, str] | None], search_path: list[str] | None
    ) -> None:
        self._classify = classify
        self._search_path = search_path
        self.known: KnownBinaries | None = None
        self.script_dirs: frozenset[str] | None = None
        self.error = ""
        self.started = time.monotonic()
        self.seconds: float | None = None
        self.markers_seconds: float | None = None
        self.markers_error = ""
        self._done = threading.Event()
        self._markers_done = threading.Event()  # set when build_markers ended (or was never run)
        self._hurry = threading.Event()  # set: an exec waits for the markers, stop pacing
        self._thread = threading.Thread(target=self._run, name="h7-l2-index", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            # below the sensor's own threads: in a 1-vCPU emulated guest the build (~35 s there)
            # otherwise took the CPU from the BPF verifier at attach (attach 36 s -> 56 s)
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + BUILD_NICE))
        except OSError:
            pass  # not allowed to lower it: build at the sensor's priority
        try:
            known = KnownBinaries(self._classify, self._search_path)
            self.script_dirs = _program_dirs(known.dirs)
            self.known = known
        except Exception as e:  # a bug: the channel builds on its own thread instead, where it shows
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.seconds = time.monotonic() - self.started
            self._done.set()
        if self.known is not None:
            # the interpreters' marker words, after the index is published: reading every known
            # binary (MARKER_READ each) delays no exec judged meanwhile, only marker identity
            try:
                self.known.build_markers(self._pace)
            except Exception as e:  # a bug: no marker identity, said in the status
                self.markers_error = f"{type(e).__name__}: {e}"
            self.markers_seconds = time.monotonic() - self.started
        self._markers_done.set()

    def _pace(self, work_s: float) -> None:
        """Sleep so the work just done is MARKER_DUTY of the time spent (the GIL is free meanwhile),
        until an exec waits for the markers (``wait_markers``): then full speed."""
        if not self._hurry.is_set():
            self._hurry.wait(min(5.0, work_s * (1.0 / MARKER_DUTY - 1.0)))

    def wait_markers(self, timeout_s: float) -> bool:
        """An exec needs marker identity now: build unpaced, wait at most ``timeout_s``; done?"""
        self._hurry.set()
        return self._markers_done.wait(max(0.0, timeout_s))

    @classmethod
    def shared(cls, settings: L2Settings, interpreters: frozenset[str], lotl: frozenset[str]) -> IndexBuild:
        """The build for this configuration, started on the first call."""
        key = (tuple(settings.search_path) if settings.search_path is not None else None, interpreters, lotl)
        with cls._lock:
            b = cls._shared.get(key)
            if b is None:
                b = cls._shared[key] = IndexBuild(_classifier(interpreters, lotl), settings.search_path)
            return b

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Wait at most ``timeout_s`` for the build; whether it is done."""
        return self._done.wait(max(0.0, timeout_s))

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.done and self.known is not None,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "markers_seconds": round(self.markers_seconds, 3) if self.markers_seconds is not None else None,
            **({"error": self.error} if self.error else {}),
            **({"markers_error": self.markers_error} if self.markers_error else {}),
        }


#: the background marker build works at most this share of the time: ~3 s of work on the
#: development host becomes ~15 s, and in a 1-vCPU emulated guest (50-100x slower) it takes a
#: fifth of the CPU instead of all of it while the agent's baseline is being learnt
MARKER_DUTY = 0.2
#: the background build runs this many nice levels below the sensor (Linux keeps nice per thread)
BUILD_NICE = 10


def _classifier(
    interpreters: frozenset[str], lotl: frozenset[str]
) -> Callable[[str], tuple[str, str] | None]:
    """(class, canonical name) of a program name, for the index: ``ExecChannel.classify_name``'s tables."""

    def classify(name: str) -> tuple[str, str] | None:
        if not name:
            return None
        n = normalise_name(os.path.basename(name))
        if n in interpreters:
            return INTERPRETER, n
        if n in lotl:
            return LOTL, n
        return None

    return classify


def prepare_index(config: EngineConfig) -> None:
    """L2's set-up before the sensor opens (``registry.prepare``): start the index build.

    Live only (``read_proc``): a replay judges with an index it builds when first needed.
    """
    if not config.read_proc:
        return
    st = config.settings(L2Settings)
    if not (st.content_identity or st.installed_scripts):
        return
    IndexBuild.shared(st, *_tables(st))


def _tables(st: L2Settings) -> tuple[frozenset[str], frozenset[str]]:
    """The interpreter and LOTL name tables under these settings."""
    return (
        INTERPRETERS | {normalise_name(n) for n in st.extra_interpreters},
        LOTL_TOOLS | {normalise_name(n) for n in st.extra_lotl},
    )


def _loader_program(args: list[str]) -> str:
    """The PROGRAM of ``ld.so [OPTIONS] PROGRAM [ARGS]``, '' if none."""
    i = 1
    while i < len(args):
        a = args[i]
        if a in _LOADER_OPTS_WITH_VALUE:
            i += 2
            continue
        if a.startswith("--"):
            if a in ("--list", "--verify", "--help", "--version", "--list-tunables", "--list-diagnostics"):
                return ""  # the loader inspects, it does not run
            i += 1
            continue
        return a
    return ""


def simple_command(cmd: str) -> list[str] | None:
    """The words of ``cmd`` if dash would run it as ONE exec, else None.

    One simple command: no shell syntax beyond words and quotes, no variable
    assignment before it, and a first word that is a program rather than a
    builtin or keyword.  Quotes are allowed (git quotes the repository path:
    ``git-upload-pack '/x/origin.git'``); globs are allowed (they expand to
    words, never to code).
    """
    if not cmd.strip() or any(c in _SHELL_SYNTAX for c in cmd):
        return None
    try:
        words = shlex.split(cmd, posix=True)
    except ValueError:
        return None
    if not words or "=" in words[0] or words[0] in _SHELL_BUILTINS:
        return None
    return words


def _head_bytes(ev: Event) -> bytes:
    raw = ev.get("head")
    if isinstance(raw, bytes | bytearray):
        return bytes(raw)
    if isinstance(raw, str):
        try:
            return bytes.fromhex(raw)
        except ValueError:
            return b""
    return b""


def _stall_key(s: Stall) -> str:
    """One INSPECTION_STALLED key per filesystem (its type and mount point), the path if unknown."""
    return f"{s.fstype or '?'}:{s.mount or s.path}"


def _head_if(f: BinaryIO, ino: int) -> bytes | None:
    """The first PHDR_READ bytes of open file ``f`` if it is inode ``ino`` (the executed file)."""
    return f.read(PHDR_READ) if os.fstat(f.fileno()).st_ino == ino else None


def _sha256_file(path: str) -> str | None:
    """SHA-256 of a whole file, read through the observer (a file the agent serves must not hold L2)."""

    def digest(f: BinaryIO) -> str:
        h = hashlib.sha256()
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            progress()
        return h.hexdigest()

    try:
        return OBSERVER.read(path, digest)
    except OSError:
        return None


@dataclass
class _Image:
    """What a process last exec'd, as its children's shells see it (``ExecChannel._helper_shell``)."""

    name: str
    #: identified as an interpreter by any identity (a renamed copy of python too, not just by name)
    interpreter: bool = False
    #: its command line names the shell (``find -exec sh -c``, ``chpst sh -c``): it was given the shell
    names_shell: bool = False
    #: its command line was cut (the kernel's 256 bytes, or L2's 32 words): a shell may hide past the cut
    argv_cut: bool = False
    #: ``env`` started as the ``#!`` interpreter of this installed script (``#!/usr/bin/env node``):
    #: the interpreter env execs next in the same process, with this path as argv[1], runs it
    env_script: str = ""
    #: the program that started the installed script this process runs (or ran, earlier in its
    #: chain of in-place execs): its images are keyed by that launch, not by each other
    launch: str = ""
    #: the key the installed script was judged under, when it was judged an interpreter
    #: (a pyenv shim named python3: ``python<-agent``): later in-place execs of the process fold there
    chain_key: str = ""
    #: this process's exec was judged an interpreter, the installed one itself (not a copy): the
    #: program's name and the verdict's key.  The same interpreter it starts folds into that key
    verdict_program: str = ""
    verdict_key: str = ""
    #: argv[1] when it is an absolute path: the script an interpreter runs (``node /usr/bin/npm``)
    program_file: str = ""
    #: the interpreter runs an installed program (``program_file`` is one, unchanged since L2
    #: started watching); None until a shell it starts asks (``ExecChannel._installed_program``)
    installed_program: bool | None = None
    #: an installed build or test driver (``_BUILD_DRIVERS``), or a helper/recipe shell one started:
    #: what it execs may be the build's own output (``ExecChannel._build_output``)
    build_driver: bool = False
    #: an installed linker (``_LINKER``): a file it opens for writing is a build output
    linker: bool = False
    #: the process that made this exec, and the argv words the kernel captured when it cut them:
    #: the whole command line is read back while it lives (``ExecChannel._argv_whole``)
    pid: int = 0
    seen_args: tuple[str, ...] = ()


AGENT_IMAGE = _Image("agent")


@dataclass
class _Write:
    """The last writable open of an inode by an agent process (a ``file`` record), for ``_build_output``."""

    pid: int
    image: str
    linker: bool
    opened_ns: int
    #: when the writer exited (None while it lives): its closes all happened before this
    exited_ns: int | None = None


class ExecChannel(Channel):
    name = "L2"

    def __init__(self, config: EngineConfig, known: KnownBinaries | None = None) -> None:
        super().__init__(config)
        self.settings = config.settings(L2Settings)
        OBSERVER.configure(self.settings.inspect_timeout_s, self.settings.inspect_cooldown_s)
        self.stalls = 0
        self.interpreters, self.lotl = _tables(self.settings)
        self.allow = set(self.settings.allow)
        self.helper_shells = frozenset(normalise_name(n) for n in self.settings.helper_shells)
        self._known = known
        #: live: the shared background build (``IndexBuild``), started at attach or here
        self._build: IndexBuild | None = None
        wants = self.settings.content_identity or self.settings.installed_scripts
        if known is None and config.read_proc and wants:
            self._build = IndexBuild.shared(self.settings, self.interpreters, self.lotl)
        #: what is left of ``index_wait_s`` for execs judged before the build is done
        self._wait_left_s = self.settings.index_wait_s
        self.index_not_ready = 0
        self.execs = 0
        self.flagged = 0
        self.allowed = 0
        self.content_checked = 0
        self.content_unavailable = 0
        self.helper_shells_seen = 0
        self.recipe_shells_seen = 0
        self.helper_shells_alerted = 0
        # shell pid -> what it promised to run and the verdict held back until it runs it
        self._pending_helpers: dict[int, dict[str, Any]] = {}
        self.handoff_daemons = set(self.settings.handoff_daemons)
        self.handoff_sockets = list(self.settings.handoff_sockets)
        self.handoff_allow = list(self.settings.handoff_allow)
        self.written_allow = list(self.settings.written_allow)
        self.handoff_spools = list(self.settings.handoff_spools)
        # one compiled pattern: every write-open of the agent is checked on the urgent path
        self._spool_re = (
            re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.handoff_spools))
            if self.handoff_spools
            else None
        )
        #: absolute paths the agent opened for writing (or put in place) after its baseline -> ts_ns
        self._written_paths: dict[str, int] = {}
        #: pids whose opens since their last exec were all the dynamic loader's (``_loader_open``)
        self._loader_phase: dict[int, bool] = {}
        self._written_names: dict[str, int] = {}  # their base names -> how many: the read-open prefilter
        #: (dev, ino, gen) -> the last writable open of that inode by an agent process (bounded)
        self._writes: dict[tuple[int, int, int], _Write] = {}
        #: linker pid -> the inodes it opened writable (their exit time is set at its exit)
        self._writes_of: dict[int, list[tuple[int, int, int]]] = {}
        #: agent-written execs passed as a build's output run by the build (``_build_output``)
        self.build_outputs = 0
        #: shells' parents whose cut argv was read back whole from /proc, or could not be
        self.argv_read_whole = 0
        self.argv_unread = 0
        #: read-opens of such a file awaiting its executable mapping: pid -> facts (bounded)
        self._map_pending: dict[int, dict[str, Any]] = {}
        self.mapped_written = 0
        #: agent-written files run while learning: (dev, ino, gen) -> their write time (bounded):
        #: their later runs are the agent's repertoire (``_written_counts``)
        self._baseline_ran: dict[tuple[int, int, int], int] = {}
        #: agent-written ELF files read by an interpreter (an import, a dlopen): not the mapped rule's case
        self.mapped_by_interpreter = 0
        #: the kernel's records of agent-written files mapped executable (``exec_map``)
        self.exec_map_records = 0
        #: (pid, base name) -> the latest open record naming it: the path of a file the kernel
        #: reports mapped by name and inode only (bounded, oldest dropped first)
        self._opened: dict[tuple[int, str], Event] = {}
        self._knob_re = (
            re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.settings.kernel_helper_knobs))
            if self.settings.kernel_helper_knobs
            else None
        )
        # CLOCK_MONOTONIC end of this agent's baseline: writes after it make an
        # exec AGENT_WRITTEN_EXEC.  None while learning; 0 for a loaded baseline
        # (the kernel only knows writes made since this sensor loaded).
        self.baseline_end_ns: int | None = None
        self._last_batch_ns = 0
        self.fileless = 0
        self.written = 0
        self.handoffs = 0
        self._recent_handoffs: dict[int, dict[str, Any]] = {}  # daemon pid -> the hand-off (bounded)
        self._args_of: dict[int, list[str]] = {}  # pid -> argv of its last exec (bounded)
        self._img_of: dict[int, _Image] = {}  # pid -> program of its last exec (bounded): who spawned a shell
        self._sh_head: tuple[tuple[int, ...], bytes] = ((), b"")  # SYSTEM_SHELL's stat -> its first bytes
        self._owner_cache: dict[str, tuple[float, tuple[int, str] | None]] = {}
        self._index: HandoffIndex | None = None  # live only: built on first use
        # hand-offs whose receiver the index did not hold yet: judged again after its next sweep
        self._deferred: list[tuple[Event, float]] = []
        self._not_daemon: dict[str, float] = {}  # receivers a sweep found no daemon holding (bounded)
        self.handoffs_deferred = 0
        #: receiver execs reported by the kernel, and those receiver_allow exempted
        self.receiver_execs = 0
        self.receiver_allowed = 0
        #: ``file`` receivers that only read the agent's file (not a shell or interpreter running it)
        self.receiver_file_readers = 0
        self.receiver_held_data = 0  # of those: a holder's shell given its program elsewhere (-c, a script)
        self.markers_not_ready = 0  # execs that wanted marker identity before the markers were built
        #: CLOCK_REALTIME when this channel started watching: an installed script changed after
        #: it (ctime/mtime) may be the agent's work and is judged as its interpreter again
        self.watch_start_real_ns = time.time_ns()
        self.installed_scripts_seen = 0
        #: interpreters started by the same interpreter already judged: folded into its verdict
        self.nested_interpreters = 0
        #: execs already under way when their task was put in scope (attach): not judged
        self.began_unwatched = 0
        self._script_dirs: frozenset[str] | None = None

    # -- classification -------------------------------------------------
    def classify_name(self, name: str) -> tuple[str, str] | None:
        """(class, canonical name) for a program name, or None."""
        if not name:
            return None
        n = normalise_name(os.path.basename(name))
        if n in self.interpreters:
            return INTERPRETER, n
        if n in self.lotl:
            return LOTL, n
        return None

    @property
    def known(self) -> KnownBinaries:
        """The index, built on this thread if there is none yet (a replay, a test, a failed build)."""
        if self._known is None:
            self._adopt()
        if self._known is None:
            self._known = KnownBinaries(_classifier(self.interpreters, self.lotl), self.settings.search_path)
        return self._known

    def _adopt(self) -> None:
        """Take the shared build's index and program directories once it is done."""
        b = self._build
        if b is None or not b.done or b.known is None:
            return
        self._known = b.known
        if self._script_dirs is None:
            self._script_dirs = b.script_dirs

    def _spend_wait(self, wait: Callable[[float], bool]) -> None:
        """``wait`` for the background build out of what is left of ``index_wait_s``, and spend it."""
        t0 = time.monotonic()
        wait(self._wait_left_s)
        self._wait_left_s = max(0.0, self._wait_left_s - (time.monotonic() - t0))

    def _binaries(self, ctx: ChannelContext) -> KnownBinaries | None:
        """The index for an exec being judged now; None: still being built, judge by names.

        Live, the build runs in the background (``IndexBuild``): an exec that comes before it
        is done waits for it, at most ``index_wait_s`` in all per channel, so a build that
        never ends cannot stall the urgent path (nor the batches behind it) more than once.
        A replay, or a build that failed, builds here (``known``).
        """
        if self._known is not None:
            return self._known
        b = self._build
        if b is not None and ctx.proc.enabled and not b.error:
            if not b.done:
                self._spend_wait(b.wait)
            self._adopt()
            if self._known is None and not b.error:
                self.index_not_ready += 1
                return None
        return self.known

    def identities(self, ev: Event, ctx: ChannelContext) -> tuple[list[Identity], str]:
        """Every reason to classify this exec, plus how content identity went."""
        ids: list[Identity] = []
        filename = str(ev.get("filename", ""))
        interp = str(ev.get("interp", ""))
        exe_name = str(ev.get("exe_name", ""))
        args = [str(a) for a in ev.get("args", [])]
        for by, nm in (("exe_name", exe_name), ("filename", filename), ("interp", interp)):
            if by == "interp" and nm == filename:
                continue  # not a #! script: interp repeats filename
            c = self.classify_name(nm)
            if c is not None:
                ids.append(Identity(by, c[1], c[0], {nm, os.path.basename(nm)}))
        base = normalise_name(os.path.basename(exe_name or filename))
        content = "disabled"
        if self.settings.content_identity:
            content = self._content_identity(ev, ctx, ids)
        if base in _BUSYBOX or any(i.name in _BUSYBOX for i in ids):
            # busybox decides what to be from argv[0] (or argv[1] when called as busybox),
            # whatever the file is called (a renamed copy is found by its content).
            # busybox strips a login shell's leading '-' ("-sh") before it picks the applet
            applet = os.path.basename(args[0]).lstrip("-") if args else ""
            if normalise_name(applet) in _BUSYBOX:
                applet = args[1].lstrip("-") if len(args) > 1 else ""
            c = self.classify_name(applet)
            if c is not None:
                ids.insert(0, Identity("applet", c[1], c[0], {applet}))
        loader = [i for i in ids if i.cls == LOADER]
        if loader:
            ids = [i for i in ids if i.cls != LOADER]
        if _LOADER.match(base) or loader:
            # the loader run as a program, known by name or (a renamed or padded copy) by content
            loaded = self._loaded_program(ev, ctx, args)
            if loaded:
                ids.extend(loaded)
                if not _LOADER.match(base):
                    ids.extend(loader)  # evidence: how this file was known to be the loader
        return ids, content

    def _loaded_program(self, ev: Event, ctx: ChannelContext, args: list[str]) -> list[Identity]:
        """``ld.so PROGRAM``: the kernel runs the loader, the loader maps the program.

        The program is classified by name and, while the process lives, by
        the ELF layout of its first bytes (read through /proc/<pid>/cwd for
        a relative path).  Running programs through the loader is a known
        way around noexec mounts and exec-time identity, so a loader exec
        whose program cannot be identified is itself LIVING_OFF_THE_LAND.
        """
        prog = _loader_program(args)
        if not prog:
            return []
        out: list[Identity] = []
        c = self.classify_name(prog)
        if c is not None:
            out.append(Identity("loaded-name", c[1], c[0], {prog}))
        if self.settings.content_identity and ctx.proc.enabled:
            pid = int(ev.get("pid", 0))
            path = prog if os.path.isabs(prog) else f"{ctx.proc.root}/{pid}/cwd/{prog}"
            try:
                head = OBSERVER.read(path, lambda f: f.read(PHDR_READ))
            except OSError:
                head = b""
            known = self._binaries(ctx)
            hit = known.lookup_layout(head, image=head) if head and known is not None else None
            if hit is not None and hit[1] != LOADER:
                out.append(Identity("loaded-elf-layout", hit[0], hit[1], set(hit[2])))
        if not out:
            out.append(Identity("loader", "ld.so", LOTL, {prog}))
        return out

    @staticmethod
    def _exec_file(ev: Event, ctx: ChannelContext, ino: int) -> tuple[str, bytes, int] | None:
        """(a path to the executed file, its first PHDR_READ bytes, the fd that path holds), or None.

        The file is found through ``/proc/<pid>/exe`` or the exec's own paths (whichever is
        provably the executed inode) and HELD: the path returned is ``/proc/self/fd/<fd>``, the
        same file for every later look however the process or its path change (a shell that
        execs its command replaces ``/proc/<pid>/exe`` within milliseconds).  The caller closes fd.
        """
        if not ino:
            return None
        paths = [ctx.proc.exe_file(int(ev.get("pid", 0)))]
        paths += [str(p) for p in (ev.get("interp"), ev.get("filename")) if p and os.path.isabs(str(p))]
        for path in paths:
            if not path:
                continue
            try:
                fd, head = OBSERVER.hold(path, lambda f: _head_if(f, ino))
            except OSError:
                continue
            if head is not None:
                return f"/proc/self/fd/{fd}", head, fd
            os.close(fd)
        return None

    def _content_identity(self, ev: Event, ctx: ChannelContext, ids: list[Identity]) -> str:
        ino = int(ev.get("ino", 0) or 0)
        kdev = int(ev.get("dev", 0) or 0)
        known = self._binaries(ctx)
        if known is None:
            return "index-not-ready"
        if ino and kdev:
            hit = known.lookup_inode(kernel_dev_to_user(kdev), ino)
            if hit is not None:
                ids.append(Identity("inode", hit[0], hit[1], set(hit[2])))
                return "inode"
        found = self._exec_file(ev, ctx, ino)
        try:
            return self._identify_content(ev, ctx, ids, known, found)
        finally:
            if found is not None:
                os.close(found[2])

    def _identify_content(
        self,
        ev: Event,
        ctx: ChannelContext,
        ids: list[Identity],
        known: KnownBinaries,
        found: tuple[str, bytes, int] | None,
    ) -> str:
        """Identity by layout, whole-file hash, code digest, then marker words, of the HELD file."""
        ino = int(ev.get("ino", 0) or 0)
        head = _head_bytes(ev)
        if head:
            hit = known.lookup_layout(head, int(ev.get("size", 0) or 0), found[1] if found else None)
            if hit is not None:
                ids.append(Identity("elf-layout", hit[0], hit[1], set(hit[2])))
                return "elf-layout"
        whole = self._whole_file_identity(ev, ctx, ino, ids, known, found[0] if found else "")
        if whole != "sha256" and found is not None:
            # re-linked, stripped of notes or sections, padded: the code itself is the identity
            code = known.lookup_code(found[0], ino, found[1])
            if code is not None:
                hit, code_sha = code
                ids.append(Identity("code", hit[0], hit[1], set(hit[2]), code_sha256=code_sha))
                return "code"
            if not ids and found[1][:4] == b"\x7fELF" and self._marker_scan_wanted(found[0], ctx):
                mk = self._markers(known, ctx)
                m = mk.lookup_markers(found[0], ino) if mk is not None else None
                if m is not None:
                    ids.append(Identity("markers", m[0], m[1], set(m[2]), markers=m[3]))
                    return "markers"
        return whole

    def _markers(self, known: KnownBinaries, ctx: ChannelContext) -> KnownBinaries | None:
        """The index with its marker words; live, the background build's, waited for within budget.

        An exec that needs marker identity before the build is done (the first seconds after
        attach; minutes in a 1-vCPU emulated guest, where the build is paced to a fifth of the
        CPU) makes the build run unpaced and waits for it out of the same ``index_wait_s``
        budget as the index.  A build still not done then: the exec is judged without markers,
        and counted (``markers_not_ready`` in the status), never silently.
        """
        b = self._build
        if known.markers is None:
            if b is not None and ctx.proc.enabled and b.known is known:
                self._spend_wait(b.wait_markers)
            else:  # a replay, a test, a channel given its index, a failed build: on first need
                known.build_markers()
        if known.markers is None:
            self.markers_not_ready += 1
            return None
        return known

    def _marker_scan_wanted(self, path: str, ctx: ChannelContext) -> bool:
        """Is this unidentified ELF worth reading for markers (up to 2 x MARKER_READ bytes)?

        Not a program installed where the package manager puts them (``/usr``, ``/bin``...)
        and unchanged since this channel started watching: a compiler's 30-MiB ``cc1`` would
        cost ~1 s per build otherwise, and a file planted or changed there later is read.
        The answer per file is cached (``lookup_markers``), so a workspace binary run again
        costs a stat.  A replay cannot tell when a file changed: it reads them all.
        """
        if not ctx.proc.enabled:
            return True
        try:
            real, st = OBSERVER.realpath_stat(path)
        except OSError:
            return False
        if not real.startswith(_SYSTEM_PREFIXES):
            return True
        return max(st.st_ctime_ns, st.st_mtime_ns) >= self.watch_start_real_ns

    def _whole_file_identity(
        self,
        ev: Event,
        ctx: ChannelContext,
        ino: int,
        ids: list[Identity],
        known: KnownBinaries,
        held: str = "",
    ) -> str:
        """SHA-256 of the whole executed file against the known binaries of its size (an exact copy).

        ``held``: the file ``_exec_file`` holds open, looked at first.
        """
        # Find an openable file that is provably the executed one.
        candidates: list[str] = [held] if held else []
        pf = ctx.proc.exe_file(int(ev.get("pid", 0)))
        if pf:
            candidates.append(pf)
        for p in (ev.get("interp"), ev.get("filename")):
            if p and os.path.isabs(str(p)) and str(p) not in candidates:
                candidates.append(str(p))
        for path in candidates:
            try:
                st = OBSERVER.stat(path)
            except OSError:
                continue
            if not statmod.S_ISREG(st.st_mode) or (ino and st.st_ino != ino):
                continue
            self.content_checked += 1
            if not known.size_known(st.st_size):
                return "no-known-binary-of-that-size"
            digest = known.sha256_of(path, st)
            if digest is None:
                continue
            hit = known.lookup_hash(digest, st.st_size)
            if hit is not None:
                ids.append(Identity("sha256", hit[0], hit[1], set(hit[2]), sha256=digest))
                return "sha256"
            return "sha256-unknown"
        self.content_unavailable += 1
        return "unavailable"

    def _allowed(self, ids: list[Identity], ev: Event) -> bool:
        """Allowed only if EVERY identity is allowlisted (a renamed shell stays caught)."""
        if not self.allow:
            return False
        for ident in ids:
            names = {ident.name, *ident.aliases}
            names |= {os.path.basename(a) for a in ident.aliases}
            if ident.sha256:
                names.add(f"sha256:{ident.sha256}")
            if not names & self.allow:
                return False
        return True

    # -- channel interface ----------------------------------------------
    def learn(self, batch: Batch, ctx: ChannelContext) -> None:
        self._last_batch_ns = int(batch.t1_ns)
        self._warm(ctx)
        self.refresh_index(ctx)

    def judge(self, batch: Batch, ctx: ChannelContext) -> list[Alert]:
        """The batch path warms the binary index and keeps the daemons' socket index fresh."""
        self._warm(ctx)
        return self.refresh_index(ctx)

    def _warm(self, ctx: ChannelContext) -> None:
        """Take the host's binary index and script directories on the batch path, never build them there.

        History: built lazily by the first exec the agent made, an agent that
        never exec'd during its baseline paid the PATH scan inside its first
        alert (11 ms of a 20.5-ms act -> .cal at load 2.4, session 7's L2
        p99).  Session 8 moved the build here, into the first batch, where a
        1-vCPU emulated guest spent ~40 s on it and the baseline got too few
        batches.  Live, it is now built in the background from the attach on
        (``IndexBuild``), and this only adopts it once done.  A replay reads
        no /proc and has no latency to protect: it builds when first needed.
        """
        if not ctx.proc.enabled:
            return
        if self._build is not None:
            self._adopt()  # built in the background: taken once done, never waited for here
            if self._known is not None or not self._build.error:
                return
        if self.settings.content_identity:
            _ = self.known
        if self.settings.installed_scripts and self._script_dirs is None:
            self._script_dirs = _program_dirs(self.known.dirs)

    def handoff_index(self, ctx: ChannelContext) -> HandoffIndex | None:
        """The index of the configured daemons' unix sockets (shared by every agent's L2), live only."""
        if not ctx.proc.enabled:
            return None
        if self._index is None:
            self._index = HandoffIndex.shared(
                ctx.proc.root,
                frozenset(self.handoff_daemons),
                self.settings.handoff_index_period_s,
            )
        return self._index

    def refresh_index(self, ctx: ChannelContext, budget_s: float | None = None) -> list[Alert]:
        """Advance the index's sweep by one time slice; judge the hand-offs that waited for it.

        Runs on the batch path (learn/judge): a /proc sweep there delays no alert.  A hand-off
        whose receiver the index did not hold (a daemon that bound its socket after the last
        sweep) is judged again once a sweep that started after it completes: late, not missed.
        """
        index = self.handoff_index(ctx)
        if index is None:
            return []
        if budget_s is None:
            budget_s = self.settings.handoff_index_slice_ms / 1000.0
        index.step(budget_s, urgent=bool(self._deferred))
        out: list[Alert] = []
        if self._deferred:
            keep: list[tuple[Event, float]] = []
            for ev, t in self._deferred:
                if index.completed_after(t):
                    a = self._handoff_alert(ev, ctx, late=True)
                    if a is not None:
                        out.append(a)
                else:
                    keep.append((ev, t))
            self._deferred = keep
        return out

    def finish_baseline(self, ctx: ChannelContext) -> None:
        self.baselined = True
        self.baseline_end_ns = self._last_batch_ns

    # -- exec identity decided in the kernel ----------------------------
    def _identity_alerts(self, ev: Event, ctx: ChannelContext) -> list[Alert]:
        """FILELESS_EXEC / AGENT_WRITTEN_EXEC from the kernel's facts about the file."""
        flags = set(ev.get("id_flags", []))
        out: list[Alert] = []
        base = self._exec_evidence(ev)
        fileless = [f for f in ("memfd", "anonymous", "deleted", "unlinked") if f in flags]
        if fileless:
            self.fileless += 1
            kind = fileless[0]
            out.append(
                _match(
                    ctx,
                    FILELESS_EXEC,
                    ev,
                    # one certificate per file (exec_fd and exec of the same memfd fold)
                    key=f"{kind}:{int(ev.get('dev', 0))}:{int(ev.get('ino', 0))}",
                    evidence={**base, "file": kind, "hook": _hook(ev)},
                )
            )
        written_ns = int(ev.get("written_ns", 0) or 0)
        when = self._written_counts(ev, written_ns) if "agent-written" in flags else None
        if when is not None and not self._written_allowed(ev) and not self._build_output(ev, written_ns):
            self.written += 1
            out.append(
                _match(
                    ctx,
                    AGENT_WRITTEN_EXEC,
                    ev,
                    key=str(ev.get("exe_name") or ev.get("filename") or "?"),
                    evidence={
                        **base,
                        "written_ns": written_ns,
                        "baseline_end_ns": self.baseline_end_ns,
                        "written": when,
                        **_written_via(flags),
                        "hook": _hook(ev),
                    },
                )
            )
        return out

    def _build_output(self, ev: Event, written_ns: int) -> bool:
        """Is this agent-written exec a build's output run by the build (no AGENT_WRITTEN_EXEC)?

        A coding agent's build-and-test loop runs programs its own children wrote: cmake's
        ``check_c_source_runs`` probe, the test program ctest runs, ``make check``'s
        ``./selftest`` (red-team round 9's benign cmake/ctest act drew two certificates; the
        rule was chosen on the dev acts ``benign_ctest_unit_tests_dev``, ``benign_make_check_dev``).
        The kernel says only "a process of this agent closed it after opening it writable"; the
        open records say which process, and L2 knows what that process exec'd.  All must hold:

        * the inode's last writable open (``file`` record: dev, ino, generation) was by an
          installed linker (``_LINKER``, run from an installed directory, not a copy, memfd or
          agent-written file), and the kernel's last writable close (``written_ns``) falls
          between that open and the linker's exit: nobody closed it writable after the linker
          was gone (a write with no open record -- ``creat(2)``, io_uring -- fails this);
        * the process that execs it is an installed build or test driver (``_BUILD_DRIVERS``)
          or a helper/recipe shell one started (a make recipe's ``./selftest``), never the agent
          itself, an interpreter or a shell the agent started.

        Only the written-file finding is passed: the exec's identity (a shell, an interpreter,
        a LOTL tool, by name or content) is judged as for any exec.  ``build_outputs = false``
        turns it off.  What an attacker can exploit is in docs/detection.md ("Build outputs run
        by the build"): code the agent builds with the host's toolchain and has a driver run.
        """
        if not self.settings.build_outputs:
            return False
        key = (int(ev.get("dev", 0)), int(ev.get("ino", 0)), int(ev.get("gen", 0)))
        w = self._writes.get(key)
        if w is None or not w.linker or w.exited_ns is None:
            return False
        if not w.opened_ns <= written_ns <= w.exited_ns:
            return False
        pid = int(ev.get("pid", 0))
        runner = self._img_of.get(pid) or self._img_of.get(int(ev.get("ppid", 0))) or AGENT_IMAGE
        if not runner.build_driver:
            return False
        self.build_outputs += 1
        return True

    def _note_write(self, ev: Event) -> None:
        """Remember who last opened an inode for writing (a ``file`` record), for ``_build_output``."""
        if ev.get("op") != "opened" or not int(ev.get("flags", 0)) & _O_ACCMODE:
            return
        key = (int(ev.get("dev", 0)), int(ev.get("ino", 0)), int(ev.get("gen", 0)))
        pid = int(ev.get("pid", 0))
        img = self._img_of.get(pid, AGENT_IMAGE)
        self._writes.pop(key, None)
        if len(self._writes) >= _WRITES_MAX:
            self._writes.pop(next(iter(self._writes)))
        self._writes[key] = _Write(pid, img.name, img.linker, int(ev.get("ts_ns", 0)))
        if not img.linker:
            return  # only a linker's exit time is ever asked for (``_build_output``)
        keys = self._writes_of.setdefault(pid, [])
        if len(keys) < 256:
            keys.append(key)
        if len(self._writes_of) > _WRITES_MAX:
            self._writes_of.pop(next(iter(self._writes_of)))

    def _writer_exited(self, pid: int, ts_ns: int) -> None:
        for key in self._writes_of.pop(pid, []):
            w = self._writes.get(key)
            if w is not None and w.pid == pid and w.exited_ns is None:
                w.exited_ns = ts_ns

    def _written_counts(self, ev: Event, written_ns: int) -> str | None:
        """Is running (or mapping executable) this agent-written file a finding?  Why, or None.

        Written after the baseline: yes (``after-baseline``).  Written DURING the baseline:
        only if the baseline never saw it run (``during-baseline, first run after it``) --
        red-team round 9's ``g4r9_prime_written_tool`` (held out) wrote a native program
        while H7 was learning and ran it only after, and the old rule (writes after the
        baseline only) certified nothing.  A file the agent wrote and ran while learning (a
        coding agent's test binary, a hook) is its repertoire, as before; the kernel's
        written-files map only holds writes since attach, so "during the baseline" is
        "since attach".  Files are matched by the kernel's (dev, inode, generation): a
        rebuilt file is another inode, written after the baseline anyway.  While learning,
        every agent-written file run is remembered (bounded) and nothing is a finding.
        """
        ident = (int(ev.get("dev", 0)), int(ev.get("ino", 0)), int(ev.get("gen", 0)))
        if self.baseline_end_ns is None:
            if ident not in self._baseline_ran:
                if len(self._baseline_ran) >= _WRITTEN_PATHS_MAX:
                    self._baseline_ran.pop(next(iter(self._baseline_ran)))
                self._baseline_ran[ident] = written_ns
            return None
        if written_ns > self.baseline_end_ns:
            return "after-baseline"
        if ident in self._baseline_ran:
            return None
        return "during-baseline, first run after it"

    def _written_allowed(self, ev: Event) -> bool:
        names = [str(ev.get("filename", "")), str(ev.get("exe_name", ""))]
        return any(fnmatch.fnmatchcase(n, pat) for pat in self.written_allow for n in names if n)

    @staticmethod
    def _exec_evidence(ev: Event) -> dict[str, Any]:
        return {
            "pid": int(ev.get("pid", 0)),
            "ppid": int(ev.get("ppid", 0)),
            "uid": int(ev.get("uid", -1)),
            "comm": ev.get("comm", ""),
            "filename": ev.get("filename", ""),
            "exe_name": ev.get("exe_name", ""),
            "args": list(ev.get("args", []))[:32],
            "inode": {
                "dev": int(ev.get("dev", 0)),
                "ino": int(ev.get("ino", 0)),
                "nlink": int(ev.get("nlink", 0)),
                "size": int(ev.get("size", 0)),
                "mode": oct(int(ev.get("mode", 0))),
                "mtime_ns": int(ev.get("mtime_ns", 0)),
                "ctime_ns": int(ev.get("ctime_ns", 0)),
                "flags": list(ev.get("id_flags", [])),
            },
            "head": str(ev.get("head", ""))[:128],
        }

    def _listener_owner(self, path: str, root: str, dgram: bool = False) -> tuple[int, str] | None:
        """unix_listener_owner, cached 10 s per path (a chatty client must not rescan /proc).

        A datagram's receiver is searched among the daemons but systemd: pid 1
        holds every socket-activated socket (journald's, syslog's /dev/log) for
        the service it starts, and never reads their datagrams itself.
        """
        now = time.monotonic()
        key = ("d:" if dgram else "s:") + path
        hit = self._owner_cache.get(key)
        if hit is not None and now - hit[0] < 10.0:
            return hit[1]
        owner = unix_listener_owner(
            path,
            root,
            budget_s=self.settings.handoff_proc_budget_ms / 1000.0,
            comms=frozenset(self.handoff_daemons - {"systemd"} if dgram else self.handoff_daemons),
            dgram=dgram,
        )
        if len(self._owner_cache) >= 256:
            self._owner_cache.clear()
        self._owner_cache[key] = (now, owner)
        return owner

    def _parent_image(self, ev: Event) -> _Image:
        """The program that ran this exec, then remember this one for the execs it will make.

        The same pid's previous image (``env`` running ``sh`` in place), else the parent's last
        exec (``git`` forking a hook), else ``agent``: a process whose exec was never seen is the
        agent's own (its root, or a child it forked without exec).
        """
        pid = int(ev.get("pid", 0))
        same = self._img_of.get(pid)
        parent = same or self._img_of.get(int(ev.get("ppid", 0))) or AGENT_IMAGE
        self._img_of.pop(pid, None)
        if len(self._img_of) >= 4096:
            self._img_of.pop(next(iter(self._img_of)))
        name = str(ev.get("exe_name") or ev.get("filename") or "?")
        args = [str(a) for a in ev.get("args", [])]
        shells = {"sh", *self.helper_shells}
        names_shell = any(
            os.path.basename(part) in shells for a in args[1:] for part in {a, a.rpartition("=")[2]}
        )
        cut = bool(ev.get("args_truncated")) or len(args) > 32
        img = _Image(normalise_name(os.path.basename(name)), False, names_shell, cut, pid=pid)
        if cut:
            img.seen_args = tuple(args)
        if img.name in _BUILD_DRIVERS or _LINKER.match(img.name):
            installed = not _NOT_THE_FILE_ON_DISK & set(ev.get("id_flags", [])) and os.path.normpath(
                str(ev.get("filename", ""))
            ).startswith(_INSTALLED_PREFIXES)
            img.build_driver = installed and img.name in _BUILD_DRIVERS
            img.linker = installed and not img.build_driver
        if len(args) > 1 and os.path.isabs(args[1]):
            img.program_file = args[1]
        if same is not None and same.chain_key:
            # an in-place exec continuing an installed script judged as an interpreter
            img.launch, img.chain_key = same.launch, same.chain_key
        self._img_of[pid] = img
        self._loader_phase.pop(pid, None)
        if len(self._loader_phase) >= 4096:
            self._loader_phase.pop(next(iter(self._loader_phase)))
        self._loader_phase[pid] = True
        return parent

    def _helper_shell(self, ev: Event, ids: list[Identity], parent: _Image) -> bool:
        """``/bin/sh -c ONE_SIMPLE_COMMAND`` started by a program for itself: transparent.

        git starts ``git-upload-pack`` and GNU tar its compressor this way
        (red-team round 4's benign acts); system(3) and popen(3) do the same.
        Such a shell only execs its one command, which L2 then judges like any
        exec (``curl`` is LOTL, ``python3 x.py`` is ``python<-dash``, a file
        the agent wrote is AGENT_WRITTEN_EXEC), so skipping the shell hides
        nothing that a direct exec of the command would show.  Every condition
        narrows it to exactly that launch (docs/detection.md, "Helper shells"):

        * the file is this host's /bin/sh (:meth:`_is_system_shell`: the same
          inode, or -- through another mount, as in a 9p/overlay guest where
          only its ELF layout identifies it -- the same size, mtime, ctime and
          first bytes), a shell in ``helper_shells`` (dash reads no code from
          the environment: no ENV when not interactive, no exported
          functions), and no identity names anything else; a renamed, padded
          or copied shell, a memfd or a file the agent wrote is never it;
          not a daemon's child after a hand-off;
        * argv is ``sh -c CMD [ARG...]`` and CMD is one simple command
          (:func:`simple_command`; the ARGs are positional parameters it
          cannot reference), captured whole, not options to dash;
        * the program that started it was not given the shell: it is not the
          agent (the agent's own ``sh -c`` stays LLM_AGENT_HIJACK), not an
          interpreter by name or content (an interpreter's ``os.system`` is its
          code choosing a command), not the loader, not a launcher that runs the
          command line it is given (``env``, ``xargs``, ``find -exec``, ``nohup``,
          ``sudo``, busybox ...: :data:`_LAUNCHERS`), and its own command line,
          seen whole, names no shell (``anything … sh -c X``: an unlisted launcher).
        """
        if not self.helper_shells:
            return False
        args = self._program_sh_c(ev, ids, parent)
        if args is None:
            return False
        # words after CMD are $0, $1...: inert, since CMD has no `$` (git passes CMD again as $0)
        if ev.get("args_truncated") and len(args) < 4:
            # the kernel keeps 256 bytes of argv: a cut CMD may hide `; …` past the cut (an arg
            # followed by another was captured whole, so git's CMD-again-as-$0 form still counts)
            return False
        return simple_command(args[2]) is not None and self._is_system_shell(ev)

    def _recipe_shell(self, ev: Event, ids: list[Identity], parent: _Image) -> bool:
        """``/bin/sh -c 'a && b; for ...'`` that a program runs for itself: transparent, no verdict.

        make, ninja and cmake run every recipe line this way, git its ``bisect run`` command
        and aliases (``sh -c 'CMD "$@"'``), tar a compressor with options: on the development
        acts (make, cmake+ninja, git bisect; docs/detection.md, "Recipe shells") each was a
        ``dash<-make``/``dash<-ninja``/``dash<-git`` LLM_AGENT_HIJACK on ordinary agent work.
        The same conditions as a helper shell (:meth:`_helper_shell`) on the file (this
        host's /bin/sh, a shell in ``helper_shells``, never a copy, memfd, agent-written file
        or a daemon's child after a hand-off) and on who started it (not the agent, not an
        interpreter, not the loader, not a launcher, a command line naming no shell), and
        argv ``sh -c CMD`` with CMD not an option to dash; only CMD may be anything, cut by
        the kernel's 256-byte argv capture included.  Why that hides nothing L2 judges: dash
        has no network and no in-process code but its own; what it runs is exec'd and judged
        (its interpreters and shells with ``dash`` as their parent image: ``python<-dash``,
        ``dash<-dash``, never helpers), and its file writes are the open rules' (spools, kernel
        knobs, agent-written files).  What the shell can do without an exec (write files,
        loop, read) the agent could do itself with no exec at all.  ``recipe_shells = false``
        keeps only the one-simple-command helpers.
        """
        if not self.settings.recipe_shells or not self.helper_shells:
            return False
        if self._program_sh_c(ev, ids, parent) is None:
            return False
        return self._is_system_shell(ev)

    def _program_sh_c(self, ev: Event, ids: list[Identity], parent: _Image) -> list[str] | None:
        """argv of this host's ``/bin/sh -c CMD …`` started by a program for itself, else None.

        The conditions a helper shell and a recipe shell share, in one place so the two rules
        cannot drift apart: who started it (not the agent, not an interpreter by name or
        content, not the loader, not a launcher, a command line naming no shell, uncut), the
        file (this host's /bin/sh, a listed helper shell by content, not a daemon's child
        after a hand-off) and the argv shape (``sh -c CMD`` with CMD not an option to dash).
        """
        if parent is AGENT_IMAGE:
            return None
        # an interpreter's shell is its code's choice, unless the code is an installed program
        # (npm running a package's scripts, as make runs recipes: ``_installed_program``)
        program = bool(parent.installed_program)
        if parent.interpreter and not program:
            return None
        if parent.name in _LAUNCHERS or _LOADER.match(parent.name) or parent.names_shell or parent.argv_cut:
            return None
        pc = self.classify_name(parent.name)
        if pc is not None and pc[0] == INTERPRETER and not program:
            return None
        if str(ev.get("filename", "")) not in (SYSTEM_SHELL, "/usr" + SYSTEM_SHELL):
            return None
        if self._recent_handoffs.get(int(ev.get("ppid", 0))) is not None:
            return None
        if not all(i.cls == INTERPRETER and i.name in ("sh", *self.helper_shells) for i in ids):
            return None
        if not any(i.name in self.helper_shells for i in ids):
            return None  # the real image must be a helper shell, not merely named sh
        args = [str(a) for a in ev.get("args", [])]
        if len(args) < 3 or os.path.basename(args[0]) != "sh" or args[1] != "-c":
            return None
        if args[2].startswith(("-", "+")):
            # still options to dash (`sh -c -- 'a; b'`, `sh -c -e …`): the command is a later word
            return None
        return args

    def _argv_whole(self, parent: _Image, ctx: ChannelContext, count: bool = True) -> None:
        """Read back the whole command line of a program whose argv the kernel cut, while it lives.

        The exec record carries 256 bytes of argv; a program whose command line was longer may
        hide a shell past the cut (an unlisted launcher: ``wrap --long-options … sh -c``), so its
        shells were never helper or recipe shells.  git's own ``clone`` of a submodule, whose
        argv holds two long absolute paths, then made its ``sh -c "git-upload-pack '…'"`` a
        ``dash<-git`` (session 12, dev act ``benign_git_libexec_dev``).  While the program lives
        (it waits for its helper), ``/proc/<pid>/cmdline`` has every word: when it begins with the
        words the kernel captured (the same exec: the last captured word may be cut) the shell
        test is made on the whole argv, and the image is no longer "cut".  A program that has
        exited or exec'd again, or a replay, stays cut.  A process can rewrite its own
        ``cmdline`` memory, but only with code of its own running: a launcher that runs the
        command line it is given does not.  Tried first when the cut exec itself is judged (the
        program has just started: a short-lived one, git's clone of a small submodule, may be
        gone by the time its shell's record is read), again for the shell (``count``: a failure
        then is ``cut_argv_unread`` in the status).
        """
        if not parent.seen_args or not parent.pid or not ctx.proc.enabled:
            return
        full = ctx.proc.cmdline(parent.pid)
        seen = list(parent.seen_args)
        if (
            full is None
            or len(full) < len(seen)
            or full[: len(seen) - 1] != seen[:-1]
            or not full[len(seen) - 1].startswith(seen[-1])
        ):
            # gone before L2 looked (a short-lived parent), or another exec under that pid now
            self.argv_unread += int(count)
            return
        self.argv_read_whole += 1
        shells = {"sh", *self.helper_shells}
        parent.names_shell = parent.names_shell or any(
            os.path.basename(part) in shells for a in full[1:] for part in {a, a.rpartition("=")[2]}
        )
        parent.argv_cut, parent.seen_args = False, ()

    def _installed_script(self, ev: Event, parent: _Image, same: bool, ctx: ChannelContext) -> str | None:
        """The installed ``#!`` script this exec runs, if the file deserves to be judged as itself.

        The kernel's ``#!`` handling makes every script an exec of its
        interpreter: ``lsb_release`` (a ``#!/bin/sh`` script on Debian) was
        ``dash<-python`` when pip ran it, a pyenv shim named ``python3``
        (``#!/usr/bin/env bash``) ``bash<-env`` and then ``python<-bash``
        (red-team whole-suite run, session 6, development act
        ``benign_pip_venv_tool``).  The agent did not start a shell there, it
        started a program that happens to be written in one, and a shell
        script acts only by running programs, each judged by L2 as it is
        exec'd.  Such a script is judged by its own name, through the same
        tables as a binary (a shim named ``python3`` is still ``python``, a
        ``wget`` wrapper LOTL), when all of these hold:

        * the kernel ran a *shell* for it (``SHELLS``): ``interp`` differs
          from ``filename`` (the script's path), or ``env`` was that
          interpreter and now execs the shell it found with the script as
          argv[1] (``#!/usr/bin/env bash``; ``env -S`` splitting is not
          followed).  Scripts of python, node, perl... stay their
          interpreter's exec: those run code in-process that no exec shows
          (pytest importing the workspace's tests, ``pdb3 -c``), so the
          interpreter's verdict is the only one L2 could give;
        * the path is absolute and its directory is one where the host's
          programs live: a directory where L2 indexes them (``search_path``:
          $PATH plus the standard bin dirs) or one a program there links to
          (``/usr/bin/npm`` -> ``/usr/lib/node_modules/npm/bin``, pyenv's
          ``bin/pyenv`` -> its ``libexec``, where its helper scripts are);
          a script planted in a repository or written in a workspace is not;
        * the file is a regular file whose ctime and mtime are older than the
          moment this channel started watching (ctime cannot be set from
          userspace: a script written, copied, renamed or chmod'ed since is
          judged as its interpreter, as before), and the kernel flags no
          memfd, deleted or agent-written file for the exec;
        * /proc is live (a replay cannot tell when the file last changed
          relative to the journal: every script is judged as its interpreter).
        """
        if not self.settings.installed_scripts or not ctx.proc.enabled:
            return None
        filename, interp = str(ev.get("filename", "")), str(ev.get("interp", ""))
        args = [str(a) for a in ev.get("args", [])]
        if interp and interp != filename:
            script = filename
        elif same and parent.env_script and len(args) > 1 and args[1] == parent.env_script:
            script = parent.env_script
        else:
            return None
        if _NOT_THE_FILE_ON_DISK & set(ev.get("id_flags", [])):
            return None
        runner = normalise_name(os.path.basename(str(ev.get("exe_name") or interp)))
        if runner not in SHELLS and not (runner == "env" and script == filename):
            return None
        return script if self._installed_path(script, ctx, self._own_libexec(parent)) else None

    def _own_libexec(self, parent: _Image) -> frozenset[str]:
        """The directories where the program that runs this script keeps its own helpers.

        git runs its scripted commands (``git bisect``, ``git submodule``, ``git mergetool``)
        from its exec path, ``/usr/lib/git-core``: not a ``search_path`` directory, so each was
        ``dash<-git`` (red-team round 7's benign ``git_bisect_run``; dev acts
        ``benign_git_bisect_dev``, ``benign_git_libexec_dev``).  Such a script is part of the
        program as much as its binary is, so it is judged by its own name like any installed
        script (:meth:`_installed_path`: unchanged since L2 started watching, never a file the
        agent wrote), when the program that runs it is the one whose directory it is, by the
        Filesystem Hierarchy's conventions: ``/usr/lib/PROG-core``, ``/usr/libexec/PROG``,
        ``/usr/lib/PROG`` (PROG: the runner's resolved, normalised name).  Never for the agent
        or an interpreter (``python`` running a file from ``/usr/lib/python3``... is code it was
        given, not its own helper).
        """
        if parent is AGENT_IMAGE or parent.interpreter or not parent.name or "/" in parent.name:
            return frozenset()
        c = self.classify_name(parent.name)
        if c is not None and c[0] == INTERPRETER:
            return frozenset()
        p = parent.name
        return frozenset([f"/usr/lib/{p}-core", f"/usr/libexec/{p}", f"/usr/lib/{p}"])

    def _installed_path(
        self, script: str, ctx: ChannelContext, libexec: frozenset[str] = frozenset()
    ) -> bool:
        """Is ``script`` a program file installed on the host, unchanged since L2 started watching?

        Its directory is one where the host's programs live (or one a program there links to,
        or ``libexec``: the running program's own helper directories, ``_own_libexec``), it is
        a regular file, and its ctime and mtime are older than the watch (``_installed_script``
        says why each condition).  Live only (/proc), like the rules that ask.
        """
        if self._script_dirs is None:
            known = self._binaries(ctx)
            if known is None:
                return False  # the index is still being built: judged as its interpreter
            if self._script_dirs is None:
                self._script_dirs = _program_dirs(known.dirs)
        where = os.path.dirname(os.path.normpath(script))
        if not os.path.isabs(script) or (where not in self._script_dirs and where not in libexec):
            return False
        try:
            st = OBSERVER.stat(script)
        except OSError:
            return False
        if not statmod.S_ISREG(st.st_mode):
            return False
        return max(st.st_ctime_ns, st.st_mtime_ns) < self.watch_start_real_ns

    def _installed_program(self, img: _Image, ctx: ChannelContext) -> bool:
        """Does this interpreter process run an installed program (``node /usr/bin/npm …``)?

        Why (session 11, benign class "npm run-scripts"; dev act ``benign_npm_scripts_dev``):
        npm is a program written in node, and it runs a package's ``scripts`` through ``sh -c``
        exactly as make runs its recipes, so its shells are the program's recipe shells, not
        code the agent gave node.  Only the installed interpreter by name or inode (not a copy
        known by content), whose argv[1] is an installed program file unchanged since L2
        started watching (:meth:`_installed_path`); ``node -e``, ``python3 -c``, ``-m`` and
        any script in a workspace or repository keep their shells judged.  Live only.
        """
        if img.installed_program is None:
            img.installed_program = bool(
                img.interpreter
                and img.verdict_program
                and img.program_file
                and self.settings.installed_scripts
                and ctx.proc.enabled
                and self._installed_path(img.program_file, ctx)
            )
        return img.installed_program

    def _script_exec(
        self, ev: Event, ctx: ChannelContext, script: str, parent: _Image, same: bool, out: list[Alert]
    ) -> None:
        """An installed script's exec: env's half marks it, the interpreter's half is judged by its name."""
        pid = int(ev.get("pid", 0))
        img = self._img_of[pid]
        launch = parent.launch if (same and parent.launch) else parent.name
        if normalise_name(os.path.basename(str(ev.get("exe_name") or ev.get("interp") or ""))) == "env" and (
            str(ev.get("interp", "")) not in ("", str(ev.get("filename", "")))
        ):
            img.env_script, img.launch = script, launch  # env looks up the interpreter next
            return
        self.installed_scripts_seen += 1
        name = os.path.basename(script)
        img.name, img.interpreter, img.launch = normalise_name(name), True, launch
        c = self.classify_name(name)
        if c is None:
            return  # a program written in a script language: what it execs is judged
        if ev.get("began_unwatched"):
            self.began_unwatched += 1  # the image H7 attached to (see ``_on_events``)
            return
        ids = [Identity("script", c[1], c[0], {script, name})]
        if self._allowed(ids, ev):
            self.allowed += 1
            return
        alert = self._exec_alert(ev, ctx, ids, launch, "installed-script")
        alert.evidence["installed_script"] = script
        if c[0] == INTERPRETER:
            img.chain_key = alert.key
        self.flagged += 1
        out.append(alert)

    def _is_system_shell(self, ev: Event) -> bool:
        """Is the exec'd file this host's /bin/sh itself (not a copy, whatever the name)?

        The kernel's (dev, inode) equal to stat(/bin/sh)'s settles it.  Through
        another mount of the same file they differ (a vmtest guest's 9p root:
        there /bin/sh is identified by its ELF layout, not its inode), so the
        file's own facts decide: size, mtime, ctime and the first bytes the
        kernel read.  ctime cannot be set from userspace -- a copy, a rename
        into place, padding or a patch all give the file a ctime of their own.
        A memfd, a deleted file or a file the agent wrote is never it.
        """
        if _NOT_THE_FILE_ON_DISK & set(ev.get("id_flags", [])):
            return False
        try:
            st = os.stat(SYSTEM_SHELL)
        except OSError:
            return False
        dev, ino = int(ev.get("dev", 0) or 0), int(ev.get("ino", 0) or 0)
        if dev and ino and (kernel_dev_to_user(dev), ino) == (st.st_dev, st.st_ino):
            return True
        facts = tuple(int(ev.get(k, 0) or 0) for k in ("size", "mtime_ns", "ctime_ns"))
        if facts != (st.st_size, st.st_mtime_ns, st.st_ctime_ns):
            return False
        head = _head_bytes(ev)
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if self._sh_head[0] != stamp:
            try:
                with open(SYSTEM_SHELL, "rb") as f:
                    self._sh_head = (stamp, f.read(HEAD_LEN))
            except OSError:
                return False
        return bool(head) and head == self._sh_head[1][: len(head)]

    def _remember_args(self, ev: Event) -> None:
        pid = int(ev.get("pid", 0))
        self._args_of.pop(pid, None)
        if len(self._args_of) >= 4096:
            self._args_of.pop(next(iter(self._args_of)))
        self._args_of[pid] = [str(a) for a in ev.get("args", [])][:32]

    def _handoff_key(self, daemon: str, path: str, ev: Event) -> str:
        """Fold key of a hand-off: the daemon, and what the client asked it (its argv).

        ``tmux send-keys …`` and ``tmux run-shell …`` are two commands handed
        to one server: two certificates.  The same command repeated folds.
        A client that execs nothing (a library call from the agent itself)
        is keyed by the daemon and socket alone.
        """
        argv = self._args_of.get(int(ev.get("pid", 0)))
        if not argv:
            return f"{daemon}:{path}"
        digest = hashlib.sha256("\0".join(argv).encode("utf-8", "surrogateescape")).hexdigest()[:12]
        return f"{daemon}:{path}:{digest}"

    def _receiver(self, ev: Event, ctx: ChannelContext, dgram: bool) -> tuple[tuple[int, str] | None, str]:
        """Who holds the socket a hand-off reached, and how that was found ("index", "proc", "defer").

        The index (swept on the batch path) answers first: by the socket's inode when the
        kernel named it, else by its bound address.  Before the index's first sweep has
        completed, the bounded /proc search of old answers.  After it, a datagram receiver
        the index does not hold is judged again after the next sweep ("defer") instead of
        searching /proc on the urgent path (datagrams to receivers that are no daemon, a
        journald or syslog socket, are common; a search per receiver on a loaded host ran
        out of budget and missed the daemon).  A stream listener whose binder exited is
        rare (dtach): the bounded search still answers it at once, and defers if it gives up.
        """
        path = str(ev.get("path", ""))
        skip = frozenset({"systemd"}) if dgram else frozenset()
        index = self.handoff_index(ctx)
        if index is not None and index.ready:
            owner = index.lookup(path, int(ev.get("peer_ino", 0)), dgram, skip)
            if owner is not None:
                return owner, "index"
            if dgram:
                return None, "defer"
            owner = self._listener_owner(path, ctx.proc.root, dgram)
            return owner, ("proc" if owner is not None else "defer")
        return self._listener_owner(path, ctx.proc.root, dgram), "proc"

    def _defer(self, ev: Event, path: str, late: bool) -> None:
        """Queue a hand-off for the next sweep, unless a sweep since its send found no daemon holding it.

        A receiver that is no daemon (journald's /dev/log, a client's own socket) is
        remembered: a socket by its inode for good, an address for one sweep period (a
        daemon may bind it later), so a chatty logger does not keep the sweeps running.
        """
        ino = int(ev.get("peer_ino", 0))
        key = f"i:{ino}" if ino else f"p:{path}"
        now = time.monotonic()
        if late:
            if len(self._not_daemon) >= 1024:
                self._not_daemon.clear()
            self._not_daemon[key] = now
            return
        seen = self._not_daemon.get(key)
        if seen is not None and (ino or now - seen < self.settings.handoff_index_period_s):
            return
        if len(self._deferred) < 64:
            self._deferred.append((ev, now))
            self.handoffs_deferred += 1

    def _handoff_alert(self, ev: Event, ctx: ChannelContext, late: bool = False) -> Alert | None:
        """DAEMON_HANDOFF: the agent's unix connect was accepted by a command-running daemon."""
        peer_agent = int(ev.get("peer_agent", 0))
        if peer_agent and peer_agent == int(ev.get("agent", -1)):
            return None  # the agent's own daemon: its children are watched anyway
        comm = str(ev.get("peer_comm", ""))
        path = str(ev.get("path", ""))
        owner = None
        found_by = "kernel"
        tiocsti = path.startswith(TIOCSTI_PREFIX)
        dgram = ev.get("sock_type") == "dgram"
        if not comm and path and ctx.proc.enabled and not tiocsti:
            # The process that called listen() is gone (a daemon that forked
            # after binding, like dtach), or this is a datagram (its receiver
            # has no peer credentials): who holds the socket now.
            owner, found_by = self._receiver(ev, ctx, dgram)
            if found_by == "defer" and not any(fnmatch.fnmatchcase(path, p) for p in self.handoff_sockets):
                self._defer(ev, path, late)
                return None  # judged by its receiver after the next sweep (late: not a daemon)
            if owner is not None:
                comm = owner[1]
                if dgram and ctx.info is not None and ctx.proc.descends_from(owner[0], ctx.info.root_pid):
                    return None  # the agent's own receiver (the kernel's peer_agent, for a stream)
        by = []
        if tiocsti:
            # keystrokes pushed into a terminal (ioctl TIOCSTI): whoever reads it runs them
            by.append("tiocsti")
        if comm in self.handoff_daemons:
            by.append("daemon")
        if any(fnmatch.fnmatchcase(path, pat) for pat in self.handoff_sockets):
            by.append("socket")
        if not by:
            return None
        if any(fnmatch.fnmatchcase(path, pat) or pat == comm for pat in self.handoff_allow):
            self.allowed += 1
            return None
        daemon_pid = owner[0] if owner is not None else int(ev.get("peer_pid", 0))
        if len(self._recent_handoffs) >= 64:
            self._recent_handoffs.pop(next(iter(self._recent_handoffs)))
        self._recent_handoffs[daemon_pid] = {
            "daemon_pid": daemon_pid,
            "daemon_comm": comm,
            "socket": path,
            "ts_ns": int(ev.get("ts_ns", 0)),
        }
        return self._daemon_handoff(
            ev,
            ctx,
            self._handoff_key(comm or path, path, ev),
            by,
            socket=path,
            fd=int(ev.get("fd", -1)),
            daemon_pid=daemon_pid,
            daemon_found_by=(found_by + ("-late" if late else "")) if owner is not None else "kernel",
            daemon_comm=comm,
            children_followed=bool(ev.get("followed", False)),
            **({"datagram": True} if dgram else {}),
        )

    def _receiver_alert(self, ev: Event, ctx: ChannelContext) -> Alert | None:
        """DAEMON_HANDOFF: a process outside the agent that the agent's act had just fed exec'd.

        The kernel decided both halves (bpf/h7.bpf.c, recv_mark/recv_exec): the agent's act
        marked a channel (a FIFO it opened for writing, the accepting end of its unix or TCP
        connect), and a process outside every agent holding it -- or forked by one since --
        exec'd within ``receiver_window_s``.  No daemon list: the FIFO runner, the CGI server
        and the RPC worker of red-team round 7 are on none.  One certificate per (channel
        kind, receiver comm): the rest of one command's execs (a CGI script's shell, its
        tools) and repeated commands to the same runner fold into it.
        """
        self.receiver_execs += 1
        receiver = str(ev.get("receiver_comm", ""))
        filename = str(ev.get("filename", ""))
        exe_name = str(ev.get("exe_name", ""))
        names = [n for n in (receiver, filename, exe_name, os.path.basename(filename)) if n]
        if any(fnmatch.fnmatchcase(n, pat) for pat in self.settings.receiver_allow for n in names):
            self.receiver_allowed += 1
            return None
        channel = str(ev.get("channel", ""))
        ids, content = self.identities(ev, ctx)
        program_from = ""
        if channel == "file":
            runs, program_from = self._file_receiver_runs_it(ev, receiver, ids)
            if not runs:
                self.receiver_file_readers += 1
                return None
        act_ns = int(ev.get("act_ts_ns", 0))
        evidence = {
            # the agent's process that acted (0: a TCP connect, marked in softirq)
            "pid": int(ev.get("act_pid", 0)),
            "channel": channel,
            "channel_ino": int(ev.get("channel_ino", 0)),
            "act_ts_ns": act_ns,
            "exec_after_act_ms": round((int(ev.get("ts_ns", 0)) - act_ns) / 1e6, 3) if act_ns else None,
            "receiver_pid": int(ev.get("receiver_pid", 0)),
            "receiver_comm": receiver,
            "forks_from_receiver": int(ev.get("receiver_hops", 0)),
            "receiver_found": str(ev.get("receiver_found", "")),
            **({"program_from": program_from} if program_from else {}),
            "exec": {**self._exec_evidence(ev), "interp": ev.get("interp", "")},
            "exec_identified_as": [i.to_dict() for i in ids],
            "content_identity": content,
            "matched_by": ["receiver-exec"],
            "hook": _hook(ev),
            "act_hook": _RECEIVER_TCP_SEND_HOOK
            if channel == "tcp" and int(ev.get("act_pid", 0))
            else _RECEIVER_ACT_HOOKS.get(channel, "unknown"),
        }
        self.handoffs += 1
        return _match(ctx, DAEMON_HANDOFF, ev, key=f"receiver:{channel}:{receiver}", evidence=evidence)

    def _file_receiver_runs_it(self, ev: Event, receiver: str, ids: list[Identity]) -> tuple[bool, str]:
        """Did the outside process RUN the agent's file, rather than only read it?  (yes/no, and
        for a holder never seen reading: where the exec'd interpreter takes its program from)

        A ``file`` mark means a young process outside the agent read (or exec'd) a file the
        agent wrote, or holds a pipe a reader of one wrote into (a relay).  Reading is common
        (an indexer, ``xargs -a``, ``git add``); running is when that reader is a shell or an
        interpreter (its script: a runner's ``sh job``), a build tool or task runner
        (``file_runners``: make runs a Makefile's recipes, ninja a build.ninja's commands --
        red-team round 9's ``g5r9_watcher_make_recipe``), or the exec'd image is itself the
        agent's file.  The agent's OWN make is inside the agent, never a receiver: its recipes
        are judged as the agent's execs.

        A holder the kernel only found HOLDING the relayed pipe (in its file table when it forked
        or exec'd; its comm then is the image it became) was never seen reading it: a backup
        job's ``tar -z`` runs ``/bin/sh -c gzip`` with the pipe of the agent's files as stdin,
        and that shell only hands it to gzip (round 11's false DAEMON_HANDOFF receiver:file:sh).
        Such a holder runs the data only if the interpreter exec'd here takes its program from
        its input: no ``-c``/``-e`` and no script operand (``cat job | sh``), ``-s``, ``-``, or a
        script named by a descriptor (``sh /dev/stdin``).  A holder that then reads the pipe
        becomes a reader (``relay_pipe``), whose execs are judged as any shell reader's.
        """
        if "agent-written" in ev.get("id_flags", []):
            return True, ""
        if any(fnmatch.fnmatchcase(receiver, pat) for pat in self.settings.file_runners):
            return True, ""
        c = self.classify_name(receiver)
        if c is None or c[0] != INTERPRETER:
            return False, ""
        if ev.get("receiver_found") != "held":
            return True, ""
        args = [str(a) for a in ev.get("args", [])]
        for ident in ids:
            if ident.cls != INTERPRETER:
                continue
            run = code_operand(ident.name, args)
            if run is not None and (run.how == "stdin" or _FD_PATH.match(run.what)):
                return True, f"{run.how}:{run.what}"
        self.receiver_held_data += 1
        return False, ""

    def _daemon_handoff(
        self, ev: Event, ctx: ChannelContext, key: str, matched_by: list[str], **details: Any
    ) -> Alert:
        """One DAEMON_HANDOFF alert, by socket or by spool file: the client, how it matched, the details.

        Both kinds name who handed what over (the client's pid, comm and argv)
        and the hook alike, so an operator reads them alike; ``details`` says to what.
        """
        self.handoffs += 1
        pid = int(ev.get("pid", 0))
        return _match(
            ctx,
            DAEMON_HANDOFF,
            ev,
            key=key,
            evidence={
                "pid": pid,
                "comm": ev.get("comm", ""),
                **details,
                "matched_by": matched_by,
                "client_args": self._args_of.get(pid, []),
                "hook": str(ev.get("hook") or "tp_btf/sys_enter"),
            },
        )

    def _open_path(self, ev: Event, ctx: ChannelContext) -> str | None:
        """The absolute, normalised path an open named; relative ones only live (through /proc)."""
        path = str(ev.get("path", ""))
        if not path:
            return None
        if not path.startswith("/"):
            if not ctx.proc.enabled:
                return None  # replay: another time's cwd is unknowable
            dfd = int(ev.get("dfd", _AT_FDCWD))
            pid = int(ev.get("pid", 0))
            link = "cwd" if dfd == _AT_FDCWD else f"fd/{dfd}"
            try:
                path = os.path.join(os.readlink(f"{ctx.proc.root}/{pid}/{link}"), path)
            except OSError:
                return None
        return os.path.normpath(path).replace("//", "/")

    def _spool_alert(self, ev: Event, ctx: ChannelContext) -> Alert | None:
        """DAEMON_HANDOFF by file: the agent wrote into a spool a daemon polls and runs (atd, cron, systemd).

        at(1) itself writes atd's spool and signals atd; an agent can do the same by hand, with no
        unix connect and no exec of ``at``.  Judged from the open, before any byte is written.
        """
        if str(ev.get("op", "")).startswith("xattr_"):
            return None  # an attribute of a spool file: no job put in place
        flags = int(ev.get("flags", 0))
        # a rename's new name puts a whole file in place (written elsewhere first, then moved in)
        placed = ev.get("op") == "rename_to"
        if not (flags & _O_ACCMODE or flags & _O_CREAT or placed):
            return None
        if self._spool_re is None and self._knob_re is None:
            return None
        path = self._open_path(ev, ctx)
        if path is None:
            return None
        knob = self._kernel_helper_knob(path, ev, ctx)
        if knob is not None:
            return self._knob_alert(ev, ctx, knob, path, flags)
        if self._spool_re is None or not self._spool_re.match(path):
            return None
        if any(fnmatch.fnmatchcase(path, pat) for pat in self.handoff_allow):
            self.allowed += 1
            return None
        return self._daemon_handoff(
            ev, ctx, f"spool:{path}", ["spool"], spool_file=path, open_flags=oct(flags)
        )

    def _kernel_helper_knob(self, path: str, ev: Event, ctx: ChannelContext) -> str | None:
        """The usermode-helper knob this write-open names (the path as the kernel knows it), or None.

        ``/proc/self/root/proc/sys/...`` is the same file as ``/proc/sys/...`` for a process that
        is not chrooted, so a ``/proc/<pid>/root`` prefix is dropped before matching.
        """
        if self._knob_re is None:
            return None
        m = _PROC_ROOT_PREFIX.match(path)
        bare = m.group(1) if m else path
        if self._knob_re.match(bare):
            return bare
        if os.path.basename(bare) == "register" and self._binfmt_register(path, ev, ctx):
            return "binfmt_misc:register"
        return None

    @staticmethod
    def _binfmt_register(path: str, ev: Event, ctx: ChannelContext) -> bool:
        """Is ``path`` the ``register`` file of a binfmt_misc mount in the writer's mount namespace?

        A private ``mount -t binfmt_misc none DIR`` registers handlers as well as the system's
        /proc/sys/fs/binfmt_misc (one table per user namespace since 6.7, the host's before), at
        any path: the writer's own mount table (/proc/<pid>/mountinfo, live only, read only for
        a write-open of a file named ``register``) says which file system holds it.
        """
        if not ctx.proc.enabled:
            return False
        pid = int(ev.get("pid", 0))
        best, fstype = "", ""
        try:
            with open(f"{ctx.proc.root}/{pid}/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
                for n, line in enumerate(f):
                    if n > 20000:
                        break
                    left, sep, right = line.partition(" - ")
                    fields = left.split()
                    if not sep or len(fields) < 5:
                        continue
                    mnt = fields[4].replace("\\040", " ")
                    inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
                    if inside and len(mnt) >= len(best):
                        best, fstype = mnt, (right.split() or [""])[0]
        except OSError:
            return False
        return fstype == "binfmt_misc"

    def _knob_alert(self, ev: Event, ctx: ChannelContext, knob: str, path: str, flags: int) -> Alert | None:
        """DAEMON_HANDOFF to the kernel: a usermode-helper knob written (the kernel runs what it names)."""
        if any(fnmatch.fnmatchcase(p, pat) for pat in self.handoff_allow for p in (path, knob)):
            self.allowed += 1
            return None
        return self._daemon_handoff(
            ev,
            ctx,
            f"kernel-helper:{knob}",
            ["kernel-helper"],
            knob=knob,
            knob_path=path,
            daemon_comm="kernel usermode helper",
            open_flags=oct(flags),
        )

    # -- agent-written code mapped into a process (LD_PRELOAD, dlopen) ---
    def _written_mapping(self, ev: Event, ctx: ChannelContext, in_loader: bool = False) -> Alert | None:
        """AGENT_WRITTEN_EXEC for an agent-written ELF file that an agent process maps to run it.

        Red-team round 6 (``g4r6_ld_preload_agent_lib``): the agent writes a library and runs
        the system's ``/usr/bin/true`` with ``LD_PRELOAD`` naming it; the exec is of a trusted
        file, the code that runs is the agent's.  ``dlopen`` is the same act.  The kernel's
        exec-time identity sees only the executed file, so this is judged from the open
        records: (1) after the baseline, every path an agent process opens for writing or
        creating, or puts in place by ``rename``/``link``, is remembered (absolute, normalised;
        16384 at most); (2) a read-only open of such a path by an agent process, when the file is
        an ELF with an executable segment, is a candidate; (3) it is confirmed while the opener
        lives by an executable mapping of that very inode in ``/proc/<pid>/maps`` (re-checked
        for up to 2 s: reading a library is not running it); (4) an opener that exited before
        its maps could be read is judged by how it opened the file: ld.so opens every library
        exactly ``O_RDONLY|O_CLOEXEC``, and a program that is neither the agent nor an
        interpreter (which read files with those flags too) opening an agent-written ELF so is
        taken as its loader mapping it.  Live only (replay cannot read maps or the file).
        """
        if self.baseline_end_ns is None or not ctx.proc.enabled:
            return None
        op, flags = ev.get("op"), int(ev.get("flags", 0))
        if op in ("rename_from", "chdir"):
            return None
        writing = op in ("rename_to", "creat", "link") or bool(flags & (_O_ACCMODE | _O_CREAT | _O_TRUNC))
        if writing and int(ev.get("ts_ns", 0)) <= self.baseline_end_ns:
            return None
        if not writing and os.path.basename(str(ev.get("path", ""))) not in self._written_names:
            return None  # the common read-open: no path resolution, no /proc read
        path = self._open_path(ev, ctx)
        if path is None:
            return None
        if writing:
            self._forget_written(path)
            if len(self._written_paths) >= _WRITTEN_PATHS_MAX:
                self._forget_written(next(iter(self._written_paths)))
            self._written_paths[path] = int(ev.get("ts_ns", 0))
            name = os.path.basename(path)
            self._written_names[name] = self._written_names.get(name, 0) + 1
            return None
        written = self._written_paths.get(path)
        if written is None or any(fnmatch.fnmatchcase(path, pat) for pat in self.written_allow):
            return None
        try:
            st, data = OBSERVER.read(path, lambda f: (os.fstat(f.fileno()), f.read(PHDR_READ)))
        except OSError:
            return None
        if not statmod.S_ISREG(st.st_mode) or not elf_exec_segments(data):
            return None
        pid = int(ev.get("pid", 0))
        img = self._img_of.get(pid, AGENT_IMAGE)
        c = self.classify_name(img.name)
        interpreter = img.interpreter or (c is not None and c[0] == INTERPRETER)
        if interpreter or self._agent_interpreter(pid, img, ctx):
            # python importing the extension pip just installed, node loading a native addon: an
            # interpreter runs whatever code it is given, so native code it loads is not a trusted
            # program's identity hidden behind its exec (the rule's case) -- its own exec was judged
            self.mapped_by_interpreter += 1
            return None
        facts = {
            "ev": ev,
            "path": path,
            "dev": st.st_dev,
            "ino": st.st_ino,
            "written_ns": written,
            "opener": img.name,
            "runs_code": img is AGENT_IMAGE,
            "loader_phase": in_loader,
            "deadline": time.monotonic() + _MAP_CONFIRM_S,
        }
        return self._judge_mapping(pid, facts, ctx, gone=False)

    def _agent_interpreter(self, pid: int, img: _Image, ctx: ChannelContext) -> bool:
        """Is ``pid``, a process whose exec L2 never saw (the agent, or a fork of it), an interpreter?

        Agents are Python or Node processes, but the answer is read, not assumed: the file
        /proc/<pid>/exe leads to, by name or as a known interpreter's inode.  A process gone
        already, or a compiled agent, is not one.
        """
        if img is not AGENT_IMAGE:
            return False
        exe = ctx.proc.exe_file(pid)
        if exe is None:
            return False
        try:
            real, st = OBSERVER.realpath_stat(exe)
        except OSError:
            return False
        c = self.classify_name(os.path.basename(real))
        if c is not None and c[0] == INTERPRETER:
            return True
        known = self._binaries(ctx)
        hit = known.lookup_inode(st.st_dev, st.st_ino) if known is not None else None
        return hit is not None and hit[1] == INTERPRETER

    def _forget_written(self, path: str) -> None:
        if self._written_paths.pop(path, None) is None:
            return
        name = os.path.basename(path)
        left = self._written_names.get(name, 0) - 1
        if left > 0:
            self._written_names[name] = left
        else:
            self._written_names.pop(name, None)

    def _judge_mapping(
        self, pid: int, facts: dict[str, Any], ctx: ChannelContext, gone: bool
    ) -> Alert | None:
        """Confirm by the opener's maps; hold while unmapped; judge an exited opener by its open's flags."""
        mapped = None if gone else ctx.proc.exec_mapping(pid, facts["dev"], facts["ino"])
        if mapped:
            return self._mapping_alert(facts, ctx, "maps")
        if mapped is False:
            if pid not in self._map_pending and len(self._map_pending) >= 64:
                self._map_pending.pop(next(iter(self._map_pending)))
            self._map_pending[pid] = facts
            return None
        self._map_pending.pop(pid, None)
        ev = facts["ev"]
        if facts["runs_code"] or not facts["loader_phase"] or int(ev.get("flags", 0)) != _LOADER_OPEN_FLAGS:
            return None
        return self._mapping_alert(facts, ctx, "loader-open")

    def _recheck_mappings(self, ctx: ChannelContext) -> list[Alert]:
        out: list[Alert] = []
        now = time.monotonic()
        for pid, facts in list(self._map_pending.items()):
            if now > facts["deadline"]:
                self._map_pending.pop(pid, None)  # read, never mapped
                continue
            a = self._judge_mapping(pid, facts, ctx, gone=False)
            if a is not None:
                self._map_pending.pop(pid, None)
                out.append(a)
        return out

    def _mapping_alert(self, facts: dict[str, Any], ctx: ChannelContext, by: str) -> Alert:
        ev = facts["ev"]
        self.written += 1
        self.mapped_written += 1
        path = str(facts["path"])
        return _match(
            ctx,
            AGENT_WRITTEN_EXEC,
            ev,
            # a package's libraries fold into one certificate per directory
            key=f"mapped:{os.path.dirname(path)}",
            evidence={
                "pid": int(ev.get("pid", 0)),
                "ppid": int(ev.get("ppid", 0)),
                "comm": ev.get("comm", ""),
                "mapped_file": path,
                "inode": {"dev": int(facts["dev"]), "ino": int(facts["ino"])},
                "open_flags": oct(int(ev.get("flags", 0))),
                "opener_image": facts["opener"],
                "written_ns": int(facts["written_ns"]),
                "baseline_end_ns": self.baseline_end_ns,
                "confirmed_by": (
                    "executable mapping in /proc/PID/maps"
                    if by == "maps"
                    else "ld.so's open (O_RDONLY|O_CLOEXEC) by a non-interpreter, gone before maps read"
                ),
                "hook": "tp_btf/sys_enter (open records)",
            },
        )

    def _remember_open(self, ev: Event) -> None:
        """Keep the path an open named, by (pid, base name), for :meth:`_exec_map_alert`."""
        path = str(ev.get("path", ""))
        if not path or ev.get("op") in ("rename_from", "chdir", "xattr_set", "xattr_get"):
            return
        key = (int(ev.get("pid", 0)), os.path.basename(path))
        self._opened.pop(key, None)
        if len(self._opened) >= _OPENED_MAX:
            self._opened.pop(next(iter(self._opened)))
        self._opened[key] = ev

    def _exec_map_alert(self, ev: Event, ctx: ChannelContext) -> Alert | None:
        """AGENT_WRITTEN_EXEC (``act: mapped``) from the kernel's record of an executable mapping.

        Red-team round 9 (``g4r9_gconv_module_in_iconv``, held out): the installed ``iconv``,
        run by the agent with ``GCONV_PATH`` naming an agent-written module, ``dlopen``ed it
        and exited within milliseconds, so :meth:`_written_mapping`, which confirms a mapping
        in ``/proc/PID/maps``, found nothing to read.  The kernel now reports the mapping
        itself where it is made (``mmap``/``mprotect`` with ``PROT_EXEC`` at ``sys_enter``, or
        the LSM hooks ``security_mmap_file``/``security_file_mprotect`` in fentry mode), only
        for a file a process of the same agent closed writable (``written_files``), never for
        the process's own program (its exec record carries that mark).  Same rules as an
        exec's (:meth:`_written_counts`: written after the baseline, or during it and never run
        or mapped while learning); an interpreter
        (python importing the extension pip just built, node loading an addon) runs whatever
        code it is given and its own exec was judged, so it is counted, not certified;
        ``written_allow`` exempts by path or name.  One certificate per directory (a package's
        libraries), as the open-based rule keys it, so both fold together.
        """
        self.exec_map_records += 1
        written_ns = int(ev.get("written_ns", 0) or 0)
        when = self._written_counts(ev, written_ns)
        if when is None:
            return None
        pid, name = int(ev.get("pid", 0)), str(ev.get("name", ""))
        img = self._img_of.get(pid, AGENT_IMAGE)
        c = self.classify_name(img.name)
        if (
            img.interpreter
            or (c is not None and c[0] == INTERPRETER)
            or self._agent_interpreter(pid, img, ctx)
        ):
            self.mapped_by_interpreter += 1
            return None
        opened = self._opened.get((pid, name))
        path = self._open_path(opened, ctx) if opened is not None else None
        if any(fnmatch.fnmatchcase(n, pat) for pat in self.written_allow for n in (path, name) if n):
            self.allowed += 1
            return None
        self.written += 1
        self.mapped_written += 1
        return _match(
            ctx,
            AGENT_WRITTEN_EXEC,
            ev,
            key=f"mapped:{os.path.dirname(path)}" if path else f"mapped:{name}",
            evidence={
                "pid": pid,
                "ppid": int(ev.get("ppid", 0)),
                "comm": ev.get("comm", ""),
                "act": "mapped",
                "mapped_file": path or name,
                "inode": {
                    "dev": int(ev.get("dev", 0)),
                    "ino": int(ev.get("ino", 0)),
                    "gen": int(ev.get("gen", 0)),
                },
                "map_op": ev.get("op", ""),
                "prot": int(ev.get("prot", 0)),
                "mapper_image": img.name,
                "written_ns": written_ns,
                "baseline_end_ns": self.baseline_end_ns,
                "written": when,
                "confirmed_by": "the kernel's record of the executable mapping",
                "hook": _hook(ev),
            },
        )

    # -- channel interface ----------------------------------------------
    def on_events(self, events: list[Event], ctx: ChannelContext) -> list[Alert]:
        OBSERVER.subject(None)
        out: list[Alert] = self._recheck_mappings(ctx) if self._map_pending else []
        try:
            self._on_events(events, ctx, out)
        finally:
            OBSERVER.subject(None)
        by_key: dict[str, list[Stall]] = {}
        for s in OBSERVER.take_stalls():
            by_key.setdefault(_stall_key(s), []).append(s)
        out.extend(self._stall_alert(group, ctx, events) for group in by_key.values())
        return out

    def _stall_alert(self, group: list[Stall], ctx: ChannelContext, events: list[Event]) -> Alert:
        """INSPECTION_STALLED: a file a watched process named kept the sensor waiting.

        The look was given up (``h7.safeio.Observer``) and the rule that asked went on as if
        the file could not be read, so whatever that rule would have found there is unknown:
        this certificate says so.  One key per mount point (repeats fold, counted): a
        filesystem that stalls once is skipped while it cools, and each skip is another fold.
        """
        self.stalls += len(group)
        s = group[0]
        ev: Event = s.subject if isinstance(s.subject, dict) else (events[-1] if events else {})
        evidence: dict[str, Any] = {
            "op": s.op,
            "path": s.path,
            "mount": s.mount,
            "fstype": s.fstype,
            "reason": s.reason,
            "waited_ms": round(1000.0 * s.waited_s, 1),
            "timeout_s": self.settings.inspect_timeout_s,
            "cooldown_s": self.settings.inspect_cooldown_s,
            "while_judging": str(ev.get("type", "")),
            "pid": int(ev.get("pid", 0)),
            # the first look given up, then how many more were skipped in the same batch
            "looks_given_up": len(group),
            "reasons": sorted({g.reason for g in group}),
        }
        for k in ("exe_name", "filename", "path"):
            if ev.get(k):
                evidence[f"event_{k}"] = str(ev[k])
        return _match(ctx, INSPECTION_STALLED, ev, key=_stall_key(s), evidence=evidence)

    def _on_events(self, events: list[Event], ctx: ChannelContext, out: list[Alert]) -> None:
        for ev in events:
            OBSERVER.subject(ev)
            etype = ev.get("type")
            if etype == "open":
                sa = self._spool_alert(ev, ctx)
                if sa is not None:
                    out.append(sa)
                opener = int(ev.get("pid", 0))
                in_loader = self._loader_phase.get(opener, False)
                if in_loader and not _loader_open(str(ev.get("path", ""))):
                    self._loader_phase.pop(opener, None)  # the program itself runs now
                ma = self._written_mapping(ev, ctx, in_loader)
                if ma is not None:
                    out.append(ma)
                self._remember_open(ev)
                continue
            if etype == "exec_map":
                xa = self._exec_map_alert(ev, ctx)
                if xa is not None:
                    out.append(xa)
                continue
            if etype == "handoff":
                a = self._handoff_alert(ev, ctx)
                if a is not None:
                    out.append(a)
                continue
            if etype == "recv_exec":
                a = self._receiver_alert(ev, ctx)
                if a is not None:
                    out.append(a)
                continue
            if etype == "fork":
                held = self._pending_helpers.get(int(ev.get("pid", 0)))
                child = int(ev.get("child", 0))  # h7.decode's name for the record's child_tgid
                if held is not None and child and child != int(ev.get("pid", 0)) and len(held["kids"]) < 64:
                    held["kids"].add(child)
                continue
            if etype == "file":
                self._note_write(ev)
                continue
            if etype == "exit":
                if int(ev.get("pid", 0)) == int(ev.get("tid", -1)):
                    self._writer_exited(int(ev.get("pid", 0)), int(ev.get("ts_ns", 0)))
                    # a reused pid must not inherit the dead process's image as "who started me"
                    self._img_of.pop(int(ev.get("pid", 0)), None)
                    # a helper shell that ends without exec'ing its command ran something itself
                    out.extend(self._release_helper(int(ev.get("pid", 0)), ctx))
                    held_map = self._map_pending.get(int(ev.get("pid", 0)))
                    if held_map is not None:
                        ma = self._judge_mapping(int(ev.get("pid", 0)), held_map, ctx, gone=True)
                        if ma is not None:
                            out.append(ma)
                continue
            if etype == "exec_fd":
                out.extend(self._identity_alerts(ev, ctx))
                continue
            if etype != "exec":
                continue
            out.extend(self._identity_alerts(ev, ctx))
            out.extend(self._settle_helpers(ev, ctx))
            self.execs += 1
            self._remember_args(ev)
            same = int(ev.get("pid", 0)) in self._img_of
            parent = self._parent_image(ev)
            img = self._img_of[int(ev.get("pid", 0))]
            if img.argv_cut:
                self._argv_whole(img, ctx, count=False)  # while it has just started (see there)
            script = self._installed_script(ev, parent, same, ctx)
            if script is not None:
                self._script_exec(ev, ctx, script, parent, same, out)
                continue
            ids, content = self.identities(ev, ctx)
            if not ids:
                continue
            if any(i.cls == INTERPRETER for i in ids):
                # its children's shells are an interpreter's, whatever this copy is called
                self._img_of[int(ev.get("pid", 0))].interpreter = True
            if ev.get("began_unwatched"):
                # under way when its task entered the scope (``h7 attach`` during a launcher's
                # exec): the image H7 attached to, not an act; remembered above like any exec,
                # and its identity findings (fileless, agent-written) stand.  Not settable by
                # the agent: every syscall in scope leaves a token, and an exec is a syscall.
                self.began_unwatched += 1
                continue
            if self._allowed(ids, ev):
                self.allowed += 1
                continue
            if parent.interpreter:
                self._installed_program(parent, ctx)
            if parent.argv_cut and any(i.cls == INTERPRETER for i in ids):
                self._argv_whole(parent, ctx)  # a shell's parent: was a shell hidden past the cut?
            helper = self._helper_shell(ev, ids, parent)
            recipe = not helper and self._recipe_shell(ev, ids, parent)
            if helper or recipe:
                # what the shell runs is the program's: the same interpreter again (npm's
                # script running ``node build.js``) folds into the program's verdict (_nest)
                sh_img = self._img_of[int(ev.get("pid", 0))]
                sh_img.verdict_program, sh_img.verdict_key = parent.verdict_program, parent.verdict_key
                # a make recipe's shell runs what the build made as make would (``_build_output``)
                sh_img.build_driver = parent.build_driver
            if recipe:
                self.recipe_shells_seen += 1  # transparent: what it runs is judged instead
                continue
            chain = self._img_of[int(ev.get("pid", 0))]
            alert = self._exec_alert(ev, ctx, ids, chain.launch if chain.chain_key else parent.name, content)
            if chain.chain_key and alert.key.endswith("<-" + chain.launch):
                # an interpreter exec'd in place by an installed wrapper judged as one (a pyenv shim
                # named python3 -> bash -> python3.11): the launch it was judged as, not a second
                # one; folds into that key (LOTL tools keep their own key: no "<-" in it)
                alert.key = chain.chain_key
                alert.evidence["continues_installed_script"] = chain.chain_key
            if helper:
                # judged by what it execs next (that exec's parent_image is this shell); the
                # shell's own verdict is held until it does, and given if it does anything else
                self.helper_shells_seen += 1
                self._hold_helper(ev, alert, ctx, out)
                continue
            self._nest(ev, alert, parent, chain, ids)
            self.flagged += 1
            out.append(alert)

    def _nest(self, ev: Event, alert: Alert, parent: _Image, img: _Image, ids: list[Identity]) -> None:
        """Fold an interpreter started by the same interpreter, already judged, into that verdict.

        ``python3 -m venv`` (``python<-agent``) runs the new venv's python for ensurepip, pip
        builds in a python subprocess, a test runner starts workers, a shell script runs
        another: keyed ``python<-python``/``dash<-dash``, each was a certificate of its own
        (red-team dev act ``benign_pip_venv_tool``).  The inner one can do nothing the outer
        one, the same program with the same powers, could not do itself, and the outer one was
        already judged (certified, or folded into a certificate that is still in use), so
        the inner exec is a repeat of that verdict: counted there, not signed again; the
        evidence names it (``under_interpreter``).  Only the installed interpreter itself, by
        name or inode (or through another mount: :meth:`_installed_file`), on both sides: a
        copy known by content (renamed, padded, re-linked)
        keeps a key of its own, and so does another interpreter (``dash<-python``: a shell's
        powers are not python's, and the other way round), a file with no path, and a
        daemon's child after a hand-off.
        """
        if alert.code != CODE_FOR[INTERPRETER]:
            return
        program, _, _launch = alert.key.partition("<-")
        if ":" in program:
            # known only by content: a copy (its own evidence), unless the file is the installed one
            program = str(alert.evidence.get("program", ""))
            if not self._installed_file(ev, ids, program):
                return
        if (
            parent.verdict_key
            and parent.verdict_program == program
            and not _NOT_THE_FILE_ON_DISK & set(ev.get("id_flags", []))
            and "handed_off_via" not in alert.evidence
        ):
            self.nested_interpreters += 1
            alert.evidence["under_interpreter"] = parent.verdict_key
            alert.key = parent.verdict_key
        img.verdict_program, img.verdict_key = program, alert.key

    @staticmethod
    def _installed_file(ev: Event, ids: list[Identity], program: str) -> bool:
        """Is an exec known only by content the installed binary itself, reached through another mount?

        In the vmtest guests (9p root) the kernel's (dev, inode) of ``/usr/bin/python3.11`` is not
        what stat(2) gives, so the installed interpreter is known there by ELF layout, and its key
        carries its path like a copy's.  The file's own facts decide, as for the system shell
        (``_is_system_shell``): the same size, mtime and ctime as the known binary it was identified
        as.  ctime cannot be set from userspace: a copy, padded or not, has its own.
        """
        if _NOT_THE_FILE_ON_DISK & set(ev.get("id_flags", [])):
            return False
        facts = tuple(int(ev.get(k, 0) or 0) for k in ("size", "mtime_ns", "ctime_ns"))
        if not all(facts):
            return False
        for ident in ids:
            if ident.name != program or ident.by not in ("elf-layout", "sha256", "code"):
                continue
            for path in sorted(a for a in ident.aliases if os.path.isabs(a)):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if (st.st_size, st.st_mtime_ns, st.st_ctime_ns) == facts:
                    return True
        return False

    def _exec_alert(
        self, ev: Event, ctx: ChannelContext, ids: list[Identity], parent: str, content: str
    ) -> Alert:
        """LLM_AGENT_HIJACK / LIVING_OFF_THE_LAND for an exec with at least one identity."""
        cls = INTERPRETER if any(i.cls == INTERPRETER for i in ids) else LOTL
        # Content identity names the real program; prefer it as the key.
        content_by = ("sha256", "inode", "elf-layout", "code", "markers", "loaded-elf-layout")
        primary = next((i for i in ids if i.by in content_by and i.cls == cls), None)
        primary = primary or next(i for i in ids if i.cls == cls)
        evidence = {
            "class": cls,
            "program": primary.name,
            "pid": int(ev.get("pid", 0)),
            "ppid": int(ev.get("ppid", 0)),
            "uid": int(ev.get("uid", -1)),
            "comm": ev.get("comm", ""),
            "filename": ev.get("filename", ""),
            "interp": ev.get("interp", ""),
            "exe_name": ev.get("exe_name", ""),
            "args": list(ev.get("args", []))[:32],
            "identified_by": [i.to_dict() for i in ids],
            "content_identity": content,
            "parent_image": parent,
        }
        via = self._recent_handoffs.get(int(ev.get("ppid", 0)))
        if via is not None:
            # a daemon's child put in scope by the kernel after the agent's hand-off
            evidence["handed_off_via"] = via
        return _match(
            ctx,
            CODE_FOR[cls],
            ev,
            key=_alert_key(primary, ev, parent if cls == INTERPRETER else None),
            evidence=evidence,
        )

    def _hold_helper(self, ev: Event, alert: Alert, ctx: ChannelContext, out: list[Alert]) -> None:
        pid = int(ev.get("pid", 0))
        out.extend(self._release_helper(pid, ctx))  # the same pid again: the earlier one is over
        if len(self._pending_helpers) >= 1024:
            out.extend(self._release_helper(next(iter(self._pending_helpers)), ctx))
        words = simple_command(str(list(ev.get("args", []))[2])) or ["?"]
        self._pending_helpers[pid] = {"alert": alert, "cmd": os.path.basename(words[0]), "kids": set()}

    def _release_helper(self, pid: int, ctx: ChannelContext) -> list[Alert]:
        """The held verdict of helper shell ``pid``, given now: it did not just exec its command."""
        held = self._pending_helpers.pop(pid, None)
        if held is None:
            return []
        self.flagged += 1
        self.helper_shells_alerted += 1
        alert: Alert = held["alert"]
        alert.evidence["helper_shell"] = f"did not exec its command {held['cmd']!r} as its only act"
        return [alert]

    def _settle_helpers(self, ev: Event, ctx: ChannelContext) -> list[Alert]:
        """An exec by a held helper shell or its children: its command (transparent) or not.

        dash forks the command and waits: the child's exec of CMD's program confirms the shell.
        Anything else -- the child exec'ing another program, or a child that never exec'd
        spawning programs itself (dash interpreting a shebang-less file it could not exec,
        ENOEXEC) -- means the shell ran code of its own: its verdict is given.
        """
        if not self._pending_helpers:
            return []
        pid, ppid = int(ev.get("pid", 0)), int(ev.get("ppid", 0))
        out: list[Alert] = []
        for shell in (pid, ppid):
            held = self._pending_helpers.get(shell)
            if held is None:
                continue
            name = os.path.basename(str(ev.get("filename", "")))
            if name == held["cmd"]:
                self._pending_helpers.pop(shell, None)
            else:
                out.extend(self._release_helper(shell, ctx))
        for shell, held in list(self._pending_helpers.items()):
            if ppid in held["kids"] and ppid != pid:
                out.extend(self._release_helper(shell, ctx))
        return out

    def status(self) -> dict[str, Any]:
        return {
            "state": "armed",
            "divergence": float(self.flagged > 0),
            "threshold": 1.0,
            "execs": self.execs,
            "flagged": self.flagged,
            "allowed": self.allowed,
            "helper_shells": self.helper_shells_seen,
            "installed_scripts": self.installed_scripts_seen,
            "helper_shells_alerted": self.helper_shells_alerted,
            "recipe_shells": self.recipe_shells_seen,
            "content_checked": self.content_checked,
            "content_unavailable": self.content_unavailable,
            "inspection_stalls": self.stalls,
            "observer": OBSERVER.status(),
            "fileless": self.fileless,
            "agent_written": self.written,
            "agent_written_mapped": self.mapped_written,
            "agent_written_build_outputs": self.build_outputs,
            "cut_argv_read_whole": self.argv_read_whole,
            "cut_argv_unread": self.argv_unread,
            "agent_written_exec_map_records": self.exec_map_records,
            "agent_written_elf_opened_by_interpreter": self.mapped_by_interpreter,
            "nested_interpreters": self.nested_interpreters,
            "began_unwatched": self.began_unwatched,
            "index_not_ready": self.index_not_ready,
            **({"index_build": self._build.status()} if self._build is not None else {}),
            "handoffs": self.handoffs,
            "handoffs_deferred": self.handoffs_deferred,
            "receiver_execs": self.receiver_execs,
            "receiver_allowed": self.receiver_allowed,
            "receiver_file_readers": self.receiver_file_readers,
            "receiver_held_data": self.receiver_held_data,
            "markers_not_ready": self.markers_not_ready,
            **({"handoff_index": self._index.status()} if self._index is not None else {}),
        }

    def to_state(self) -> dict[str, Any]:
        return {}

    def from_state(self, state: dict[str, Any]) -> None:
        self.baselined = True
        self.baseline_end_ns = 0


_SO_ACCEPTCON = 0x10000
_SOCK_DGRAM = 2  # /proc/net/unix Type column
_MAX_PROC_SCAN = 100_000  # fds looked at, at most, per lookup
_INDEX_STEP_GAP_S = 0.25  # HandoffIndex.step: at most one slice per this (batches are 1 s)


class HandoffIndex:
    """Which configured daemon holds which unix socket, swept from /proc off L2's urgent path.

    A hand-off's receiver used to be searched in /proc on the urgent path, within a 50-ms
    budget: on a loaded host (session 7's CI guest) the search gave up and the hand-off was
    missed.  The same search now runs on the batch path in time slices (``step``), and the
    urgent path only looks the socket up: by its sockfs inode when the kernel named the
    receiving socket (fentry mode, connected datagrams), else by its bound address as
    /proc/net/unix listed it at the end of the sweep.  A hit is confirmed by one readlink
    (the daemon still holds that socket).  Only processes whose comm is a configured daemon
    are indexed: a comm read per process, an fd listing per daemon.  One index per /proc
    root and daemon set, shared by every agent's L2.
    """

    _shared: ClassVar[dict[tuple[str, frozenset[str]], HandoffIndex]] = {}

    def __init__(self, proc_root: str, comms: frozenset[str], period_s: float = 5.0) -> None:
        self.root = proc_root
        self.comms = comms
        self.period_s = period_s
        self.by_ino: dict[int, tuple[int, str, int]] = {}  # sockfs inode -> (pid, comm, fd)
        self.by_path: dict[str, list[tuple[int, int]]] = {}  # bound address -> [(inode, flags)]
        self.sweeps = 0
        self.completed_at = -1.0  # CLOCK_MONOTONIC start of the last completed sweep
        self.last_sweep_s = 0.0  # wall time the last completed sweep took, summed over its slices
        self._pids: list[str] | None = None  # the sweep in progress: pids still to look at
        self._next: dict[int, tuple[int, str, int]] = {}
        self._started = float("-inf")
        self._last_step = float("-inf")
        self._spent = 0.0

    @classmethod
    def shared(cls, proc_root: str, comms: frozenset[str], period_s: float = 5.0) -> HandoffIndex:
        key = (proc_root, comms)
        idx = cls._shared.get(key)
        if idx is None:
            if len(cls._shared) >= 16:
                cls._shared.clear()
            idx = cls._shared[key] = cls(proc_root, comms, period_s)
        return idx

    @property
    def ready(self) -> bool:
        return self.sweeps > 0

    def completed_after(self, t: float) -> bool:
        """Has a sweep that started at or after CLOCK_MONOTONIC ``t`` completed?"""
        return self.completed_at >= t

    def step(self, budget_s: float, urgent: bool = False) -> None:
        """Sweep on for at most ``budget_s``; a sweep starts ``period_s`` after the last (``urgent``: now)."""
        now = time.monotonic()
        if not urgent and now - self._last_step < _INDEX_STEP_GAP_S:
            return  # another agent's L2 stepped it this batch: one slice per batch, not per agent
        self._last_step = now
        if self._pids is None:
            if not urgent and now - self._started < self.period_s:
                return
            try:
                self._pids = [d for d in os.listdir(self.root) if d.isdigit()]
            except OSError:
                return
            self._started, self._next, self._spent = now, {}, 0.0
        deadline = now + budget_s
        fds_seen = 0
        while self._pids and time.monotonic() < deadline and fds_seen < _MAX_PROC_SCAN:
            pid = self._pids.pop()
            try:
                with open(f"{self.root}/{pid}/comm", encoding="utf-8", errors="replace") as c:
                    comm = c.read().strip()
                if comm not in self.comms:
                    continue
                fds = os.listdir(f"{self.root}/{pid}/fd")
            except OSError:
                continue
            for fd in fds[:_MAX_PROC_SCAN]:
                fds_seen += 1
                try:
                    link = os.readlink(f"{self.root}/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:[") and link.endswith("]"):
                    self._next[int(link[8:-1])] = (int(pid), comm, int(fd))
        self._spent += time.monotonic() - now
        if not self._pids:
            self._finish()

    def _finish(self) -> None:
        by_path: dict[str, list[tuple[int, int]]] = {}
        try:
            with open(f"{self.root}/net/unix", encoding="utf-8", errors="surrogateescape") as f:
                next(f, None)
                for line in f:
                    parts = line.split(None, 7)
                    if len(parts) != 8:
                        continue
                    ino = int(parts[6])
                    if ino not in self._next:
                        continue
                    kind = _SOCK_DGRAM if int(parts[4], 16) == _SOCK_DGRAM else 0
                    flags = kind | (_SO_ACCEPTCON if int(parts[3], 16) & _SO_ACCEPTCON else 0)
                    by_path.setdefault(parts[7].rstrip("\n"), []).append((ino, flags))
        except (OSError, ValueError):
            pass  # the inode index still answers what the kernel names
        self.by_ino, self.by_path = self._next, by_path
        self._next, self._pids = {}, None
        self.sweeps += 1
        self.completed_at = self._started
        self.last_sweep_s = self._spent

    def lookup(
        self, path: str, ino: int, dgram: bool, skip: frozenset[str] = frozenset()
    ) -> tuple[int, str] | None:
        """(pid, comm) of the indexed daemon holding the socket (inode ``ino``, else bound at ``path``)."""
        if ino:
            cands = [ino]
        else:
            want = _SOCK_DGRAM if dgram else _SO_ACCEPTCON
            cands = [i for i, fl in self.by_path.get(path, []) if fl & want]
        for i in cands:
            hit = self.by_ino.get(i)
            if hit is None or hit[1] in skip:
                continue
            try:  # still held there (one readlink): a closed socket's old owner is no answer
                if os.readlink(f"{self.root}/{hit[0]}/fd/{hit[2]}") != f"socket:[{i}]":
                    continue
            except OSError:
                continue
            return hit[0], hit[1]
        return None

    def status(self) -> dict[str, Any]:
        return {
            "sweeps": self.sweeps,
            "sockets": len(self.by_ino),
            "last_sweep_ms": round(1000.0 * self.last_sweep_s, 3),
        }


def unix_listener_owner(
    path: str,
    proc_root: str = "/proc",
    budget_s: float = _PROC_SCAN_BUDGET_S,
    comms: set[str] | frozenset[str] | None = None,
    dgram: bool = False,
) -> tuple[int, str] | None:
    """(pid, comm) of a process holding the listening unix socket bound at ``path``.

    With ``dgram``: the bound datagram socket at ``path`` (its receiver; no listen).

    Reads /proc/net/unix for the listener's inode, then the fds of every
    process: milliseconds, and only for a hand-off whose listener the kernel
    could not name.  ``@name`` is an abstract address, as in /proc/net/unix.
    Bounded in fds and in time (this runs on L2's urgent path).  With
    ``comms``, only processes with one of those comms are searched (a comm
    read per process, an fd scan only for candidates): the caller only
    cares whether the holder is one of those daemons.
    """
    deadline = time.monotonic() + budget_s
    inodes: set[str] = set()
    try:
        with open(f"{proc_root}/net/unix", encoding="utf-8", errors="surrogateescape") as f:
            next(f, None)
            for line in f:
                parts = line.split(None, 7)
                if len(parts) != 8 or parts[7].rstrip("\n") != path:
                    continue
                if (int(parts[4], 16) == _SOCK_DGRAM) if dgram else (int(parts[3], 16) & _SO_ACCEPTCON):
                    inodes.add(f"socket:[{parts[6]}]")
    except (OSError, ValueError):
        return None
    if not inodes:
        return None
    seen = 0
    try:
        pids = [d for d in os.listdir(proc_root) if d.isdigit()]
    except OSError:
        return None
    for pid in pids:
        if time.monotonic() > deadline:
            return None
        comm = None
        if comms is not None:
            try:
                with open(f"{proc_root}/{pid}/comm", encoding="utf-8", errors="replace") as c:
                    comm = c.read().strip()
            except OSError:
                continue
            if comm not in comms:
                continue
        try:
            fds = os.listdir(f"{proc_root}/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            seen += 1
            if seen > _MAX_PROC_SCAN:
                return None
            try:
                if os.readlink(f"{proc_root}/{pid}/fd/{fd}") in inodes:
                    if comm is None:
                        with open(f"{proc_root}/{pid}/comm", encoding="utf-8", errors="replace") as c:
                            comm = c.read().strip()
                    return int(pid), comm
            except OSError:
                continue
    return None


_SHARED_OBJECT = re.compile(r"^[^/]*\.so(?:\.[0-9]+)*$")


def _loader_open(path: str) -> bool:
    """Is this an open ld.so makes before the program runs: a shared object, its cache or preload list?

    ld.so opens /etc/ld.so.preload, the LD_PRELOAD libraries (first of all: before its cache), then
    each needed library along LD_LIBRARY_PATH/RUNPATH (``.../glibc-hwcaps/x86-64-v3/libz.so.1``
    tries included) or from /etc/ld.so.cache, breadth first (glibc 2.36, checked with strace).  So
    the opens a process makes after its exec and before its first other open (a locale file, a
    config file, /proc/self/maps for the main thread's stack, Go's hugepage size, a workspace file)
    are its loader's: a preload, or a library shadowing a system one from LD_LIBRARY_PATH, is
    opened in that phase; a dynamic program reading files (they open with O_CLOEXEC too when
    written in Go or Rust) mostly does so after it.
    """
    if path in ("/etc/ld.so.preload", "/etc/ld.so.cache"):
        return True
    return bool(_SHARED_OBJECT.match(os.path.basename(path)))


def _program_dirs(dirs: list[str]) -> frozenset[str]:
    """The search path's directories and the directories its symlinked programs resolve into.

    Read once per channel (a scandir of each directory, a readlink per symlink): installed
    software often puts one link on PATH and its programs and helper scripts beside the
    link's target (npm, pyenv, alternatives).
    """
    out = {os.path.normpath(d) for d in dirs if os.path.isabs(d)}
    for d in list(out):
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries[:20000]:
            if e.is_symlink():
                real = os.path.realpath(e.path)
                if os.path.isfile(real):
                    out.add(os.path.dirname(real))
    return frozenset(out)


def _alert_key(primary: Identity, ev: Event, parent: str | None = None) -> str:
    """Rate-limit key: the program, and for a copy known only by content, the copy too.

    A loop of ``sh -c`` folds into one certificate; two different renamed
    copies of dash (or one run through ld.so) are two pieces of evidence.
    Interpreters are also keyed by the program that started them
    (``dash<-git`` for a git hook, ``dash<-agent`` for the agent's own
    ``sh -c``): a shell the agent spawns is not folded into the certificate
    of a git hook's shell (red-team round 3: an injected ``sh`` went
    unsigned for 10 minutes behind a benign hook's).
    """
    if primary.by in ("exe_name", "filename", "interp", "applet", "inode", "script"):
        key = primary.name
    else:
        key = f"{primary.name}:{primary.by}:{ev.get('filename', '')}"
    return f"{key}<-{parent}" if parent else key


def _match(ctx: ChannelContext, code: str, ev: Event, *, key: str, evidence: dict[str, Any]) -> Alert:
    """An L2 alert at the event's time: a match, not a score, so divergence and threshold are both 1."""
    return ctx.alert(
        "L2", code, int(ev.get("ts_ns", 0)), divergence=1.0, threshold=1.0, key=key, evidence=evidence
    )


#: where the kernel marked a receiver's channel at the agent's act (bpf/h7.bpf.c, recv_mark)
_RECEIVER_ACT_HOOKS = {
    "fifo": "tracepoint/syscalls/sys_exit_open*: a FIFO opened for writing",
    "unix": "the unix connect's peer (tp_btf/sys_enter or fexit/unix_stream_connect), "
    "or a datagram's receiver (fentry/security_unix_may_send or a connected datagram socket)",
    "tcp": "tp_btf/inet_sock_set_state: the accepted end of the agent's connect reached ESTABLISHED",
}
#: A TCP mark made in the agent's task (act_pid set): its first send on a connection it did not
#: open (a socket a broker connected and passed to it, or one opened before the sensor attached).
_RECEIVER_TCP_SEND_HOOK = (
    "the agent's first send on a connection to a socket accepted on this host that it did not "
    "open (tp_btf/sys_enter send/write, fentry/inet_sendmsg, io_uring SEND)"
)


def _hook(ev: Event) -> str:
    """Which kernel hook decided the file's identity (named in the evidence)."""
    hook = ev.get("hook")
    if isinstance(hook, str) and hook and hook != "unknown":
        return hook
    # journals from before the hook field
    return "tp_btf/sys_enter" if ev.get("type") == "exec_fd" else "tp_btf/sched_process_exec"


SPEC = register(
    ChannelSpec(
        name="L2",
        summary="execve by the agent: interpreter/shell spawns and living-off-the-land tools",
        codes=(
            AlertCode("LLM_AGENT_HIJACK", "critical", "Agent started a shell or script interpreter"),
            AlertCode("LIVING_OFF_THE_LAND", "high", "Agent launched living-off-the-land tooling"),
            AlertCode(
                "FILELESS_EXEC",
                "critical",
                "Agent executed a file with no path (memfd, anonymous or deleted)",
            ),
            AlertCode("AGENT_WRITTEN_EXEC", "high", "Agent executed a file it wrote after its baseline"),
            AlertCode("DAEMON_HANDOFF", "high", "Agent handed a command to a daemon that runs commands"),
            AlertCode(
                "INSPECTION_STALLED",
                "high",
                "A file a watched process named kept the sensor waiting (its filesystem stalled)",
            ),
        ),
        settings=L2Settings,
        factory=ExecChannel,
        prepare=prepare_index,
    )
)
