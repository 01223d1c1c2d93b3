/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * h7.h - the ONE definition of the record layout shared by the BPF programs
 * (bpf/h7.bpf.c) and userspace (h7/decode.py mirrors it with numpy dtypes;
 * tests/test_layout.py compares both against the BTF of the built object, so
 * the two sides cannot drift silently).
 *
 * Rules that keep the layout stable across compilers and kernels:
 *  - fixed-width types only, explicit padding, every struct a multiple of 8;
 *  - every ring-buffer record of one ring has the same size, so a batch of
 *    records is a plain array that numpy can view without parsing.
 *
 * This header is included by BPF C (after vmlinux.h) and by the cffi C shim
 * (after <linux/types.h>); it must not include anything itself.
 */
#ifndef H7_H
#define H7_H

#define H7_COMM_LEN 16
#define H7_PATH_LEN 256
#define H7_ARGS_LEN 256
#define H7_NAME_LEN 64
#define H7_HEAD_LEN 128 /* first bytes of an executed file (bprm->buf) */
#define H7_SUN_LEN 108  /* sizeof(sockaddr_un.sun_path) */
#define H7_HIST_SLOTS 32
/* Scope prefilter bitmaps cover tids below this (the kernel's PID_MAX_LIMIT);
 * one bit per tid, 64 per map value. */
#define H7_PID_LIMIT 4194304
#define H7_PID_WORDS (H7_PID_LIMIT / 64)

/* Map sizes and limits: how much the kernel side tracks.  h7/decode.py mirrors
 * them and tests/test_layout.py checks every map of the object against it. */
#define H7_MAX_AGENTS 1024            /* agent ids 1..H7_MAX_AGENTS-1 (agent_stats, agent_cfg) */
#define H7_SCOPE_ENTRIES 65536        /* monitored threads (scope) */
#define H7_NSPID_ENTRIES 65536        /* monitored tasks by (pid ns, pid) (nspid) */
#define H7_EGRESS_SEEN_ENTRIES 16384  /* (pid, op, destination) already shipped (egress_seen, LRU) */
#define H7_SEND_VERDICT_ENTRIES 4096  /* (pid, struct file) -> a send's verdict, kept 1 s (send_verdicts, LRU) */
#define H7_EGRESS_TOUCH_NS 1000000000ULL /* egress_seen: a use's time is rewritten at most this often */
#define H7_ACCEPTED_ENTRIES 65536     /* accepted (passive) TCP sockets (accepted, LRU) */
#define H7_WRITTEN_ENTRIES 16384      /* files closed writable by an agent (written_files, LRU) */
#define H7_FOLLOW_COMMS_ENTRIES 64    /* hand-off daemon comms (follow_comms) */
#define H7_FOLLOW_ENTRIES 256         /* live hand-offs (follow) */
#define H7_ENVIRON_RUN_ENTRIES 4096   /* environ / maps sweeps per caller (environ_runs, maps_runs; LRU) */
#define H7_LISTENERS_ENTRIES 16384    /* TCP sockets a monitored task put in LISTEN (listeners) */
#define H7_OWN_CONNS_ENTRIES 16384    /* monitored tasks' TCP active opens (connecting, own_conns; LRU) */
#define H7_DGRAM_SEEN_ENTRIES 4096    /* (sender, unix datagram receiver) pairs reported (dgram_seen; LRU) */
#define H7_PROC_SEEN_ENTRIES 4096     /* threads whose open sys_enter already classified by path (proc_seen; LRU) */
#define H7_RECV_MARK_ENTRIES 4096     /* channels an agent act just fed (recv_marks; LRU) */
#define H7_RECV_PROC_ENTRIES 4096     /* processes holding such a channel, or forked by one (recv_procs; LRU) */
#define H7_COPIER_ENTRIES 1024        /* long-running outsiders that just opened an agent-written file (copiers: by tgid % this) */
#define H7_COPIER_SIZES 4             /* sizes of the last agent-written files a copier opened */
#define H7_WRITTEN_BLOOM_BITS 20      /* log2 of the bits of written_bloom (the inodes written_files may hold) */
#define H7_RECV_FD_SCAN 1024          /* fds of a forking or exec'ing process searched for a marked channel */
#define H7_MEM_RW_SEEN_ENTRIES 1024   /* (/proc/<pid>/mem file, direction) last reported (mem_rw_seen; LRU) */
#define H7_GONE_ENTRIES 4096          /* monitored processes whose exit record went out (gone; LRU) */
#define H7_MEM_RW_GAP_NS 1000000000ULL /* one report per mem file and direction per second (mem_rw_seen) */
#define H7_HELD_ENTRIES 1024          /* mem files found open at attach, and their holders (held_files, held_procs) */
#define H7_SYS_RING_BYTES (4 << 20)   /* ring defaults; userspace resizes them before load */
#define H7_EVENT_RING_BYTES (2 << 20)

/* A /proc/<pid>/mem file found open by the attach-time /proc scan (held_files key): its procfs
 * inode, as the kernel numbers it (dev in the kernel's encoding, MAJOR << 20 | MINOR). */
struct h7_held_key {
	__u64 ino;
	__u32 dev;
	__u32 _pad;
};

/* Ring buffers, also the index into the per-CPU `ring_stats` counters. */
enum h7_ring {
	H7_RING_SYS = 0,    /* high-rate syscall stream: struct h7_sys_rec */
	H7_RING_EVENTS = 1, /* low-rate discrete events: struct h7_event  */
	/* Not a ring: calls that lost their per-CPU scratch (proc_scratch, peer_scratch) to
	 * another call on the same CPU before they were done, so dropped what they had parsed.
	 * Only `dropped` counts.  A preemptible program (fentry on a preemptible kernel) can be
	 * the one preempted; zero wherever no hook using a scratch runs preemptibly. */
	H7_RING_SCRATCH = 2,
	H7_RING_COUNT = 3,
};

enum h7_event_type {
	H7_EV_FORK = 1,
	H7_EV_EXEC = 2,
	H7_EV_EXIT = 3,
	H7_EV_OPEN = 4,
	H7_EV_NET = 5,
	H7_EV_PTRACE = 6,
	/* 7-9: egress / tamper hooks (knet).  10-12: exec identity, hand-offs. */
	H7_EV_ACCESS = 7,    /* struct h7_access: tampering with a monitored process */
	H7_EV_EXEC_FD = 10,  /* struct h7_exec: execveat/fexecve of an anonymous, deleted or
				agent-written file, read from the fd before the kernel swaps in
				a #! interpreter */
	H7_EV_HANDOFF = 11,  /* struct h7_handoff: a unix-socket connect reached a listener */
	H7_EV_RECV_EXEC = 12, /* struct h7_exec with its recv_* fields: a process OUTSIDE every agent
				 exec'd while it held a channel an agent act had just fed (or was
				 forked, within the window, by a process that did); hdr.agent is the
				 agent whose act marked the channel, hdr.tgid the exec'ing process */
	H7_EV_FILE = 13,     /* struct h7_file: a regular file's identity where a path alone does not
				say which file a process holds (L3's read edge of a received fd) */
	H7_EV_SHM = 14,      /* struct h7_shm: a SysV shared-memory segment got, attached or detached */
	H7_EV_EXEC_MAP = 15, /* struct h7_exec_map: a file the same agent wrote, mapped executable by
				one of its processes (dlopen, LD_PRELOAD, a gconv module) */
};

