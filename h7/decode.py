"""Decode: raw ring-buffer bytes -> numpy arrays -> event dicts.

The numpy dtypes here mirror ``bpf/h7.h`` field for field; ``tests/test_layout.py``
checks them against the BTF of the compiled object, so a change to the header
that is not repeated here fails the tests instead of silently mis-decoding.

Hot streams (syscalls) stay numpy arrays end to end.  Discrete events are
low-rate and become plain dicts, because every consumer (JSON lines, the
msgpack journal, the channels, the .cal syscall_trace) wants a mapping anyway.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import numpy as np

COMM_LEN = 16
PATH_LEN = 256
ARGS_LEN = 256
NAME_LEN = 64
HEAD_LEN = 128  # H7_HEAD_LEN: first bytes of an executed file
SUN_LEN = 108  # H7_SUN_LEN
HIST_SLOTS = 32
PID_LIMIT = 4194304  # tids covered by the scope prefilter bitmaps (H7_PID_LIMIT)
PID_WORDS = PID_LIMIT // 64

RING_SYS = 0
RING_EVENTS = 1
RING_SCRATCH = 2
"""Not a ring: ``ring_stats``' slot for calls that lost their per-CPU scratch to another call
on the same CPU (``dropped`` only; bpf/h7.h)."""
RING_NAMES = ("sys", "events", "scratch")

# Map sizes and limits (bpf/h7.h "Map sizes and limits").
MAX_AGENTS = 1024  # agent ids 1..MAX_AGENTS-1
SCOPE_ENTRIES = 65536
NSPID_ENTRIES = 65536
EGRESS_SEEN_ENTRIES = 16384
SEND_VERDICT_ENTRIES = 4096
ACCEPTED_ENTRIES = 65536
WRITTEN_ENTRIES = 16384
ENVIRON_RUN_ENTRIES = 4096
LISTENERS_ENTRIES = 16384  # H7_LISTENERS_ENTRIES
OWN_CONNS_ENTRIES = 16384  # H7_OWN_CONNS_ENTRIES
DGRAM_SEEN_ENTRIES = 4096
PROC_SEEN_ENTRIES = 4096  # H7_PROC_SEEN_ENTRIES
RECV_MARK_ENTRIES = 4096  # H7_RECV_MARK_ENTRIES: channels an agent act just fed (recv_marks)
RECV_PROC_ENTRIES = 4096  # H7_RECV_PROC_ENTRIES: processes holding one, or forked by one (recv_procs)
COPIER_ENTRIES = 1024  # H7_COPIER_ENTRIES: long-running outsiders that opened an agent-written file (copiers)
COPIER_SIZES = 4  # H7_COPIER_SIZES: the last agent-written files a copier opened, by size
WRITTEN_BLOOM_BITS = 20  # H7_WRITTEN_BLOOM_BITS: log2 of written_bloom's bits (inode-number hashes)
RECV_FD_SCAN = 1024  # H7_RECV_FD_SCAN: fds of a forking/exec'ing process searched for a marked channel
#: recv_state slots (bpf/h7.h): the receiver window userspace sets (ns, 0: off), the latest mark's end,
#: the latest relay holder's and copier's ends
RECV_WINDOW, RECV_UNTIL, RECV_RELAY_UNTIL, RECV_COPIER_UNTIL = 0, 1, 2, 3
RECV_STATE_SLOTS = 4
MEM_RW_SEEN_ENTRIES = 1024  # H7_MEM_RW_SEEN_ENTRIES
GONE_ENTRIES = 4096  # H7_GONE_ENTRIES: processes whose exit record went out (one per process)
HELD_ENTRIES = 1024  # H7_HELD_ENTRIES: mem files found open at attach, and their holders
FOLLOW_COMMS_ENTRIES = 64
FOLLOW_ENTRIES = 256
SYS_RING_BYTES = 4 << 20  # defaults; the sensor resizes the rings before load
EVENT_RING_BYTES = 2 << 20

EV_FORK, EV_EXEC, EV_EXIT, EV_OPEN, EV_NET, EV_PTRACE = 1, 2, 3, 4, 5, 6
EV_EXEC_FD, EV_HANDOFF = 10, 11
#: a process outside every agent exec'd while it held (or descended, within the receiver window,
#: from a holder of) a channel an agent act had just fed: struct h7_exec with its recv_* fields
EV_RECV_EXEC = 12
#: struct h7_file: a regular file's identity (dev, inode) where a path alone does not say which file
#: a process holds: the file a writable open returned, and each file an SCM_RIGHTS message installed
EV_FILE = 13
#: enum h7_file_op
FILE_OPS = {1: "opened", 2: "received", 3: "by_handle", 4: "taken", 5: "reopened", 6: "read_written"}
#: fds of one recvmsg (or the first H7_RECV_MMSGS_MAX messages of a recvmmsg) reported, and
#: control messages walked per message (bpf/h7.h)
RECV_FDS_MAX, RECV_CMSGS_MAX, RECV_MMSGS_MAX = 8, 3, 4
#: struct h7_shm: a SysV shared-memory segment got (key -> id), attached or detached by a watched process
EV_SHM = 14
#: enum h7_shm_op
SHM_OPS = {1: "get", 2: "at", 3: "dt"}
SHM_RDONLY = 0o10000
#: struct h7_exec_map: a file the same agent wrote, mapped executable by one of its processes
EV_EXEC_MAP = 15
#: enum h7_map_op: how the mapping became executable
MAP_OPS = {1: "mmap", 2: "mprotect"}
EV_ACCESS = 7  # 7-9: kernel-visibility events (knet); 10-12: exec identity / hand-offs (kexec)
EVENT_TYPE_NAMES = {
    EV_FORK: "fork",
    EV_EXEC: "exec",
    EV_EXIT: "exit",
    EV_OPEN: "open",
    EV_NET: "net",
    EV_PTRACE: "ptrace",
    EV_EXEC_FD: "exec_fd",
    EV_HANDOFF: "handoff",
    EV_ACCESS: "access",
    EV_RECV_EXEC: "recv_exec",
    EV_FILE: "file",
    EV_SHM: "shm",
    EV_EXEC_MAP: "exec_map",
}
#: Event types that share another type's union member.
VIEW_OF = {"exec_fd": "exec", "recv_exec": "exec"}
#: Records about a process OUTSIDE the agent's tree (its hdr.agent is the agent whose act caused
#: them): never the agent's own activity, so process trees, ledgers and graphs skip them.
OUTSIDE_TYPES = frozenset({"recv_exec"})
#: enum h7_recv_kind: the channel an agent act fed a receiver through
RECV_KINDS = {1: "fifo", 2: "unix", 3: "tcp", 4: "file"}
#: enum h7_recv_found: how the receiver came to hold its mark (read it, or found holding it)
RECV_FOUND = {0: "read", 1: "held"}
# enum h7_exec_flags
EXF_DELETED, EXF_MEMFD, EXF_ANON, EXF_UNHASHED, EXF_WRITTEN = 1, 2, 4, 8, 16
EXF_VIA_OVERLAY, EXF_VIA_LOOP, EXF_VIA_COPY, EXF_VIA_RELAY, EXF_VIA_COPIER = 32, 64, 128, 256, 512
EXEC_FLAG_NAMES = {
    EXF_DELETED: "deleted",
    EXF_MEMFD: "memfd",
    EXF_ANON: "anonymous",
    EXF_UNHASHED: "unlinked",
    EXF_WRITTEN: "agent-written",
    EXF_VIA_OVERLAY: "written-via-overlay",
    EXF_VIA_LOOP: "written-via-loop-image",
    EXF_VIA_COPY: "written-via-copy",
    EXF_VIA_RELAY: "written-via-relay",
    EXF_VIA_COPIER: "written-via-copier",
}
#: enum h7_open_op: creat(2) comes as flags O_CREAT|O_WRONLY|O_TRUNC, link(2)/linkat(2) as the new
#: name with O_CREAT|O_WRONLY (the caller put a file there)
OPEN_OPS = {
    1: "open",
    2: "openat",
    3: "openat2",
    4: "rename_from",
    5: "rename_to",
    6: "chdir",
    7: "creat",
    8: "link",
    9: "xattr_set",
    10: "xattr_get",
}
NET_OPS = {
    1: "connect",
    2: "sendto",
    3: "sendmsg",
    4: "sendmmsg",
    5: "send",
    6: "write",
    7: "listen",
    8: "unlisten",
    9: "filter",
}
#: net ops that are not egress: a monitored task's TCP socket entering / leaving LISTEN
LISTEN_OPS = frozenset({"listen", "unlisten"})
#: H7_NET_FILTER: a monitored task changed the packet filter (nftables batch, x_tables replace)
FILTER_OP = "filter"
#: net ops that carry no flow nor destination (L3 makes no edge, L4 learns no destination)
NOT_FLOW_OPS = LISTEN_OPS | {FILTER_OP}
#: enum h7_hook: the program that saw an act, as its section names it (evidence names it).
HOOKS = {
    1: "tp_btf/sys_enter",
    2: "cgroup/connect4",
    3: "cgroup/connect6",
    4: "cgroup/sendmsg4",
    5: "cgroup/sendmsg6",
    6: "fentry/inet_stream_connect",
    7: "fentry/inet_dgram_connect",
    8: "fentry/inet_sendmsg",
    9: "fentry/inet6_sendmsg",
    10: "fentry/security_ptrace_access_check",
    11: "tp_btf/sched_process_exec",
    12: "fentry/security_bprm_check",
    13: "fexit/unix_stream_connect",
    14: "fentry/environ_open",
    15: "fentry/packet_sendmsg",
    16: "fentry/packet_sendmsg_spkt",
    17: "tp_btf/io_uring_submit_req",
    18: "tp_btf/inet_sock_set_state",
    19: "fentry/security_unix_may_send",
    20: "tracepoint/syscalls/sys_exit_openat",
    21: "tracepoint/syscalls/sys_exit_open",
    22: "tracepoint/syscalls/sys_exit_openat2",
    23: "fentry/mem_rw",
    24: "tracepoint/syscalls/sys_exit_recvmsg",
    25: "tracepoint/syscalls/sys_exit_recvmmsg",
    26: "tracepoint/syscalls/sys_exit_shmget",
    27: "tracepoint/syscalls/sys_exit_shmat",
    28: "tracepoint/syscalls/sys_exit_shmdt",
    29: "tracepoint/syscalls/sys_exit_open_by_handle_at",
    30: "tracepoint/syscalls/sys_exit_pidfd_getfd",
    40: "tp_btf/cgroup_attach_task",
    41: "fentry/security_mmap_file",
    42: "fentry/security_file_mprotect",
    50: "tp_btf/signal_generate",
    60: "tracepoint/syscalls/sys_exit_io_submit",
}
#: h7_net.proto (the socket's sk_protocol) -> the transport L4 keys and allow rules name.
#: MPTCP (262) is TCP on the wire to the peer; ICMPv6 ping sockets are "icmp" like ICMP's.
IP_PROTOCOLS = {6: "tcp", 262: "tcp", 17: "udp", 136: "udplite", 132: "sctp", 1: "icmp", 58: "icmp"}
SOCK_RAW = 3


def protocol_name(proto: int, stype: int) -> str:
    """The transport class of a net record: ``tcp``, ``udp``, ``udplite``, ``sctp``, ``icmp``,
    ``raw`` (any SOCK_RAW socket: it writes its own transport header), ``ip<N>`` for another
    protocol number, ``unknown`` when the kernel had no socket to read (a failed connect).

    Why: a destination is a service, and a service is a protocol as well as an address and
    a port -- red-team round 10 sent datagrams to an allowed TCP API's port.
    """
    if stype == SOCK_RAW:
        return "raw"
    if proto in IP_PROTOCOLS:
        return IP_PROTOCOLS[proto]
    return f"ip{proto}" if proto or stype else "unknown"


#: enum h7_addr_src: where a net record's address was read
ADDR_CALL, ADDR_SOCKET, ADDR_IPHDR = 0, 1, 2
#: enum h7_inbound: a send on an accepted TCP socket, and who connected
INBOUND_NONE, INBOUND_PEER, INBOUND_OWN = 0, 1, 2
#: enum h7_access_op
ACCESS_OPS = {
    1: "process_vm_readv",
    2: "process_vm_writev",
    3: "proc_mem_open",
    4: "proc_maps_open",
    5: "pidfd_getfd",
    6: "attach_check",
    7: "proc_environ_open",
    8: "proc_fd_open",
    9: "proc_syscall_open",
    10: "proc_auxv_open",
    11: "proc_pagemap_open",
    12: "proc_stack_open",
    13: "process_madvise",
    14: "prlimit",
    15: "perf_event_open",
    16: "proc_write_open",
    17: "proc_mem_rw",
    # red-team round 9: scheduling, priorities, CPUs, I/O priority, memory placement; memory oracles
    40: "sched_setscheduler",
    41: "sched_setparam",
    42: "sched_setattr",
    43: "sched_setaffinity",
    44: "setpriority",
    45: "ioprio_set",
    46: "migrate_pages",
    47: "get_robust_list",
    48: "move_pages",
    49: "kcmp",
    50: "cgroup_move",
    # red-team round 10: a stop/kill/forged-fault signal sent to it
    60: "signal",
}
#: enum h7_egress_mode / h7_access_mode (struct h7_hook_cfg)
EGRESS_SYSCALL, EGRESS_CGROUP, EGRESS_FENTRY = 0, 1, 2
ACCESS_SYSCALL, ACCESS_FENTRY = 0, 1
#: enum h7_exec_mode / h7_handoff_mode
EXEC_SYSCALL, EXEC_FENTRY = 0, 1
HANDOFF_SYSCALL, HANDOFF_FENTRY = 0, 1
#: enum h7_written_mode
WRITTEN_SYSCALL, WRITTEN_FENTRY = 0, 1
#: enum h7_mapexec_mode
XMAP_SYSCALL, XMAP_FENTRY = 0, 1
HOOK_CFG_DTYPE = np.dtype(
    [
        ("egress", "<u4"),
        ("access", "<u4"),
        ("exec", "<u4"),
        ("handoff", "<u4"),
        ("environ", "<u4"),
        ("packet", "<u4"),
        ("written", "<u4"),
        ("mapexec", "<u4"),
        ("egress_repeat_ns", "<u8"),
    ]
)
NSPID_KEY_DTYPE = np.dtype([("ns", "<u4"), ("pid", "<u4")])
PTRACE_REQUESTS = {0: "TRACEME", 16: "ATTACH", 0x4206: "SEIZE"}
#: h7_handoff.sock_type: what kind of unix socket a hand-off went through ("" for TIOCSTI)
SOCK_TYPES = {0: "", 1: "stream", 2: "dgram", 5: "seqpacket"}
FAMILIES: dict[int, str] = {
    socket.AF_UNSPEC: "unspec",
    socket.AF_UNIX: "unix",
    socket.AF_INET: "inet",
    socket.AF_INET6: "inet6",
    socket.AF_NETLINK: "netlink",
    socket.AF_PACKET: "packet",
}

# Sequence windows and the known-window filter (H7_TOKEN_*, H7_WINDOW_*, H7_SEQ_*).
TOKEN_BITS = 10
TOKEN_OTHER = 1023
WINDOW_LEN = 6
SEQ_BITS_LOG2 = 24
SEQ_WORDS = (1 << SEQ_BITS_LOG2) // 64
SEQ_AGENT_MUL = 0x9E3779B97F4A7C15

#: Every map of the BPF object and its size as the object declares it (before the sensor
#: resizes the rings); tests/test_layout.py holds the object to this.
MAP_SIZES = {
    "scope": SCOPE_ENTRIES,
    "seed_bits": PID_WORDS,
    "fork_bits": PID_WORDS,
    "agent_stats": MAX_AGENTS,
    "agent_run": MAX_AGENTS,
    "ring_stats": len(RING_NAMES),
    "sys_ring": SYS_RING_BYTES,
    "event_ring": EVENT_RING_BYTES,
    "agent_cfg": MAX_AGENTS,
    "seq_bits": SEQ_WORDS,
    "egress_seen": EGRESS_SEEN_ENTRIES,
    "send_verdicts": SEND_VERDICT_ENTRIES,  # a send's verdict kept 1 s per (process, struct file)
    "mem_rw_seen": MEM_RW_SEEN_ENTRIES,
    "gone": GONE_ENTRIES,
    "held_files": HELD_ENTRIES,
    "held_procs": HELD_ENTRIES,
    "held_on": 1,
    "hook_cfg": 1,
    "nspid": NSPID_ENTRIES,
    "task_pidns": NSPID_ENTRIES,
    "accepted": ACCEPTED_ENTRIES,
    "written_files": WRITTEN_ENTRIES,
    "follow_comms": FOLLOW_COMMS_ENTRIES,
    "follow": FOLLOW_ENTRIES,
    "follow_until": 1,
    "environ_runs": ENVIRON_RUN_ENTRIES,
    "maps_runs": ENVIRON_RUN_ENTRIES,
    "listeners": LISTENERS_ENTRIES,
    "connecting": OWN_CONNS_ENTRIES,
    "own_conns": OWN_CONNS_ENTRIES,
    "accepted_tuples": OWN_CONNS_ENTRIES,  # accepted connections by client 4-tuple (receivers)
    "client_tuples": OWN_CONNS_ENTRIES,  # outsiders' TCP connects by 4-tuple (receivers, accepted side)
    "dgram_seen": DGRAM_SEEN_ENTRIES,
    "proc_scratch": 1,
    "peer_scratch": 1,  # recv_mark_peer's key and mark, per CPU (off its stack frame: 6.1 verifier)
    "proc_seen": PROC_SEEN_ENTRIES,
    "proc_seen_live": 1,
    "recv_state": RECV_STATE_SLOTS,
    "recv_marks": RECV_MARK_ENTRIES,
    "recv_procs": RECV_PROC_ENTRIES,
    "copiers": COPIER_ENTRIES,
    "written_bloom": 1 << (WRITTEN_BLOOM_BITS - 6),  # u64 words
}

SYS_DTYPE = np.dtype(
    [("ts_ns", "<u8"), ("window", "<u8"), ("tgid", "<u4"), ("tid", "<u4"), ("agent", "<u4"), ("nr", "<i4")]
)
#: The record layout before windows moved into the kernel (journals written by H7 <= 0.1).
SYS_DTYPE_V1 = np.dtype([("ts_ns", "<u8"), ("tgid", "<u4"), ("tid", "<u4"), ("agent", "<u4"), ("nr", "<i4")])

HDR_FIELDS: list[tuple[str, Any]] = [
    ("ts_ns", "<u8"),
    ("type", "<u4"),
    ("agent", "<u4"),
    ("tgid", "<u4"),
    ("tid", "<u4"),
    ("ppid", "<u4"),
    ("uid", "<u4"),
    ("comm", f"S{COMM_LEN}"),
]
HDR_SIZE = 48

# Union members of struct h7_event, each laid out from offset HDR_SIZE.
UNION_FIELDS: dict[str, list[tuple[str, Any]]] = {
    "fork": [("child_tgid", "<u4"), ("child_tid", "<u4")],
    "exec": [
        ("ino", "<u8"),
        ("dev", "<u4"),
        ("old_tid", "<u4"),
        ("args_len", "<u4"),
        ("args_truncated", "<u4"),
        ("filename", f"S{PATH_LEN}"),
        ("interp", f"S{PATH_LEN}"),
        ("exe_name", f"S{NAME_LEN}"),
        ("args", f"V{ARGS_LEN}"),
        ("size", "<u8"),
        ("mtime_ns", "<i8"),
        ("ctime_ns", "<i8"),
        ("written_ns", "<u8"),
        ("nlink", "<u4"),
        ("mode", "<u4"),
        ("id_flags", "<u4"),
        ("gen", "<u4"),
        ("head", f"V{HEAD_LEN}"),
        ("hook", "<u4"),
        ("began_unwatched", "<u4"),
        ("recv_act_ns", "<u8"),
        ("recv_obj", "<u8"),
        ("recv_kind", "<u4"),
        ("recv_agent_tgid", "<u4"),
        ("recv_holder", "<u4"),
        ("recv_hops", "<u4"),
        ("recv_holder_comm", f"S{COMM_LEN}"),
        ("recv_found", "<u4"),
        ("_recv_pad", "<u4"),
    ],
    "exit": [("code", "<i4"), ("group_dead", "<u4")],
    "open": [
        ("dfd", "<i4"),
        ("flags", "<u4"),
        ("mode", "<u4"),
        ("op", "<u4"),
        ("path", f"S{PATH_LEN}"),
    ],
    "net": [
        ("op", "<u4"),
        ("family", "<u2"),
        ("port", "<u2"),
        ("fd", "<i4"),
        ("count", "<u4"),
        ("bytes", "<u8"),
        ("addr", "V16"),
        ("from_socket", "<u4"),
        ("hook", "<u2"),
        ("inbound", "<u2"),
        ("ino", "<u8"),
        ("lport", "<u2"),
        ("proto", "<u2"),
        ("stype", "<u2"),
        ("_pad16", "<u2"),
    ],
    "ptrace": [
        ("request", "<i8"),
        ("target_tid", "<u4"),
        ("target_tgid", "<u4"),
        ("target_agent", "<u4"),
        ("hook", "<u4"),
        ("arg_pid", "<u4"),
        ("_pad", "<u4"),
    ],
    "handoff": [
        ("fd", "<i4"),
        ("peer_tgid", "<u4"),
        ("followed", "<u4"),
        ("path_len", "<u4"),
        ("peer_comm", f"S{COMM_LEN}"),
        ("path", f"V{SUN_LEN}"),
        ("peer_agent", "<u4"),
        ("hook", "<u4"),
        ("sock_type", "<u4"),
        ("peer_ino", "<u4"),
    ],
    "access": [
        ("op", "<u4"),
        ("hook", "<u4"),
        ("target_tid", "<u4"),
        ("target_tgid", "<u4"),
        ("target_agent", "<u4"),
        ("mode", "<u4"),
        ("arg_pid", "<u4"),
        ("arg_fd", "<i4"),
        ("nr", "<i8"),
        ("sweep", "<u4"),
        ("held", "<u4"),
        ("name", "S16"),
    ],
    "file": [
        ("ino", "<u8"),
        ("dev", "<u4"),
        ("gen", "<u4"),
        ("op", "<u4"),
        ("fd", "<i4"),
        ("flags", "<u4"),
        ("hook", "<u4"),
        ("name", f"S{NAME_LEN}"),
    ],
    "shm": [
        ("addr", "<u8"),
        ("shmid", "<i4"),
        ("key", "<i4"),
        ("op", "<u4"),
        ("flags", "<u4"),
        ("ipc_ns", "<u4"),
        ("hook", "<u4"),
    ],
    "exec_map": [
        ("ino", "<u8"),
        ("dev", "<u4"),
        ("gen", "<u4"),
        ("written_ns", "<u8"),
        ("addr", "<u8"),
        ("len", "<u8"),
        ("prot", "<u4"),
        ("flags", "<u4"),
        ("fd", "<i4"),
        ("op", "<u4"),
        ("hook", "<u4"),
        ("_pad", "<u4"),
        ("name", f"S{NAME_LEN}"),
    ],
}


def _packed(fields: list[tuple[str, Any]]) -> np.dtype:
    return np.dtype(fields, align=False)


def _event_size() -> int:
    largest = max(_packed(f).itemsize for f in UNION_FIELDS.values())
    size = HDR_SIZE + largest
    return (size + 7) & ~7


EVENT_SIZE = _event_size()
HDR_DTYPE = _packed(HDR_FIELDS)


def field_offsets(dt: np.dtype) -> dict[str, tuple[np.dtype, int]]:
    """name -> (dtype, byte offset) of a structured dtype's fields."""
    fields: Any = dt.fields or {}
    return {n: (fields[n][0], int(fields[n][1])) for n in dt.names or ()}


def _member_dtype(member: str) -> np.dtype:
    spec = field_offsets(_packed(HDR_FIELDS))
    for n, (f, off) in field_offsets(_packed(UNION_FIELDS[member])).items():
        spec[n] = (f, HDR_SIZE + off)
    layout: Any = {
        "names": list(spec),
        "formats": [f for f, _ in spec.values()],
        "offsets": [o for _, o in spec.values()],
        "itemsize": EVENT_SIZE,
    }
    return np.dtype(layout)


#: One view of struct h7_event per union member, all EVENT_SIZE bytes wide.
EVENT_DTYPES: dict[str, np.dtype] = {m: _member_dtype(m) for m in UNION_FIELDS}
#: Each member's own fields (not the header's, not padding): what ``decode_events`` reads per type.
UNION_NAMES: dict[str, tuple[str, ...]] = {
    m: tuple(n for n, _ in f if not n.startswith("_")) for m, f in UNION_FIELDS.items()
}
_HDR_LAYOUT: Any = {
    "names": [n for n, _ in HDR_FIELDS],
    "formats": [f for _, f in HDR_FIELDS],
    "offsets": [off for _, off in field_offsets(HDR_DTYPE).values()],
    "itemsize": EVENT_SIZE,
}
EVENT_HDR_DTYPE = np.dtype(_HDR_LAYOUT)