/* How an H7_EV_EXEC_MAP mapping was made executable (h7_exec_map.op). */
enum h7_map_op {
	H7_MAP_MMAP = 1,     /* mmap(2) of the file with PROT_EXEC (ld.so maps a library's code so) */
	H7_MAP_MPROTECT = 2, /* mprotect(2) adding PROT_EXEC to a mapping of the file */
};

/* What a monitored process did with a SysV shared-memory segment (h7_shm.op). */
enum h7_shm_op {
	H7_SHM_GET = 1, /* shmget(2) returned the segment's id for a key */
	H7_SHM_AT = 2,  /* shmat(2) attached it (SHM_RDONLY: for reading only) */
	H7_SHM_DT = 3,  /* shmdt(2) detached the attachment at addr */
};

/* What an H7_EV_FILE record says about the file (h7_file.op). */
enum h7_file_op {
	/* a monitored process's open returned this regular file writable (the open record, at
	 * sys_enter, named its path): L3 learns which path the inode was written through */
	H7_FILE_OPENED = 1,
	/* the kernel installed this regular file into a monitored process's fd table from an
	 * SCM_RIGHTS message it received: the process holds a file it never opened */
	H7_FILE_RECEIVED = 2,
	/* open_by_handle_at(2) returned this regular file to a monitored process: an open with no
	 * path (the caller named the file by its handle), so no open record says which file */
	H7_FILE_BY_HANDLE = 3,
	/* pidfd_getfd(2) installed this regular file, taken from another process's fd table, into a
	 * monitored process: the hand-back pulled instead of sent over a socket */
	H7_FILE_TAKEN = 4,
	/* an open of a magic link (/proc/PID/fd/N) returned this regular file to a monitored
	 * process: the open record names only /proc, not the file behind the descriptor */
	H7_FILE_REOPENED = 5,
	/* a monitored process's open for reading returned a regular file a process of its agent
	 * closed writable (written_files): the file by identity, whatever path or directory fd
	 * named it (a symlinked directory, a hard link, a bind mount, openat(dirfd, "x")) */
	H7_FILE_READ_WRITTEN = 6,
};

/* Fds of one received message (recvmsg) or of the first messages of a recvmmsg that become
 * H7_FILE_RECEIVED records; more are not reported (docs/detection.md, L3 cannot see). */
#define H7_RECV_FDS_MAX 8
#define H7_RECV_CMSGS_MAX 3 /* control messages walked per message (credentials, security, rights) */
#define H7_RECV_MMSGS_MAX 4 /* messages of one recvmmsg walked */

/* How the receiver came to hold its mark (h7_exec.recv_found, h7_recv_mark.found).  HELD: the channel
 * was found in its file table when it forked or exec'd (its comm then: at an exec, the image it
 * became), so nothing says it read it -- a shell started as `sh -c gzip` with a relayed pipe as
 * stdin only passes it on.  READ: it opened the agent's file or read the channel (or the agent's
 * act named it: an accepted connection, a unix peer). */
enum h7_recv_found {
	H7_HOLDER_READ = 0,
	H7_HOLDER_HELD = 1,
};

/* The channel through which an agent act fed a receiver (h7_exec.recv_kind, h7_recv_mark.kind). */
enum h7_recv_kind {
	H7_RECV_FIFO = 1, /* a FIFO (or a pipe reopened through /proc) the agent opened for writing */
	H7_RECV_UNIX = 2, /* the accepting end of the agent's unix connect (its listener's process by
			     sk_peer_pid too), or the receiving socket of its unix datagram */
	H7_RECV_TCP = 3,  /* the accepted end of the agent's TCP connect to a listener on this host */
	H7_RECV_FILE = 4, /* a file the agent wrote (written_files), read or exec'd by a young process
			     outside every agent (a polling runner's sh reading a dropped job) */
};

/* A process this young (ns since its fork) that opens an agent-written file is a receiver: a
 * script's interpreter opens its script at once; long-lived readers of the agent's files are not. */
#define H7_RECV_YOUNG_NS 1000000000ULL

/* struct h7_exec.id_flags: what the kernel knew about the executed file. */
enum h7_exec_flags {
	H7_EXF_DELETED = 1,  /* i_nlink == 0: unlinked, O_TMPFILE or memfd */
	H7_EXF_MEMFD = 2,    /* a memfd: "memfd:" dentry on an internal (kernel) mount */
	H7_EXF_ANON = 4,     /* no path in any mount namespace (internal mount) */
	H7_EXF_UNHASHED = 8, /* its dentry is no longer in its directory (deleted while open) */
	H7_EXF_WRITTEN = 16, /* a process of the same agent closed it after opening it writable */
	H7_EXF_VIA_OVERLAY = 32, /* WRITTEN by the overlay's real (upper/lower) file, not the overlay's inode */
	H7_EXF_VIA_LOOP = 64,    /* WRITTEN by the image file the loop device under its file system reads */
	H7_EXF_VIA_COPY = 128,   /* WRITTEN: the file is an in-kernel copy (sendfile, copy_file_range) of one */
	H7_EXF_VIA_RELAY = 256,  /* WRITTEN: by a process outside the agent that had read a file the agent wrote */
	H7_EXF_VIA_COPIER = 512, /* WRITTEN: a same-size file written by a long-running outsider that had opened one */
};

/*
 * Which hook saw an act (h7_net.hook, h7_ptrace.hook, h7_access.hook), so
 * every certificate can name it.  Two modes: fentry programs where the
 * kernel allows them, tracepoint/cgroup programs where it does not; the
 * sensor probes per program and tells the kernel side which one is live
 * through `hook_cfg` (struct h7_hook_cfg).
 */
enum h7_hook {
	H7_HOOK_SYS_ENTER = 1,          /* tp_btf/sys_enter: syscall arguments */
	H7_HOOK_CG_CONNECT4 = 2,        /* cgroup/connect4 */
	H7_HOOK_CG_CONNECT6 = 3,        /* cgroup/connect6 */
	H7_HOOK_CG_SENDMSG4 = 4,        /* cgroup/sendmsg4 */
	H7_HOOK_CG_SENDMSG6 = 5,        /* cgroup/sendmsg6 */
	H7_HOOK_FENTRY_STREAM_CONNECT = 6, /* fentry/inet_stream_connect */
	H7_HOOK_FENTRY_DGRAM_CONNECT = 7,  /* fentry/inet_dgram_connect */
	H7_HOOK_FENTRY_INET_SENDMSG = 8,   /* fentry/inet_sendmsg */
	H7_HOOK_FENTRY_INET6_SENDMSG = 9,  /* fentry/inet6_sendmsg */
	H7_HOOK_FENTRY_PTRACE_ACCESS = 10, /* fentry/security_ptrace_access_check */
	H7_HOOK_TP_EXEC = 11,              /* tp_btf/sched_process_exec */
	H7_HOOK_FENTRY_BPRM_CHECK = 12,    /* fentry/security_bprm_check */
	H7_HOOK_FEXIT_UNIX_CONNECT = 13,   /* fexit/unix_stream_connect */
	H7_HOOK_FENTRY_ENVIRON_OPEN = 14,  /* fentry/environ_open */
	H7_HOOK_FENTRY_PACKET_SENDMSG = 15, /* fentry/packet_sendmsg: AF_PACKET SOCK_RAW/SOCK_DGRAM */
	H7_HOOK_FENTRY_PACKET_SPKT = 16,    /* fentry/packet_sendmsg_spkt: AF_PACKET SOCK_PACKET */
	H7_HOOK_TP_URING_SUBMIT = 17,       /* tp_btf/io_uring_submit_req: 6.1 names it io_uring_submit_sqe */
	H7_HOOK_TP_SOCK_STATE = 18,         /* tp_btf/inet_sock_set_state: a TCP socket entered or left LISTEN */
	H7_HOOK_FENTRY_UNIX_MAY_SEND = 19,  /* fentry/security_unix_may_send: a unix datagram's receiver */
	/* The file an open RETURNED, whatever path named it (chroot into /proc, /dev/fd/../..,
	 * a bind mount of /proc/<pid>): its procfs inode's task and its dentry's name. */
	H7_HOOK_TP_EXIT_OPENAT = 20,  /* tracepoint/syscalls/sys_exit_openat: the opened file's procfs inode */
	H7_HOOK_TP_EXIT_OPEN = 21,    /* tracepoint/syscalls/sys_exit_open: the same for open(2) */
	H7_HOOK_TP_EXIT_OPENAT2 = 22, /* tracepoint/syscalls/sys_exit_openat2: the same for openat2(2) */
	H7_HOOK_FENTRY_MEM_RW = 23,   /* fentry/mem_rw: a read or write through a /proc/<pid>/mem file */
	/* The fds a received SCM_RIGHTS message installed (h7_file, op H7_FILE_RECEIVED): read at the
	 * syscall's exit from the caller's msghdr, each resolved through its fd table */
	H7_HOOK_TP_EXIT_RECVMSG = 24,  /* tracepoint/syscalls/sys_exit_recvmsg */
	H7_HOOK_TP_EXIT_RECVMMSG = 25, /* tracepoint/syscalls/sys_exit_recvmmsg */
	/* SysV shared memory (h7_shm): the call's arguments and its result, at its exit */
	H7_HOOK_TP_EXIT_SHMGET = 26, /* tracepoint/syscalls/sys_exit_shmget */
	H7_HOOK_TP_EXIT_SHMAT = 27,  /* tracepoint/syscalls/sys_exit_shmat */
	H7_HOOK_TP_EXIT_SHMDT = 28,  /* tracepoint/syscalls/sys_exit_shmdt */
	/* files a monitored process holds without a path open (h7_file ops BY_HANDLE, TAKEN) */
	H7_HOOK_TP_EXIT_OPEN_BY_HANDLE = 29, /* tracepoint/syscalls/sys_exit_open_by_handle_at */
	H7_HOOK_TP_EXIT_PIDFD_GETFD = 30,    /* tracepoint/syscalls/sys_exit_pidfd_getfd */
	/* red-team round 9 (numbered apart so that parallel additions do not collide) */
	H7_HOOK_TP_CGROUP_ATTACH = 40, /* tp_btf/cgroup_attach_task: a task moved into another cgroup */
	/* session 12: executable mappings of agent-written files (h7_exec_map), fentry mode */
	H7_HOOK_FENTRY_MMAP_FILE = 41,      /* fentry/security_mmap_file: every file mapping, kernel's own too */
	H7_HOOK_FENTRY_FILE_MPROTECT = 42,  /* fentry/security_file_mprotect: a protection change of a mapping */
	/* red-team round 10 (numbered apart) */
	H7_HOOK_TP_SIGNAL_GENERATE = 50, /* tp_btf/signal_generate: a signal sent to a task */
	/* session 16 (numbered apart) */
	H7_HOOK_TP_EXIT_IO_SUBMIT = 60, /* tracepoint/syscalls/sys_exit_io_submit: Linux AIO writes into a socket */
};

/* Where an exec's pre-interpreter file is read (h7_hook_cfg.exec). */
enum h7_exec_mode {
	H7_EXEC_SYSCALL = 0, /* sys_enter: execveat by fd, /proc/self/fd/N, /dev/fd/N */
	H7_EXEC_FENTRY = 1,  /* security_bprm_check: every binfmt stage, scripts by path too */
};

/* Where a unix connect's listener is read (h7_hook_cfg.handoff). */
enum h7_handoff_mode {
	H7_HANDOFF_SYSCALL = 0, /* sys_enter connect, resolved at the thread's next syscall */
	H7_HANDOFF_FENTRY = 1,  /* fexit of unix_stream_connect (io_uring connects too) */
};

/* Where egress is decided (h7_hook_cfg.egress). */
enum h7_egress_mode {
	H7_EGRESS_SYSCALL = 0, /* sys_enter arguments only (neither below loaded) */
	H7_EGRESS_CGROUP = 1,  /* cgroup sock_addr hooks: addressed connects/datagrams */
	H7_EGRESS_FENTRY = 2,  /* socket-layer fentry: every inet connect and send */
};

/* Where process tampering is decided (h7_hook_cfg.access). */
enum h7_access_mode {
	H7_ACCESS_SYSCALL = 0, /* sys_enter arguments: ptrace, process_vm_*, pidfd_getfd, /proc opens */
	H7_ACCESS_FENTRY = 1,  /* the kernel's ptrace access check */
};

/* Where a writable file's close outside close(2)/dup2/dup3 is seen (h7_hook_cfg.written). */
enum h7_written_mode {
	H7_WRITTEN_SYSCALL = 0, /* sys_enter, plus io_uring CLOSE at its submit tracepoint */
	H7_WRITTEN_FENTRY = 1,  /* fentry/filp_close: every path that drops a file from a table */
};

/* Where an executable mapping of an agent-written file is seen (h7_hook_cfg.mapexec). */
enum h7_mapexec_mode {
	H7_XMAP_SYSCALL = 0, /* sys_enter mmap/mprotect with PROT_EXEC: the fd's (the range's) file */
	H7_XMAP_FENTRY = 1,  /* security_mmap_file / security_file_mprotect: every mapping made */
};

/* Sensor-wide switches written by userspace after attaching (array, key 0). */
struct h7_hook_cfg {
	__u32 egress; /* enum h7_egress_mode */
	__u32 access; /* enum h7_access_mode */
	__u32 exec;    /* enum h7_exec_mode */
	__u32 handoff; /* enum h7_handoff_mode */
	__u32 environ; /* enum h7_access_mode: who reports /proc/<pid>/environ opens */
	__u32 packet;  /* enum h7_egress_mode: FENTRY when packet_sendmsg reports AF_PACKET sends,
			  else SYSCALL (sys_enter and io_uring's submit tracepoint report them) */
	__u32 written; /* enum h7_written_mode */
	__u32 mapexec; /* enum h7_mapexec_mode */
	/* egress_seen: a process's send to a destination it already sent to is reported again
	 * once it has been silent there this long (the engine's fold_idle); 0: never again */
	__u64 egress_repeat_ns;
};