STATS_DTYPE = np.dtype(
    [
        ("oncpu_hist", "<u8", (HIST_SLOTS,)),
        ("offcpu_hist", "<u8", (HIST_SLOTS,)),
        ("switches_voluntary", "<u8"),
        ("switches_involuntary", "<u8"),
        ("wakeups", "<u8"),
        ("wakeups_new", "<u8"),
        ("migrations", "<u8"),
        ("syscalls", "<u8"),
        ("connects", "<u8"),
        ("sends", "<u8"),
        ("send_bytes", "<u8"),
        ("execs", "<u8"),
        ("forks", "<u8"),
        ("opens", "<u8"),
        ("seq_filtered", "<u8"),
        # exact on-CPU ns of ended slices (bpf/h7.h); in a Batch: the batch's CPU time INCLUDING
        # the slices still running at its ends (h7.sensor.sensor._cpu_ns)
        ("oncpu_ns", "<u8"),
        # the run-queue split (bpf/h7.h): the agent's own sleeps and bursts, and its waits for a CPU
        ("sleep_hist", "<u8", (HIST_SLOTS,)),
        ("rqwait_hist", "<u8", (HIST_SLOTS,)),
        ("burst_hist", "<u8", (HIST_SLOTS,)),
        # the agent's records the kernel could not ship, event ring and syscall ring (bpf/h7.h)
        ("events_dropped", "<u8"),
        ("sys_dropped", "<u8"),
        # children and threads of the agent the full scope map could not take (bpf/h7.h)
        ("tasks_unwatched", "<u8"),
        # the tool runs' share of the scheduling counts above (bpf/h7.h, H7_SCOPE_TOOL)
        ("tool_burst_hist", "<u8", (HIST_SLOTS,)),
        ("tool_sleep_hist", "<u8", (HIST_SLOTS,)),
        ("tool_switches_voluntary", "<u8"),
        ("tool_switches_involuntary", "<u8"),
        ("tool_wakeups", "<u8"),
        ("tool_wakeups_new", "<u8"),
        ("tool_oncpu_ns", "<u8"),
    ]
)
#: a stats record's size in journals written before the tool runs' scheduling was counted apart
STATS_SIZE_V5 = STATS_DTYPE.itemsize - (2 * HIST_SLOTS + 5) * 8
#: a stats record's size in journals written before the per-agent drop counters
STATS_SIZE_V4 = STATS_SIZE_V5 - 3 * 8
#: a stats record's size in journals written before the run-queue split
STATS_SIZE_V3 = STATS_SIZE_V4 - 3 * 8 * HIST_SLOTS
#: a stats record's size in journals written before the exact CPU time field
STATS_SIZE_V2 = STATS_SIZE_V3 - 8
#: struct h7_run (bpf/h7.h): an agent's threads on a CPU now
#: struct h7_run, one per CPU per agent (bpf/h7.h): `cpu` is the CPU ns counted on that CPU,
#: or, at or above RUN_ON while an agent slice runs there, that + RUN_BASE - the slice's start
RUN_DTYPE = np.dtype([("cpu", "<u8"), ("start_ns", "<u8")])
RUN_BASE = 1 << 62
RUN_ON = 1 << 61