/* What an H7_EV_ACCESS act did to a monitored process. */
enum h7_access_op {
	H7_ACC_VM_READ = 1,    /* process_vm_readv */
	H7_ACC_VM_WRITE = 2,   /* process_vm_writev */
	H7_ACC_PROC_MEM = 3,   /* open of /proc/<pid>/mem */
	H7_ACC_PROC_MAPS = 4,  /* open of /proc/<pid>/maps; with a sweep count as environ (perf -a
				  opens every process's maps) */
	H7_ACC_PIDFD_GETFD = 5,/* pidfd_getfd: a file descriptor taken from it */
	H7_ACC_OTHER = 6,      /* an attach-level access check from another syscall */
	H7_ACC_PROC_ENVIRON = 7, /* open of /proc/<pid>/environ; h7_access.sweep says how many other
				    processes' environ the caller opened just before (procps `ps`
				    opens every process's: a sweep, not a targeted read) */
	H7_ACC_PROC_FD = 8,    /* open of /proc/<pid>/fd/<n>: the file behind one of its descriptors
				  opened anew (arg_fd = n, mode = the open's flags): fd takeover
				  without pidfd_getfd */
	/* Exploit recon without maps (red-team round 7), seen only by the file an open returned: */
	H7_ACC_PROC_SYSCALL = 9,  /* open of /proc/<pid>/syscall: its blocked syscall, stack and instruction pointers */
	H7_ACC_PROC_AUXV = 10,    /* open of /proc/<pid>/auxv: the loader's addresses, AT_RANDOM */
	H7_ACC_PROC_PAGEMAP = 11, /* open of /proc/<pid>/pagemap: which of its pages are resident */
	H7_ACC_PROC_STACK = 12,   /* open of /proc/<pid>/stack: its kernel stack */
	/* pid-taking syscalls that reach it without the attach-level access check (both modes, sys_enter): */
	H7_ACC_PROCESS_MADVISE = 13, /* process_madvise(2) on its memory through a pidfd (mode = the advice) */
	H7_ACC_PRLIMIT = 14,      /* prlimit64(2) SETTING one of its resource limits (arg_fd = the resource) */
	/* Red-team round 8 (both modes, gated by no attach-level check; never by a process of the same agent): */
	H7_ACC_PERF_EVENT = 15,   /* perf_event_open(2) bound to one of its tasks: samples can copy its user
				     stack and registers (mode = attr.sample_type's low 32 bits, arg_fd = the cpu) */
	H7_ACC_PROC_WRITE = 16,   /* one of its /proc/<pid> files opened for WRITING (name = the file:
				     oom_score_adj, timerslack_ns, coredump_filter...; mode = the open's flags) */
	/* fentry mode only (gap "mem_fd_use"): the USE of a mem file, which passes no access check */
	H7_ACC_PROC_MEM_RW = 17,  /* a read (mode 0) or write (mode 1) through a /proc/<pid>/mem file,
				     whenever and by whomever it was opened (before h7 attach, or by
				     another process and passed over SCM_RIGHTS).  Tracepoint mode: the
				     same record from sys_enter (arg_fd = the fd, nr = the call, held = 1),
				     only for files the attach-time /proc scan found (held_files) */
	/* Red-team round 9 (both modes, sys_enter; numbered apart from the others' so that
	 * parallel additions do not collide): its scheduling, priorities, CPUs, I/O priority
	 * or memory placement set by pid (starvation, throttling), and memory oracles */
	H7_ACC_SCHED_SETSCHEDULER = 40, /* mode = the policy */
	H7_ACC_SCHED_SETPARAM = 41,
	H7_ACC_SCHED_SETATTR = 42,      /* mode = attr.sched_policy */
	H7_ACC_SCHED_SETAFFINITY = 43,  /* mode = CPUs 0-31 of the new mask, arg_fd = the mask's length */
	H7_ACC_SETPRIORITY = 44,        /* setpriority(PRIO_PROCESS): mode = the nice value (signed) */
	H7_ACC_IOPRIO_SET = 45,         /* ioprio_set(IOPRIO_WHO_PROCESS): mode = the ioprio */
	H7_ACC_MIGRATE_PAGES = 46,      /* migrate_pages: its memory moved between NUMA nodes */
	H7_ACC_GET_ROBUST_LIST = 47,    /* get_robust_list: its robust-futex list head (a TLS address) */
	H7_ACC_MOVE_PAGES = 48,         /* move_pages: mode 1 = pages moved, 0 = a residency query;
					   arg_fd = the page count */
	H7_ACC_KCMP = 49,               /* kcmp naming it: mode = the type (KCMP_FILE 0, KCMP_VM 1, ...) */
	H7_ACC_CGROUP_MOVE = 50,        /* moved into another cgroup by another process (a cpu.max cap,
					   a freezer, a memory.max): name = the destination cgroup's
					   directory name, mode = 1 when the whole thread group moved */
	/* Red-team round 10 (numbered apart): a stop/kill/forged-fault signal sent to it by another
	 * process (kill, tgkill, rt_sigqueueinfo, pidfd_send_signal, any namespace or dirfd) */
	H7_ACC_SIGNAL = 60, /* mode = the signal, arg_fd = its si_code, held = 1 when sent to the
			       thread group, sweep = how many levels above the target the sender sits
			       in its parent chain (1 = its parent; 0 = not an ancestor) */
};

enum h7_open_op {
	H7_OPEN_OPEN = 1,
	H7_OPEN_OPENAT = 2,
	H7_OPEN_OPENAT2 = 3,
	/* rename(2)/renameat(2)/renameat2(2): two records, the old name then the new
	 * one, flags 0 (L3 moves the file's writers to its new name) */
	H7_OPEN_RENAME_FROM = 4,
	H7_OPEN_RENAME_TO = 5,
	/* chdir(2) (path, dfd AT_FDCWD) and fchdir(2) (dfd = the fd, path empty), read at
	 * sys_enter: L3 resolves a process's relative paths against its working directory */
	H7_OPEN_CHDIR = 6,
	/* creat(2): an open with flags O_CREAT|O_WRONLY|O_TRUNC (what the kernel does) */
	H7_OPEN_CREAT = 7,
	/* link(2)/linkat(2): a new name for a file (an O_TMPFILE one put in place, or an existing
	 * file); the new name, flags O_CREAT|O_WRONLY: the caller created that path with content */
	H7_OPEN_LINK = 8,
	/* setxattr(2) family (set, lset, fset, setxattrat): data stored in a file's extended
	 * attribute, flags O_WRONLY (a write of that file's data for L3); getxattr(2) family:
	 * flags 0 (a read). fsetxattr/fgetxattr: dfd = the fd, path empty. Not counted as opens */
	H7_OPEN_XATTR_SET = 9,
	H7_OPEN_XATTR_GET = 10,
};

enum h7_net_op {
	H7_NET_CONNECT = 1,
	H7_NET_SENDTO = 2,
	H7_NET_SENDMSG = 3,
	H7_NET_SENDMMSG = 4,
	H7_NET_SEND = 5, /* a send seen at the socket layer (syscall or io_uring) */
	H7_NET_WRITE = 6, /* write/writev/sendfile/splice/vmsplice into an inet socket (tracepoint mode) */
	/* Not egress: the agent's own TCP listeners, so that L4 knows who listens on a loopback
	 * destination from the kernel, in stream order (a short-lived in-process server may be
	 * closed before userspace could look in /proc).  addr/port: the local (bound) address and
	 * port, unspecified for a wildcard, port 0 if listen() picked the port itself (autobind: the
	 * port is chosen after the state change); ino: the socket's inode (socket:[ino]). */
	H7_NET_LISTEN = 7,   /* a monitored task's listen() put the socket in LISTEN */
	H7_NET_UNLISTEN = 8, /* that socket left LISTEN (closed, or listen() failed), in any task */
	/* A monitored task changes the packet filter (red-team round 9's g1r9_nft_dnat_allowed_api:
	 * a DNAT rule sends the packets of a connect to an allowed address elsewhere, and every
	 * egress hook reads the address before NAT).  family AF_NETLINK (16): an nftables batch on a
	 * NETLINK_NETFILTER socket, port = the batch's first message type ((subsys << 8) | NFT_MSG_*;
	 * 0: unreadable); family AF_INET/AF_INET6: an x_tables setsockopt (iptables-legacy's
	 * SO_SET_REPLACE), port = the optname.  ino = the caller's network namespace inode. */
	H7_NET_FILTER = 9,
};

/*
 * Syscall-sequence windows, computed in the kernel per thread.
 *
 * Token of syscall nr: nr + 2 for -1 <= nr <= 1020, else H7_TOKEN_OTHER; token
 * 0 means "no syscall" (before a thread's first one).  A thread's window code
 * after syscall t is ((code << 10) | token) & H7_WINDOW_MASK: its last
 * H7_WINDOW_LEN tokens, newest in the low bits.  h7/detect/sequence.py defines
 * the model over exactly these codes (tests/test_sensor_bpf.py checks that
 * the kernel's codes equal userspace's for the same syscalls).
 */
#define H7_TOKEN_BITS 10
#define H7_TOKEN_OTHER 1023
#define H7_WINDOW_LEN 6
#define H7_WINDOW_MASK ((1ULL << (H7_TOKEN_BITS * H7_WINDOW_LEN)) - 1)

/*
 * Known-window filter: after an agent's baseline, userspace sets two bits
 * per window code it does not need to see (a Bloom filter, k = 2) and turns
 * the agent's `seq_filter` on; the kernel then ships only syscalls whose
 * window misses the filter.  Bit positions for (code, agent, seed):
 *   h = fmix64(code ^ (agent * H7_SEQ_AGENT_MUL) ^ seed)
 *   bit1 = h & (H7_SEQ_BITS - 1), bit2 = (h >> 32) & (H7_SEQ_BITS - 1)
 * where fmix64 is MurmurHash3's finaliser.  h7/sensor/seqfilter.py mirrors
 * it; the seed is random per agent, so which novel windows collide with
 * known ones cannot be predicted by the monitored process.
 */
#define H7_SEQ_BITS_LOG2 24
#define H7_SEQ_BITS (1U << H7_SEQ_BITS_LOG2)
#define H7_SEQ_WORDS (H7_SEQ_BITS / 64)
#define H7_SEQ_AGENT_MUL 0x9E3779B97F4A7C15ULL

/* Syscall stream record: 32 bytes, one per sys_enter of a monitored task
 * whose window was not filtered out. */
struct h7_sys_rec {
	__u64 ts_ns;
	__u64 window; /* the thread's window code ending with this syscall */
	__u32 tgid;
	__u32 tid;
	__u32 agent;
	__s32 nr;
};

/* Per-agent settings written by userspace (array indexed by agent id). */
struct h7_agent_cfg {
	__u64 seed;       /* known-window filter hash seed */
	__u32 seq_filter; /* 1: ship only syscalls whose window is unknown */
	/* Nonzero (the agent's root tgid, written when its baseline ends): an execve by
	 * any other process of the agent makes that process, and what it forks from
	 * then on, a tool run (H7_SCOPE_TOOL): its scheduling is also counted in the
	 * tool_* fields of struct h7_stats, so L1 can judge the agent's own shape. */
	__u32 tool_root;
};

/* Common header of every discrete event: 48 bytes. */
struct h7_hdr {
	__u64 ts_ns;
	__u32 type;  /* enum h7_event_type */
	__u32 agent; /* agent id the task belongs to (scope map value) */
	__u32 tgid;
	__u32 tid;
	__u32 ppid; /* tgid of the real parent */
	__u32 uid;
	char comm[H7_COMM_LEN];
};

struct h7_fork {
	__u32 child_tgid;
	__u32 child_tid;
};

struct h7_exec {
	__u64 ino;      /* inode of the file actually executed (bprm->file) */
	__u32 dev;      /* its superblock dev_t (kernel encoding) */
	__u32 old_tid;  /* tid before exec (differs when a thread execs) */
	__u32 args_len; /* bytes of argv captured in args[] (NUL-separated) */
	__u32 args_truncated;
	char filename[H7_PATH_LEN]; /* bprm->filename: the path asked for */
	char interp[H7_PATH_LEN];   /* bprm->interp: differs for #! scripts */
	char exe_name[H7_NAME_LEN]; /* dentry name of bprm->file (symlinks resolved) */
	char args[H7_ARGS_LEN];
	/* Identity of the executed file, decided in the kernel at exec time
	 * (the file may be gone, and the process too, before userspace looks). */
	__u64 size;       /* i_size */
	__s64 mtime_ns;   /* CLOCK_REALTIME */
	__s64 ctime_ns;   /* CLOCK_REALTIME; cannot be set from userspace */
	__u64 written_ns; /* CLOCK_MONOTONIC of the agent's last writable close (0: none) */
	__u32 nlink;
	__u32 mode;       /* i_mode */
	__u32 id_flags;   /* enum h7_exec_flags */
	__u32 gen;        /* i_generation */
	__u8 head[H7_HEAD_LEN]; /* bprm->buf: ELF header + first program headers, or the #! line */
	__u32 hook;       /* enum h7_hook that saw it */
	/* 1: the task made no syscall since it entered the agent's scope, so this exec was
	 * already under way when H7 attached (h7 attach during a launcher's exec): the image
	 * the agent was attached in, not an act of it (sched_process_exec records only) */
	__u32 began_unwatched;
	/* H7_EV_RECV_EXEC only (zero in every other exec record): the agent act and the receiver */
	__u64 recv_act_ns;  /* when the agent act marked the channel (bpf_ktime_get_ns, as ts_ns) */
	__u64 recv_obj;     /* the channel's inode number in the holder's file table (FIFO inode,
			       socket:[N]); 0 when found by the listener's pid before any accept */
	__u32 recv_kind;    /* enum h7_recv_kind */
	__u32 recv_agent_tgid; /* the agent process that acted; 0 for TCP (marked in softirq) */
	__u32 recv_holder;  /* tgid of the process found holding the channel (the receiver) */
	__u32 recv_hops;    /* forks between the holder and the exec'ing process (0: the holder) */
	char recv_holder_comm[H7_COMM_LEN]; /* the receiver's comm when it was found */
	__u32 recv_found;   /* enum h7_recv_found */
	__u32 _recv_pad;
};