RING_STATS_DTYPE = np.dtype([("emitted", "<u8"), ("dropped", "<u8")])
SCOPE_DTYPE = np.dtype(
    [
        ("agent", "<u4"),
        ("tgid", "<u4"),
        ("window", "<u8"),
        ("on_ns", "<u8"),
        ("off_ns", "<u8"),
        ("unix_fd", "<i4"),
        ("flags", "<u4"),
        ("rt_ns", "<u8"),
        ("wake_ns", "<u8"),
        ("burst_ns", "<u8"),
        ("preempted", "<u4"),
        ("_pad2", "<u4"),
    ]
)
SCOPE_RT = 1  # h7_scope.flags H7_SCOPE_RT: rt_ns holds a runtime to count from
SCOPE_EXITING = 2  # h7_scope.flags H7_SCOPE_EXITING: its exit hook ran; a switch-in opens no slice
FILE_KEY_DTYPE = np.dtype([("ino", "<u8"), ("dev", "<u4"), ("gen", "<u4")])
#: struct h7_held_key: a /proc/<pid>/mem file found open at attach (its procfs inode, kernel dev encoding)
HELD_KEY_DTYPE = np.dtype([("ino", "<u8"), ("dev", "<u4"), ("_pad", "<u4")])
WRITTEN_DTYPE = np.dtype([("ts_ns", "<u8"), ("agent", "<u4"), ("flags", "<u4")])
#: h7_written.flags: the mark was carried by an in-kernel copy (sendfile, copy_file_range), or
#: written by a process outside the agent that had read a marked file (a relay: cat, dd)
WRITTEN_COPY, WRITTEN_RELAY = 1, 2
FOLLOW_DTYPE = np.dtype([("until_ns", "<u8"), ("agent", "<u4"), ("_pad", "<u4")])
RECV_MARK_DTYPE = np.dtype(
    [
        ("until_ns", "<u8"),
        ("act_ns", "<u8"),
        ("obj", "<u8"),
        ("agent", "<u4"),
        ("agent_tgid", "<u4"),
        ("kind", "<u4"),
        ("holder", "<u4"),
        ("hops", "<u4"),
        ("found", "<u4"),
        ("holder_comm", f"S{COMM_LEN}"),
    ]
)
AGENT_CFG_DTYPE = np.dtype([("seed", "<u8"), ("seq_filter", "<u4"), ("tool_root", "<u4")])