/* A monitored thread connected a unix socket and a listener accepted it, or sent a unix
 * datagram to a bound socket (connected or addressed: no listener, no accept). */
struct h7_handoff {
	__s32 fd;
	__u32 peer_tgid; /* the listening process (the socket's peer credentials) */
	__u32 followed;  /* 1: the peer is a configured daemon; its next children join the agent */
	__u32 path_len;  /* bytes of path[] (an abstract name starts with NUL) */
	char peer_comm[H7_COMM_LEN];
	char path[H7_SUN_LEN]; /* the listener's (datagram: the receiver's) bound address */
	__u32 peer_agent;      /* agent the peer itself belongs to (0: not monitored) */
	__u32 hook;            /* enum h7_hook that saw it */
	__u32 sock_type;       /* SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5; 0: not a socket (TIOCSTI).
				  A datagram's receiver has no peer credentials: peer_tgid and
				  peer_comm are 0, userspace asks /proc who holds the socket */
	__u32 peer_ino;        /* a datagram's receiving socket's sockfs inode (socket:[N] in
				  /proc/PID/fd) when the kernel has that socket (fentry, connected
				  datagram); 0: only the address is known */
};

struct h7_exit {
	__s32 code;       /* exit status as in wait(2), of the last thread */
	__u32 group_dead; /* 1: sent once per process, by its last live thread (header tid = tgid) */
};

struct h7_open {
	__s32 dfd;
	__u32 flags;
	__u32 mode;
	__u32 op; /* enum h7_open_op */
	char path[H7_PATH_LEN];
};

/* h7_net.from_socket: where the destination was read. */
enum h7_addr_src {
	H7_ADDR_CALL = 0,   /* the call's sockaddr (or the kernel's copy of it) */
	H7_ADDR_SOCKET = 1, /* the connected socket's peer */
	/* The packet's own IP header: a raw socket with IP_HDRINCL (IPPROTO_RAW always) sends
	 * where its header says; the sockaddr only picks the route.  addr = the header's
	 * destination, port = the TCP/UDP/UDP-Lite/SCTP destination port (0: other protocols,
	 * fragments); the unspecified address when the header could not be read (shorter than
	 * a header, split across iovecs, a sendmmsg message after the first, io_uring). */
	H7_ADDR_IPHDR = 2,
};

/* h7_net.inbound: a send on a TCP socket born from a listener (passive open). */
enum h7_inbound {
	H7_INBOUND_NONE = 0,  /* not accepted: the agent's own connect or datagram */
	/* accepted, and the connecting socket was not one of this agent's (matched in the
	 * kernel at ESTABLISHED by its 4-tuple): a client outside the agent, addr/port = peer */
	H7_INBOUND_PEER = 1,
	H7_INBOUND_OWN = 2,   /* accepted from a connect this same agent made: inside the agent */
};

/* A monitored task's TCP connect, by 4-tuple (own_conns key): the listener side's
 * ESTABLISHED looks its peer up here.  IPv4 (and v4-mapped IPv6) in the first 4 bytes. */
struct h7_conn_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport; /* host byte order */
	__u16 dport;
	__u16 family; /* AF_INET for v4 and v4-mapped */
	__u16 _pad;
};

/* AF_PACKET (family 17): a frame handed to a link below IP, never inet.  addr holds the
 * ifindex (u32, host order; 0: not bound, any link) and port the ethertype (host order). */
struct h7_net {
	__u32 op;     /* enum h7_net_op */
	__u16 family; /* AF_* of the destination (or of the socket) */
	__u16 port;   /* host byte order */
	__s32 fd;
	__u32 count;  /* sendmmsg vlen, else 1 */
	__u64 bytes;  /* length argument of the call, never the payload */
	__u8 addr[16];/* IPv4 in the first 4 bytes, or IPv6 */
	__u32 from_socket; /* enum h7_addr_src: where addr/port were read */
	__u16 hook;    /* enum h7_hook that saw it */
	__u16 inbound; /* enum h7_inbound: 0 an active socket; else accepted, by whom */
	__u64 ino;     /* H7_NET_LISTEN / H7_NET_UNLISTEN: the socket's inode; else 0 */
	__u16 lport;   /* inbound: the accepted socket's local port (the listener's), host order */
	__u16 proto;   /* the sending socket's sk_protocol (IPPROTO_TCP, _UDP, _UDPLITE, _SCTP, _ICMP,
			* _RAW..., MPTCP 262; IP_HDRINCL: 0, stype SOCK_RAW; AF_PACKET: the
			* socket's ethertype, network order); L4 keys and
			* allow rules are per protocol, so a datagram to a TCP API's port is not that API */
	__u16 stype;   /* the socket's sk_type (SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_RAW 3, SOCK_SEQPACKET 5) */
	__u16 _pad16;
};

/* A TCP listener of a monitored task (listeners map, keyed by the struct sock
 * address): its LISTEN -> CLOSE is reported to the same agent, whichever task
 * closes it (the last close may be another process's, or the exit path). */
struct h7_listener {
	__u64 ino;
	__u32 agent;
	__u32 _pad;
};

struct h7_ptrace {
	__s64 request;
	__u32 target_tid;
	__u32 target_tgid;
	__u32 target_agent;
	__u32 hook;  /* enum h7_hook */
	__u32 arg_pid; /* the pid as the caller named it (its own PID namespace) */
	__u32 _pad;
};

/* Tampering with a monitored process without (necessarily) ptrace. */
struct h7_access {
	__u32 op;   /* enum h7_access_op */
	__u32 hook; /* enum h7_hook */
	__u32 target_tid;
	__u32 target_tgid;
	__u32 target_agent;
	__u32 mode;    /* ptrace access mode (fentry) or open flags */
	__u32 arg_pid; /* pid (or pidfd) as the caller named it */
	__s32 arg_fd;  /* pidfd_getfd, proc_fd_open: the target's fd number; prlimit: the resource; else -1 */
	__s64 nr;      /* syscall the caller was in (-1: none, e.g. io_uring) */
	__u32 sweep;   /* H7_ACC_PROC_ENVIRON (_MAPS): environ (maps) files of other processes the caller
			  opened in the run of such opens (gaps < H7_ENVIRON_SWEEP_GAP_NS) just before this one */
	__u32 held;    /* H7_ACC_PROC_MEM_RW by sys_enter: 1, the fd's file was found open by the attach-time
			  /proc scan (held_files): its open predates the sensor's watch; else 0 */
	char name[16]; /* H7_ACC_PROC_WRITE: the /proc/<pid> file's name (NUL-padded); else empty */
};

#define H7_ENVIRON_SWEEP_GAP_NS 1000000000ULL

/* A regular file a monitored process holds (H7_EV_FILE): its identity, so that a file
 * received over a unix socket is the file some process opened (and wrote) by path. */
struct h7_file {
	__u64 ino;   /* i_ino */
	__u32 dev;   /* its superblock dev_t (kernel encoding) */
	__u32 gen;   /* i_generation */
	__u32 op;    /* enum h7_file_op */
	__s32 fd;    /* the fd in the process's table (returned by the open, or installed) */
	__u32 flags; /* the file's f_flags (O_ACCMODE: how it may be used) */
	__u32 hook;  /* enum h7_hook that saw it */
	char name[H7_NAME_LEN]; /* its dentry's name (for the evidence; not a path) */
};

/* A SysV shared-memory segment used by a monitored process (H7_EV_SHM), reported when the call
 * succeeded: no file and no open carry such a segment's data, so L3 makes it a node of its own
 * (a write is an attachment without SHM_RDONLY; the reader's loads are no syscall at all). */
struct h7_shm {
	__u64 addr;   /* H7_SHM_AT: the attachment's address (returned); H7_SHM_DT: shmdt's argument */
	__s32 shmid;  /* H7_SHM_GET (returned), H7_SHM_AT (argument); -1 for H7_SHM_DT */
	__s32 key;    /* H7_SHM_GET: the key asked for (0: IPC_PRIVATE) */
	__u32 op;     /* enum h7_shm_op */
	__u32 flags;  /* the call's shmflg (H7_SHM_AT: SHM_RDONLY 010000 means read-only) */
	__u32 ipc_ns; /* inode number of the caller's IPC namespace (segment ids are per namespace) */
	__u32 hook;   /* enum h7_hook that saw it */
};

/* A file the same agent wrote (written_files) mapped executable by one of its processes
 * (H7_EV_EXEC_MAP): code the agent wrote runs inside a program whose exec was of a trusted file
 * (dlopen, LD_PRELOAD, iconv's gconv module).  Read where the mapping is made, so a process that
 * maps the file and exits in a millisecond is reported all the same (its maps are gone before
 * userspace could read them).  The process's own program (the kernel maps it at exec) is not
 * reported: its exec record already carries the agent-written mark. */
struct h7_exec_map {
	__u64 ino;        /* i_ino of the mapped file */
	__u32 dev;        /* its superblock dev_t (kernel encoding) */
	__u32 gen;        /* i_generation */
	__u64 written_ns; /* CLOCK_MONOTONIC of the agent's last writable close of it */
	__u64 addr;       /* mmap: the address asked for (0: any); mprotect: the range's start */
	__u64 len;        /* the length asked for (0 in fentry mode's mmap: not an argument there) */
	__u32 prot;       /* the PROT_* bits asked for (PROT_EXEC among them) */
	__u32 flags;      /* mmap's MAP_* flags (0 for mprotect) */
	__s32 fd;         /* mmap's fd (sys_enter); -1 when the hook holds the file itself */
	__u32 op;         /* enum h7_map_op */
	__u32 hook;       /* enum h7_hook that saw it */
	__u32 _pad;
	char name[H7_NAME_LEN]; /* its dentry's name (the evidence; not a path) */
};

/* Discrete event: header + union.  In the ring each record is only the header and
 * its member (bpf/h7.bpf.c H7_EV_SIZE); userspace's drain pads it to this size. */
struct h7_event {
	struct h7_hdr hdr;
	union {
		struct h7_fork fork;
		struct h7_exec exec;
		struct h7_exit exit;
		struct h7_open open;
		struct h7_net net;
		struct h7_ptrace ptrace;
		struct h7_handoff handoff;
		struct h7_access access;
		struct h7_file file;
		struct h7_shm shm;
		struct h7_exec_map exec_map;
	};
};

/* Per-agent counters aggregated in the kernel (per-CPU map, userspace sums
 * the CPUs and takes deltas per batch). Scheduling never produces a ring
 * record: a sched_switch costs one map update. */
struct h7_stats {
	__u64 oncpu_hist[H7_HIST_SLOTS];  /* log2(ns) of on-CPU slices */
	__u64 offcpu_hist[H7_HIST_SLOTS]; /* log2(ns) of off-CPU waits */
	__u64 switches_voluntary;   /* it left the CPU to sleep (blocked) */
	__u64 switches_involuntary; /* it left still runnable: preempted, also at a return to
				     * user space (the kernel's nvcsw/nivcsw; session 10) */
	__u64 wakeups;
	__u64 wakeups_new;
	__u64 migrations;
	__u64 syscalls;
	__u64 connects;
	__u64 sends;
	__u64 send_bytes;
	__u64 execs;
	__u64 forks;
	__u64 opens;
	__u64 seq_filtered; /* syscalls not shipped: their window was known */
	__u64 oncpu_ns; /* runtime ns of the agent's slices that ended (see h7_run) */
	/* The run-queue split (L1): offcpu_hist mixes the agent's own sleeps with
	 * the time it waited for a CPU, which is the HOST's load; oncpu_hist's
	 * slices are cut short whenever another task preempts it.  These three
	 * keep apart what the agent does from what the other processes do to it. */
	__u64 sleep_hist[H7_HIST_SLOTS];  /* log2(ns): voluntary switch-out -> its wakeup */
	__u64 rqwait_hist[H7_HIST_SLOTS]; /* log2(ns): runnable (woken or preempted) -> on a CPU */
	__u64 burst_hist[H7_HIST_SLOTS];  /* log2(ns): on-CPU time between voluntary switch-outs,
					   * summed over preemptions (chunked at H7_BURST_CHUNK_NS) */
	/* Records of this agent the kernel could not ship (its ring full).  ring_stats
	 * counts them per ring for the host; these say WHOSE records were lost, which
	 * is what an agent flooding the ring to hide one record is after (L3). */
	__u64 events_dropped;
	__u64 sys_dropped;
	__u64 tasks_unwatched; /* children/threads the full scope map could not take */
	/* The share of the scheduling counts above that tool runs made (tasks with
	 * H7_SCOPE_TOOL: processes exec'd after the baseline, see h7_agent_cfg):
	 * counted in both places, so the totals stay the whole tree's and the agent's
	 * own processes' shape is the difference.  Before this, a tool run's
	 * scheduling swamped the agent's in one histogram (L1, session 22). */
	__u64 tool_burst_hist[H7_HIST_SLOTS];
	__u64 tool_sleep_hist[H7_HIST_SLOTS];
	__u64 tool_switches_voluntary;
	__u64 tool_switches_involuntary;
	__u64 tool_wakeups;
	__u64 tool_wakeups_new;
	__u64 tool_oncpu_ns;
};

/* A burst that goes on past this much on-CPU time is counted at its next
 * preemption and starts afresh: a thread that never sleeps (a miner) still
 * shows in burst_hist, as ~16-ms chunks, every second it runs. */
#define H7_BURST_CHUNK_NS (1ULL << 24)