def _cstr(raw: bytes) -> str:
    """Bytes from a fixed C char array, up to the first NUL, never raising."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def format_addr(family: int, raw: bytes) -> str:
    if family == socket.AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    if family == socket.AF_INET6:
        return str(ipaddress.IPv6Address(raw[:16]))
    if family == socket.AF_PACKET:  # a link, not an address: its ifindex (0: unbound, any link)
        return f"ifindex:{int.from_bytes(raw[:4], 'little')}"
    return ""


def split_args(raw: bytes, length: int) -> list[str]:
    """argv as the kernel laid it out: NUL-separated, possibly cut short."""
    data = raw[: max(0, min(length, len(raw)))]
    if data.endswith(b"\0"):
        data = data[:-1]
    if not data:
        return []
    return [a.decode("utf-8", "surrogateescape") for a in data.split(b"\0")]


def decode_events(buf: bytes | memoryview | np.ndarray, count: int) -> list[dict[str, Any]]:
    """Turn ``count`` struct h7_event records into dicts (the JSON-lines schema).

    The common keys are ``type ts_ns agent pid tid ppid uid comm``; each type
    adds its own (see docs/architecture.md).  Unknown types are kept with
    ``type="unknown"`` rather than dropped: losing evidence is worse than an
    odd record.

    Fields leave numpy a column at a time (one ``tolist()`` per field per
    type present), so the per-record Python left is building the dict:
    reading a structured record's fields one numpy scalar at a time cost
    3-13 us per record (an exec ~12), which bounded the drain under an
    event flood (docs/performance.md, session 23).
    """
    if count <= 0:
        return []
    hdr = np.frombuffer(buf, dtype=EVENT_HDR_DTYPE, count=count)
    types: list[int] = hdr["type"].tolist()
    out: list[dict[str, Any]] = [
        {
            "type": EVENT_TYPE_NAMES.get(t, "unknown"),
            "ts_ns": ts,
            "agent": agent,
            "pid": tgid,
            "tid": tid,
            "ppid": ppid,
            "uid": uid,
            "comm": _cstr(comm),
        }
        for t, ts, agent, tgid, tid, ppid, uid, comm in zip(
            types,
            hdr["ts_ns"].tolist(),
            hdr["agent"].tolist(),
            hdr["tgid"].tolist(),
            hdr["tid"].tolist(),
            hdr["ppid"].tolist(),
            hdr["uid"].tolist(),
            hdr["comm"].tolist(),
            strict=True,
        )
    ]
    present = set(types)
    for etype in present:
        name = EVENT_TYPE_NAMES.get(etype, "unknown")
        view = VIEW_OF.get(name, name)
        if view not in EVENT_DTYPES:
            continue
        rows = np.frombuffer(buf, dtype=EVENT_DTYPES[view], count=count)
        fields = UNION_NAMES[view]
        if len(present) == 1:
            at = list(range(count))
            cols = [rows[f].tolist() for f in fields]
        else:
            at = [i for i, t in enumerate(types) if t == etype]
            pick = np.array(at, dtype=np.intp)
            cols = [rows[f][pick].tolist() for f in fields]
        receiver = name == "recv_exec"
        for i, values in zip(at, zip(*cols, strict=True), strict=True):
            r = dict(zip(fields, values, strict=True))
            _fill(view, r, out[i])
            if receiver:
                _fill_receiver(r, out[i])
    return out


def _fill_receiver(r: Any, ev: dict[str, Any]) -> None:
    """The agent act and the receiver behind a ``recv_exec`` record (pid, comm: the exec'ing process)."""
    ev["channel"] = RECV_KINDS.get(int(r["recv_kind"]), str(int(r["recv_kind"])))
    ev["channel_ino"] = int(r["recv_obj"])
    ev["act_ts_ns"] = int(r["recv_act_ns"])
    ev["act_pid"] = int(r["recv_agent_tgid"])
    ev["receiver_pid"] = int(r["recv_holder"])
    ev["receiver_comm"] = _cstr(bytes(r["recv_holder_comm"]))
    ev["receiver_hops"] = int(r["recv_hops"])
    ev["receiver_found"] = RECV_FOUND.get(int(r["recv_found"]), str(int(r["recv_found"])))


def _fill(name: str, r: Any, ev: dict[str, Any]) -> None:
    if name == "fork":
        ev["child"] = int(r["child_tgid"])
    elif name == "exec":
        ev["filename"] = _cstr(bytes(r["filename"]))
        ev["interp"] = _cstr(bytes(r["interp"]))
        ev["exe_name"] = _cstr(bytes(r["exe_name"]))
        ev["args"] = split_args(bytes(r["args"]), int(r["args_len"]))
        ev["args_truncated"] = bool(r["args_truncated"])
        ev["ino"] = int(r["ino"])
        ev["dev"] = int(r["dev"])
        ev["old_tid"] = int(r["old_tid"])
        flags = int(r["id_flags"])
        ev["id_flags"] = [n for bit, n in EXEC_FLAG_NAMES.items() if flags & bit]
        ev["nlink"] = int(r["nlink"])
        ev["mode"] = int(r["mode"])
        ev["size"] = int(r["size"])
        ev["mtime_ns"] = int(r["mtime_ns"])
        ev["ctime_ns"] = int(r["ctime_ns"])
        ev["written_ns"] = int(r["written_ns"])
        ev["gen"] = int(r["gen"])
        ev["head"] = bytes(r["head"]).hex()
        ev["hook"] = HOOKS.get(int(r["hook"]), "unknown")
        if int(r["began_unwatched"]):  # under way before its task was watched (bpf/h7.h)
            ev["began_unwatched"] = True
    elif name == "exit":
        code = int(r["code"])
        ev["exit_status"] = (code >> 8) & 0xFF
        ev["signal"] = code & 0x7F
    elif name == "open":
        ev["path"] = _cstr(bytes(r["path"]))
        ev["flags"] = int(r["flags"])
        ev["mode"] = int(r["mode"])
        ev["dfd"] = int(r["dfd"])
        ev["op"] = OPEN_OPS.get(int(r["op"]), "unknown")
    elif name == "net":
        fam = int(r["family"])
        ev["op"] = NET_OPS.get(int(r["op"]), "unknown")
        ev["family"] = FAMILIES.get(fam, str(fam))
        ev["addr"] = format_addr(fam, bytes(r["addr"]))
        ev["port"] = int(r["port"])
        ev["fd"] = int(r["fd"])
        ev["bytes"] = int(r["bytes"])
        ev["count"] = int(r["count"])
        src = int(r["from_socket"])  # enum h7_addr_src
        ev["from_socket"] = src == ADDR_SOCKET
        if src == ADDR_IPHDR:
            ev["ip_header"] = True  # the packet's own IP header (IP_HDRINCL), not the sockaddr
        inbound = int(r["inbound"])  # enum h7_inbound
        ev["inbound"] = bool(inbound)
        if inbound:
            # who connected in: this agent itself (own) or a client outside it (not own)
            ev["peer_own"] = inbound == INBOUND_OWN
            ev["lport"] = int(r["lport"])  # the listener's port: L4 keys peers per listener
        ev["hook"] = HOOKS.get(int(r["hook"]), "unknown")
        if fam in (socket.AF_INET, socket.AF_INET6):
            # the transport (L4 keys per protocol); an AF_PACKET record's is its ethertype's
            ev["protocol"] = protocol_name(int(r["proto"]), int(r["stype"]))
        if ev["op"] in LISTEN_OPS:
            ev["ino"] = int(r["ino"])
        elif ev["op"] == FILTER_OP:
            ev["netns"] = int(r["ino"])  # the caller's network namespace (its filter was changed)
    elif name == "ptrace":
        req = int(r["request"])
        ev["request"] = PTRACE_REQUESTS.get(req, str(req))
        ev["request_nr"] = req
        ev["target"] = int(r["target_tid"])
        ev["target_pid"] = int(r["target_tgid"])
        ev["target_agent"] = int(r["target_agent"])
        ev["hook"] = HOOKS.get(int(r["hook"]), "unknown")
        ev["arg_pid"] = int(r["arg_pid"])
    elif name == "handoff":
        n = max(0, min(int(r["path_len"]), SUN_LEN))
        raw = bytes(r["path"])[:n]
        # an abstract name starts with NUL; shown as '@name' like ss(8) does
        ev["path"] = "@" + raw[1:].decode("utf-8", "surrogateescape") if raw[:1] == b"\0" else _cstr(raw)
        ev["fd"] = int(r["fd"])
        ev["peer_pid"] = int(r["peer_tgid"])
        ev["peer_comm"] = _cstr(bytes(r["peer_comm"]))
        ev["followed"] = bool(r["followed"])
        ev["peer_agent"] = int(r["peer_agent"])
        ev["hook"] = HOOKS.get(int(r["hook"]), "unknown")
        ev["sock_type"] = SOCK_TYPES.get(int(r["sock_type"]), str(int(r["sock_type"])))
        ev["peer_ino"] = int(r["peer_ino"])
    elif name == "access":
        ev["op"] = ACCESS_OPS.get(int(r["op"]), "unknown")
        ev["hook"] = HOOKS.get(int(r["hook"]), "unknown")
        ev["target"] = int(r["target_tid"])
        ev["target_pid"] = int(r["target_tgid"])
        ev["target_agent"] = int(r["target_agent"])
        ev["mode"] = int(r["mode"])
        ev["arg_pid"] = int(r["arg_pid"])
        ev["arg_fd"] = int(r["arg_fd"])
        ev["nr"] = int(r["nr"])
        if ev["op"] in ("proc_environ_open", "proc_maps_open"):  # the caller's sweep count (L5)
            ev["sweep"] = int(r["sweep"])
        elif ev["op"] == "proc_write_open":  # which /proc/<pid> file was opened for writing
            ev["file"] = _cstr(bytes(r["name"]))
        elif ev["op"] == "proc_mem_rw" and int(r["held"]):  # sys_enter: an fd the attach-time scan found
            ev["held"] = True
        elif ev["op"] == "cgroup_move":  # the destination cgroup's directory name
            ev["cgroup"] = _cstr(bytes(r["name"]))
        elif ev["op"] == "signal":  # to the whole thread group; the sender's place above the target
            ev["group"] = bool(int(r["held"]))
            ev["sender_ancestor_depth"] = int(r["sweep"])
    elif name == "file":
        ev["op"] = FILE_OPS.get(int(r["op"]), "unknown")
        ev["ino"] = int(r["ino"])
        ev["dev"] = int(r["dev"])
        ev["gen"] = int(r["gen"])
        ev["fd"] = int(r["fd"])
        ev["flags"] = int(r["flags"])
        ev["hook"] = HOOKS.get(int(r["hook"]), "unknown")
        ev["name"] = _cstr(bytes(r["name"]))
    elif name == "shm":
        ev["op"] = SHM_OPS.get(int(r["op"]), "unknown")
        ev["shmid"] = int(r["shmid"])
        ev["key"] = int(r["key"])
        ev["addr"] = int(r["addr"])
        ev["flags"] = int(r["flags"])
        ev["ipc_ns"] = int(r["ipc_ns"])
        ev["hook"] = HOOKS.get(int(r["hook"]), "unknown")
    elif name == "exec_map":
        ev["op"] = MAP_OPS.get(int(r["op"]), "unknown")
        ev["ino"] = int(r["ino"])
        ev["dev"] = int(r["dev"])
        ev["gen"] = int(r["gen"])
        ev["written_ns"] = int(r["written_ns"])
        ev["addr"] = int(r["addr"])
        ev["len"] = int(r["len"])
        ev["prot"] = int(r["prot"])
        ev["flags"] = int(r["flags"])
        ev["fd"] = int(r["fd"])
        ev["hook"] = HOOKS.get(int(r["hook"]), "unknown")
        ev["name"] = _cstr(bytes(r["name"]))