/* The agent's CPU time on one CPU (per-CPU array by agent id; each CPU's
 * value is written only by the scheduler hooks running on that CPU).
 *
 * `cpu` is ONE word so that a reader copying it from another CPU never sees
 * half an update (a pair of counters did: a read between `running++` and
 * `since += now` added the whole uptime).  Below H7_RUN_ON it is the CPU ns
 * counted so far on this CPU; while an agent thread's slice runs here it is
 * that count + H7_RUN_BASE - the slice's start, so the reader adds `now`:
 *     cpu >= H7_RUN_ON ? cpu - H7_RUN_BASE + now : cpu
 * A thread that is never switched out (a busy loop alone on a core) is thus
 * counted up to every read, not only when it stops.
 *
 * A slice is counted, when it ends, as the task's own runtime delta
 * (task_struct.se.sum_exec_runtime, the clock of /proc/<pid>/schedstat), not
 * as switch-out minus switch-in: tracepoints can miss a switch (measured on
 * a Firecracker host: switches away from some host threads never reach
 * sched_switch probes), and a missed switch-in made the next switch-out
 * count the thread's previous slice a second time.  The runtime delta
 * covers exactly what ran since the last count, seen or not. */
#define H7_RUN_BASE (1ULL << 62)
#define H7_RUN_ON (1ULL << 61)
struct h7_run {
	__u64 cpu;      /* see above; the only field a reader needs */
	__u64 start_ns; /* start of the slice running here (writer's bookkeeping) */
};

/* Per-ring counters (per-CPU array indexed by enum h7_ring). */
struct h7_ring_stats {
	__u64 emitted;
	__u64 dropped; /* bpf_ringbuf_reserve failed: the ring was full */
};

/* Scope map value, keyed by tid (every thread of a monitored process).
 * Written only by the thread itself (window) or by the scheduler hook on
 * the CPU it runs on (on/off), so no field has two concurrent writers;
 * wake_ns alone is set by the wakeup hook on the waker's CPU, while the
 * thread is off every CPU, and cleared by its next switch-in. */
struct h7_scope {
	__u32 agent;
	__u32 tgid;
	__u64 window; /* window code of its syscalls so far */
	__u64 on_ns;  /* when its slice began (0: no switch-in seen since its last switch-out) */
	__u64 off_ns; /* when it last left the CPU */
	__s32 unix_fd; /* fd + 1 of a unix connect to resolve at the next syscall; -(fd + 1): an io_uring CONNECT's (0: none) */
	__u32 flags;   /* H7_SCOPE_RT: rt_ns holds a runtime to count from; H7_SCOPE_EXITING: see below */
	__u64 rt_ns;   /* its se.sum_exec_runtime when its CPU time was last counted */
	__u64 wake_ns;   /* when it was woken after its last voluntary switch-out (0: not yet) */
	__u64 burst_ns;  /* on-CPU ns of its current burst so far (slices since its last sleep) */
	__u32 preempted; /* 1: its last switch-out was a preemption (it stayed runnable) */
	__u32 _pad2;
};

#define H7_SCOPE_RT 1
/* Set by the exit hook before it counts the thread's last slice and drops its
 * scope: a switch-in of the thread after that (the hook preempted on its CPU,
 * possible where tracepoint programs run preemptible) must not mark the agent
 * running on that CPU, since no switch-out with a scope entry will clear it. */
#define H7_SCOPE_EXITING 2
/* A tool run: a process of the agent that exec'd after its baseline, or a task
 * it forked since (see h7_agent_cfg.tool_root). */
#define H7_SCOPE_TOOL 4

/* Files a monitored process closed after opening them writable (LRU map). */
struct h7_file_key {
	__u64 ino;
	__u32 dev;
	__u32 gen;
};

/* struct h7_written.flags */
enum h7_written_flags {
	H7_WRITTEN_COPY = 1, /* marked by an in-kernel copy of a marked file (any copier), not by a close */
	H7_WRITTEN_RELAY = 2, /* written by a process outside every agent that had read a marked file
				 (a copy through userspace: cat, dd, a read/write loop) */
	H7_WRITTEN_COPIER = 4, /* written, at the size of a marked file it had just opened, by a process
				  outside every agent that is no young reader (a long-running copier) */
};

struct h7_written {
	__u64 ts_ns; /* CLOCK_MONOTONIC of the agent's close (a copy keeps its source's) */
	__u32 agent;
	__u32 flags; /* enum h7_written_flags */
};

/* A daemon whose next children join an agent's scope (key: daemon tgid). */
struct h7_follow {
	__u64 until_ns; /* CLOCK_MONOTONIC */
	__u32 agent;
	__u32 _pad;
};

/* A channel an agent act just fed, or a process holding one (recv_marks, recv_procs). */
struct h7_recv_mark {
	__u64 until_ns;  /* bpf_ktime_get_ns: the mark ends (act + the receiver window) */
	__u64 act_ns;
	__u64 obj;       /* see h7_exec.recv_obj */
	__u32 agent;
	__u32 agent_tgid;
	__u32 kind;      /* enum h7_recv_kind */
	__u32 holder;    /* 0 in recv_marks until a holder is found */
	__u32 hops;
	__u32 found;     /* enum h7_recv_found: how the holder came to hold the mark */
	char holder_comm[H7_COMM_LEN];
};

/* recv_state slots (u64 array): the window userspace set (0: off) and the latest mark's end. */
#define H7_RECV_WINDOW 0
#define H7_RECV_UNTIL 1
#define H7_RECV_RELAY_UNTIL 2 /* the latest end of a `file` mark: a relay holder may be live */
#define H7_RECV_COPIER_UNTIL 3 /* the latest end of a copier's mark (copiers): one may be live */
#define H7_RECV_STATE_SLOTS 4

/* A long-running process outside every agent that opened an agent-written file for reading
 * (copiers, slot: tgid % H7_COPIER_ENTRIES): what it closes after writing, at one of these sizes, within the window is
 * marked H7_WRITTEN_COPIER. */
struct h7_copier_src {
	__u64 size;   /* its i_size at the open (0: an empty slot) */
	__u64 act_ns; /* the agent's write (its written_files ts_ns) */
	__u32 agent;
	__u32 _pad;
};

struct h7_copier {
	__u64 until_ns; /* bpf_ktime_get_ns: the last such open + the receiver window */
	struct h7_copier_src src[H7_COPIER_SIZES]; /* the last files opened (a ring) */
	__u64 total;    /* the sizes of every such open since the slot started, summed: an assembly's size */
	__u64 base;     /* `total` when it last opened a file for writing: what it read into that file since */
	__u32 opens;    /* how many opens `total` holds */
	__u32 next;     /* the ring slot the next open fills */
	__u32 tgid;     /* the process this slot of copiers is (0: none) */
	__u32 _pad;
};

/* Egress de-duplication key: one event per (tgid, op, destination). */
struct h7_egress_key {
	__u32 tgid;
	__u32 op;
	__u16 family;
	__u16 port;    /* inbound: the listener's port */
	__u16 peer_port; /* a loopback client outside the agent: its port (one record per connection) */
	__u16 proto;     /* the socket's protocol: a UDP send is not the TCP send to the same address */
	__u8 addr[16];
};

/* A pid as seen from a PID namespace other than the initial one: lets the
 * kernel match a pid argument named inside a container to the host task. */
struct h7_nspid_key {
	__u32 ns;  /* inode number of the pid namespace */
	__u32 pid; /* the pid in that namespace */
};

#endif /* H7_H */
