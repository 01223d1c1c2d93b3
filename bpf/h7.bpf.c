// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * h7.bpf.c - H7's kernel sensor: one CO-RE object, every program scoped to
 * the monitored agents.
 *
 * Design rules (see docs/architecture.md):
 *  - scope first: every program looks the current (or target) task up
 *    (prefilter bitmaps, then `scope`) and returns at once for anything H7
 *    does not monitor, so unmonitored processes pay two array loads;
 *  - aggregate in the kernel where the detector only needs distributions
 *    (scheduling, egress call rates): those update per-CPU counters and never
 *    touch a ring buffer;
 *  - stream only what needs order (syscall numbers) or identity (exec, open,
 *    connect, ptrace), through two rings sized by userspace; a failed reserve
 *    is counted per CPU in `ring_stats`, never silent;
 *  - only hook types that load on the target fleet: tp_btf (no fentry/LSM
 *    dependency), and one program per hook: every syscall-shaped thing goes
 *    through sys_enter, never a second syscalls:* tracepoint.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "h7.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFIFO 0010000
#define PTRACE_TRACEME 0
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206
#define H7_MAX_IOV 8

/* Force BTF for the layout types so tests can compare them with h7/decode.py. */
struct h7_event *h7_btf_event __attribute__((unused));
struct h7_sys_rec *h7_btf_sys __attribute__((unused));
struct h7_stats *h7_btf_stats __attribute__((unused));
struct h7_agent_cfg *h7_btf_agent_cfg __attribute__((unused));
struct h7_scope *h7_btf_scope __attribute__((unused));
struct h7_ring_stats *h7_btf_ring_stats __attribute__((unused));
struct h7_follow *h7_btf_follow __attribute__((unused));
struct h7_written *h7_btf_written __attribute__((unused));
struct h7_file_key *h7_btf_file_key __attribute__((unused));
struct h7_hook_cfg *h7_btf_hook_cfg __attribute__((unused));
struct h7_nspid_key *h7_btf_nspid_key __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, H7_SCOPE_ENTRIES);
	__type(key, __u32); /* tid */
	__type(value, struct h7_scope);
} scope SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, H7_PID_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} seed_bits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, H7_PID_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} fork_bits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, H7_MAX_AGENTS);
	__type(key, __u32); /* agent id */
	__type(value, struct h7_stats);
} agent_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, H7_MAX_AGENTS);
	__type(key, __u32); /* agent id */
	__type(value, struct h7_run);
} agent_run SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, H7_RING_COUNT);
	__type(key, __u32);
	__type(value, struct h7_ring_stats);
} ring_stats SEC(".maps");

/* Sizes are defaults; userspace resizes them before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, H7_SYS_RING_BYTES);
} sys_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, H7_EVENT_RING_BYTES);
} event_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, H7_MAX_AGENTS);
	__type(key, __u32); /* agent id */
	__type(value, struct h7_agent_cfg);
} agent_cfg SEC(".maps");

/* Known-window Bloom filter bits (see h7.h); userspace writes it through
 * mmap, the kernel only reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, H7_SEQ_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} seq_bits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_EGRESS_SEEN_ENTRIES);
	__type(key, struct h7_egress_key);
	__type(value, __u64);
} egress_seen SEC(".maps");

/* Sensor-wide switches (struct h7_hook_cfg, key 0): which mode decides
 * egress and tampering, so the sys_enter fallback never duplicates a hook
 * that is live. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h7_hook_cfg);
} hook_cfg SEC(".maps");

/* Monitored tasks by (pid namespace, pid in it), for every namespace level
 * but the initial one: a pid argument named inside a container is matched to
 * the host task (gap 3).  Written at fork and seeding, deleted at exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, H7_NSPID_ENTRIES);
	__type(key, struct h7_nspid_key);
	__type(value, __u32); /* host tid */
} nspid SEC(".maps");

/* Monitored tasks outside the initial PID namespace: host tid -> inode number
 * of the innermost one (resolves a `/proc/<agent>/root/proc/<pid>` path). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, H7_NSPID_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} task_pidns SEC(".maps");

/* TCP sockets that were accepted (passive opens), by address.  Value: the
 * agent whose connect the socket's peer is (0: none, a client outside every
 * agent), decided at ESTABLISHED (own_conns).  A send on one is inbound
 * (enum h7_inbound).  Entries go when the socket closes or is reused for an
 * active open. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_ACCEPTED_ENTRIES);
	__type(key, __u64);
	__type(value, __u32);
} accepted SEC(".maps");

/* A monitored task's TCP socket between connect() (SYN_SENT, in the task)
 * and ESTABLISHED (softirq, where the source port is known): sk -> agent. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_OWN_CONNS_ENTRIES);
	__type(key, __u64);
	__type(value, __u32);
} connecting SEC(".maps");

/* Monitored tasks' established TCP connects by 4-tuple -> agent, until the
 * listener's side of the same connection (on this host) looks them up. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_OWN_CONNS_ENTRIES);
	__type(key, struct h7_conn_key);
	__type(value, __u32);
} own_conns SEC(".maps");

/* Accepted TCP connections by 4-tuple as their CLIENT files it (conn_key(client, 0)) -> the
 * accepted socket's address, host-wide, added at SYN_RECV -> ESTABLISHED (softirq; one update per
 * accepted connection).  Lets a monitored task's send on a connection it did not open itself (a
 * socket a broker connected and passed to it) find the local accepting end and mark it as a
 * receiver (recv_mark_peer).  LRU, never deleted: a hit is checked against `accepted` and the
 * socket's own 4-tuple before use (its memory may hold another socket by then). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_OWN_CONNS_ENTRIES);
	__type(key, struct h7_conn_key);
	__type(value, __u64);
} accepted_tuples SEC(".maps");

/* Outsiders' TCP connects that reached ESTABLISHED, by 4-tuple as the CLIENT files it
 * (conn_key(client, 0)) -> the client's struct sock, host-wide, added at SYN_SENT -> ESTABLISHED
 * (softirq; one update per active open of a task outside every agent: a monitored task's connect
 * is in `connecting` and goes to own_conns instead).  Lets a monitored task's send on a socket it
 * ACCEPTED find the local client that connected in, and mark it as a receiver (recv_mark_peer,
 * red-team round 10's g5r10_reverse_runner_pulls_command class: a runner outside the agent dials
 * the agent's listener and runs what the agent answers).  LRU, never deleted: a hit is checked
 * against the socket's own ports before use, as accepted_tuples' are. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_OWN_CONNS_ENTRIES);
	__type(key, struct h7_conn_key);
	__type(value, __u64);
} client_tuples SEC(".maps");

/* recv_mark_peer's working memory (its 4-tuple key and its mark), per CPU, instead of its stack
 * frame: the subprogram is called from tp_btf/sys_enter, and 6.1's verifier adds the caller's and
 * the callee's frames (each rounded up to 32) against one 512-byte limit; with the key and mark on
 * its stack the pair was exactly 512 (352 + 160).  Only recv_mark_peer touches it, from task
 * context (sys_enter, fentry/inet_sendmsg, the io_uring submit tracepoint), never from an interrupt;
 * a call preempted on its CPU by another one finds `owner` changed and drops its mark (a missed
 * mark, never a wrong one, counted in ring_stats[H7_RING_SCRATCH]), as proc_scratch does. */
struct h7_peer_scratch {
	__u64 owner; /* bpf_get_current_pid_tgid() of the call using it */
	struct h7_conn_key k;
	struct h7_recv_mark m;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h7_peer_scratch);
} peer_scratch SEC(".maps");

/* TCP sockets a monitored task put in LISTEN, by address (struct h7_listener):
 * their LISTEN -> CLOSE goes to the same agent from whatever task closes them.
 * A plain hash, not LRU: an entry that could not be added is a LISTEN never
 * reported (L4 falls back to /proc), never an UNLISTEN lost for a reported one. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, H7_LISTENERS_ENTRIES);
	__type(key, __u64);
	__type(value, struct h7_listener);
} listeners SEC(".maps");

/*
 * Scope prefilter: one bit per tid that MAY be monitored, so the common case
 * (a task H7 does not watch) costs an inlined array load instead of a hash
 * lookup.  Two bitmaps, each with a single kind of writer so no update can
 * clobber another: `seed_bits` is written only by userspace (tids seeded
 * from /proc), `fork_bits` only by the kernel, with atomics (tids added at
 * fork, cleared at exit).  A stale set bit only costs the hash lookup that
 * follows; a tid beyond the bitmaps always takes the hash lookup.
 */
static __always_inline int scope_maybe(__u32 tid)
{
	__u32 w = tid >> 6;
	__u64 bit = 1ULL << (tid & 63), *word;

	if (w >= H7_PID_WORDS)
		return 1;
	word = bpf_map_lookup_elem(&fork_bits, &w);
	if (word && (*word & bit))
		return 1;
	word = bpf_map_lookup_elem(&seed_bits, &w);
	return word && (*word & bit);
}

static __always_inline void fork_bit(__u32 tid, int on)
{
	__u32 w = tid >> 6;
	__u64 bit = 1ULL << (tid & 63), *word;

	if (w >= H7_PID_WORDS)
		return;
	word = bpf_map_lookup_elem(&fork_bits, &w);
	if (!word)
		return;
	if (on)
		__sync_fetch_and_or(word, bit);
	else
		__sync_fetch_and_and(word, ~bit);
}

static __always_inline struct h7_scope *scope_of(__u32 tid)
{
	if (!scope_maybe(tid))
		return 0;
	return bpf_map_lookup_elem(&scope, &tid);
}

/*
 * Scope of the current task by tid, else by tgid: io_uring's io-wq workers
 * are threads of the submitting process created without the fork
 * tracepoint, so their tid was never added; their tgid is the agent's.
 */
static __always_inline struct h7_scope *scope_current(void)
{
	__u64 pt = bpf_get_current_pid_tgid();
	struct h7_scope *s = scope_of((__u32)pt);

	if (!s)
		s = scope_of(pt >> 32);
	return s;
}

static __always_inline struct h7_hook_cfg *hook_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&hook_cfg, &zero);
}

static __always_inline struct h7_stats *stats_of(__u32 agent)
{
	return bpf_map_lookup_elem(&agent_stats, &agent);
}

/* This CPU's h7_run of the agent (NULL only for an id beyond the map). */
static __always_inline struct h7_run *run_of(__u32 agent)
{
	return bpf_map_lookup_elem(&agent_run, &agent);
}

/* The agent's slice on this CPU, if one is open, stops counting as running
 * (its time is counted by the caller from the task's runtime). */
static __always_inline void run_close(struct h7_run *r)
{
	if (r->cpu >= H7_RUN_ON)
		r->cpu -= H7_RUN_BASE - r->start_ns;
}

/* Task `t` (scope s) goes on this CPU at `now`: it counts as running here
 * until slice_end.  Its runtime so far is the base its CPU time is counted
 * from, if none was known (a thread seeded from /proc). */
static __always_inline void slice_begin(struct h7_scope *s, struct task_struct *t, __u64 now)
{
	struct h7_run *r = run_of(s->agent);

	s->on_ns = now;
	if (!(s->flags & H7_SCOPE_RT)) {
		s->rt_ns = t->se.sum_exec_runtime;
		s->flags |= H7_SCOPE_RT;
	}
	if (!r)
		return;
	run_close(r); /* a slice whose switch-out was not seen: it is over */
	r->start_ns = now;
	r->cpu += H7_RUN_BASE - now;
}

/* Task `t` (scope s) leaves this CPU, or exits, at `now`.  What it ran since
 * its last count -- this slice and any whose switch-in was not seen -- is
 * its runtime delta; it goes to this CPU's h7_run and stats (st may be
 * NULL).  A thread with no known base (seeded while on a CPU) only gets
 * one: the slice it was in is not counted. */
static __always_inline void slice_end(struct h7_stats *st, struct h7_scope *s, struct task_struct *t)
{
	struct h7_run *r = run_of(s->agent);
	__u64 rt = t->se.sum_exec_runtime;
	__u64 d = 0;

	if ((s->flags & H7_SCOPE_RT) && rt > s->rt_ns)
		d = rt - s->rt_ns;
	s->rt_ns = rt;
	s->flags |= H7_SCOPE_RT;
	s->on_ns = 0;
	if (st) {
		st->oncpu_ns += d;
		if (s->flags & H7_SCOPE_TOOL)
			st->tool_oncpu_ns += d;
	}
	if (!r)
		return;
	run_close(r);
	r->cpu += d;
}

/* Counters of the agent a task belongs to; NULL when the task is not monitored. */
static __always_inline struct h7_stats *task_stats(struct task_struct *p)
{
	struct h7_scope *s = scope_of(p->pid);

	return s ? stats_of(s->agent) : 0;
}

static __always_inline void ring_count(__u32 ring, int ok)
{
	struct h7_ring_stats *rs = bpf_map_lookup_elem(&ring_stats, &ring);

	if (!rs)
		return;
	if (ok)
		rs->emitted++;
	else
		rs->dropped++;
}

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 r = 0;

	for (int i = 5; i >= 0; i--) {
		__u32 shift = 1U << i;
		if (v >= (1ULL << shift)) {
			v >>= shift;
			r += shift;
		}
	}
	return r < H7_HIST_SLOTS ? r : H7_HIST_SLOTS - 1;
}

/*
 * Wake userspace only when it matters: urgent records force a wakeup; the
 * rest wake it once the ring is a quarter full, so an idle-looking sensor
 * sleeps until the batch boundary yet a burst can never fill the ring
 * while it sleeps.
 */
static __always_inline __u64 fill_wakeup(void *ring)
{
	__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(ring, BPF_RB_RING_SIZE);

	return avail > size / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* The bytes a record of one union member takes: the header and that member, not the
 * whole union (an exec body is 1088 bytes; a fork's is 8).  The ring then holds 20x
 * more fork/exit records and 3.5x more opens than at the union's size, so a burst
 * that fills it (and an agent filling it on purpose: L3's EVENTS_LOST) needs that
 * much more.  Userspace's drain zero-pads each record to the union's size. */
#define H7_EV_SIZE(member) \
	(__builtin_offsetof(struct h7_event, member) + sizeof(((struct h7_event *)0)->member))

/* Reserve an event of `size` bytes and fill the header from the current task. */
static __always_inline struct h7_event *event_start_sz(__u32 type, __u32 agent, __u64 size)
{
	struct h7_event *ev = bpf_ringbuf_reserve(&event_ring, size, 0);
	struct task_struct *t;
	__u64 id;

	/* NULL-check the reservation before anything else touches it: older
	 * verifiers (6.1) lose track of the reference through `ev != 0`. */
	if (!ev) {
		struct h7_stats *st = stats_of(agent);

		ring_count(H7_RING_EVENTS, 0);
		if (st)
			st->events_dropped++; /* whose record: L3's EVENTS_LOST names the agent */
		return 0;
	}
	ring_count(H7_RING_EVENTS, 1);
	id = bpf_get_current_pid_tgid();
	t = (struct task_struct *)bpf_get_current_task();
	ev->hdr.ts_ns = bpf_ktime_get_ns();
	ev->hdr.type = type;
	ev->hdr.agent = agent;
	ev->hdr.tgid = id >> 32;
	ev->hdr.tid = (__u32)id;
	ev->hdr.ppid = BPF_CORE_READ(t, real_parent, tgid);
	ev->hdr.uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(ev->hdr.comm, sizeof(ev->hdr.comm));
	return ev;
}

/* A record at the union's full size (exec records: their body is the union's largest). */
static __always_inline struct h7_event *event_start(__u32 type, __u32 agent)
{
	return event_start_sz(type, agent, sizeof(struct h7_event));
}

/* ------------------------------------------ exec identity, hand-offs (kexec) */

#define S_IFREG 0100000
#define FMODE_WRITE 0x2
#define MNT_INTERNAL 0x4000
#define AT_EMPTY_PATH 0x1000
#define PIDTYPE_TGID 1

/* Files closed writable by a monitored process: (dev, ino, generation) ->
 * when and by which agent.  Looked up at exec time, so "the agent wrote
 * this" is a kernel fact, not a path comparison. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_WRITTEN_ENTRIES);
	__type(key, struct h7_file_key);
	__type(value, struct h7_written);
} written_files SEC(".maps");

/* One bit per hash of the struct inode address of every file written_files was given: the gate a
 * long-running outsider's open pays (copier_open) before any lookup -- nearly every such open is
 * of a file no agent wrote, and the address is in hand at open exit (the inode number would cost a
 * read).  Bits are never cleared (an entry the LRU dropped, or a freed inode's address reused,
 * costs one lookup that misses); 2^20 bits keep a pip install's ~10^4 marks below 1 % of them. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << (H7_WRITTEN_BLOOM_BITS - 6));
	__type(key, __u32);
	__type(value, __u64);
} written_bloom SEC(".maps");

/* Reader tgid -> its current run of /proc/<pid>/environ opens (any process's): a sweep such as
 * procps `ps` (which opens every process's environ) is told apart from a targeted read. */
struct h7_environ_run {
	__u64 last_ns;
	__u32 count;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_ENVIRON_RUN_ENTRIES);
	__type(key, __u32);
	__type(value, struct h7_environ_run);
} environ_runs SEC(".maps");

/* Reader tgid -> its current run of /proc/<pid>/maps opens (any process's): `perf record -a` and
 * continuous profilers open every process's maps (the agent's among them) to name its mappings;
 * told apart from a targeted read as for environ.  Only maps opens count here (never mem). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_ENVIRON_RUN_ENTRIES);
	__type(key, __u32);
	__type(value, struct h7_environ_run);
} maps_runs SEC(".maps");

/* Daemon comms (16 bytes, NUL-padded) whose children an agent's hand-off
 * puts in scope -> how long (ns).  Written by userspace from L2's config. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, H7_FOLLOW_COMMS_ENTRIES);
	__type(key, char[H7_COMM_LEN]);
	__type(value, __u64);
} follow_comms SEC(".maps");

/* Daemons an agent just handed something to: tgid -> agent, until when. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, H7_FOLLOW_ENTRIES);
	__type(key, __u32);
	__type(value, struct h7_follow);
} follow SEC(".maps");

/* Latest `until_ns` in `follow`: a fork of an unmonitored parent looks at
 * this one array slot and stops there unless a hand-off is live. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} follow_until SEC(".maps");

/* Agent whose scope a child of an unmonitored parent joins: the parent is a
 * daemon an agent handed a command to, within the follow window. 0 if none. */
/*
 * Tracepoint mode of gap "mem_fd_use": /proc/<pid>/mem files that were already
 * open when the sensor started watching their task (red-team round 8's
 * g2r8_preattach_mem_fd: opened before `h7 attach`, so no open hook saw the
 * access check pass).  Userspace scans every process's fd table at attach
 * (and for every agent added later) and registers each such file by its
 * procfs inode (held_files) and each holder by tgid (held_procs); sys_enter
 * then reports a holder's read/write family on one of those files
 * (on_held_use).  A fork of a holder is a holder (its fd table is a copy);
 * an exit removes it.  held_on (the number of registered files) gates it
 * all: with none registered, the read/write family of every process pays
 * one array load, and fork/exit nothing more.  Empty in fentry mode, where
 * fentry/mem_rw sees every use whatever the fd's history.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, H7_HELD_ENTRIES);
	__type(key, struct h7_held_key);
	__type(value, __u32);
} held_files SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, H7_HELD_ENTRIES);
	__type(key, __u32); /* holder tgid */
	__type(value, __u32);
} held_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32); /* registered files (0: the whole mechanism is off) */
} held_on SEC(".maps");

static __always_inline int held_live(void)
{
	__u32 zero = 0;
	__u32 *on = bpf_map_lookup_elem(&held_on, &zero);

	return on && *on;
}

/* A holder's forked child holds the same files (a thread shares its tgid: nothing to do). */
static __always_inline void held_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid, ctgid;
	__u32 *v;

	if (!held_live() || child->pid != child->tgid)
		return;
	ptgid = parent->tgid;
	v = bpf_map_lookup_elem(&held_procs, &ptgid);
	if (!v)
		return;
	ctgid = child->tgid;
	bpf_map_update_elem(&held_procs, &ctgid, v, BPF_ANY);
}

static __always_inline void held_exit(struct task_struct *p)
{
	__u32 tgid;

	if (!held_live() || p->pid != p->tgid)
		return;
	tgid = p->tgid;
	bpf_map_delete_elem(&held_procs, &tgid);
}

static __always_inline __u32 follow_agent(struct task_struct *parent, struct task_struct *child)
{
	__u32 zero = 0, ptgid;
	__u64 *until = bpf_map_lookup_elem(&follow_until, &zero);
	struct h7_follow *f;

	if (!until || !*until || child->pid != child->tgid)
		return 0; /* no hand-off ever, or a new thread of the daemon */
	if (bpf_ktime_get_ns() > *until)
		return 0;
	ptgid = parent->tgid;
	f = bpf_map_lookup_elem(&follow, &ptgid);
	if (!f || bpf_ktime_get_ns() > f->until_ns)
		return 0;
	return f->agent;
}

/* The struct file behind fd of the current task, or NULL. */
static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	struct file *f = 0;

	if (fd < 0 || (unsigned int)fd >= max)
		return 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return 0;
	return f;
}

/*
 * fd_file read the cheap way, for tracing programs (tp_btf, tracepoint, fentry; never cgroup
 * ones): the task, its files_struct and fdtable through BTF-typed loads
 * (bpf_get_current_task_btf: plain loads the JIT guards, no helper call each), only the slot
 * itself through a probe read (the fd array is no typed pointer).  The exits of every open of
 * every process use it (bench: hook_cost `open`), and sys_enter's kept send verdicts.
 */
static __always_inline struct file *task_fd_file(int fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = t->files->fdt;
	struct file **fds = fdt->fd;
	struct file *f = 0;

	if (fd < 0 || (unsigned int)fd >= fdt->max_fds || !fds)
		return 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return 0;
	return f;
}

/* Inode timestamps moved between kernels: timespec64 members up to 6.5
 * (i_ctime renamed __i_ctime in 6.6, all three __i_* in 6.7), split
 * seconds/nanoseconds members from 6.11. */
struct inode___v61 {
	struct timespec64 i_mtime;
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

struct inode___v66 {
	struct timespec64 i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___v67 {
	struct timespec64 __i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

static __always_inline __s64 ts_ns(struct timespec64 *t)
{
	return BPF_CORE_READ(t, tv_sec) * 1000000000LL + BPF_CORE_READ(t, tv_nsec);
}

static __always_inline void inode_times(struct inode *ino, struct h7_exec *x)
{
	if (bpf_core_field_exists(ino->i_ctime_sec)) {
		x->mtime_ns = BPF_CORE_READ(ino, i_mtime_sec) * 1000000000LL +
			      BPF_CORE_READ(ino, i_mtime_nsec);
		x->ctime_ns = BPF_CORE_READ(ino, i_ctime_sec) * 1000000000LL +
			      BPF_CORE_READ(ino, i_ctime_nsec);
	} else if (bpf_core_field_exists(((struct inode___v67 *)ino)->__i_mtime)) {
		struct inode___v67 *i = (void *)ino;

		x->mtime_ns = ts_ns(&i->__i_mtime);
		x->ctime_ns = ts_ns(&i->__i_ctime);
	} else if (bpf_core_field_exists(((struct inode___v66 *)ino)->__i_ctime)) {
		struct inode___v66 *i = (void *)ino;

		x->mtime_ns = ts_ns(&i->i_mtime);
		x->ctime_ns = ts_ns(&i->__i_ctime);
	} else {
		struct inode___v61 *i = (void *)ino;

		x->mtime_ns = ts_ns(&i->i_mtime);
		x->ctime_ns = ts_ns(&i->i_ctime);
	}
}

static __always_inline void file_key(struct file *f, struct h7_file_key *k)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);

	k->ino = BPF_CORE_READ(ino, i_ino);
	k->dev = BPF_CORE_READ(ino, i_sb, s_dev);
	k->gen = BPF_CORE_READ(ino, i_generation);
}

static __always_inline __u32 bloom_index(__u64 addr)
{
	return (__u32)((addr * 0x9E3779B97F4A7C15ULL) >> (64 - H7_WRITTEN_BLOOM_BITS));
}

/* Mark f (written_files, key k) and set the bit of its struct inode's address in written_bloom. */
static __always_inline void written_put(struct file *f, struct h7_file_key *k, struct h7_written *w)
{
	__u32 i = bloom_index((__u64)BPF_CORE_READ(f, f_inode)), word = i >> 6;
	__u64 *b = bpf_map_lookup_elem(&written_bloom, &word);

	bpf_map_update_elem(&written_files, k, w, BPF_ANY);
	if (b && !(*b & (1ULL << (i & 63))))
		__sync_fetch_and_or(b, 1ULL << (i & 63));
}

/* Could written_files hold the file of this struct inode?  One array load and no read of the
 * inode; 0 is certain while the inode stays cached (one evicted and read back in has a new
 * address: its bit is unset, so a copier of it goes unrecorded). */
static __always_inline int bloom_maybe(struct inode *inode)
{
	__u32 i = bloom_index((__u64)inode), word = i >> 6;
	__u64 *b = bpf_map_lookup_elem(&written_bloom, &word);

	return b && (*b & (1ULL << (i & 63)));
}

#define H7_OVERLAYFS_MAGIC 0x794c7630
#define H7_LOOP_MAJOR 7

/*
 * Exec identity through overlayfs and loop-backed images (issue 13 gap 4; red-team round 10's
 * overlay-upper and loop-image classes).  written_files holds the inode the agent's close saw.
 * An exec through an overlay names the OVERLAY's inode (bprm->file is the overlay's file), while
 * the agent may have written the layer's file directly (upper/ or lower/); and a file inside a
 * file-system image the agent wrote, mounted through a loop device, was never closed by anyone:
 * its only written mark is on the image.  So at exec, when the file's own inode is not marked,
 * the kernel asks what is under it: the overlay inode's upper, then lower, real inode; or, for a
 * file system on a loop device, the loop's backing file.  One step down only (an image inside an
 * image, an overlay over an overlay are not followed).
 *
 * overlay and loop may be modules whose BTF is known only if they were loaded before the
 * sensor (/sys/kernel/btf/overlay, /sys/kernel/btf/loop): CO-RE when the type exists, else the
 * layouts that held from 4.13 (ovl_inode: __upperdentry right after vfs_inode) and 5.19 (loop:
 * lo_backing_file at 96), each checked before use (a regular file not on overlayfs; the loop's
 * lo_device back pointer equal to the disk's whole device).
 */
struct ovl_path___h7 {
	void *layer;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct ovl_entry___h7 {
	unsigned int __numlower;
	struct ovl_path___h7 __lowerstack[0];
} __attribute__((preserve_access_index));

/* 6.5+: the lower stack hangs off the inode (oe) */
struct ovl_inode___h7 {
	struct inode vfs_inode;
	struct dentry *__upperdentry;
	struct ovl_entry___h7 *oe;
} __attribute__((preserve_access_index));

/* 5.19-6.4: the first lower layer's path in the inode */
struct ovl_inode___v61 {
	struct ovl_path___h7 lowerpath;
} __attribute__((preserve_access_index));

struct loop_device___h7 {
	struct file *lo_backing_file;
	struct block_device *lo_device;
} __attribute__((preserve_access_index));

/* loop_device without BTF (module loaded after the sensor): int lo_number; loff_t lo_offset,
 * lo_sizelimit; int lo_flags; char lo_file_name[64]; struct file *lo_backing_file (5.19+);
 * then lo_device, or (newer kernels, 6.18 here) an unsigned lo_min_dio_size and lo_device. */
#define H7_LOOP_FIXED_FILE 96
#define H7_LOOP_FIXED_DEV_A 104
#define H7_LOOP_FIXED_DEV_B 112

/* The overlay inode's real inode on its upper (upper = 1) or first lower layer; 0 if none. */
static __always_inline struct inode *ovl_real_inode(struct inode *ino, int upper)
{
	struct dentry *d = 0;
	void *oi;

	/* each field read is guarded too: a kernel that renamed one must not fail h7_exec's load */
	if (bpf_core_type_exists(struct ovl_inode___h7) &&
	    bpf_core_field_exists(((struct ovl_inode___h7 *)0)->vfs_inode) &&
	    bpf_core_field_exists(((struct ovl_inode___h7 *)0)->__upperdentry)) {
		oi = (void *)ino - bpf_core_field_offset(struct ovl_inode___h7, vfs_inode);
		if (upper)
			d = BPF_CORE_READ((struct ovl_inode___h7 *)oi, __upperdentry);
		else if (bpf_core_field_exists(((struct ovl_inode___h7 *)oi)->oe) &&
			 bpf_core_field_exists(((struct ovl_entry___h7 *)0)->__lowerstack) &&
			 bpf_core_field_exists(((struct ovl_path___h7 *)0)->dentry))
			d = BPF_CORE_READ((struct ovl_inode___h7 *)oi, oe, __lowerstack[0].dentry);
		else if (bpf_core_field_exists(((struct ovl_inode___v61 *)oi)->lowerpath) &&
			 bpf_core_field_exists(((struct ovl_path___h7 *)0)->dentry))
			d = BPF_CORE_READ((struct ovl_inode___v61 *)oi, lowerpath.dentry);
	} else if (upper) {
		bpf_probe_read_kernel(&d, sizeof(d), (void *)ino + bpf_core_type_size(struct inode));
	}
	return d ? BPF_CORE_READ(d, d_inode) : 0;
}

/* The inode of the file a loop device reads, when sb is a file system on a loop device; else 0. */
static __always_inline struct inode *loop_backing_inode(struct super_block *sb)
{
	struct block_device *bdev = BPF_CORE_READ(sb, s_bdev);
	struct block_device *whole, *dev = 0;
	struct file *bf = 0;
	struct gendisk *disk;
	void *lo;

	if (!bdev)
		return 0;
	disk = BPF_CORE_READ(bdev, bd_disk);
	if (!disk || BPF_CORE_READ(disk, major) != H7_LOOP_MAJOR)
		return 0;
	lo = BPF_CORE_READ(disk, private_data);
	if (!lo)
		return 0;
	if (bpf_core_type_exists(struct loop_device___h7) &&
	    bpf_core_field_exists(((struct loop_device___h7 *)0)->lo_backing_file)) {
		bf = BPF_CORE_READ((struct loop_device___h7 *)lo, lo_backing_file);
	} else {
		whole = BPF_CORE_READ(disk, part0);
		bpf_probe_read_kernel(&dev, sizeof(dev), lo + H7_LOOP_FIXED_DEV_A);
		if (dev != whole)
			bpf_probe_read_kernel(&dev, sizeof(dev), lo + H7_LOOP_FIXED_DEV_B);
		if (!whole || dev != whole)
			return 0;
		bpf_probe_read_kernel(&bf, sizeof(bf), lo + H7_LOOP_FIXED_FILE);
	}
	return bf ? BPF_CORE_READ(bf, f_inode) : 0;
}

/* written_files' entry for a real (layer or image) inode, if it is a regular file.  It may be an
 * overlay's own inode: an image the agent wrote on a container's overlayfs root (or the 6.1
 * guests' /tmp), whose mark is the overlay inode the agent's close saw. */
static __always_inline struct h7_written *real_written(struct inode *real, struct h7_file_key *k)
{
	if (!real || (BPF_CORE_READ(real, i_mode) & S_IFMT) != S_IFREG)
		return 0;
	k->ino = BPF_CORE_READ(real, i_ino);
	k->dev = BPF_CORE_READ(real, i_sb, s_dev);
	k->gen = BPF_CORE_READ(real, i_generation);
	return bpf_map_lookup_elem(&written_files, k);
}

/* The written mark of what lies under an executed file the agent did not close itself (k is
 * scratch); *fl gets H7_EXF_VIA_OVERLAY or H7_EXF_VIA_LOOP with a mark of this agent. */
static __always_inline struct h7_written *under_written(struct inode *ino, __u32 agent, struct h7_file_key *k,
							__u32 *fl)
{
	struct super_block *sb = BPF_CORE_READ(ino, i_sb);
	struct h7_written *w;

	if (BPF_CORE_READ(sb, s_magic) == H7_OVERLAYFS_MAGIC) {
		w = real_written(ovl_real_inode(ino, 1), k);
		if (!(w && w->agent == agent))
			w = real_written(ovl_real_inode(ino, 0), k);
		if (w && w->agent == agent)
			*fl |= H7_EXF_VIA_OVERLAY;
		return w;
	}
	w = real_written(loop_backing_inode(sb), k);
	if (w && w->agent == agent)
		*fl |= H7_EXF_VIA_LOOP;
	return w;
}

/*
 * What the kernel knows about an executed file, filled in while it still
 * exists: inode identity, link count, whether it has a path at all (memfd,
 * internal mount, unhashed dentry), times, and whether a process of the
 * same agent wrote it (written_files) -- with under, also through what lies
 * under it (an overlay's real file, a loop device's image: under_written).
 */
static __always_inline void file_identity(struct file *f, __u32 agent, struct h7_exec *x, int under)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct h7_file_key k = {};
	struct h7_written *w;
	char pre[8] = {};
	__u32 fl = 0;

	file_key(f, &k);
	x->ino = k.ino;
	x->dev = k.dev;
	x->gen = k.gen;
	x->nlink = BPF_CORE_READ(ino, __i_nlink);
	x->mode = BPF_CORE_READ(ino, i_mode);
	x->size = BPF_CORE_READ(ino, i_size);
	inode_times(ino, x);
	bpf_probe_read_kernel_str(x->exe_name, sizeof(x->exe_name), BPF_CORE_READ(d, d_name.name));
	if (!x->nlink)
		fl |= H7_EXF_DELETED;
	if (BPF_CORE_READ(f, f_path.mnt, mnt_flags) & MNT_INTERNAL)
		fl |= H7_EXF_ANON;
	if (!BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d)
		fl |= H7_EXF_UNHASHED;
	bpf_probe_read_kernel(pre, 6, BPF_CORE_READ(d, d_name.name));
	if ((fl & (H7_EXF_DELETED | H7_EXF_ANON)) && pre[0] == 'm' && pre[1] == 'e' &&
	    pre[2] == 'm' && pre[3] == 'f' && pre[4] == 'd' && pre[5] == ':')
		fl |= H7_EXF_MEMFD;
	w = bpf_map_lookup_elem(&written_files, &k);
	if (under && !(w && w->agent == agent))
		w = under_written(ino, agent, &k, &fl);
	if (w && w->agent == agent) {
		fl |= H7_EXF_WRITTEN;
		if (w->flags & H7_WRITTEN_COPY)
			fl |= H7_EXF_VIA_COPY;
		if (w->flags & H7_WRITTEN_RELAY)
			fl |= H7_EXF_VIA_RELAY;
		if (w->flags & H7_WRITTEN_COPIER)
			fl |= H7_EXF_VIA_COPIER;
		x->written_ns = w->ts_ns;
	}
	x->id_flags = fl;
}

static __always_inline int reg_file(struct file *f)
{
	return f && (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) == S_IFREG;
}

/* A file written_files can mark: a regular file open for writing (by a close, or as a copy's
 * destination). */
static __always_inline int markable(struct file *f)
{
	return f && (BPF_CORE_READ(f, f_mode) & FMODE_WRITE) && reg_file(f);
}

/* close(fd) by a monitored process: remember regular files it had open
 * for writing.  (A file cannot be executed while open for writing, so a
 * writer that execs it has closed it first.) */
static __always_inline void file_written(__u32 agent, struct file *f)
{
	struct h7_file_key k = {};
	struct h7_written w = {};

	if (!markable(f))
		return;
	file_key(f, &k);
	w.ts_ns = bpf_ktime_get_ns();
	w.agent = agent;
	written_put(f, &k, &w);
}

static __always_inline void on_close(__u32 agent, int fd)
{
	file_written(agent, fd_file(fd));
}

/*
 * The written mark follows the bytes through an in-kernel copy (red-team round 9's
 * g4r9_written_exec_laundered_by_copier: a sync job outside every agent copies the program the
 * agent dropped, and the agent runs the copy).  sendfile(2) (Python's shutil.copyfile) and
 * copy_file_range(2) (coreutils cp, os.copy_file_range) name both files: when the source is
 * marked, the destination gets the source's mark (agent, time of the agent's write) plus
 * H7_WRITTEN_COPY, whoever the caller is -- the copier is usually outside the agent.  Marked at
 * entry (the copy has not happened yet; a failed one leaves a mark on a file opened for writing
 * anyway).  A copy through userspace (read + write, cat) or a reflink (FICLONE) leaves no mark:
 * docs/detection.md.  Cost: these two syscalls only, one fd walk and one hash lookup each; a
 * sendfile to a socket (a web server's) stops at the destination's mode.
 */
struct h7_sys_enter_ctx {
	__u64 common; /* common_type, common_flags, common_preempt_count, common_pid */
	__s32 nr;     /* __syscall_nr */
	__s32 _pad;
	__u64 args[6];
};

static __always_inline int copy_mark(int in_fd, int out_fd)
{
	struct file *src = task_fd_file(in_fd), *dst;
	struct h7_file_key k = {};
	struct h7_written *w, c;

	if (!reg_file(src))
		return 0;
	file_key(src, &k);
	w = bpf_map_lookup_elem(&written_files, &k);
	if (!w)
		return 0;
	c = *w;
	dst = task_fd_file(out_fd);
	if (dst == src || !markable(dst))
		return 0;
	file_key(dst, &k);
	c.flags |= H7_WRITTEN_COPY;
	written_put(dst, &k, &c);
	return 0;
}

/* sendfile(out_fd, in_fd, offset, count) */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int h7_tp_enter_sendfile(struct h7_sys_enter_ctx *ctx)
{
	return copy_mark((int)ctx->args[1], (int)ctx->args[0]);
}

/* copy_file_range(fd_in, off_in, fd_out, off_out, len, flags) */
SEC("tracepoint/syscalls/sys_enter_copy_file_range")
int h7_tp_enter_copy_file_range(struct h7_sys_enter_ctx *ctx)
{
	return copy_mark((int)ctx->args[0], (int)ctx->args[2]);
}

/* N of "/proc/self/fd/N" or "/dev/fd/N", else -1. */
static __always_inline int fd_path_number(const char *path)
{
	char b[32] = {};
	int start, n = 0, digits = 0;

	if (bpf_probe_read_user_str(b, sizeof(b), path) <= 0)
		return -1;
	if (b[0] == '/' && b[1] == 'd' && b[2] == 'e' && b[3] == 'v' && b[4] == '/' && b[5] == 'f' &&
	    b[6] == 'd' && b[7] == '/')
		start = 8;
	else if (b[0] == '/' && b[1] == 'p' && b[2] == 'r' && b[3] == 'o' && b[4] == 'c' && b[5] == '/' &&
		 b[6] == 's' && b[7] == 'e' && b[8] == 'l' && b[9] == 'f' && b[10] == '/' && b[11] == 'f' &&
		 b[12] == 'd' && b[13] == '/')
		start = 14;
	else
		return -1;
	for (int i = 0; i < 9; i++) {
		char c = b[(start + i) & 31];

		if (c < '0' || c > '9')
			break;
		n = n * 10 + (c - '0');
		digits++;
	}
	return digits ? n : -1;
}

/*
 * exec by fd: execveat(fd, "", AT_EMPTY_PATH) (glibc's fexecve), or a path
 * "/proc/self/fd/N" / "/dev/fd/N".  The fd's file is read here, before
 * binfmt_script replaces a #! script by its interpreter, and reported only
 * when it is anonymous, deleted or agent-written; sched_process_exec
 * reports the image that actually runs either way.
 */
/* The receiver fields of an exec record (H7_EV_RECV_EXEC only): zero in every other one. */
static __always_inline void recv_clear(struct h7_exec *x)
{
	x->began_unwatched = 0;
	__builtin_memset(&x->recv_act_ns, 0,
			 sizeof(*x) - __builtin_offsetof(struct h7_exec, recv_act_ns));
}

static __always_inline void exec_file_emit(__u32 agent, struct file *f, const char *upath,
					   const char *kpath, const void *head, __u32 hook)
{
	struct h7_event *ev;

	if (!reg_file(f))
		return;
	ev = event_start(H7_EV_EXEC_FD, agent);
	if (!ev)
		return;
	ev->exec.filename[0] = ev->exec.interp[0] = 0;
	if (upath)
		bpf_probe_read_user_str(ev->exec.filename, sizeof(ev->exec.filename), upath);
	else if (kpath)
		bpf_probe_read_kernel_str(ev->exec.filename, sizeof(ev->exec.filename), kpath);
	ev->exec.args_len = ev->exec.args_truncated = 0;
	ev->exec.written_ns = 0;
	ev->exec.hook = hook;
	recv_clear(&ev->exec);
	if (head) {
		bpf_probe_read_kernel(ev->exec.head, sizeof(ev->exec.head), head);
	} else {
		for (int i = 0; i < H7_HEAD_LEN / 8; i++)
			((__u64 *)ev->exec.head)[i] = 0;
	}
	/* sys_enter's exec-by-fd stays one lookup (its 6.1 stack); exec and bprm_check look under */
	file_identity(f, agent, &ev->exec, hook != H7_HOOK_SYS_ENTER);
	if (!(ev->exec.id_flags & (H7_EXF_DELETED | H7_EXF_ANON | H7_EXF_UNHASHED | H7_EXF_WRITTEN))) {
		bpf_ringbuf_discard(ev, 0);
		return;
	}
	ev->exec.old_tid = (__u32)bpf_get_current_pid_tgid();
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

static __always_inline void on_exec_by_fd(__u32 agent, int fd, const char *path)
{
	exec_file_emit(agent, fd_file(fd), path, 0, 0, H7_HOOK_SYS_ENTER);
}

/* 1 when security_bprm_check (fentry) reads every exec stage: sys_enter need not. */
static __always_inline int exec_fentry_live(void)
{
	struct h7_hook_cfg *cfg = hook_config();

	return cfg && cfg->exec == H7_EXEC_FENTRY;
}

static __always_inline int handoff_fentry_live(void)
{
	struct h7_hook_cfg *cfg = hook_config();

	return cfg && cfg->handoff == H7_HANDOFF_FENTRY;
}

static __always_inline void on_execve(__u32 agent, const char *path)
{
	int fd = fd_path_number(path);

	if (fd >= 0)
		on_exec_by_fd(agent, fd, path);
}

static __always_inline void on_execveat(__u32 agent, int fd, const char *path, __u32 flags)
{
	char c = 0;

	if (!(flags & AT_EMPTY_PATH)) {
		on_execve(agent, path);
		return;
	}
	/* The path is "" in practice; it may sit on a page the (just forked)
	 * caller has not faulted in, so an unreadable path counts as empty. */
	bpf_probe_read_user(&c, 1, path);
	if (!c)
		on_exec_by_fd(agent, fd, 0);
}

/*
 * The thread's previous syscall was connect() on a unix socket; it has
 * returned, so if a listener accepted, the socket now carries the peer's
 * credentials (sk_peer_pid: the process that called listen()) and the
 * peer's bound address.  Reported with a forced wakeup; a peer whose comm is
 * in follow_comms gets its next children put in the agent's scope.
 */
static __always_inline void report_unix_peer(__u32 agent, int fd, struct sock *sk, __u32 hook);

/*
 * ioctl(fd, TIOCSTI) by an agent process: bytes pushed into a terminal's
 * input queue are read by whatever runs on it (a tmux pane's shell, a
 * user's login shell) as if typed: a hand-off without any socket.  Reported
 * as a hand-off whose "path" is "tiocsti:<tty name>" and whose peer is the
 * terminal's session leader (who will read the input).  Only character
 * devices with a tty major (4, 5, 136-143: vt, tty/ptmx, pts) are read;
 * TIOCSTI on anything else fails with ENOTTY anyway.
 */
#define H7_TIOCSTI 0x5412
#define H7_S_IFCHR 0020000

static __always_inline void on_tiocsti(__u32 agent, int fd)
{
	struct file *f = fd_file(fd);
	struct tty_file_private *priv;
	struct tty_struct *tty = 0;
	struct pid *sp = 0;
	struct hlist_node *first;
	struct task_struct *pt;
	struct h7_scope *ps;
	struct h7_event *ev;
	__u32 major;
	long n;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != H7_S_IFCHR)
		return;
	major = BPF_CORE_READ(f, f_inode, i_rdev) >> 20;
	if (major != 4 && major != 5 && (major < 136 || major > 143))
		return;
	priv = BPF_CORE_READ(f, private_data);
	if (priv)
		tty = BPF_CORE_READ(priv, tty);
	ev = event_start_sz(H7_EV_HANDOFF, agent, H7_EV_SIZE(handoff));
	if (!ev)
		return;
	__builtin_memset(&ev->handoff, 0, sizeof(ev->handoff));
	ev->handoff.fd = fd;
	ev->handoff.hook = H7_HOOK_SYS_ENTER;
	__builtin_memcpy(ev->handoff.path, "tiocsti:", 8);
	ev->handoff.path_len = 8;
	if (tty) {
		n = bpf_probe_read_kernel_str(&ev->handoff.path[8], 32, &tty->name);
		if (n > 1)
			ev->handoff.path_len = 8 + (__u32)(n - 1);
		sp = BPF_CORE_READ(tty, ctrl.session);
	}
	if (sp) {
		ev->handoff.peer_tgid = BPF_CORE_READ(sp, numbers[0].nr);
		ps = scope_of(ev->handoff.peer_tgid);
		ev->handoff.peer_agent = ps ? ps->agent : 0;
		first = BPF_CORE_READ(sp, tasks[PIDTYPE_PID].first);
		if (first) {
			pt = (void *)first - bpf_core_field_offset(struct task_struct, pid_links) -
			     PIDTYPE_PID * sizeof(struct hlist_node);
			bpf_probe_read_kernel_str(ev->handoff.peer_comm, sizeof(ev->handoff.peer_comm),
						  &pt->comm);
		}
	}
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

/* A bound unix address into the hand-off record (an abstract name starts with NUL). */
static __always_inline void unix_addr_copy(struct sock *usk, struct h7_handoff *h)
{
	struct unix_address *ua = usk ? BPF_CORE_READ((struct unix_sock *)usk, addr) : 0;
	int len;

	if (!ua)
		return;
	len = BPF_CORE_READ(ua, len) - 2; /* minus sun_family */
	if (len > H7_SUN_LEN)
		len = H7_SUN_LEN;
	if (len > 0) {
		bpf_probe_read_kernel(h->path, len & 127, &ua->name[0].sun_path);
		h->path_len = len;
	}
}

/*
 * Unix datagrams (red-team round 5's g5r5_socat_dgram_handoff: `socat
 * UNIX-RECVFROM:S,fork EXEC:/bin/sh` runs every datagram): no listen, no
 * accept, so no peer credentials name the receiver; the record carries its
 * bound address and userspace asks /proc who holds it.  A sender reports a
 * receiver once per H7_DGRAM_REPEAT_NS (syslog/journald clients send one per
 * line); unnamed receivers (socketpair) are never reported (no address to
 * judge, and only who was handed the other end can read it).
 */
#define H7_DGRAM_REPEAT_NS 1000000000ULL

struct h7_dgram_key {
	__u64 peer; /* receiver: its struct sock (fentry) or a hash of the address named (sys_enter) */
	__u32 tgid;
	__s32 fd;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_DGRAM_SEEN_ENTRIES);
	__type(key, struct h7_dgram_key);
	__type(value, __u64);
} dgram_seen SEC(".maps");

static __always_inline int dgram_fresh(struct h7_dgram_key *k)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&dgram_seen, k);

	if (last && now - *last < H7_DGRAM_REPEAT_NS)
		return 0;
	bpf_map_update_elem(&dgram_seen, k, &now, BPF_ANY);
	return 1;
}

/*
 * The sockfs inode of a socket: what /proc/PID/fd/N reads as socket:[N], so userspace
 * finds the process that holds it in its index of daemons' sockets with no search
 * (pseudo-inode numbers are 32-bit: get_next_ino()).
 */
static __always_inline __u32 sock_ino(struct sock *sk)
{
	struct socket *so = BPF_CORE_READ(sk, sk_socket);
	struct socket_alloc *sa;

	if (!so)
		return 0;
	sa = (struct socket_alloc *)((char *)so - bpf_core_field_offset(struct socket_alloc, socket));
	return (__u32)BPF_CORE_READ(sa, vfs_inode.i_ino);
}

/*
 * Receivers (gap 5, "leaving the tree through a daemon", red-team round 7):
 * a command handed to a process on no daemon list -- a FIFO-fed runner, a CGI
 * web server on loopback, a Python RPC worker on a unix socket -- runs outside
 * every watched tree.  The agent's act names the channel (the FIFO it opened
 * for writing, the accepting end of its unix connect, the accepted end of its
 * TCP connect to a listener on this host); the kernel marks that object here,
 * at the act, for the receiver window userspace set (recv_state).  Until the
 * mark ends, a process outside every agent that forks or execs while holding
 * a marked channel in its file table (or while marked itself: the unix
 * listener's process by sk_peer_pid, a child of a holder) is marked in
 * recv_procs, its children inherit the mark at sched_process_fork, and each
 * exec of a marked process is reported as H7_EV_RECV_EXEC with the act and
 * the holder.  Why in the kernel, at the act: the runners of round 7 exec
 * 11-14 ms after the act, and sched_process_fork runs before the child is
 * first woken, so nothing the receiver starts can run before it is marked; a
 * userspace reader of the act's record would write its mark after the fact.
 * Cost: nothing for an unmonitored fork or exec unless a mark is live (one
 * array load), then one hash lookup and a walk of the parent's fd table.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, H7_RECV_STATE_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} recv_state SEC(".maps");

/* Marked channels: the kernel object's address (struct inode of a FIFO, struct sock) -> mark. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_RECV_MARK_ENTRIES);
	__type(key, __u64);
	__type(value, struct h7_recv_mark);
} recv_marks SEC(".maps");

/* Marked processes: tgid -> the mark of the channel it (or the ancestor that forked it) held. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_RECV_PROC_ENTRIES);
	__type(key, __u32);
	__type(value, struct h7_recv_mark);
} recv_procs SEC(".maps");

/* Long-running processes outside every agent that just opened an agent-written file for reading
 * (slot tgid % H7_COPIER_ENTRIES: the files' sizes and marks): copier_open, closer_mark.  An array,
 * not a hash: while a copier is live anywhere, every close of every process asks "am I one?", and
 * an inlined array load and a compare answer that with no helper call (bench hook_cost
 * `openarmed`: not measurable against `open`).  Two copiers whose tgids collide share a slot: the
 * later one evicts the earlier. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, H7_COPIER_ENTRIES);
	__type(key, __u32);
	__type(value, struct h7_copier);
} copiers SEC(".maps");

static __always_inline struct h7_copier *copier_slot(__u32 tgid)
{
	__u32 k = tgid % H7_COPIER_ENTRIES;

	return bpf_map_lookup_elem(&copiers, &k);
}

static __always_inline __u64 *state_slot(__u32 k)
{
	return bpf_map_lookup_elem(&recv_state, &k);
}

/* Is an end slot set (a mark of its kind may be live)?  An array load the JIT inlines. */
static __always_inline int slot_armed(__u32 k)
{
	__u64 *until = state_slot(k);

	return until && *until;
}

/* Is an end slot still ahead of now?  Disarms it once past. */
static __always_inline int slot_live(__u32 k, __u64 now)
{
	__u64 *until = state_slot(k);
	__u64 v;

	if (!until)
		return 0;
	v = *until;
	if (!v)
		return 0;
	if (now <= v)
		return 1;
	__sync_val_compare_and_swap(until, v, 0); /* past: disarmed, unless extended meanwhile */
	return 0;
}

/* May a `file` mark be live (a relay holder exist)?  The one check every close, exit, and pipe
 * read or write of a process outside the agents pays otherwise -- no agent-written file was read
 * by a young outsider within the receiver window, nearly always -- so it calls no helper: an
 * array load the JIT inlines (bench hook_cost `read`: reading the clock and the pid first cost
 * ~100 ns per read(2) of every process here).  relay_live disarms the slot once it is past. */
static __always_inline int relay_armed(void)
{
	return slot_armed(H7_RECV_RELAY_UNTIL);
}

static __always_inline int relay_live(__u64 now)
{
	return slot_live(H7_RECV_RELAY_UNTIL, now);
}

/* May a relay holder or a copier be live?  The gate of close, dup2/dup3 and filp_close. */
static __always_inline int closer_armed(void)
{
	return slot_armed(H7_RECV_RELAY_UNTIL) || slot_armed(H7_RECV_COPIER_UNTIL);
}

/* Raise a recv_state end slot (H7_RECV_UNTIL, H7_RECV_RELAY_UNTIL) to until_ns if it is earlier. */
static __always_inline void recv_state_raise(__u32 slot, __u64 until_ns)
{
	__u64 *until = bpf_map_lookup_elem(&recv_state, &slot);

	if (until && *until < until_ns)
		*until = until_ns;
}

/* Is any mark live?  The one check an unmonitored fork or exec pays otherwise. */
static __always_inline int recv_live(__u64 now)
{
	__u32 k = H7_RECV_UNTIL;
	__u64 *until = bpf_map_lookup_elem(&recv_state, &k);

	return until && *until && now <= *until;
}

/* Mark a channel (obj: its kernel address, 0: none) and/or a holder process (holder: tgid, 0: none);
 * `m` is zeroed working memory for the mark (the caller's stack, or recv_mark_peer's scratch). */
static __always_inline void recv_mark_in(struct h7_recv_mark *m, __u64 obj, __u64 ino, __u32 kind, __u32 agent,
					 __u32 agent_tgid, __u32 holder, const char *holder_comm)
{
	__u32 kw = H7_RECV_WINDOW;
	__u64 *window = bpf_map_lookup_elem(&recv_state, &kw);

	if (!window || !*window)
		return; /* receivers off */
	m->act_ns = bpf_ktime_get_ns();
	m->until_ns = m->act_ns + *window;
	m->obj = ino;
	m->agent = agent;
	m->agent_tgid = agent_tgid;
	m->kind = kind;
	if (obj)
		bpf_map_update_elem(&recv_marks, &obj, m, BPF_ANY);
	if (holder) {
		m->holder = holder;
		if (holder_comm)
			__builtin_memcpy(m->holder_comm, holder_comm, H7_COMM_LEN);
		bpf_map_update_elem(&recv_procs, &holder, m, BPF_ANY);
	}
	recv_state_raise(H7_RECV_UNTIL, m->until_ns);
}

static __always_inline void recv_mark(__u64 obj, __u64 ino, __u32 kind, __u32 agent, __u32 agent_tgid,
				      __u32 holder, const char *holder_comm)
{
	struct h7_recv_mark m = {};

	recv_mark_in(&m, obj, ino, kind, agent, agent_tgid, holder, holder_comm);
}

/* A walk of a file table's open descriptors, one bpf_loop step each (fd_walk_step). */
struct h7_fdwalk {
	struct file **fds;
	unsigned long *open_fds;
	__u32 max;   /* slots walked: min(max_fds, H7_RECV_FD_SCAN) */
	__u32 word;  /* the open_fds word in `bits` */
	__u64 bits;  /* its open descriptors not walked yet */
};

struct h7_fdscan {
	struct h7_fdwalk w;
	__u32 hit;
	__u64 now;
	struct h7_recv_mark m;
};

/* The index of the one bit set in b. */
static __always_inline __u32 bit_index(__u64 b)
{
	__u32 n = 0;

	if (b & 0xFFFFFFFF00000000ULL)
		n += 32;
	if (b & 0xFFFF0000FFFF0000ULL)
		n += 16;
	if (b & 0xFF00FF00FF00FF00ULL)
		n += 8;
	if (b & 0xF0F0F0F0F0F0F0F0ULL)
		n += 4;
	if (b & 0xCCCCCCCCCCCCCCCCULL)
		n += 2;
	if (b & 0xAAAAAAAAAAAAAAAAULL)
		n += 1;
	return n;
}

/* Start a walk of t's file table (its first H7_RECV_FD_SCAN slots); 0: no table to walk. */
static __always_inline int fd_walk_start(struct h7_fdwalk *w, struct task_struct *t)
{
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);

	if (!fdt)
		return 0;
	w->fds = BPF_CORE_READ(fdt, fd);
	w->open_fds = BPF_CORE_READ(fdt, open_fds);
	w->max = BPF_CORE_READ(fdt, max_fds);
	if (w->max > H7_RECV_FD_SCAN)
		w->max = H7_RECV_FD_SCAN;
	return w->fds && w->open_fds && !bpf_probe_read_kernel(&w->bits, sizeof(w->bits), w->open_fds);
}

/* Every descriptor below H7_RECV_FD_SCAN open, plus one step per bitmap word. */
#define H7_FD_WALK_STEPS (H7_RECV_FD_SCAN + H7_RECV_FD_SCAN / 64)

/*
 * One step of a walk: the next open descriptor's file, or NULL with *stop set to what the
 * bpf_loop callback returns (1: the table is done; 0: a bitmap word was loaded, or an empty
 * slot).  Only open descriptors cost a read each: a daemon's table is mostly empty slots (its
 * max_fds stays at the most it ever had open), which a slot-by-slot walk paid a probe read each
 * for (bench hook_cost `execmark`: 43 us per fork of a process whose table had grown to 1024).
 */
static __always_inline struct file *fd_walk_next(struct h7_fdwalk *w, long *stop)
{
	struct file *f = 0;
	__u64 low;
	__u32 i;

	*stop = 0;
	if (!w->bits) {
		w->word++;
		if (w->word * 64 >= w->max ||
		    bpf_probe_read_kernel(&w->bits, sizeof(w->bits), &w->open_fds[w->word & 0xffff]))
			*stop = 1;
		return 0;
	}
	low = w->bits & -w->bits;
	w->bits &= w->bits - 1;
	i = w->word * 64 + bit_index(low);
	if (i >= w->max) {
		*stop = 1;
		return 0;
	}
	if (bpf_probe_read_kernel(&f, sizeof(f), &w->fds[i]))
		return 0;
	return f;
}

/* One step of recv_find's walk: the next open descriptor's socket (its struct sock) or FIFO (its
 * inode), looked up in recv_marks. */
static long recv_fd_step(__u32 k, void *ctx)
{
	struct h7_fdscan *c = ctx;
	struct h7_recv_mark *m;
	struct file *f;
	struct inode *ino;
	struct socket *so;
	struct sock *sk = 0;
	__u64 key, ino_nr;
	__u32 mode;
	long stop;

	f = fd_walk_next(&c->w, &stop);
	if (!f)
		return stop;
	ino = BPF_CORE_READ(f, f_inode);
	if (!ino)
		return 0;
	mode = BPF_CORE_READ(ino, i_mode) & S_IFMT;
	if (mode == S_IFSOCK) {
		so = BPF_CORE_READ(f, private_data);
		sk = BPF_CORE_READ(so, sk);
		key = (__u64)sk;
	} else if (mode == S_IFIFO) {
		key = (__u64)ino;
	} else {
		return 0;
	}
	m = bpf_map_lookup_elem(&recv_marks, &key);
	if (!m || c->now > m->until_ns)
		return 0;
	/* The key is an address: an object freed since its mark and its memory reused (sockets are,
	 * at once) must not pass for it.  TCP marks are dropped at TCP_CLOSE; the others are checked
	 * against what the mark recorded: the inode number, or for a unix connection's accepting
	 * end (no inode yet when marked) its peer credentials, which name the agent's process. */
	ino_nr = BPF_CORE_READ(ino, i_ino);
	if (m->obj) {
		if (ino_nr != m->obj)
			return 0;
	} else if (m->kind == H7_RECV_UNIX) {
		struct pid *pp = BPF_CORE_READ(sk, sk_peer_pid);

		if (!pp || BPF_CORE_READ(pp, numbers[0].nr) != m->agent_tgid)
			return 0;
	}
	__builtin_memcpy(&c->m, m, sizeof(c->m));
	c->m.obj = ino_nr;
	c->hit = 1;
	return 1;
}

/*
 * The mark `t` (the current task: the forking parent, or the exec'ing
 * process) carries: its own in recv_procs, else the first marked channel in
 * its file table (its first H7_RECV_FD_SCAN descriptors), which makes it the
 * holder (remembered in recv_procs).
 */
static __always_inline int recv_find(struct task_struct *t, __u64 now, struct h7_recv_mark *out)
{
	__u32 tgid = BPF_CORE_READ(t, tgid);
	struct h7_recv_mark *m = bpf_map_lookup_elem(&recv_procs, &tgid);
	struct h7_fdscan c = {};

	if (m && now <= m->until_ns) {
		__builtin_memcpy(out, m, sizeof(*out));
		return 1;
	}
	c.now = now;
	if (!fd_walk_start(&c.w, t))
		return 0;
	bpf_loop(H7_FD_WALK_STEPS, recv_fd_step, &c, 0);
	if (!c.hit)
		return 0;
	c.m.holder = tgid;
	c.m.hops = 0;
	c.m.found = H7_HOLDER_HELD;
	bpf_get_current_comm(c.m.holder_comm, sizeof(c.m.holder_comm));
	bpf_map_update_elem(&recv_procs, &tgid, &c.m, BPF_ANY);
	__builtin_memcpy(out, &c.m, sizeof(*out));
	return 1;
}

/*
 * A young process outside every agent reads (open, not for writing) or execs a
 * file an agent wrote: a polling runner's shell reading the job the agent
 * dropped (red-team round 7's g5r7_job_dropdir_runner: no channel names the
 * runner, it globs a directory).  The process itself becomes the holder of a
 * H7_RECV_FILE mark from now; the act is the agent's close of the file.
 */
static __always_inline int recv_written(struct file *f, __u64 now, __u32 tgid, struct h7_recv_mark *m)
{
	__u32 kw = H7_RECV_WINDOW;
	__u64 *window = bpf_map_lookup_elem(&recv_state, &kw);
	struct h7_file_key k = {};
	struct h7_written *w;

	if (!window || !*window || !f)
		return 0;
	file_key(f, &k);
	w = bpf_map_lookup_elem(&written_files, &k);
	if (!w)
		return 0;
	m->until_ns = now + *window;
	m->act_ns = w->ts_ns;
	m->obj = k.ino;
	m->agent = w->agent;
	m->agent_tgid = 0;
	m->kind = H7_RECV_FILE;
	m->holder = tgid;
	m->hops = 0;
	bpf_get_current_comm(m->holder_comm, sizeof(m->holder_comm));
	bpf_map_update_elem(&recv_procs, &tgid, m, BPF_ANY);
	recv_state_raise(H7_RECV_UNTIL, m->until_ns);
	recv_state_raise(H7_RECV_RELAY_UNTIL, m->until_ns);
	return 1;
}

/* open exit of a regular file by a process outside every agent, forked < H7_RECV_YOUNG_NS ago (the
 * process: its group leader's start, so a new thread of an old server is not young; the caller,
 * open_exit_other, tested all that): opened for reading, it may be a job an agent dropped */
static __always_inline void recv_file_open(struct file *f, __u64 now)
{
	struct h7_recv_mark m = {};

	if (BPF_CORE_READ(f, f_mode) & FMODE_WRITE)
		return;
	recv_written(f, now, bpf_get_current_pid_tgid() >> 32, &m);
}

/* Mark f, written outside every agent, with an agent's write (relay_mark, copier_mark): a mark of
 * the same agent already there is kept (the agent's own close says more than a relay). */
static __always_inline void mark_outside(struct file *f, __u64 act_ns, __u32 agent, __u32 flags)
{
	struct h7_file_key k = {};
	struct h7_written w = {}, *old;

	file_key(f, &k);
	old = bpf_map_lookup_elem(&written_files, &k);
	if (old && old->agent == agent)
		return;
	w.ts_ns = act_ns;
	w.agent = agent;
	w.flags = flags;
	written_put(f, &k, &w);
}

/*
 * A relayed write (issue 13 gap 4, copies through userspace): a process outside every agent that
 * holds a live H7_RECV_FILE mark -- it read (or ran) a file an agent wrote while young, within the
 * receiver window, or it was forked by such a process -- writes a regular file: the file gets the
 * agent's mark, with the time of the agent's own write and H7_WRITTEN_RELAY.  `cat drop > bin/x`,
 * `dd`, a Python read/write loop: the bytes pass through the copier's memory, where no in-kernel
 * copy call (copy_mark) names both files.  The content is not compared: a holder that writes some
 * other file in its window marks that one too (docs/detection.md).  A mark of the same agent
 * already there is kept (the agent's own close says more than a relay).
 */
static __always_inline void relay_mark(struct h7_recv_mark *m, struct file *f)
{
	if (markable(f))
		mark_outside(f, m->act_ns, m->agent, H7_WRITTEN_RELAY);
}

/* The process tgid's live H7_RECV_FILE mark, or NULL.  Callers test relay_armed() first, before
 * reading the clock or the pid. */
static __always_inline struct h7_recv_mark *relay_holder(__u32 tgid, __u64 now)
{
	struct h7_recv_mark *m;

	if (!relay_live(now))
		return 0;
	m = bpf_map_lookup_elem(&recv_procs, &tgid);
	if (!m || m->kind != H7_RECV_FILE || now > m->until_ns)
		return 0;
	return m;
}

/*
 * A long-running copier (issue 13 gap 4: a copy made through userspace by a process that is no
 * young reader -- a sync daemon, a file service's worker, a copy loop started before the agent
 * wrote).  Such a process reads agent-written files all day for reasons that are not copies (an
 * editor, an indexer, a language server), so it holds no relay mark: it is recorded here as a
 * copier of the agent-written files it opens for reading (their size and mark, the last
 * H7_COPIER_SIZES of them) for the receiver window, and a regular file it then closes after
 * writing gets the source's mark with H7_WRITTEN_COPIER only if its size is one of theirs: an
 * exact copy has its source's size, the editor's own files almost never do.  Only the bloom bit
 * (bloom_maybe) is paid by a long-running outsider's open of a file no agent wrote.
 */
_Static_assert((H7_COPIER_SIZES & (H7_COPIER_SIZES - 1)) == 0, "copier_open's ring index is a mask");

static __noinline void copier_open(struct file *f, __u64 now)
{
	__u32 kw = H7_RECV_WINDOW, tgid, i;
	__u64 *window = bpf_map_lookup_elem(&recv_state, &kw);
	struct h7_copier *c;
	struct h7_file_key k = {};
	struct h7_written *w;
	struct inode *ino;
	__u64 size;

	if (!window || !*window || !f || (BPF_CORE_READ(f, f_mode) & FMODE_WRITE))
		return;
	ino = BPF_CORE_READ(f, f_inode);
	if (!ino || (BPF_CORE_READ(ino, i_mode) & S_IFMT) != S_IFREG)
		return;
	size = BPF_CORE_READ(ino, i_size);
	if (!size)
		return; /* an empty file: nothing to run, and every empty file would match */
	file_key(f, &k);
	w = bpf_map_lookup_elem(&written_files, &k);
	if (!w)
		return; /* the bit another inode set (or an entry the LRU dropped) */
	tgid = bpf_get_current_pid_tgid() >> 32;
	c = copier_slot(tgid);
	if (!c)
		return;
	if (c->tgid != tgid || now > c->until_ns) { /* a new copier here: the slot starts empty */
		__builtin_memset(c->src, 0, sizeof(c->src));
		c->next = 0;
		c->total = 0;
		c->base = 0;
		c->opens = 0;
		c->tgid = tgid;
	}
	c->total += size;
	c->opens++;
	i = c->next & (H7_COPIER_SIZES - 1);
#pragma unroll
	for (int j = 0; j < H7_COPIER_SIZES; j++) /* the same size again: refresh its slot */
		if (c->src[j].size == size && c->src[j].agent == w->agent) {
			i = j + H7_COPIER_SIZES; /* found: the ring does not advance */
			break;
		}
	if (i < H7_COPIER_SIZES)
		c->next = i + 1;
	i &= H7_COPIER_SIZES - 1;
	c->src[i].size = size;
	c->src[i].act_ns = w->ts_ns;
	c->src[i].agent = w->agent;
	c->until_ns = now + *window;
	recv_state_raise(H7_RECV_COPIER_UNTIL, c->until_ns);
}

/* A live copier opens a file for writing: what it reads from now on may be assembled into it. */
static __noinline void copier_base(__u64 now)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct h7_copier *c = copier_slot(tgid);

	if (c && c->tgid == tgid && now <= c->until_ns)
		c->base = c->total;
}

/* A copier closes f: marked H7_WRITTEN_COPIER when written and the size of a file it opened, or
 * the size of all it opened since its slot started (two or more) or since it last opened a file
 * for writing (chunks assembled into it, a manifest read before: `total - base`); then with the
 * latest agent write among the ring's. */
static __always_inline void copier_mark(struct h7_copier *c, struct file *f)
{
	__u64 size;
	int hit = -1, last = 0;

	if (!markable(f))
		return;
	size = BPF_CORE_READ(f, f_inode, i_size);
	if (!size)
		return;
#pragma unroll
	for (int j = 0; j < H7_COPIER_SIZES; j++) {
		if (hit < 0 && c->src[j].size == size)
			hit = j;
		if (c->src[j].act_ns > c->src[last].act_ns)
			last = j;
	}
	if (hit < 0 && ((c->opens >= 2 && c->total == size) || (c->total > c->base && c->total - c->base == size)))
		hit = last;
	if (hit < 0 || hit >= H7_COPIER_SIZES)
		return;
	mark_outside(f, c->src[hit].act_ns, c->src[hit].agent, H7_WRITTEN_COPIER);
}

/* A process outside every agent closes f (fd: f unread yet, NULL): a relay holder's or a copier's
 * write is marked.  The caller tested closer_armed().  A process that is neither pays, with a
 * copier live somewhere, the pid and one array load: the clock only for a relay holder or a
 * copier (the copier slot is disarmed at exits, copier_disarm). */
static __always_inline void closer_mark(__u32 tgid, struct file *f, int fd)
{
	struct h7_recv_mark *m;
	struct h7_copier *c;
	__u64 now;

	if (relay_armed()) {
		m = relay_holder(tgid, bpf_ktime_get_ns());
		if (m) {
			relay_mark(m, f ? f : task_fd_file(fd));
			return;
		}
	}
	c = copier_slot(tgid);
	if (!c || c->tgid != tgid || !slot_armed(H7_RECV_COPIER_UNTIL))
		return;
	now = bpf_ktime_get_ns();
	if (now <= c->until_ns)
		copier_mark(c, f ? f : task_fd_file(fd));
}

/* The copier slot's end is past: disarmed (closes stop asking).  Run at process exits, which every
 * host has often enough and which read the clock anyway when it is armed. */
static __always_inline void copier_disarm(void)
{
	if (slot_armed(H7_RECV_COPIER_UNTIL))
		slot_live(H7_RECV_COPIER_UNTIL, bpf_ktime_get_ns());
}

/*
 * A relay through a pipe (`tar c drop | tar x`, `cat drop | dd of=x`): a relay holder's write
 * into a pipe or FIFO marks it (recv_marks, key: its inode, as an agent's FIFO is keyed), and a
 * process outside the agents that reads a pipe so marked becomes a relay holder itself (one hop
 * more): what it writes is marked in turn.  Both ends run only while a `file` mark is live
 * (relay_live); the mark keeps the first holder's end.
 */
static __noinline void relay_pipe(int fd, bool write)
{
	__u64 now = bpf_ktime_get_ns(), key;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct h7_recv_mark *m = 0, c;
	struct inode *ino;
	struct file *f;

	/* a writer must be a holder (relay_holder tests that a mark is live); a reader needs one live */
	if (write ? !(m = relay_holder(tgid, now)) : !relay_live(now))
		return;
	f = task_fd_file(fd);
	ino = f ? BPF_CORE_READ(f, f_inode) : 0;
	if (!ino || (BPF_CORE_READ(ino, i_mode) & S_IFMT) != S_IFIFO)
		return;
	key = (__u64)ino;
	if (m) {
		c = *m;
		c.obj = BPF_CORE_READ(ino, i_ino);
		bpf_map_update_elem(&recv_marks, &key, &c, BPF_ANY);
		return;
	}
	m = bpf_map_lookup_elem(&recv_marks, &key);
	if (!m || m->kind != H7_RECV_FILE || now > m->until_ns || scope_current())
		return;
	if (m->obj != BPF_CORE_READ(ino, i_ino) || m->holder == tgid)
		return; /* a freed pipe's inode reused, or the writer reading its own pipe */
	c = *m;
	c.holder = tgid;
	c.hops++;
	c.found = H7_HOLDER_READ;
	bpf_get_current_comm(c.holder_comm, sizeof(c.holder_comm));
	bpf_map_update_elem(&recv_procs, &tgid, &c, BPF_ANY);
}

/* close(2), or dup2/dup3 onto fd, by a process outside every agent; the caller tested
 * closer_armed().  Not inlined, as relay_pipe and exit_mark: inlined into sys_enter, these bodies
 * cost every read(2) or close(2) ~35 ns more with no relay live (bench hook_cost, session 29). */
static __noinline void relay_close(int fd)
{
	closer_mark(bpf_get_current_pid_tgid() >> 32, 0, fd);
}

/* The walk of an exiting process's file table (exit_fd_step): what each writable regular file
 * still open gets. */
struct h7_exitscan {
	struct h7_fdwalk w;
	__u32 agent;        /* the exiting process's own agent: file_written */
	__u32 copier;       /* 1: a live copier, `cp` its sources (copier_mark) */
	struct h7_recv_mark m; /* else a holder's mark: relay_mark */
	struct h7_copier cp;
};

static long exit_fd_step(__u32 k, void *ctx)
{
	struct h7_exitscan *c = ctx;
	struct file *f;
	long stop;

	f = fd_walk_next(&c->w, &stop);
	if (!markable(f))
		return stop;
	if (c->agent)
		file_written(c->agent, f);
	else if (c->copier)
		copier_mark(&c->cp, f);
	else
		relay_mark(&c->m, f);
	return 0;
}

/*
 * The last thread of a process exits: the files it still holds open for writing are closed by
 * exit_files() after sched_process_exit, where no hook of H7's sees a close (fentry mode's
 * filp_close runs after the exit dropped the task's scope).  So they are marked here, before:
 * with the process's own agent (a tool that writes a program and exits without close(2): a C
 * program, `os._exit`), with a relay holder's mark (an outside `dd if=drop > x`: x is dd's
 * stdout, closed only by its exit), or as a live copier's (a copy of its source's size, left open
 * at exit).  Only the open descriptors below H7_RECV_FD_SCAN cost a read.
 */
static __noinline void exit_mark(struct task_struct *p, __u32 agent)
{
	struct h7_exitscan c = {};
	struct h7_recv_mark *m = 0;
	struct h7_copier *cp;
	__u64 now;

	if (BPF_CORE_READ(p, signal, live.counter) > 0)
		return; /* not the last thread: the table stays with the others */
	if (!agent) {
		now = bpf_ktime_get_ns();
		if (relay_armed())
			m = relay_holder(p->tgid, now);
		if (m) {
			__builtin_memcpy(&c.m, m, sizeof(c.m));
		} else {
			cp = copier_slot(p->tgid);
			if (!cp || cp->tgid != p->tgid || !slot_armed(H7_RECV_COPIER_UNTIL) || now > cp->until_ns)
				return;
			__builtin_memcpy(&c.cp, cp, sizeof(c.cp));
			c.copier = 1;
		}
	}
	c.agent = agent;
	if (fd_walk_start(&c.w, p))
		bpf_loop(H7_FD_WALK_STEPS, exit_fd_step, &c, 0);
}

/*
 * fentry mode (gap "written_files"): filp_close is where a file leaves a
 * file table on every path but close(2) on 6.8+ kernels (which sys_enter
 * sees): io_uring's IORING_OP_CLOSE, close_range(2), dup2/dup3 onto it,
 * O_CLOEXEC at exec (red-team round 4's g4r4_uring_written_exec).  Files
 * still open when a process exits are marked at its exit (exit_mark); a
 * relay holder's and a copier's closes are marked here too (closer_mark).
 */
SEC("fentry/filp_close")
int BPF_PROG(h7_fe_filp_close, struct file *filp)
{
	struct h7_scope *s = scope_current();

	if (s) {
		file_written(s->agent, filp);
		return 0;
	}
	if (filp && closer_armed())
		closer_mark(bpf_get_current_pid_tgid() >> 32, filp, -1);
	return 0;
}

/* sched_process_fork of a parent outside every agent: a marked parent's new process inherits the mark. */
static __always_inline void recv_fork(struct task_struct *parent, struct task_struct *child)
{
	__u64 now = bpf_ktime_get_ns();
	struct h7_recv_mark m = {};
	__u32 ctgid;

	if (!recv_live(now) || child->pid != child->tgid)
		return; /* nothing marked, or a new thread (marks are per process) */
	if (!recv_find(parent, now, &m))
		return;
	m.hops++;
	ctgid = child->tgid;
	bpf_map_update_elem(&recv_procs, &ctgid, &m, BPF_ANY);
}

static __always_inline void dgram_emit(__u32 agent, int fd, struct sock *receiver, const void *uaddr, __u32 alen,
				       __u32 hook)
{
	struct h7_event *ev;
	__u32 len;

	/* before the reservation: 6.1's verifier loses a reservation NULL-checked after another call */
	if (receiver) /* whoever reads that socket is the receiver, daemon or not */
		recv_mark((__u64)receiver, sock_ino(receiver), H7_RECV_UNIX, agent, bpf_get_current_pid_tgid() >> 32, 0,
			  0);
	ev = event_start_sz(H7_EV_HANDOFF, agent, H7_EV_SIZE(handoff));
	if (!ev)
		return;
	__builtin_memset(&ev->handoff, 0, sizeof(ev->handoff));
	ev->handoff.fd = fd;
	ev->handoff.hook = hook;
	ev->handoff.sock_type = SOCK_DGRAM;
	if (receiver) {
		unix_addr_copy(receiver, &ev->handoff);
		ev->handoff.peer_ino = sock_ino(receiver);
	} else {
		len = alen - 2;
		if (len > H7_SUN_LEN)
			len = H7_SUN_LEN;
		if (len > 0 && !bpf_probe_read_user(ev->handoff.path, len & 127, (const char *)uaddr + 2))
			ev->handoff.path_len = len;
	}
	if (!ev->handoff.path_len) {
		bpf_ringbuf_discard(ev, 0);
		return;
	}
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

static __always_inline void on_unix_connected(__u32 agent, int fd, __u32 hook)
{
	struct file *f = fd_file(fd);
	struct socket *sock;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return;
	sock = BPF_CORE_READ(f, private_data);
	report_unix_peer(agent, fd, BPF_CORE_READ(sock, sk), hook);
}

static __always_inline void report_unix_peer(__u32 agent, int fd, struct sock *sk, __u32 hook)
{
	struct sock *peer;
	struct pid *pp;
	struct hlist_node *first;
	struct task_struct *pt;
	struct h7_event *ev;
	char comm[H7_COMM_LEN] = {};
	__u64 *window;
	__u16 stype;

	if (!sk || BPF_CORE_READ(sk, __sk_common.skc_family) != AF_UNIX)
		return;
	stype = BPF_CORE_READ(sk, sk_type);
	pp = BPF_CORE_READ(sk, sk_peer_pid);
	peer = BPF_CORE_READ((struct unix_sock *)sk, peer);
	if (stype == SOCK_DGRAM && !pp) { /* a connected datagram socket: its receiver has no credentials */
		if (peer)
			dgram_emit(agent, fd, peer, 0, 0, hook);
		return;
	}
	if (!pp)
		return; /* refused, or nobody listening */
	ev = event_start_sz(H7_EV_HANDOFF, agent, H7_EV_SIZE(handoff));
	if (!ev)
		return;
	__builtin_memset(&ev->handoff, 0, sizeof(ev->handoff));
	ev->handoff.fd = fd;
	ev->handoff.hook = hook;
	ev->handoff.sock_type = stype;
	ev->handoff.peer_tgid = BPF_CORE_READ(pp, numbers[0].nr);
	{
		struct h7_scope *ps = scope_of(ev->handoff.peer_tgid);

		ev->handoff.peer_agent = ps ? ps->agent : 0;
	}
	first = BPF_CORE_READ(pp, tasks[PIDTYPE_TGID].first);
	if (first) {
		pt = (void *)first - bpf_core_field_offset(struct task_struct, pid_links) -
		     PIDTYPE_TGID * sizeof(struct hlist_node);
		bpf_probe_read_kernel_str(comm, sizeof(comm), &pt->comm);
	}
	__builtin_memcpy(ev->handoff.peer_comm, comm, sizeof(comm));
	unix_addr_copy(peer, &ev->handoff);
	if (!ev->handoff.peer_agent) { /* outside every agent: its next execs are reported (receivers) */
		__u32 ptgid = ev->handoff.peer_tgid;

		recv_mark((__u64)peer, 0, H7_RECV_UNIX, agent, bpf_get_current_pid_tgid() >> 32, ptgid, comm);
	}
	/* the key from the stack: 6.1's verifier refuses ring-buffer memory as a key */
	window = bpf_map_lookup_elem(&follow_comms, comm);
	if (window && *window && ev->handoff.peer_agent != agent) {
		struct h7_follow fw = {};
		__u32 zero = 0, ptgid = ev->handoff.peer_tgid;
		__u64 *until = bpf_map_lookup_elem(&follow_until, &zero);

		fw.until_ns = bpf_ktime_get_ns() + *window;
		fw.agent = agent;
		bpf_map_update_elem(&follow, &ptgid, &fw, BPF_ANY);
		if (until && *until < fw.until_ns)
			*until = fw.until_ns;
		ev->handoff.followed = 1;
	}
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

/* ------------------------------------------------ executable mappings (gap "exec_mappings") */

#define H7_PROT_EXEC 0x4
#define H7_MAP_ANONYMOUS 0x20

static __always_inline int exec_map_fentry_live(void)
{
	struct h7_hook_cfg *cfg = hook_config();

	return cfg && cfg->mapexec == H7_XMAP_FENTRY;
}

/*
 * A file the same agent wrote (written_files), mapped executable by one of its processes:
 * dlopen, LD_PRELOAD and iconv's gconv modules run the agent's code inside a program whose
 * exec was of a trusted file (red-team round 9's g4r9_gconv_module_in_iconv: iconv mapped an
 * agent-written module and exited in milliseconds, before L2 could read its maps).  Reported
 * where the mapping is made.  Costs one hash lookup per PROT_EXEC mapping of a regular file
 * by a watched process; nothing for any other mmap or process.  The process's own program is
 * skipped (fentry mode sees the kernel map it at exec; its exec record carries the mark).
 */
/* 6.8+: a stacking filesystem's file on the layer below, with the path its user opened. */
struct backing_file___h7 {
	struct file file;
	struct path user_path;
} __attribute__((preserve_access_index));

/*
 * written_files' entry for a mapping's file.  A mapping's vm_file (mprotect's case) is, on
 * overlayfs (containers), the REAL file of the layer below, whose inode the agent never closed:
 * it wrote and closed the overlay's.  So when the file's own inode is not in the map, try the
 * inode its user saw: 6.1-6.7 open the real file with the overlay's path (f_path), 6.8+ embed it
 * in a backing_file that keeps the user's path.  Taken only if that inode is an overlayfs one
 * (on a plain file the backing_file read runs past struct file: its magic will not match).
 */
static __always_inline struct h7_written *mapped_written(struct file *f, struct inode *ino, struct h7_file_key *k)
{
	struct h7_written *w;
	struct inode *ui;

	file_key(f, k);
	w = bpf_map_lookup_elem(&written_files, k);
	if (w)
		return w;
	ui = BPF_CORE_READ(f, f_path.dentry, d_inode);
	if (ui == ino && bpf_core_type_exists(struct backing_file___h7))
		ui = BPF_CORE_READ((struct backing_file___h7 *)f, user_path.dentry, d_inode);
	if (!ui || ui == ino || BPF_CORE_READ(ui, i_sb, s_magic) != H7_OVERLAYFS_MAGIC)
		return 0;
	k->ino = BPF_CORE_READ(ui, i_ino);
	k->dev = BPF_CORE_READ(ui, i_sb, s_dev);
	k->gen = BPF_CORE_READ(ui, i_generation);
	return bpf_map_lookup_elem(&written_files, k);
}

static __always_inline void exec_map_emit(__u32 agent, struct file *f, __u32 op, __u64 addr, __u64 len,
					  __u32 prot, __u32 flags, int fd, __u32 hook)
{
	struct task_struct *t;
	struct h7_file_key k = {};
	struct h7_written *w;
	struct h7_event *ev;
	struct inode *ino, *exe;

	if (!f)
		return;
	ino = BPF_CORE_READ(f, f_inode);
	if ((BPF_CORE_READ(ino, i_mode) & S_IFMT) != S_IFREG)
		return;
	w = mapped_written(f, ino, &k);
	if (!w || w->agent != agent)
		return;
	t = (struct task_struct *)bpf_get_current_task();
	exe = BPF_CORE_READ(t, mm, exe_file, f_inode);
	if (exe == ino || (exe && BPF_CORE_READ(exe, i_ino) == k.ino && BPF_CORE_READ(exe, i_sb, s_dev) == k.dev))
		return;
	ev = event_start_sz(H7_EV_EXEC_MAP, agent, H7_EV_SIZE(exec_map));
	if (!ev)
		return;
	ev->exec_map.ino = k.ino;
	ev->exec_map.dev = k.dev;
	ev->exec_map.gen = k.gen;
	ev->exec_map.written_ns = w->ts_ns;
	ev->exec_map.addr = addr;
	ev->exec_map.len = len;
	ev->exec_map.prot = prot;
	ev->exec_map.flags = flags;
	ev->exec_map.fd = fd;
	ev->exec_map.op = op;
	ev->exec_map.hook = hook;
	ev->exec_map._pad = 0;
	bpf_probe_read_kernel_str(ev->exec_map.name, sizeof(ev->exec_map.name),
				  BPF_CORE_READ(f, f_path.dentry, d_name.name));
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

struct vma_file_ctx {
	struct file *file;
};

static long vma_file_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_file_ctx *c = data;

	c->file = BPF_CORE_READ(vma, vm_file);
	return 0;
}

/* fentry mode: every mapping of a file, from mmap(2), the kernel's own (exec, ld.so) or others. */
SEC("fentry/security_mmap_file")
int BPF_PROG(h7_fe_mmap_file, struct file *file, unsigned long prot, unsigned long flags)
{
	struct h7_scope *s;

	if (!file || !(prot & H7_PROT_EXEC))
		return 0;
	s = scope_current();
	if (s)
		exec_map_emit(s->agent, file, H7_MAP_MMAP, 0, 0, (__u32)prot, (__u32)flags, -1,
			      H7_HOOK_FENTRY_MMAP_FILE);
	return 0;
}

/* fentry mode: a protection change (mprotect, pkey_mprotect) adding PROT_EXEC to a file mapping. */
SEC("fentry/security_file_mprotect")
int BPF_PROG(h7_fe_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot, unsigned long prot)
{
	struct h7_scope *s;
	struct file *f;

	if (!(reqprot & H7_PROT_EXEC))
		return 0;
	f = BPF_CORE_READ(vma, vm_file);
	if (!f)
		return 0;
	s = scope_current();
	if (s)
		exec_map_emit(s->agent, f, H7_MAP_MPROTECT, BPF_CORE_READ(vma, vm_start),
			      BPF_CORE_READ(vma, vm_end) - BPF_CORE_READ(vma, vm_start), (__u32)reqprot, 0, -1,
			      H7_HOOK_FENTRY_FILE_MPROTECT);
	return 0;
}

/*
 * fentry mode (gap "exec_identity"): security_bprm_check runs once per
 * binfmt stage, so a #! script's own file is seen before the kernel swaps
 * in its interpreter, whatever path or fd named it (tracepoint mode only
 * sees scripts run through an fd).  Same filter as exec_fd from sys_enter.
 */
SEC("fentry/security_bprm_check")
int BPF_PROG(h7_fe_bprm_check, struct linux_binprm *bprm)
{
	struct h7_scope *s = scope_current();

	if (!s)
		return 0;
	exec_file_emit(s->agent, BPF_CORE_READ(bprm, file), 0, BPF_CORE_READ(bprm, filename), &bprm->buf,
		       H7_HOOK_FENTRY_BPRM_CHECK);
	return 0;
}

/*
 * fentry mode (gap "handoffs"): the unix connect has just completed, for
 * the connect syscall and for io_uring alike; the peer is read at once.
 */
SEC("fexit/unix_stream_connect")
int BPF_PROG(h7_fx_unix_connect, struct socket *sock)
{
	struct h7_scope *s = scope_current();

	if (!s)
		return 0;
	report_unix_peer(s->agent, -1, BPF_CORE_READ(sock, sk), H7_HOOK_FEXIT_UNIX_CONNECT);
	return 0;
}

/*
 * fentry mode (gap "handoffs"): the LSM hook every unix datagram passes,
 * connected or addressed, from a syscall or io_uring, once its receiver is
 * found (unix_dgram_sendmsg; unix_dgram_connect too), with both sockets.
 */
SEC("fentry/security_unix_may_send")
int BPF_PROG(h7_fe_unix_may_send, struct socket *sock, struct socket *other)
{
	struct h7_scope *s = scope_current();
	struct h7_dgram_key k = {};
	struct sock *osk;

	if (!s)
		return 0;
	osk = BPF_CORE_READ(other, sk);
	if (!osk || !BPF_CORE_READ((struct unix_sock *)osk, addr))
		return 0; /* unnamed (socketpair): nothing to name */
	k.peer = (__u64)osk;
	k.tgid = s->tgid;
	k.fd = -1;
	if (dgram_fresh(&k))
		dgram_emit(s->agent, -1, osk, 0, 0, H7_HOOK_FENTRY_UNIX_MAY_SEND);
	return 0;
}

/* --------------------------------------------------------- PID namespaces */

#define H7_NS_LEVELS 4
#define PTRACE_MODE_ATTACH 0x02
#define PROC_SUPER_MAGIC 0x9fa0
#define AT_FDCWD -100
#define PF_IO_WORKER 0x00000010
#define PF_KTHREAD 0x00200000

static __always_inline struct upid *upid_at(struct pid *pid, __u32 level)
{
	return (struct upid *)((char *)pid + bpf_core_field_offset(struct pid, numbers) +
			       level * bpf_core_type_size(struct upid));
}

/* Register (or forget) a monitored task under its pid in every non-initial
 * PID namespace it is visible in (up to H7_NS_LEVELS deep). */
static __always_inline void nspid_track(struct task_struct *t, __u32 tid, int add)
{
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	__u32 level = BPF_CORE_READ(pid, level);

	for (__u32 i = 1; i <= H7_NS_LEVELS; i++) {
		struct h7_nspid_key k = {};
		struct upid *u;

		if (i > level)
			break;
		u = upid_at(pid, i);
		k.pid = BPF_CORE_READ(u, nr);
		k.ns = BPF_CORE_READ(u, ns, ns.inum);
		if (add)
			bpf_map_update_elem(&nspid, &k, &tid, BPF_ANY);
		else
			bpf_map_delete_elem(&nspid, &k);
	}
	if (!level)
		return;
	if (add) {
		__u32 inum = level > 31 ? 0 : BPF_CORE_READ(upid_at(pid, level), ns, ns.inum);

		bpf_map_update_elem(&task_pidns, &tid, &inum, BPF_ANY);
	} else {
		bpf_map_delete_elem(&task_pidns, &tid);
	}
}

/* ---------------------------------------------------------------- lifecycle */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(h7_fork, struct task_struct *parent, struct task_struct *child)
{
	struct h7_scope *ps = scope_of(parent->pid);
	struct h7_scope cs = {};
	struct h7_event *ev;
	struct h7_stats *st;
	__u32 ctid = child->pid;

	held_fork(parent, child);
	if (ps) {
		cs.agent = ps->agent;
	} else if (!(cs.agent = follow_agent(parent, child))) {
		recv_fork(parent, child);
		return 0;
	}
	cs.tgid = child->tgid;
	/* its CPU time counts from birth (the child has not run yet) */
	cs.rt_ns = child->se.sum_exec_runtime;
	/* a tool run's children and threads are the tool run's */
	cs.flags = H7_SCOPE_RT | (ps ? ps->flags & H7_SCOPE_TOOL : 0);
	if (bpf_map_update_elem(&scope, &ctid, &cs, BPF_ANY)) {
		/* the scope map is full (H7_SCOPE_ENTRIES threads watched): this task and
		 * all it does go unseen; counted against the agent (L3's EVENTS_LOST) */
		st = stats_of(cs.agent);
		if (st)
			st->tasks_unwatched++;
		return 0;
	}
	fork_bit(ctid, 1);
	nspid_track(child, ctid, 1);
	if (child->pid != child->tgid)
		return 0; /* a new thread: followed, not reported */
	st = stats_of(cs.agent);
	if (st)
		st->forks++;
	ev = event_start_sz(H7_EV_FORK, cs.agent, H7_EV_SIZE(fork));
	if (!ev)
		return 0;
	ev->fork.child_tgid = child->tgid;
	ev->fork.child_tid = child->pid;
	bpf_ringbuf_submit(ev, fill_wakeup(&event_ring));
	return 0;
}

/* The exec record's body: the image's identity (decided now: the file and the process may be gone
 * before userspace looks), the path asked for, the #! interpreter, argv. */
static __always_inline void exec_fill(struct h7_event *ev, struct task_struct *p, pid_t old_pid,
				      struct linux_binprm *bprm, __u32 agent)
{
	struct file *f = BPF_CORE_READ(bprm, file);
	struct mm_struct *mm;
	unsigned long as, ae, len;

	recv_clear(&ev->exec);
	ev->exec.old_tid = old_pid;
	ev->exec.written_ns = 0;
	ev->exec.hook = H7_HOOK_TP_EXEC;
	file_identity(f, agent, &ev->exec, 1);
	bpf_probe_read_kernel(ev->exec.head, sizeof(ev->exec.head), &bprm->buf);
	bpf_probe_read_kernel_str(ev->exec.filename, sizeof(ev->exec.filename),
				  BPF_CORE_READ(bprm, filename));
	bpf_probe_read_kernel_str(ev->exec.interp, sizeof(ev->exec.interp),
				  BPF_CORE_READ(bprm, interp));
	mm = BPF_CORE_READ(p, mm);
	as = BPF_CORE_READ(mm, arg_start);
	ae = BPF_CORE_READ(mm, arg_end);
	len = ae > as ? ae - as : 0;
	ev->exec.args_truncated = 0;
	if (len > H7_ARGS_LEN) {
		len = H7_ARGS_LEN;
		ev->exec.args_truncated = 1;
	}
	ev->exec.args_len = 0;
	if (len > 0 && bpf_probe_read_user(ev->exec.args, len, (void *)as) == 0)
		ev->exec.args_len = len;
}

/* An exec outside every agent: reported (H7_EV_RECV_EXEC) only if the process is a marked receiver. */
static __always_inline void recv_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 now = bpf_ktime_get_ns();
	struct h7_recv_mark m = {};
	struct h7_event *ev;

	if (!(recv_live(now) && recv_find(p, now, &m)) &&
	    !recv_written(BPF_CORE_READ(bprm, file), now, BPF_CORE_READ(p, tgid), &m))
		return; /* neither marked nor running a file an agent wrote */
	ev = event_start(H7_EV_RECV_EXEC, m.agent);
	if (!ev)
		return;
	exec_fill(ev, p, old_pid, bprm, m.agent);
	ev->exec.recv_act_ns = m.act_ns;
	ev->exec.recv_obj = m.obj;
	ev->exec.recv_kind = m.kind;
	ev->exec.recv_agent_tgid = m.agent_tgid;
	ev->exec.recv_holder = m.holder;
	ev->exec.recv_hops = m.hops;
	ev->exec.recv_found = m.found;
	__builtin_memcpy(ev->exec.recv_holder_comm, m.holder_comm, sizeof(m.holder_comm));
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

/*
 * A non-leader thread (tid `old`) called execve: de_thread() killed the leader
 * (whose exit hook dropped the leader's scope and sent no exit record: process_gone) and gave
 * this thread the leader's pid.  The scope entry moves with the task to its new
 * tid: left under the old tid, the process would run on out of scope after its
 * exec (one `threading.Thread(target=os.execv)` and nothing it did was seen) and
 * a stale entry would wait for an unrelated task to reuse the old tid.  Returns
 * the entry under the new tid; NULL if the full map refused it (the process goes
 * unwatched from here, counted as tasks_unwatched like a child the map refused).
 */
static __always_inline struct h7_scope *exec_takeover(struct task_struct *p, __u32 old,
						      struct h7_scope *s)
{
	struct h7_scope cs = *s;
	__u32 tid = p->pid;
	struct h7_stats *st;
	int err;

	cs.tgid = p->tgid;
	cs.flags &= ~H7_SCOPE_EXITING;
	err = bpf_map_update_elem(&scope, &tid, &cs, BPF_ANY);
	bpf_map_delete_elem(&scope, &old);
	fork_bit(old, 0);
	bpf_map_delete_elem(&task_pidns, &old);
	if (err) {
		st = stats_of(cs.agent);
		if (st)
			st->tasks_unwatched++;
		return 0;
	}
	fork_bit(tid, 1);
	nspid_track(p, tid, 1);
	return scope_of(tid);
}

/* After the agent's baseline, a process of the agent other than its root that
 * execs becomes a tool run (h7_agent_cfg.tool_root); its threads and children
 * inherit the mark at fork.  de_thread has left this task the only one. */
static __always_inline void tool_mark(struct h7_scope *s, struct task_struct *p)
{
	__u32 agent = s->agent;
	struct h7_agent_cfg *cfg = bpf_map_lookup_elem(&agent_cfg, &agent);

	if (cfg && cfg->tool_root && (__u32)p->tgid != cfg->tool_root)
		s->flags |= H7_SCOPE_TOOL;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(h7_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct h7_scope *s = scope_of(p->pid);
	struct h7_event *ev;
	struct h7_stats *st;

	if (!s) {
		__u32 old = old_pid;
		s = scope_of(old);
		if (!s) {
			recv_exec(p, old_pid, bprm);
			return 0;
		}
		s = exec_takeover(p, old, s);
		if (!s)
			return 0;
	}
	st = stats_of(s->agent);
	if (st)
		st->execs++;
	tool_mark(s, p);
	ev = event_start(H7_EV_EXEC, s->agent);
	if (!ev)
		return 0;
	exec_fill(ev, p, old_pid, bprm, s->agent);
	/* Every syscall of a task in scope leaves a token in its window (sys_enter, both
	 * modes; a token is never 0), and this is the exec's own syscall: an empty window
	 * means its execve entered before the task was put in scope. */
	ev->exec.began_unwatched = s->window == 0;
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP); /* L2 judges execs at once */
	return 0;
}

/* Processes whose exit record went out: (tgid, leader's start time) -> 1.  Every
 * thread's exit hook runs after its decrement of signal->live, so threads exiting
 * together (exit_group) can all read 0; the first insert wins and only it reports. */
struct h7_gone_key {
	__u64 start_ns;
	__u32 tgid;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_GONE_ENTRIES);
	__type(key, struct h7_gone_key);
	__type(value, __u32);
} gone SEC(".maps");

/*
 * The process is gone with this task: its last live thread exits.  Not the
 * leader's exit as such: a leader that exits alone (exit(2) on the main
 * thread) leaves its threads running the process's code, and a leader killed
 * by a sibling's execve (de_thread) leaves the process running the new
 * program under the same pid (exec_takeover).  Reporting either as the
 * process's exit made userspace take the agent for gone (`h7 attach` stopped
 * watching) while it went on.  Returns 1 for exactly one thread per process.
 */
static __always_inline int process_gone(struct task_struct *p)
{
	struct h7_gone_key k = {};
	__u32 one = 1;

	if (BPF_CORE_READ(p, signal, live.counter) > 0)
		return 0;
	k.tgid = p->tgid;
	k.start_ns = BPF_CORE_READ(p, group_leader, start_time);
	return bpf_map_update_elem(&gone, &k, &one, BPF_NOEXIST) == 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(h7_exit, struct task_struct *p)
{
	__u32 tid = p->pid;
	struct h7_scope *s = scope_of(tid);
	struct h7_event *ev;
	__u32 agent;

	held_exit(p);
	/* the cheap tests first: an exit outside the agents, no relay and no copier live */
	if (s || relay_armed() || slot_armed(H7_RECV_COPIER_UNTIL))
		exit_mark(p, s ? s->agent : 0);
	if (!s) {
		copier_disarm();
		return 0;
	}
	agent = s->agent;
	/* The task's last switch-out happens after this, with its scope gone:
	 * its CPU time is counted here (its runtime as of the scheduler's last
	 * update: at most one tick is not counted).  Flagged first: if this
	 * program is preempted (migration stays disabled) and the task switched
	 * out and back in before the scope is deleted, the switch-in must not
	 * open a slice that nothing would close (a CPU left marked running). */
	s->flags |= H7_SCOPE_EXITING;
	slice_end(stats_of(agent), s, p);
	nspid_track(p, tid, 0);
	bpf_map_delete_elem(&scope, &tid);
	fork_bit(tid, 0);
	if (!process_gone(p))
		return 0;
	ev = event_start_sz(H7_EV_EXIT, agent, H7_EV_SIZE(exit));
	if (!ev)
		return 0;
	ev->hdr.tid = ev->hdr.tgid; /* the record stands for the process, whichever thread was last */
	ev->exit.code = p->exit_code;
	ev->exit.group_dead = 1;
	bpf_ringbuf_submit(ev, fill_wakeup(&event_ring));
	return 0;
}

/* --------------------------------------------------------------- scheduling */

SEC("tp_btf/sched_switch")
int BPF_PROG(h7_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = 0;
	struct h7_scope *ps = scope_of(prev->pid);
	struct h7_scope *ns = scope_of(next->pid);
	struct h7_stats *st;

	/* (no `!ps && !ns` early exit: clang folds it into pointer arithmetic
	 * the verifier rejects; each side is handled on its own) */
	/* Still runnable: preempted in the kernel (preempt), or at a return to user
	 * space (schedule() with the task still TASK_RUNNING: preempt is false
	 * there, and the tick's preemptions of a user-space loop all come that
	 * way).  The kernel's own nvcsw/nivcsw split is the same test. */
	bool runnable = preempt || prev->__state == 0;
	__u32 tool, slot;

	if (ps) {
		now = bpf_ktime_get_ns();
		st = stats_of(ps->agent);
		tool = ps->flags & H7_SCOPE_TOOL;
		if (st) {
			if (runnable) {
				st->switches_involuntary++;
				if (tool)
					st->tool_switches_involuntary++;
			} else {
				st->switches_voluntary++;
				if (tool)
					st->tool_switches_voluntary++;
			}
			if (ps->on_ns) /* a slice whose switch-in was seen */
				st->oncpu_hist[log2_slot(now - ps->on_ns) & (H7_HIST_SLOTS - 1)]++;
		}
		/* the burst: this slice joins the ones before it since the last sleep;
		 * a preemption does not end it (the agent still wanted the CPU) */
		if (ps->on_ns)
			ps->burst_ns += now - ps->on_ns;
		if (!runnable || ps->burst_ns >= H7_BURST_CHUNK_NS) {
			if (st && ps->burst_ns) {
				slot = log2_slot(ps->burst_ns) & (H7_HIST_SLOTS - 1);
				st->burst_hist[slot]++;
				if (tool)
					st->tool_burst_hist[slot]++;
			}
			ps->burst_ns = 0;
		}
		slice_end(st, ps, prev);
		ps->off_ns = now;
		ps->preempted = runnable ? 1 : 0;
		ps->wake_ns = 0;
	}
	if (ns) {
		if (!now)
			now = bpf_ktime_get_ns();
		st = stats_of(ns->agent);
		if (st && ns->off_ns) {
			st->offcpu_hist[log2_slot(now - ns->off_ns) & (H7_HIST_SLOTS - 1)]++;
			/* waiting for a CPU: since its preemption, or since its wakeup */
			if (ns->preempted)
				st->rqwait_hist[log2_slot(now - ns->off_ns) & (H7_HIST_SLOTS - 1)]++;
			else if (ns->wake_ns)
				st->rqwait_hist[log2_slot(now - ns->wake_ns) & (H7_HIST_SLOTS - 1)]++;
		}
		ns->wake_ns = 0;
		ns->preempted = 0;
		if (!(ns->flags & H7_SCOPE_EXITING)) /* its exit hook counts the rest */
			slice_begin(ns, next, now);
	}
	return 0;
}

/* A wakeup ends a sleep: switch-out -> wakeup is the agent's own (sleep_hist),
 * wakeup -> switch-in is the host's run queue (rqwait_hist, at the switch-in).
 * Runs on the waker's CPU; the task is off its CPU (ttwu waits for on_cpu to
 * clear before it wakes a sleeper, so its switch-out hook has finished), and
 * the switch-in that reads wake_ns comes after this. */
SEC("tp_btf/sched_wakeup")
int BPF_PROG(h7_sched_wakeup, struct task_struct *p)
{
	struct h7_scope *s = scope_of(p->pid);
	struct h7_stats *st;
	__u32 tool, slot;
	__u64 now;

	if (!s)
		return 0;
	st = stats_of(s->agent);
	tool = s->flags & H7_SCOPE_TOOL;
	if (st) {
		st->wakeups++;
		if (tool)
			st->tool_wakeups++;
	}
	/* a sleeper: off its CPU (on_ns 0) after a voluntary switch-out seen here */
	if (!s->off_ns || s->on_ns || s->preempted || s->wake_ns)
		return 0;
	now = bpf_ktime_get_ns();
	s->wake_ns = now;
	if (st) {
		slot = log2_slot(now - s->off_ns) & (H7_HIST_SLOTS - 1);
		st->sleep_hist[slot]++;
		if (tool)
			st->tool_sleep_hist[slot]++;
	}
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(h7_sched_wakeup_new, struct task_struct *p)
{
	struct h7_scope *s = scope_of(p->pid);
	struct h7_stats *st = s ? stats_of(s->agent) : 0;

	if (!st)
		return 0;
	st->wakeups_new++;
	if (s->flags & H7_SCOPE_TOOL)
		st->tool_wakeups_new++;
	return 0;
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(h7_sched_migrate, struct task_struct *p, int dest_cpu)
{
	struct h7_stats *st = task_stats(p);

	if (st)
		st->migrations++;
	return 0;
}

/* ----------------------------------------------------------- syscall stream */

/*
 * One program on raw sys_enter does everything syscall-shaped: the sequence
 * window, and the arguments of the few syscalls H7 reads (opens, connect,
 * sends, ptrace).  Per-syscall tracepoints (syscalls:sys_enter_*) would add a
 * second dispatch to EVERY syscall on the host, monitored or not (measured:
 * ~70 ns each on the reference VM), so they are not used.  Syscall numbers
 * are per architecture (vmlinux.h carries none).
 */
#if defined(__TARGET_ARCH_x86)
#define H7_NR_open 2
#define H7_NR_connect 42
#define H7_NR_sendto 44
#define H7_NR_sendmsg 46
#define H7_NR_ptrace 101
#define H7_NR_openat 257
#define H7_NR_sendmmsg 307
#define H7_NR_write 1
#define H7_NR_read 0
#define H7_NR_pread64 17
#define H7_NR_pwrite64 18
#define H7_NR_readv 19
#define H7_NR_preadv 295
#define H7_NR_pwritev 296
#define H7_NR_preadv2 327
#define H7_NR_pwritev2 328
#define H7_NR_io_submit 209
#define H7_NR_writev 20
#define H7_NR_sendfile 40
#define H7_NR_splice 275
#define H7_NR_vmsplice 278
#define H7_NR_openat2 437
#define H7_NR_close 3
#define H7_NR_dup2 33
#define H7_NR_ioctl 16
#define H7_NR_dup3 292
#define H7_NR_rename 82
#define H7_NR_chdir 80
#define H7_NR_fchdir 81
#define H7_NR_renameat 264
#define H7_NR_renameat2 316
#define H7_NR_execve 59
#define H7_NR_execveat 322
#define H7_NR_process_vm_readv 310
#define H7_NR_process_vm_writev 311
#define H7_NR_pidfd_getfd 438
#define H7_NR_prlimit64 302
#define H7_NR_perf_event_open 298
/* red-team round 9: scheduling/priority/affinity and memory-oracle calls on another task */
#define H7_NR_setpriority 141
#define H7_NR_sched_setparam 142
#define H7_NR_sched_setscheduler 144
#define H7_NR_sched_setaffinity 203
#define H7_NR_ioprio_set 251
#define H7_NR_migrate_pages 256
#define H7_NR_get_robust_list 274
#define H7_NR_move_pages 279
#define H7_NR_kcmp 312
#define H7_NR_sched_setattr 314
#define H7_NR_creat 85
#define H7_NR_mmap 9
#define H7_NR_mprotect 10
#define H7_NR_link 86
#define H7_NR_linkat 265
#define H7_NR_setxattr 188
#define H7_NR_lsetxattr 189
#define H7_NR_fsetxattr 190
#define H7_NR_getxattr 191
#define H7_NR_lgetxattr 192
#define H7_NR_fgetxattr 193
#define H7_NR_setsockopt 54
#elif defined(__TARGET_ARCH_arm64)
#define H7_NR_open -1000 /* arm64 has no open(2) */
#define H7_NR_openat 56
#define H7_NR_ptrace 117
#define H7_NR_connect 203
#define H7_NR_sendto 206
#define H7_NR_sendmsg 211
#define H7_NR_sendmmsg 269
#define H7_NR_write 64
#define H7_NR_read 63
#define H7_NR_readv 65
#define H7_NR_pread64 67
#define H7_NR_pwrite64 68
#define H7_NR_preadv 69
#define H7_NR_pwritev 70
#define H7_NR_preadv2 286
#define H7_NR_pwritev2 287
#define H7_NR_io_submit 2
#define H7_NR_writev 66
#define H7_NR_sendfile 71
#define H7_NR_splice 76
#define H7_NR_vmsplice 75
#define H7_NR_openat2 437
#define H7_NR_close 57
#define H7_NR_dup2 -1001 /* arm64 has no dup2(2) */
#define H7_NR_dup3 24
#define H7_NR_rename -1002 /* arm64 has no rename(2) */
#define H7_NR_chdir 49
#define H7_NR_fchdir 50
#define H7_NR_renameat 38
#define H7_NR_renameat2 276
#define H7_NR_ioctl 29
#define H7_NR_execve 221
#define H7_NR_execveat 281
#define H7_NR_process_vm_readv 270
#define H7_NR_process_vm_writev 271
#define H7_NR_pidfd_getfd 438
#define H7_NR_prlimit64 261
#define H7_NR_perf_event_open 241
#define H7_NR_setpriority 140
#define H7_NR_sched_setparam 118
#define H7_NR_sched_setscheduler 119
#define H7_NR_sched_setaffinity 122
#define H7_NR_ioprio_set 30
#define H7_NR_migrate_pages 238
#define H7_NR_get_robust_list 100
#define H7_NR_move_pages 239
#define H7_NR_kcmp 272
#define H7_NR_sched_setattr 274
#define H7_NR_creat -1003 /* arm64 has no creat(2) */
#define H7_NR_mmap 222
#define H7_NR_mprotect 226
#define H7_NR_link -1004  /* arm64 has no link(2) */
#define H7_NR_linkat 37
#define H7_NR_setxattr 5
#define H7_NR_lsetxattr 6
#define H7_NR_fsetxattr 7
#define H7_NR_getxattr 8
#define H7_NR_lgetxattr 9
#define H7_NR_fgetxattr 10
#define H7_NR_setsockopt 208
#else
#error "define the H7_NR_* syscall numbers for this architecture"
#endif
/* Linux 6.13's *xattrat(2): one number in every table (older kernels: ENOSYS, never seen) */
#define H7_NR_setxattrat 463
#define H7_NR_process_madvise 440 /* the same in every table */
#define H7_NR_getxattrat 464

#define ARG1(regs) PT_REGS_PARM1_CORE_SYSCALL(regs)
#define ARG2(regs) PT_REGS_PARM2_CORE_SYSCALL(regs)
#define ARG3(regs) PT_REGS_PARM3_CORE_SYSCALL(regs)
#define ARG4(regs) PT_REGS_PARM4_CORE_SYSCALL(regs)
#define ARG5(regs) PT_REGS_PARM5_CORE_SYSCALL(regs)
/* libbpf 1.1 has no PARM6 accessor: the 6th syscall argument's register */
#if defined(__TARGET_ARCH_x86)
#define ARG6(regs) BPF_CORE_READ((regs), r9)
#elif defined(__TARGET_ARCH_arm64)
#define ARG6(regs) BPF_CORE_READ((regs), regs[5])
#endif
/*
 * The n-th argument of a syscall sys_enter judges, whichever entry it came through: a 64-bit
 * process can make 32-bit syscalls (int $0x80 / sysenter), whose arguments are in bx, cx, dx,
 * si, di (32 bits each) and whose numbers are ia32's (red-team round 10: g2r10_int80_pidfd_getfd
 * read pidfd_getfd's pidfd from di, g3r10_int80_setpriority_ioprio_ns used numbers no case had).
 * ia32 is nonzero only on x86_64, for a task in a compat syscall (TS_COMPAT).
 */
#if defined(__TARGET_ARCH_x86)
#define SARG(regs, ia32, n) ((ia32) ? (__u64)(__u32)IA32_ARG##n(regs) : (__u64)ARG##n(regs))
#define IA32_ARG1(regs) BPF_CORE_READ((regs), bx)
#define IA32_ARG2(regs) BPF_CORE_READ((regs), cx)
#define IA32_ARG3(regs) BPF_CORE_READ((regs), dx)
#define IA32_ARG4(regs) BPF_CORE_READ((regs), si)
#define IA32_ARG5(regs) BPF_CORE_READ((regs), di)
#else
#define SARG(regs, ia32, n) ((__u64)ARG##n(regs))
#endif

static __always_inline __u64 seq_token(long nr)
{
	return (nr >= -1 && nr <= 1020) ? (__u64)(nr + 2) : H7_TOKEN_OTHER;
}

/* MurmurHash3 fmix64: cheap, and every input bit reaches every output bit. */
static __always_inline __u64 fmix64(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static __always_inline int seq_bit(__u32 b)
{
	__u32 w = b >> 6;
	__u64 *word = bpf_map_lookup_elem(&seq_bits, &w);

	return word && ((*word >> (b & 63)) & 1);
}

/* 1 if the agent's baseline is done and this window is in its known set. */
static __always_inline int seq_known(__u64 window, __u32 agent)
{
	struct h7_agent_cfg *cfg = bpf_map_lookup_elem(&agent_cfg, &agent);
	__u64 h;

	if (!cfg || !cfg->seq_filter)
		return 0;
	h = fmix64(window ^ (agent * H7_SEQ_AGENT_MUL) ^ cfg->seed);
	return seq_bit(h & (H7_SEQ_BITS - 1)) && seq_bit((h >> 32) & (H7_SEQ_BITS - 1));
}

/* -------------------------------------------------------------------- opens */

/* O_* as the kernel's uapi (x86 and arm64 alike); vmlinux.h has no macros */
#define H7_O_WRONLY 01
#define H7_O_CREAT 0100
#define H7_O_TRUNC 01000

/* An extended attribute's name in a namespace that holds a program's own data: "user." or
 * "trusted." (not "security."/"system.": labels, ACLs and capabilities every ls -l reads). */
static __always_inline int xattr_is_data(const char *name)
{
	char b[9] = {};

	if (bpf_probe_read_user_str(b, sizeof(b), name) < 6)
		return 0;
	if (b[0] == 'u' && b[1] == 's' && b[2] == 'e' && b[3] == 'r' && b[4] == '.')
		return 1;
	return b[0] == 't' && b[1] == 'r' && b[2] == 'u' && b[3] == 's' && b[4] == 't' && b[5] == 'e' &&
	       b[6] == 'd' && b[7] == '.';
}

/* An open record; `kpath`: the name is the kernel's copy (io_uring), not the caller's memory. */
static __always_inline void on_open_from(__u32 agent, struct h7_stats *st, __u32 op, int dfd,
					 const char *path, __u32 flags, __u32 mode, int kpath)
{
	struct h7_event *ev;
	long n;

	if (st)
		st->opens++;
	ev = event_start_sz(H7_EV_OPEN, agent, H7_EV_SIZE(open));
	if (!ev)
		return;
	ev->open.op = op;
	ev->open.dfd = dfd;
	ev->open.flags = flags;
	ev->open.mode = mode;
	if (kpath)
		n = bpf_probe_read_kernel_str(ev->open.path, sizeof(ev->open.path), path);
	else
		n = bpf_probe_read_user_str(ev->open.path, sizeof(ev->open.path), path);
	if (n < 0)
		ev->open.path[0] = 0;
	bpf_ringbuf_submit(ev, fill_wakeup(&event_ring));
}

static __always_inline void on_open(__u32 agent, struct h7_stats *st, __u32 op, int dfd,
				    const char *path, __u32 flags, __u32 mode)
{
	on_open_from(agent, st, op, dfd, path, flags, mode, 0);
}

/*
 * rename: the old name, then the new one, as two open records (op
 * RENAME_FROM, RENAME_TO; flags 0, not counted as opens).  Read at sys_enter,
 * so a rename that then fails is reported too.  L3 moves what it knows about
 * the file (who wrote it) to the new name.
 */
static __always_inline void on_rename(__u32 agent, int olddfd, const char *oldp, int newdfd,
				      const char *newp)
{
	on_open(agent, 0, H7_OPEN_RENAME_FROM, olddfd, oldp, 0, 0);
	on_open(agent, 0, H7_OPEN_RENAME_TO, newdfd, newp, 0, 0);
}

/* ------------------------------------------------------------------- egress */

/*
 * Egress has three sources, one live at a time (h7_hook_cfg.egress):
 *  - fentry on the socket layer (inet_stream_connect, inet_dgram_connect,
 *    inet_sendmsg, inet6_sendmsg): every inet connect and send, whatever
 *    issued it (syscall, io_uring, sendmmsg message by message);
 *  - cgroup sock_addr hooks (connect4/6, sendmsg4/6): every inet connect and
 *    every addressed datagram, io_uring included; sends on connected sockets
 *    still come from sys_enter;
 *  - sys_enter arguments alone, when neither of the above could be attached.
 * Egress is what the agent originates: a send on a socket it accepted is a
 * reply and is reported with `inbound` set, never counted as egress.
 */

static __always_inline __u16 sock_inbound(__u64 sk, __u32 agent)
{
	__u32 *peer = sk ? bpf_map_lookup_elem(&accepted, &sk) : 0;

	if (!peer)
		return H7_INBOUND_NONE;
	return *peer && *peer == agent ? H7_INBOUND_OWN : H7_INBOUND_PEER;
}

static __always_inline __u32 egress_mode(void)
{
	struct h7_hook_cfg *cfg = hook_config();

	return cfg ? cfg->egress : H7_EGRESS_SYSCALL;
}

/* Destination from a user sockaddr. Returns the family, 0 if unreadable. */
static __always_inline __u16 read_sockaddr(const void *uaddr, struct h7_net *n)
{
	__u16 family = 0;

	if (!uaddr || bpf_probe_read_user(&family, sizeof(family), uaddr))
		return 0;
	n->family = family;
	if (family == AF_INET) {
		struct sockaddr_in sin = {};

		bpf_probe_read_user(&sin, sizeof(sin), uaddr);
		n->port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(n->addr, &sin.sin_addr.s_addr, 4);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = {};

		bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
		n->port = bpf_ntohs(sin6.sin6_port);
		bpf_probe_read_kernel(n->addr, 16, &sin6.sin6_addr);
	}
	return family;
}

/* Destination from a kernel sockaddr (the socket layer's copy). */
static __always_inline __u16 read_ksockaddr(const void *kaddr, struct h7_net *n)
{
	__u16 family = 0;

	if (!kaddr || bpf_probe_read_kernel(&family, sizeof(family), kaddr))
		return 0;
	n->family = family;
	if (family == AF_INET) {
		struct sockaddr_in sin = {};

		bpf_probe_read_kernel(&sin, sizeof(sin), kaddr);
		n->port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(n->addr, &sin.sin_addr.s_addr, 4);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = {};

		bpf_probe_read_kernel(&sin6, sizeof(sin6), kaddr);
		n->port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(n->addr, &sin6.sin6_addr, 16);
	}
	return family;
}

/* The socket's transport protocol and type into the record (issue 12, red-team round 10's
 * g1r10_udp_to_allowed_api_port): L4's keys and allow rules are per protocol, so a datagram to
 * the address and port of an allowed TCP API is not that API.  Two loads, no stack of its own. */
static __always_inline void sock_proto(struct sock *sk, struct h7_net *n)
{
	/* read straight into the record: no stack temporaries (sys_enter's frame, 6.1's 512 bytes) */
	BPF_CORE_READ_INTO(&n->proto, sk, sk_protocol);
	BPF_CORE_READ_INTO(&n->stype, sk, sk_type);
}

static __always_inline int conn_key(const struct sock *sk, struct h7_conn_key *k, int peer);

/*
 * A monitored task sends on a TCP connection whose other end is a socket on this host that
 * carries no receiver mark yet:
 *  - `inbound` 0: the other end was accepted here, and the agent did not open the connection
 *    itself (red-team round 9's g5r9_broker_passed_cmd_socket: a broker outside the agent
 *    connected to a command runner and passed the socket over SCM_RIGHTS; or a connection opened
 *    before the sensor attached) -- the accepting end (accepted_tuples) is marked;
 *  - `inbound` 1: the agent ACCEPTED the connection from a client outside every agent (round
 *    10's reverse runner: a beacon that dials the agent's listener and runs what it is sent) --
 *    the connecting end (client_tuples) is marked.  A client that only reads stays unreported;
 *    one that forks or execs while holding the socket (or after closing it, recv_closer) within
 *    the window is a receiver, as the accepting end of an agent's connect is.
 * Its first send is the act: the other end is marked as the agent's connect marks an accepted
 * end at ESTABLISHED (H7_RECV_TCP), with the acting process known (task context).  Any later
 * send finds the mark (live or lapsed) and adds nothing, so a keep-alive connection marks once.
 * Cost: only a monitored task's addressless send on a TCP socket pays, with the receiver window
 * on: one 4-tuple read and one hash lookup (two more lookups when it hits).
 */
static __attribute__((noinline)) int recv_mark_peer(__u64 skp, __u32 agent, __u32 inbound)
{
	/* a subprogram whose key and mark live in peer_scratch: its own frame stays a few words, so
	 * sys_enter's chain does not carry them (6.1 adds caller and callee frames against 512 bytes) */
	struct sock *sk = (struct sock *)skp;
	__u32 kw = H7_RECV_WINDOW, zero = 0;
	__u64 *window = bpf_map_lookup_elem(&recv_state, &kw);
	__u64 me = bpf_get_current_pid_tgid();
	struct h7_peer_scratch *ps;
	__u64 *peer, psk;
	__u16 sport, dport;

	if (!window || !*window || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	ps = bpf_map_lookup_elem(&peer_scratch, &zero);
	if (!ps)
		return 0;
	ps->owner = me;
	__builtin_memset(&ps->k, 0, sizeof(ps->k));
	/* the key the other end files the connection under: its own view of the 4-tuple for a
	 * client (client_tuples), the client's view for an accepted end (accepted_tuples) */
	if (!conn_key(sk, &ps->k, inbound ? 1 : 0))
		return 0;
	sport = ps->k.sport;
	dport = ps->k.dport;
	if (inbound)
		peer = bpf_map_lookup_elem(&client_tuples, &ps->k);
	else
		peer = bpf_map_lookup_elem(&accepted_tuples, &ps->k);
	if (ps->owner != me) {
		ring_count(H7_RING_SCRATCH, 0); /* another call took the scratch: its key is gone */
		return 0;
	}
	if (!peer)
		return 0; /* the other end is not a socket on this host (or forgotten: LRU) */
	psk = *peer;
	if (bpf_map_lookup_elem(&recv_marks, &psk))
		return 0; /* marked before (by the agent's connect or an earlier send) */
	if (!inbound && !bpf_map_lookup_elem(&accepted, &psk))
		return 0; /* closed */
	/* its memory may hold another connection now: its ports must still be this one's (a
	 * client's local port is the key's sport; an accepted end's is the key's dport) */
	if (inbound) {
		if (BPF_CORE_READ((struct sock *)psk, __sk_common.skc_num) != sport ||
		    bpf_ntohs(BPF_CORE_READ((struct sock *)psk, __sk_common.skc_dport)) != dport)
			return 0;
	} else if (BPF_CORE_READ((struct sock *)psk, __sk_common.skc_num) != dport ||
		   bpf_ntohs(BPF_CORE_READ((struct sock *)psk, __sk_common.skc_dport)) != sport) {
		return 0;
	}
	__builtin_memset(&ps->m, 0, sizeof(ps->m));
	if (ps->owner != me) {
		/* another call took the scratch meanwhile: no mark rather than a mixed one, counted */
		ring_count(H7_RING_SCRATCH, 0);
		return 0;
	}
	recv_mark_in(&ps->m, psk, sock_ino((struct sock *)psk), H7_RECV_TCP, agent, me >> 32, 0, 0);
	return 0;
}

/* Peer of a socket (for sends that carry no address); `agent` is the sender's. */
static __always_inline __u16 read_sock_peer(struct sock *sk, struct h7_net *n, __u32 agent)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	n->family = family;
	n->from_socket = H7_ADDR_SOCKET;
	n->inbound = sock_inbound((__u64)sk, agent);
	if (n->inbound)
		n->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (n->inbound != H7_INBOUND_OWN) /* a reply to the agent's own connect marks nobody */
		recv_mark_peer((__u64)sk, agent, n->inbound == H7_INBOUND_PEER);
	if (family == AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(n->addr, &a, 4);
		n->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&n->addr, sk, __sk_common.skc_v6_daddr);
		n->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	}
	return family;
}

/*
 * AF_PACKET: a frame handed to a link below IP (red-team round 4's
 * g1r4_packet_socket_udp).  Neither the inet socket-layer hooks nor the
 * cgroup sock_addr hooks run for it, and no IP address exists to judge: the
 * link itself is the destination.  The ifindex comes from the call's
 * sockaddr_ll when it names one, else from the socket's bind (0: unbound);
 * the ethertype from the address or the socket's protocol.
 */
#define AF_PACKET 17

/* packet_sock lives in af_packet: absent from vmlinux BTF where it is a module */
struct packet_sock___h7 {
	int ifindex; /* bind()'s link */
	__be16 num;  /* bind()'s (else socket()'s) protocol */
} __attribute__((preserve_access_index));

static __always_inline void packet_dest(struct sock *sk, const void *addr, int user, struct h7_net *n)
{
	struct sockaddr_ll sll = {};
	__u32 ifindex = 0;
	__u16 proto = 0;

	if (addr && BPF_CORE_READ(sk, sk_type) != 10 /* SOCK_PACKET: a sockaddr_pkt names a device */) {
		if (user)
			bpf_probe_read_user(&sll, 8, addr);
		else
			bpf_probe_read_kernel(&sll, 8, addr);
		if (sll.sll_family == AF_PACKET) {
			ifindex = (__u32)sll.sll_ifindex;
			proto = bpf_ntohs(sll.sll_protocol);
		}
	}
	if (bpf_core_type_exists(struct packet_sock___h7)) {
		if (!ifindex)
			ifindex = (__u32)BPF_CORE_READ((struct packet_sock___h7 *)sk, ifindex);
		if (!proto)
			proto = bpf_ntohs(BPF_CORE_READ((struct packet_sock___h7 *)sk, num));
	}
	if (!proto)
		proto = bpf_ntohs(BPF_CORE_READ(sk, sk_protocol));
	n->family = AF_PACKET;
	n->port = proto;
	n->from_socket = addr == 0;
	__builtin_memcpy(n->addr, &ifindex, 4);
}

/* 1 when fentry/packet_sendmsg reports AF_PACKET sends (hook_cfg.packet). */
static __always_inline int packet_fentry_live(void)
{
	struct h7_hook_cfg *cfg = hook_config();

	return cfg && cfg->packet == H7_EGRESS_FENTRY;
}

/* The socket of an open file, or NULL. */
static __always_inline struct sock *file_sock(struct file *f)
{
	struct socket *sock;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* The socket behind fd of the current task, or NULL. */
static __always_inline struct sock *fd_sock(int fd)
{
	return file_sock(fd_file(fd));
}

/*
 * Report a connect (always: it is a causal edge and low-rate) or a send
 * (only the first time a process sends to a destination, so a chatty
 * socket costs a map lookup, not a ring record).  A reply on an accepted
 * socket is keyed by the listener's port and the peer's address: the peer's
 * ephemeral port never makes a new key.
 */
/* 127.0.0.0/8, ::1 or v4-mapped 127/8: a peer on this host */
static __always_inline int addr_loopback(const struct h7_net *n)
{
	__u64 a = 0;
	__u32 w2 = 0;

	if (n->family == AF_INET)
		return n->addr[0] == 127;
	if (n->family != AF_INET6)
		return 0;
	__builtin_memcpy(&a, n->addr, 8);
	__builtin_memcpy(&w2, n->addr + 8, 4);
	if (a || (w2 && w2 != bpf_htonl(0xffff)))
		return 0;
	if (w2)
		return n->addr[12] == 127;
	return n->addr[12] == 0 && n->addr[13] == 0 && n->addr[14] == 0 && n->addr[15] == 1;
}

/*
 * 1 when this process's use of this destination is a repeat to fold (no record), 0 when it
 * is to be reported: the first use, or the first after hook_cfg.egress_repeat_ns of silence
 * (so a destination that comes back after the engine's fold_idle is certified again, as a
 * connect is).  The entry holds the last use; it is rewritten at most once a second, so a
 * chatty socket dirties its cache line once a second, not per send.  A subprogram: net_emit is
 * inlined in many places of sys_enter, whose jumps must stay within 16-bit range.
 */
static __noinline int egress_repeat(const struct h7_egress_key *k)
{
	struct h7_hook_cfg *cfg = hook_config();
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&egress_seen, k);
	__u64 idle = cfg ? cfg->egress_repeat_ns : 0, prev;

	if (!last) /* another CPU's first use of the same key won the insert: a repeat */
		return bpf_map_update_elem(&egress_seen, k, &now, BPF_NOEXIST) != 0;
	prev = *last;
	if (now - prev < H7_EGRESS_TOUCH_NS)
		return 1;
	*last = now;
	return !idle || now - prev <= idle;
}

/*
 * What sys_enter concluded about the last send or write on a file, per process (send_verdicts):
 * a connected socket's next send within H7_EGRESS_TOUCH_NS changes nothing the first one did --
 * egress_repeat folds it, the receiver mark is set, the socket's peer and inbound side are fixed --
 * so it is counted (or not) as the verdict says, without reading the socket again.  A server
 * writing replies to many clients (redis: ~1 us of BPF per reply, the sequence filter's cost
 * ten times over) pays the fd lookup, the file's inode number and one hash lookup instead.  Keyed
 * by the struct file and checked against its inode number: struct file is reused at once after a
 * close (SLAB_TYPESAFE_BY_RCU), a socket's inode number never is (get_next_ino), so a descriptor
 * closed and reused for a new socket finds nothing.  connect(2) drops the socket's verdict (a UDP
 * socket's new peer); an io_uring CONNECT on a connected UDP socket can leave it for at most the
 * second, delaying the next send's record (the connect itself is reported on its own).  Never
 * cached: raw IP_HDRINCL sockets (each packet names its destination), AF_PACKET, a send whose
 * record could not be written (ring full: the next one retries).
 */
#define H7_SV_COUNT 1 /* an inet send the agent originates: counted in the send rates */
#define H7_SV_INET 2  /* an inet socket (never a netlink one: the packet-filter check skips it) */

struct h7_sv_key {
	__u64 file;
	__u32 tgid;
	__u32 _pad;
};

struct h7_sv_val {
	__u64 ns;      /* when the verdict was made */
	__u64 ino;     /* the file's inode number then */
	__u32 verdict; /* H7_SV_* bits; 0: nothing to do for a write on it (not a socket, not inet) */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, H7_SEND_VERDICT_ENTRIES);
	__type(key, struct h7_sv_key);
	__type(value, struct h7_sv_val);
} send_verdicts SEC(".maps");

/* The verdict for file f of the current process if it is fresh, else 0. */
static __always_inline struct h7_sv_val *sv_fresh(struct file *f)
{
	struct h7_sv_key k = {};
	struct h7_sv_val *v;

	if (!f)
		return 0;
	k.file = (__u64)f;
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	v = bpf_map_lookup_elem(&send_verdicts, &k);
	if (!v || bpf_ktime_get_ns() - v->ns >= H7_EGRESS_TOUCH_NS || BPF_CORE_READ(f, f_inode, i_ino) != v->ino)
		return 0;
	return v;
}

static __always_inline void sv_put(struct file *f, __u32 verdict)
{
	struct h7_sv_key k = {};
	struct h7_sv_val v = {};

	k.file = (__u64)f;
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	v.ns = bpf_ktime_get_ns();
	v.ino = BPF_CORE_READ(f, f_inode, i_ino);
	v.verdict = verdict;
	bpf_map_update_elem(&send_verdicts, &k, &v, BPF_ANY);
}

/* connect(2) on a cached socket (a UDP socket's new peer): its verdict goes. */
static __always_inline void sv_forget(int fd)
{
	struct h7_sv_key k = {};

	k.file = (__u64)task_fd_file(fd);
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	if (k.file)
		bpf_map_delete_elem(&send_verdicts, &k);
}

static __always_inline int sock_is_inet(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return family == AF_INET || family == AF_INET6;
}

/* 1 when the use is reported or folded into an earlier report; 0 when its record was lost (ring
 * full: counted by event_start_sz) */
static __always_inline int net_emit(__u32 agent, __u32 tgid, struct h7_net *n, int dedup)
{
	struct h7_event *ev;

	if (dedup) {
		struct h7_egress_key k = {};

		k.tgid = tgid;
		k.op = n->inbound ? 0x100 | n->inbound : 0; /* any send op: one destination, one event */
		k.family = n->family;
		k.proto = n->proto;
		k.port = n->inbound ? n->lport : n->port; /* inbound: per (listener, peer address) */
		/* ...and per connection for a loopback client outside the agent: userspace may find its
		 * socket in the agent's own tree (a connection opened before the sensor attached), and
		 * that verdict must not hide the next client of the same listener */
		if (n->inbound == H7_INBOUND_PEER && addr_loopback(n))
			k.peer_port = n->port;
		__builtin_memcpy(k.addr, n->addr, 16);
		if (egress_repeat(&k))
			return 1; /* in use: counted, not reported */
	}
	ev = event_start_sz(H7_EV_NET, agent, H7_EV_SIZE(net));
	if (!ev)
		return 0;
	__builtin_memcpy(&ev->net, n, sizeof(*n));
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
	return 1;
}

/*
 * Raw IP sockets with IP_HDRINCL (IPPROTO_RAW sockets always have it; red-team
 * round 7's g1r7_rawip_hdrincl_spoof): the packet carries its own IP header
 * and goes where THAT header says; the call's sockaddr only picks the route
 * (an allowed address hides the real one).  No cgroup sock_addr hook runs for
 * raw sockets, and the socket layer sees the sockaddr only, so the header is
 * read from the caller's buffer at sys_enter (both modes) -- the first 20
 * (IPv4) / 40 (IPv6) bytes and the transport header's destination port, never
 * the payload.  What cannot be read is reported with the unspecified address
 * (H7_ADDR_IPHDR): fail closed, never the allowed sockaddr.
 */
struct inet_sock___flags {
	unsigned long inet_flags; /* 6.6+: a bit per flag */
} __attribute__((preserve_access_index));

struct inet_sock___bits {
	__u8 hdrincl : 1; /* before 6.6: a bitfield */
} __attribute__((preserve_access_index));

/* INET_FLAGS_HDRINCL: an anonymous enum in include/net/inet_sock.h (no CO-RE relocation can
 * name it); 12 since the flags word replaced the bitfields (6.6), appended to since.
 * tests/test_sensor_gaps.py sets IP_HDRINCL by setsockopt on an IPPROTO_UDP raw socket to
 * check it on every vmtest kernel. */
#define H7_INET_FLAGS_HDRINCL 12

static __always_inline int sock_hdrincl(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if ((family != AF_INET && family != AF_INET6) || BPF_CORE_READ(sk, sk_type) != SOCK_RAW)
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) == IPPROTO_RAW)
		return 1;
	if (bpf_core_field_exists(struct inet_sock___flags, inet_flags)) {
		unsigned long fl = BPF_CORE_READ((struct inet_sock___flags *)sk, inet_flags);

		return (fl >> H7_INET_FLAGS_HDRINCL) & 1;
	}
	if (bpf_core_field_exists(struct inet_sock___bits, hdrincl))
		return BPF_CORE_READ_BITFIELD_PROBED((struct inet_sock___bits *)sk, hdrincl);
	return 0;
}

/* The destination of a hand-built IP packet in user memory (ubuf, len: its first segment). */
static __always_inline void iphdr_dest(const void *ubuf, __u64 len, __u16 family, struct h7_net *n)
{
	__u8 h[40] = {};
	__u16 port = 0;
	__u32 off;
	__u8 proto;

	n->family = family;
	n->port = 0;
	n->from_socket = H7_ADDR_IPHDR;
	n->stype = SOCK_RAW; /* only raw sockets build their own header (proto left 0: storing
			      * the header's would grow sys_enter's frame by 8 bytes, see WORKFLOW's 6.1 rule) */
	__builtin_memset(n->addr, 0, 16);
	if (family == AF_INET) {
		if (!ubuf || len < 20 || bpf_probe_read_user(h, 20, ubuf) || (h[0] >> 4) != 4)
			return;
		__builtin_memcpy(n->addr, &h[16], 4);
		proto = h[9];
		off = (h[0] & 15) * 4;
		if (off < 20 || (h[6] & 0x1f) || h[7])
			return; /* a bad header or a later fragment: no transport header */
	} else {
		if (!ubuf || len < 40 || bpf_probe_read_user(h, 40, ubuf) || (h[0] >> 4) != 6)
			return;
		__builtin_memcpy(n->addr, &h[24], 16);
		proto = h[6];
		off = 40;
	}
	if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	     proto == IPPROTO_UDPLITE) &&
	    len >= off + 4 && !bpf_probe_read_user(&port, sizeof(port), (const char *)ubuf + off + 2))
		n->port = bpf_ntohs(port);
}

/* A send on an IP_HDRINCL socket, from its syscall: the header's destination, counted as egress.
 * A sendmmsg's messages after the first are not read: one more event, unspecified address.
 * The record is the caller's (`n`, cleared here): both callers are inlined into sys_enter, and
 * a second struct h7_net of its own put 32 more bytes on the frame 6.1 adds to its subprograms'
 * (docs/kernels.md, the stack budget). */
static __always_inline void raw_send_emit(__u32 agent, struct h7_stats *st, struct sock *sk, __u32 op,
					  int fd, const void *ubuf, __u64 blen, __u64 bytes, __u32 count,
					  struct h7_net *n)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(n, 0, sizeof(*n));
	iphdr_dest(ubuf, blen, family, n);
	if (st) {
		st->sends += count;
		st->send_bytes += bytes;
	}
	n->op = op;
	n->fd = fd;
	n->bytes = bytes;
	n->count = 1;
	n->hook = H7_HOOK_SYS_ENTER;
	net_emit(agent, tgid, n, 1);
	if (op == H7_NET_SENDMMSG && count > 1) {
		iphdr_dest(0, 0, family, n);
		n->count = count - 1;
		net_emit(agent, tgid, n, 1);
	}
}

/* 1 when the record names an address (a connected raw socket has no port to tell). */
static __always_inline int addr_set(const struct h7_net *n)
{
	__u64 a = 0, b = 0;

	__builtin_memcpy(&a, n->addr, 8);
	__builtin_memcpy(&b, n->addr + 8, 8);
	return (a | b) != 0;
}

/* 1 when the thread's current syscall is a send whose IP_HDRINCL header sys_enter read (fentry mode). */
static __always_inline int raw_sys_send(struct h7_scope *s, int by_tid)
{
	__u64 tok = s->window & ((1ULL << H7_TOKEN_BITS) - 1);

	if (!by_tid)
		return 0;
	/* write/writev: sys_enter reads them in tracepoint mode only (fentry mode keeps
	 * every other write cost-free): fentry reports them with the unspecified address */
	return tok == seq_token(H7_NR_sendto) || tok == seq_token(H7_NR_sendmsg) ||
	       tok == seq_token(H7_NR_sendmmsg);
}

/* sys_enter's share of egress.  Syscall mode: everything.  Cgroup mode:
 * everything but inet connects (cgroup/connect4|6 report those, with the
 * address the kernel really used); the sendmsg hooks add what no send
 * syscall shows (io_uring, sendmmsg messages after the first).  Fentry mode:
 * only non-inet connects. */
static __always_inline void on_net(__u32 agent, struct h7_stats *st, __u32 op, int fd,
				   const void *uaddr, __u64 bytes, __u32 count, const void *ubuf, __u64 blen)
{
	struct h7_net n = {};
	__u32 mode = egress_mode();
	struct sock *sk = 0;
	struct file *f = 0; /* an addressless send's: its verdict is kept (send_verdicts) */
	__u16 family;

	family = read_sockaddr(uaddr, &n);
	if (op == H7_NET_CONNECT) {
		if (mode != H7_EGRESS_SYSCALL && (family == AF_INET || family == AF_INET6))
			return; /* the socket-layer or cgroup hook reports it */
		if (st)
			st->connects++;
	} else {
		int pk_fe = packet_fentry_live();

		if (!family || family == AF_INET || family == AF_INET6) {
			/* in every mode: no other hook reads a raw socket's own IP header */
			if (!uaddr)
				f = task_fd_file(fd);
			sk = uaddr ? fd_sock(fd) : file_sock(f);
			if (sk && sock_hdrincl(sk)) {
				raw_send_emit(agent, st, sk, op, fd, ubuf, blen, bytes, count, &n);
				return;
			}
		}
		if (mode == H7_EGRESS_FENTRY && pk_fe) {
			if (f && sk && sock_is_inet(sk))
				sv_put(f, H7_SV_INET); /* inet_sendmsg counts and reports it */
			return; /* inet_sendmsg and packet_sendmsg see every send */
		}
		if (family != AF_INET && family != AF_INET6) {
			if (!sk)
				sk = fd_sock(fd);
			if (!sk)
				return;
			if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_PACKET) {
				if (pk_fe)
					return;
				packet_dest(sk, uaddr, 1, &n);
				family = AF_PACKET;
			} else if (!family) {
				family = read_sock_peer(sk, &n, agent);
			}
		}
		if (family != AF_PACKET && (mode == H7_EGRESS_FENTRY || (family != AF_INET && family != AF_INET6)))
			return;
		if (st && !n.inbound) {
			st->sends += count;
			st->send_bytes += bytes;
		}
	}
	if (!sk)
		sk = fd_sock(fd); /* a connect (syscall mode, or not inet) */
	if (sk)
		sock_proto(sk, &n);
	n.op = op;
	n.fd = fd;
	n.bytes = bytes;
	n.count = count;
	n.hook = H7_HOOK_SYS_ENTER;
	if (net_emit(agent, bpf_get_current_pid_tgid() >> 32, &n, op != H7_NET_CONNECT) && f &&
	    family != AF_PACKET)
		sv_put(f, H7_SV_INET | (n.inbound ? 0 : H7_SV_COUNT));
}

/*
 * sys_enter's addressless send (send(2), sendto with no address) on a socket whose verdict is
 * fresh (send_verdicts): counted as that verdict says, and nothing else to look at -- an inet
 * socket names no unix peer and is no packet-filter socket.  1 when it was handled so.
 */
static __always_inline int sv_send_hit(struct h7_stats *st, int fd, __u64 bytes)
{
	struct h7_sv_val *v = sv_fresh(task_fd_file(fd));

	if (!v || !(v->verdict & H7_SV_INET))
		return 0;
	if (st && (v->verdict & H7_SV_COUNT)) {
		st->sends++;
		st->send_bytes += bytes;
	}
	return 1;
}

/*
 * Packet-filter changes by a monitored task (red-team round 9's g1r9_nft_dnat_allowed_api: the
 * agent adds an nftables DNAT rule and connects to an allowed address; every egress hook reads
 * the address before NAT, so the packets go elsewhere unseen).  The act itself is reported, in
 * both modes, from sys_enter: a send on a NETLINK_NETFILTER socket whose FIRST message begins an
 * nftables batch (nfnetlink_rcv looks only at an skb's first message to take the batch path, and
 * every nftables change -- NEWRULE, NEWSETELEM, NEWTABLE, DEL* -- is batch-only: a message
 * outside a batch can only read), and an x_tables replace or entries setsockopt (iptables-legacy,
 * ip6tables, arptables, ebtables).  Only monitored tasks pay: one fd lookup per sendto/sendmsg
 * (already paid by their egress checks) and two argument compares per setsockopt.
 */
#define H7_AF_NETLINK 16
#define H7_NETLINK_NETFILTER 12
#define H7_NFNL_MSG_BATCH_BEGIN 0x10
#define H7_NFNL_SUBSYS_NFTABLES 10
#define H7_SOL_IP 0
#define H7_SOL_IPV6 41
#define H7_IPT_SO_SET_REPLACE 64  /* = IP6T_SO_SET_REPLACE (SOL_IPV6) */
#define H7_ARPT_SO_SET_REPLACE 96
#define H7_EBT_SO_SET_ENTRIES 128

/* The record is written in the ring buffer directly, not built on the stack and copied (as
 * net_emit does): on_filter_send is a subprogram of sys_enter, and 6.1's verifier adds its frame
 * to sys_enter's against one 512-byte limit. */
static __always_inline void filter_emit(__u32 agent, int fd, __u16 family, __u16 what)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct h7_event *ev = event_start_sz(H7_EV_NET, agent, H7_EV_SIZE(net));

	if (!ev)
		return;
	__builtin_memset(&ev->net, 0, sizeof(ev->net));
	ev->net.op = H7_NET_FILTER;
	ev->net.family = family;
	ev->net.port = what;
	ev->net.fd = fd;
	ev->net.count = 1;
	ev->net.hook = H7_HOOK_SYS_ENTER;
	ev->net.ino = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

/* sendto (`umsg` 0: `ubuf`/`len` the buffer) or sendmsg (`umsg`: the user msghdr, its iov[0]) of a
 * monitored task.  A subprogram, not inlined: its headers live in its own frame, not sys_enter's. */
static __attribute__((noinline)) int on_filter_send(__u32 agent, int fd, __u64 ubuf, __u64 len, __u64 umsg)
{
	struct sock *sk = fd_sock(fd);
	const void *buf = (const void *)ubuf;
	struct {
		__u32 len;
		__u16 type;
		__u16 flags;
		__u32 seq;
		__u32 pid;
		__u8 nfgen_family;
		__u8 version;
		__be16 res_id;
	} h = {}; /* read twice: the batch's header, then its first change's (one buffer: a smaller frame) */
	__u32 hlen;

	if (!sk || BPF_CORE_READ(sk, __sk_common.skc_family) != H7_AF_NETLINK ||
	    BPF_CORE_READ(sk, sk_protocol) != H7_NETLINK_NETFILTER)
		return 0;
	if (umsg) { /* sendmsg: the first iovec */
		struct user_msghdr *um = (struct user_msghdr *)umsg;
		struct iovec *iovp = 0, iov0 = {};
		__u64 iovlen = 0;

		bpf_probe_read_user(&iovp, sizeof(iovp), &um->msg_iov);
		bpf_probe_read_user(&iovlen, sizeof(iovlen), &um->msg_iovlen);
		if (iovlen && iovp)
			bpf_probe_read_user(&iov0, sizeof(iov0), iovp);
		buf = iov0.iov_base;
		len = iov0.iov_len;
	}
	if (len < sizeof(h) || bpf_probe_read_user(&h, sizeof(h), buf)) {
		filter_emit(agent, fd, H7_AF_NETLINK, 0); /* unreadable: fail closed */
		return 0;
	}
	if (h.type != H7_NFNL_MSG_BATCH_BEGIN || bpf_ntohs(h.res_id) != H7_NFNL_SUBSYS_NFTABLES)
		return 0; /* not an nftables batch: a read (list), or another subsystem */
	/* the batch's first change, for the evidence (0: in another buffer) */
	hlen = h.len;
	if (hlen >= 16 && hlen < len && len - ((hlen + 3) & ~3U) >= 16 &&
	    !bpf_probe_read_user(&h, 16, buf + ((hlen + 3) & ~3U)))
		filter_emit(agent, fd, H7_AF_NETLINK, h.type);
	else
		filter_emit(agent, fd, H7_AF_NETLINK, 0);
	return 0;
}

static __always_inline void on_filter_setsockopt(__u32 agent, int fd, int level, int optname)
{
	if (level == H7_SOL_IP &&
	    (optname == H7_IPT_SO_SET_REPLACE || optname == H7_ARPT_SO_SET_REPLACE || optname == H7_EBT_SO_SET_ENTRIES))
		filter_emit(agent, fd, AF_INET, (__u16)optname);
	else if (level == H7_SOL_IPV6 && optname == H7_IPT_SO_SET_REPLACE)
		filter_emit(agent, fd, AF_INET6, (__u16)optname);
}

/* Tracepoint mode: sendto/sendmsg naming a unix address, on an unconnected datagram socket. */
static __always_inline void on_unix_dgram(__u32 agent, int fd, const void *uaddr, __u32 alen)
{
	struct h7_dgram_key k = {};
	struct sock *sk;
	__u64 a = 0, b = 0;
	__u16 fam = 0;

	if (!uaddr || alen <= 2 || handoff_fentry_live())
		return;
	if (bpf_probe_read_user(&fam, sizeof(fam), uaddr) || fam != AF_UNIX)
		return;
	sk = fd_sock(fd);
	if (!sk || BPF_CORE_READ(sk, __sk_common.skc_family) != AF_UNIX || BPF_CORE_READ(sk, sk_type) != SOCK_DGRAM)
		return;
	if (alen > H7_SUN_LEN + 2)
		alen = H7_SUN_LEN + 2;
	bpf_probe_read_user(&a, sizeof(a), (const char *)uaddr + 2);
	if (alen >= 10)
		bpf_probe_read_user(&b, sizeof(b), (const char *)uaddr + alen - 8);
	k.peer = a ^ (b * 0x9E3779B97F4A7C15ULL) ^ alen;
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.fd = fd;
	if (dgram_fresh(&k))
		dgram_emit(agent, fd, 0, uaddr, alen, H7_HOOK_SYS_ENTER);
}

static __always_inline void on_sendmsg(__u32 agent, struct h7_stats *st, int fd, const void *umsg)
{
	struct user_msghdr m = {};
	struct iovec iov0 = {};
	__u64 bytes = 0;

	bpf_probe_read_user(&m, sizeof(m), umsg);
	for (int i = 0; i < H7_MAX_IOV; i++) {
		struct iovec iov = {};

		if (i >= m.msg_iovlen)
			break;
		bpf_probe_read_user(&iov, sizeof(iov), &m.msg_iov[i]);
		bytes += iov.iov_len;
		if (i == 0)
			iov0 = iov;
	}
	on_net(agent, st, H7_NET_SENDMSG, fd, m.msg_name, bytes, 1, iov0.iov_base, iov0.iov_len);
	on_unix_dgram(agent, fd, m.msg_name, m.msg_namelen);
}

static __always_inline void on_sendmmsg(__u32 agent, struct h7_stats *st, int fd, const void *umm,
					__u32 vlen)
{
	struct mmsghdr mm = {};
	struct iovec iov0 = {};

	bpf_probe_read_user(&mm, sizeof(mm), umm);
	if (mm.msg_hdr.msg_iovlen)
		bpf_probe_read_user(&iov0, sizeof(iov0), mm.msg_hdr.msg_iov);
	on_net(agent, st, H7_NET_SENDMMSG, fd, mm.msg_hdr.msg_name, 0, vlen, iov0.iov_base, iov0.iov_len);
	on_unix_dgram(agent, fd, mm.msg_hdr.msg_name, mm.msg_hdr.msg_namelen); /* the first message's */
}

/*
 * write(2)/writev(2) on a socket is a send no send syscall shows (a socket
 * received over SCM_RIGHTS or inherited, written like a file).  Outside
 * fentry mode (where inet_sendmsg sees it), a monitored process's write to
 * an inet socket is reported like an addressless send: one event per
 * destination, counted in the rates.  A write to anything else costs the fd
 * lookup only.
 */
/*
 * Before 6.5, sendfile/splice into a TCP or UDP socket reach it through
 * proto_ops.sendpage (inet_sendpage), never inet_sendmsg: the fentry egress
 * hooks do not see them, so sys_enter reports those syscalls in fentry mode
 * too on such kernels.  (The field is gone from 6.5 on: CO-RE decides at load.)
 */
struct proto_ops___sendpage {
	void *sendpage;
} __attribute__((preserve_access_index));

static __always_inline int splice_bypasses_sendmsg(void)
{
	return bpf_core_field_exists(struct proto_ops___sendpage, sendpage);
}

/* `cache`: sys_enter's write/writev (the cases whose verdict send_verdicts keeps) */
static __always_inline void on_socket_write(__u32 agent, struct h7_stats *st, int fd, __u64 bytes,
					    int paged, __u32 op, const void *ubuf, __u64 blen, __u32 hook,
					    int cache)
{
	struct h7_net n = {};
	struct h7_sv_val *v;
	struct file *f;
	struct socket *sock;
	__u16 family;

	int fe = egress_mode() == H7_EGRESS_FENTRY && !(paged && splice_bypasses_sendmsg());
	int pk_fe = packet_fentry_live();
	struct sock *sk;

	if (fe && pk_fe)
		return;
	f = task_fd_file(fd);
	if (cache && (v = sv_fresh(f))) {
		if (st && (v->verdict & H7_SV_COUNT)) {
			st->sends++;
			st->send_bytes += bytes;
		}
		return;
	}
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK) {
		if (f && cache)
			sv_put(f, 0);
		return;
	}
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_PACKET) {
		if (pk_fe)
			return;
		packet_dest(sk, 0, 0, &n);
		cache = 0;
	} else {
		if (fe)
			return; /* fentry/inet_sendmsg (an IP_HDRINCL write: unspecified address there) */
		if (sock_hdrincl(sk)) {
			raw_send_emit(agent, st, sk, H7_NET_WRITE, fd, ubuf, blen, bytes, 1, &n);
			return; /* sendfile/splice/vmsplice: no buffer to read, unspecified address */
		}
		family = read_sock_peer(sk, &n, agent);
		if ((family != AF_INET && family != AF_INET6) ||
		    (!n.port && (BPF_CORE_READ(sk, sk_type) != SOCK_RAW || !addr_set(&n)))) {
			if (cache)
				sv_put(f, family == AF_INET || family == AF_INET6 ? H7_SV_INET : 0);
			return; /* not inet, or not connected (a raw socket has no port) */
		}
	}
	if (st && !n.inbound) {
		st->sends++;
		st->send_bytes += bytes;
	}
	sock_proto(sk, &n);
	n.op = H7_NET_WRITE;
	n.fd = fd;
	n.bytes = bytes;
	n.count = 1;
	n.hook = hook;
	if (net_emit(agent, bpf_get_current_pid_tgid() >> 32, &n, 1) && cache)
		sv_put(f, H7_SV_INET | (n.inbound ? 0 : H7_SV_COUNT));
}

/* ----------------------------------------------- egress: socket-layer fentry */

/*
 * The send syscall the current thread is in, from its sequence window (its
 * newest token is the syscall sys_enter saw last): a socket-layer hook then
 * reports the syscall's op, and in cgroup mode knows that sys_enter already
 * counted the send.  H7_NET_SEND when none (io_uring, io-wq workers).
 */
static __always_inline __u32 current_send_op(struct h7_scope *s, int by_tid)
{
	__u64 tok;

	if (!by_tid)
		return H7_NET_SEND;
	tok = s->window & ((1ULL << H7_TOKEN_BITS) - 1);
	if (tok == seq_token(H7_NR_sendto))
		return H7_NET_SENDTO;
	if (tok == seq_token(H7_NR_sendmsg))
		return H7_NET_SENDMSG;
	if (tok == seq_token(H7_NR_sendmmsg))
		return H7_NET_SENDMMSG;
	return H7_NET_SEND;
}

static __always_inline struct h7_scope *scope_current_by(int *by_tid)
{
	__u64 pt = bpf_get_current_pid_tgid();
	struct h7_scope *s = scope_of((__u32)pt);

	*by_tid = s != 0;
	if (!s)
		s = scope_of(pt >> 32);
	return s;
}

static __always_inline int fe_connect(struct socket *sock, const struct sockaddr *uaddr, __u32 hook)
{
	struct h7_scope *s = scope_current();
	struct h7_net n = {};
	struct h7_stats *st;
	__u16 family;

	if (!s)
		return 0;
	family = read_ksockaddr(uaddr, &n);
	if (family != AF_INET && family != AF_INET6)
		return 0; /* AF_UNSPEC (disconnect) and the rest: not egress */
	st = stats_of(s->agent);
	if (st)
		st->connects++;
	sock_proto(BPF_CORE_READ(sock, sk), &n);
	n.op = H7_NET_CONNECT;
	n.fd = -1;
	n.count = 1;
	n.hook = hook;
	net_emit(s->agent, s->tgid, &n, 0);
	return 0;
}

/* The socket-layer hooks' common tail: count the send (a reply on an accepted socket is not
 * egress), name the syscall or io_uring op that made it, report the destination once. */
static __always_inline int fe_send_emit(struct h7_scope *s, int by_tid, struct h7_net *n, __u64 size, __u32 hook)
{
	struct h7_stats *st = stats_of(s->agent);

	if (st && !n->inbound) {
		st->sends++;
		st->send_bytes += size;
	}
	n->op = current_send_op(s, by_tid);
	n->fd = -1;
	n->count = 1;
	n->bytes = size;
	n->hook = hook;
	net_emit(s->agent, s->tgid, n, 1);
	return 0;
}

static __always_inline int fe_sendmsg(struct socket *sock, struct msghdr *msg, __u64 size, __u32 hook)
{
	int by_tid = 0;
	struct h7_scope *s = scope_current_by(&by_tid);
	struct h7_net n = {};
	struct sock *sk;
	__u16 family;

	if (!s)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	sock_proto(sk, &n);
	if (sock_hdrincl(sk)) {
		if (raw_sys_send(s, by_tid))
			return 0; /* sys_enter read the packet's own header */
		iphdr_dest(0, 0, BPF_CORE_READ(sk, __sk_common.skc_family), &n); /* io_uring...: unread */
		return fe_send_emit(s, by_tid, &n, size, hook);
	}
	family = read_ksockaddr(BPF_CORE_READ(msg, msg_name), &n);
	if (!family)
		family = read_sock_peer(sk, &n, s->agent);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	return fe_send_emit(s, by_tid, &n, size, hook);
}

SEC("fentry/inet_stream_connect")
int BPF_PROG(h7_fe_stream_connect, struct socket *sock, struct sockaddr *uaddr, int addr_len, int flags)
{
	return fe_connect(sock, uaddr, H7_HOOK_FENTRY_STREAM_CONNECT);
}

SEC("fentry/inet_dgram_connect")
int BPF_PROG(h7_fe_dgram_connect, struct socket *sock, struct sockaddr *uaddr, int addr_len, int flags)
{
	return fe_connect(sock, uaddr, H7_HOOK_FENTRY_DGRAM_CONNECT);
}

SEC("fentry/inet_sendmsg")
int BPF_PROG(h7_fe_inet_sendmsg, struct socket *sock, struct msghdr *msg, size_t size)
{
	return fe_sendmsg(sock, msg, size, H7_HOOK_FENTRY_INET_SENDMSG);
}

SEC("fentry/inet6_sendmsg")
int BPF_PROG(h7_fe_inet6_sendmsg, struct socket *sock, struct msghdr *msg, size_t size)
{
	return fe_sendmsg(sock, msg, size, H7_HOOK_FENTRY_INET6_SENDMSG);
}

/*
 * fentry mode (gap "link_egress"): AF_PACKET's own sendmsg, which every
 * send on a packet socket reaches (send syscalls, write(2), io_uring).
 */
static __always_inline int fe_packet(struct socket *sock, struct msghdr *msg, __u64 size, __u32 hook)
{
	int by_tid = 0;
	struct h7_scope *s = scope_current_by(&by_tid);
	struct h7_net n = {};

	if (!s)
		return 0;
	packet_dest(BPF_CORE_READ(sock, sk), BPF_CORE_READ(msg, msg_name), 0, &n);
	sock_proto(BPF_CORE_READ(sock, sk), &n);
	return fe_send_emit(s, by_tid, &n, size, hook); /* (a packet send is never inbound) */
}

SEC("fentry/packet_sendmsg")
int BPF_PROG(h7_fe_packet_sendmsg, struct socket *sock, struct msghdr *msg, size_t size)
{
	return fe_packet(sock, msg, size, H7_HOOK_FENTRY_PACKET_SENDMSG);
}

SEC("fentry/packet_sendmsg_spkt")
int BPF_PROG(h7_fe_packet_sendmsg_spkt, struct socket *sock, struct msghdr *msg, size_t size)
{
	return fe_packet(sock, msg, size, H7_HOOK_FENTRY_PACKET_SPKT);
}

/* -------------------------------------------- egress: cgroup sock_addr hooks */

/*
 * Attached to the root cgroup through bpf_link (multi-attach: nothing else
 * is displaced; the link dies with the sensor).  They run in whatever task
 * issues the operation, io_uring workers included, and always allow it.
 * Only helpers every sock_addr program has are used: the task is read
 * through bpf_get_current_task.
 */
static __always_inline struct h7_scope *cg_scope(__u32 *tgid, int *by_tid)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u32 tid = BPF_CORE_READ(t, pid);
	struct h7_scope *s;

	*tgid = BPF_CORE_READ(t, tgid);
	s = scope_of(tid);
	*by_tid = s != 0;
	if (!s)
		s = scope_of(*tgid);
	return s;
}

/* A send inside a send syscall was counted (and its first destination
 * reported) by sys_enter: only a destination sys_enter could not see (the
 * messages of a sendmmsg after the first) passes the de-duplication. */
static __always_inline void cg_emit(struct h7_scope *s, __u32 tgid, int by_tid, struct h7_net *n)
{
	struct h7_stats *st = stats_of(s->agent);
	int is_connect = n->op == H7_NET_CONNECT;

	if (!is_connect)
		n->op = current_send_op(s, by_tid);
	if (st) {
		if (is_connect)
			st->connects++;
		else if (n->op == H7_NET_SEND)
			st->sends++;
	}
	n->fd = -1;
	n->count = 1;
	net_emit(s->agent, tgid, n, !is_connect);
}

static __always_inline int cg_inet4(struct bpf_sock_addr *ctx, __u32 op, __u32 hook)
{
	struct h7_net n = {};
	__u32 tgid = 0, a;
	int by_tid = 0;
	struct h7_scope *s = cg_scope(&tgid, &by_tid);

	if (!s)
		return 1;
	a = ctx->user_ip4;
	n.family = AF_INET;
	n.port = bpf_ntohs((__u16)ctx->user_port);
	__builtin_memcpy(n.addr, &a, 4);
	n.proto = (__u16)ctx->protocol; /* the socket's sk_protocol / sk_type */
	n.stype = (__u16)ctx->type;
	n.op = op;
	n.hook = hook;
	cg_emit(s, tgid, by_tid, &n);
	return 1;
}

static __always_inline int cg_inet6(struct bpf_sock_addr *ctx, __u32 op, __u32 hook)
{
	struct h7_net n = {};
	__u32 tgid = 0, a[4];
	int by_tid = 0;
	struct h7_scope *s = cg_scope(&tgid, &by_tid);

	if (!s)
		return 1;
	a[0] = ctx->user_ip6[0];
	a[1] = ctx->user_ip6[1];
	a[2] = ctx->user_ip6[2];
	a[3] = ctx->user_ip6[3];
	n.family = AF_INET6;
	n.port = bpf_ntohs((__u16)ctx->user_port);
	__builtin_memcpy(n.addr, a, 16);
	n.proto = (__u16)ctx->protocol; /* the socket's sk_protocol / sk_type */
	n.stype = (__u16)ctx->type;
	n.op = op;
	n.hook = hook;
	cg_emit(s, tgid, by_tid, &n);
	return 1;
}

SEC("cgroup/connect4")
int h7_cg_connect4(struct bpf_sock_addr *ctx)
{
	return cg_inet4(ctx, H7_NET_CONNECT, H7_HOOK_CG_CONNECT4);
}

SEC("cgroup/connect6")
int h7_cg_connect6(struct bpf_sock_addr *ctx)
{
	return cg_inet6(ctx, H7_NET_CONNECT, H7_HOOK_CG_CONNECT6);
}

SEC("cgroup/sendmsg4")
int h7_cg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return cg_inet4(ctx, H7_NET_SEND, H7_HOOK_CG_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int h7_cg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return cg_inet6(ctx, H7_NET_SEND, H7_HOOK_CG_SENDMSG6);
}

/*
 * The agent's own TCP listeners (L4: a loopback connect to one is not
 * egress).  inet_csk_listen_start() stores TCP_LISTEN in the context of the
 * task calling listen(), before get_port() and hash(): the bound address and
 * port are final then unless listen() autobinds (port 0 here, chosen after);
 * if get_port() or hash() fails the state goes back to CLOSE at once, which
 * reports the UNLISTEN.  Reported in stream order, so L4 never has to ask
 * /proc after the server is gone.
 */
static __always_inline void listen_emit(struct sock *sk, __u32 agent, __u64 ino, __u32 op)
{
	struct h7_event *ev;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	ev = event_start_sz(H7_EV_NET, agent, H7_EV_SIZE(net));
	if (!ev)
		return;
	__builtin_memset(&ev->net, 0, sizeof(ev->net));
	ev->net.op = op;
	ev->net.family = family;
	ev->net.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->net.fd = -1;
	ev->net.count = 1;
	ev->net.hook = H7_HOOK_TP_SOCK_STATE;
	ev->net.proto = IPPROTO_TCP; /* on_listen reports TCP listeners only */
	ev->net.stype = SOCK_STREAM;
	ev->net.ino = ino;
	if (family == AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);

		__builtin_memcpy(ev->net.addr, &a, 4);
	} else {
		BPF_CORE_READ_INTO(&ev->net.addr, sk, __sk_common.skc_v6_rcv_saddr);
	}
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

static __always_inline void on_listen(struct sock *sk)
{
	struct h7_scope *s = scope_current();
	struct h7_listener l = {};
	__u64 key = (__u64)sk;
	__u16 family;

	if (!s || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return;
	l.agent = s->agent;
	l.ino = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
	if (bpf_map_update_elem(&listeners, &key, &l, BPF_ANY))
		return; /* full: not reported, so no UNLISTEN can go missing */
	listen_emit(sk, l.agent, l.ino, H7_NET_LISTEN);
}

static __always_inline void on_unlisten(struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct h7_listener *l = bpf_map_lookup_elem(&listeners, &key);
	__u64 ino;
	__u32 agent;

	if (!l)
		return;
	ino = l->ino;
	agent = l->agent;
	bpf_map_delete_elem(&listeners, &key);
	listen_emit(sk, agent, ino, H7_NET_UNLISTEN);
}

/*
 * A TCP connection's 4-tuple as seen from its `sk` (local = s*, remote = d*),
 * or swapped (`peer`: the key the other end of the same connection files it
 * under).  v4-mapped IPv6 sockets are keyed as IPv4, so a dual-stack
 * listener's child matches a plain IPv4 client.  0 when not inet.
 */
static __always_inline int conn_key(const struct sock *sk, struct h7_conn_key *k, int peer)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__u8 *lo = peer ? k->daddr : k->saddr, *re = peer ? k->saddr : k->daddr;
	struct in6_addr d6 = {};

	if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&d6, sk, __sk_common.skc_v6_daddr);
		if (d6.in6_u.u6_addr32[0] == 0 && d6.in6_u.u6_addr32[1] == 0 &&
		    d6.in6_u.u6_addr32[2] == bpf_htonl(0xffff))
			family = AF_INET; /* v4-mapped: skc_daddr/skc_rcv_saddr hold the IPv4 pair */
	}
	if (family == AF_INET) {
		__u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(lo, &l, 4);
		__builtin_memcpy(re, &r, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO((struct in6_addr *)lo, sk, __sk_common.skc_v6_rcv_saddr);
		__builtin_memcpy(re, &d6, 16);
	} else {
		return 0;
	}
	k->family = family;
	k->sport = peer ? rport : lport;
	k->dport = peer ? lport : rport;
	return 1;
}

/*
 * Who is at the other end of an accepted connection (red-team round 7's
 * g1r7_accept_side_pull: a collector connects IN and the agent sends the
 * secret on the accepted socket, no connect at all).  A monitored task's
 * connect is remembered by socket at SYN_SENT (task context; the source
 * port is not chosen yet) and by 4-tuple at ESTABLISHED (softirq); the
 * listener's child reaches ESTABLISHED only after the client's ACK, so on
 * this host the client's entry is always there first.  The child then
 * records which agent connected to it (0: a client outside every agent).
 */
static __always_inline void own_conn_track(const struct sock *sk, int oldstate, int newstate)
{
	struct h7_conn_key k = {};
	__u64 key = (__u64)sk;
	__u32 *v;

	if (newstate == TCP_SYN_SENT) {
		struct h7_scope *s = scope_current();

		if (s && BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP)
			bpf_map_update_elem(&connecting, &key, &s->agent, BPF_ANY);
		return;
	}
	if (oldstate == TCP_SYN_SENT) {
		v = bpf_map_lookup_elem(&connecting, &key);
		if (!v) { /* an outsider's connect: its client end, should an agent accept and send */
			if (newstate == TCP_ESTABLISHED && conn_key(sk, &k, 0))
				bpf_map_update_elem(&client_tuples, &k, &key, BPF_ANY);
			return;
		}
		if (newstate == TCP_ESTABLISHED && conn_key(sk, &k, 0))
			bpf_map_update_elem(&own_conns, &k, v, BPF_ANY);
		bpf_map_delete_elem(&connecting, &key);
		return;
	}
	if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		__u32 *mark = bpf_map_lookup_elem(&accepted, &key);

		if (!mark || !conn_key(sk, &k, 1))
			return;
		bpf_map_update_elem(&accepted_tuples, &k, &key, BPF_ANY); /* for recv_mark_peer */
		v = bpf_map_lookup_elem(&own_conns, &k);
		if (!v)
			return;
		*mark = *v;
		/* the accepted end of an agent's connect: its acceptor is a receiver (softirq: no agent pid) */
		recv_mark(key, 0, H7_RECV_TCP, *v, 0, 0, 0);
		bpf_map_delete_elem(&own_conns, &k);
	}
}

/*
 * The process that closes (or shuts down) the marked accepted end of an agent's connection is
 * its receiver for the rest of the window (red-team round 9's g5r9_webhook_close_then_run: a
 * runner that replies, closes the connection and only then forks `sh`; the socket has left its
 * file table by then, so the fork's walk found nothing).  ESTABLISHED -> FIN_WAIT1 and
 * CLOSE_WAIT -> LAST_ACK are tcp_close_state's, called only from close and shutdown in the
 * closing task (never softirq), so the current task is the holder -- as recv_procs holds a unix
 * listener's pid.  Not a kernel thread (a delayed fput), not a monitored task.  Cost: these two
 * transitions of any TCP socket host-wide pay one array load while no mark is live, then one
 * hash lookup.
 */
static __always_inline void recv_closer(const struct sock *sk, __u64 key)
{
	__u64 now = bpf_ktime_get_ns();
	struct task_struct *t;
	struct h7_recv_mark *m, c;
	__u32 tgid;

	if (!recv_live(now))
		return;
	m = bpf_map_lookup_elem(&recv_marks, &key);
	if (!m || now > m->until_ns || m->kind != H7_RECV_TCP)
		return;
	t = (struct task_struct *)bpf_get_current_task();
	if ((BPF_CORE_READ(t, flags) & PF_KTHREAD) || scope_current())
		return;
	__builtin_memcpy(&c, m, sizeof(c));
	tgid = bpf_get_current_pid_tgid() >> 32;
	c.obj = sock_ino((struct sock *)sk);
	c.holder = tgid;
	c.hops = 0;
	c.found = H7_HOLDER_READ;
	bpf_get_current_comm(c.holder_comm, sizeof(c.holder_comm));
	bpf_map_update_elem(&recv_procs, &tgid, &c, BPF_ANY);
}

/* TCP sockets born from a listener (passive open) are marked; a send on
 * them is inbound, and a reply to the agent's own connect is inside the
 * agent.  Runs in softirq for passive opens, so it cannot be scoped to the
 * agents: one map update and one lookup per accepted connection and one
 * delete per close, host-wide; a lookup per active open's SYN_SENT exit.
 * Entering and leaving LISTEN (rare, always in a task) reports the
 * monitored tasks' listeners. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(h7_sock_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 key = (__u64)sk;
	__u32 none = 0;

	if (newstate == TCP_SYN_RECV)
		bpf_map_update_elem(&accepted, &key, &none, BPF_ANY);
	else if (newstate == TCP_CLOSE || newstate == TCP_SYN_SENT)
		bpf_map_delete_elem(&accepted, &key);
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&recv_marks, &key); /* its memory may hold another socket next */
	else if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK)
		recv_closer(sk, key); /* the holder closes it: the mark stays on the process */
	own_conn_track(sk, oldstate, newstate);
	if (newstate == TCP_LISTEN)
		on_listen((struct sock *)sk);
	else if (oldstate == TCP_LISTEN)
		on_unlisten((struct sock *)sk);
	return 0;
}

/* ---------------------------------------------------------------- tampering */

/*
 * Gap 2/3: acts on a monitored process by anyone, with or without ptrace.
 * fentry mode: the kernel's ptrace access check (attach level), the one
 * point ptrace attach/seize, process_vm_readv/writev, /proc/<pid>/mem and
 * pidfd_getfd all pass.  Tracepoint mode: those syscalls' arguments in
 * sys_enter, with pids resolved through the caller's PID namespace and
 * pidfds through its file table.
 */

/* Host tid of the task the CALLER names `vpid` (its own PID namespace);
 * 0 when that is no monitored task. */
static __always_inline __u32 host_tid(__u32 vpid)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	__u32 level = BPF_CORE_READ(pid, level);
	struct h7_nspid_key k = {};
	__u32 *host;

	if (level == 0)
		return vpid;
	if (level > 31)
		return 0;
	k.ns = BPF_CORE_READ(upid_at(pid, level), ns, ns.inum);
	k.pid = vpid;
	host = bpf_map_lookup_elem(&nspid, &k);
	return host ? *host : 0;
}

/* Host pid of a struct pid (level 0 is the initial namespace). */
static __always_inline __u32 pid_host_nr(struct pid *pid)
{
	return pid ? (__u32)BPF_CORE_READ(upid_at(pid, 0), nr) : 0;
}

/* The task a pidfd refers to: anon-inode pidfds keep the struct pid in
 * private_data, pidfs (6.9+) in the inode's i_private. */
static __always_inline __u32 pidfd_target(int pidfd)
{
	struct file *f = fd_file(pidfd);
	struct pid *pid;

	if (!f)
		return 0;
	pid = BPF_CORE_READ(f, private_data);
	if (!pid)
		pid = BPF_CORE_READ(f, f_inode, i_private);
	return pid_host_nr(pid);
}

/*
 * Whose act a ptrace/memory/fd act is, and in which agent's stream it goes
 * (issue 13, red-team round 10's g1r10_ptrace_inject_outsider class).  A target
 * in an agent (`s`): that agent's, whoever the caller (target_agent = its
 * agent).  A target outside every agent: the act is the CALLER's when the
 * caller is an agent's process -- a hijacked agent injecting into another
 * user's shell or a daemon, whose later connect and write run in that process --
 * filed under the caller's agent with target_agent 0 (userspace: direction
 * agent_is_tracer); else nobody's (0).  One scope lookup more, only for an act
 * on an unmonitored target.  The record's target_tgid is then the tid as
 * resolved: sys_enter has no task for it; userspace reads its process while it
 * lives.
 */
static __always_inline struct h7_scope *tamper_scope(struct h7_scope *s, __u32 target)
{
	return s ? s : target ? scope_current() : 0;
}

/*
 * `outside`: report only a caller outside the target's agent (H7_ACC_PERF_EVENT,
 * H7_ACC_PROC_WRITE): a tool the agent runs that profiles or retunes another of
 * the agent's own processes (`perf stat ./bench`, a browser setting its
 * renderers' oom_score_adj) is the agent's work, not an outsider reaching in.
 * `name`: H7_ACC_PROC_WRITE's file name (16 bytes), else 0.
 */
static __always_inline void access_emit_full(__u32 op, __u32 hook, __u32 target, __u32 arg_pid, __s32 arg_fd,
					      __u32 mode, long nr, __u32 sweep, int outside, const char *name,
					      __u32 held)
{
	struct h7_scope *s, *by, *me;
	struct h7_event *ev;
	__u32 tgid, tagent;

	if (!target)
		return;
	s = scope_of(target);
	if (s) {
		if (s->tgid == (__u32)(bpf_get_current_pid_tgid() >> 32))
			return; /* a process on itself */
		if (outside) {
			me = scope_current();
			if (me && me->agent == s->agent)
				return;
		}
	} else if (op != H7_ACC_VM_READ && op != H7_ACC_VM_WRITE && op != H7_ACC_PROC_MEM &&
		   op != H7_ACC_PIDFD_GETFD) {
		/* A target outside every agent is reported only as an act BY an agent process
		 * (tamper_scope), and only for these attach-level acts on another process's memory or
		 * descriptors: a `ps`/`top`/perf sweep's environ, maps or stat opens never. */
		return;
	}
	by = tamper_scope(s, target);
	if (!by)
		return;
	tgid = s ? s->tgid : target;
	tagent = s ? s->agent : 0;
	ev = event_start_sz(H7_EV_ACCESS, by->agent, H7_EV_SIZE(access));
	if (!ev)
		return;
	ev->access.op = op;
	ev->access.hook = hook;
	ev->access.target_tid = target;
	ev->access.target_tgid = tgid;
	ev->access.target_agent = tagent;
	ev->access.mode = mode;
	ev->access.arg_pid = arg_pid;
	ev->access.arg_fd = arg_fd;
	ev->access.nr = nr;
	ev->access.sweep = sweep;
	ev->access.held = held;
	__builtin_memset(ev->access.name, 0, sizeof(ev->access.name));
	if (name)
		__builtin_memcpy(ev->access.name, name, sizeof(ev->access.name));
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

static __always_inline void access_emit_sweep(__u32 op, __u32 hook, __u32 target, __u32 arg_pid,
					      __s32 arg_fd, __u32 mode, long nr, __u32 sweep)
{
	access_emit_full(op, hook, target, arg_pid, arg_fd, mode, nr, sweep, 0, 0, 0);
}

static __always_inline void access_emit(__u32 op, __u32 hook, __u32 target, __u32 arg_pid,
					__s32 arg_fd, __u32 mode, long nr)
{
	access_emit_sweep(op, hook, target, arg_pid, arg_fd, mode, nr, 0);
}

/*
 * Every environ (maps) open on the host, by anyone, extends the caller's run
 * in `runs` (environ_runs or maps_runs; a gap of over H7_ENVIRON_SWEEP_GAP_NS
 * starts a new one); returns how many other processes' files of that kind it
 * opened in the run before this one.  Opens of a process's own are not counted.
 */
static __always_inline __u32 proc_run(void *runs, __u32 target)
{
	__u32 reader = bpf_get_current_pid_tgid() >> 32;
	__u64 now = bpf_ktime_get_ns();
	struct h7_environ_run *r, fresh = {};
	__u32 before;

	if (!target || target == reader)
		return 0;
	r = bpf_map_lookup_elem(runs, &reader);
	if (r && now - r->last_ns < H7_ENVIRON_SWEEP_GAP_NS) {
		before = r->count;
		r->count = before + 1;
		r->last_ns = now;
		return before;
	}
	fresh.last_ns = now;
	fresh.count = 1;
	bpf_map_update_elem(runs, &reader, &fresh, BPF_ANY);
	return 0;
}

/* `whose`: the opened environ's owner as far as known (counted); `target`: the monitored task or 0 */
static __always_inline void environ_open_seen(__u32 whose, __u32 target, __u32 vpid, __u32 flags, long nr,
					      __u32 hook)
{
	__u32 sweep = proc_run(&environ_runs, whose);

	access_emit_sweep(H7_ACC_PROC_ENVIRON, hook, target, vpid, -1, flags, nr, sweep);
}

static __always_inline __u32 access_mode(void)
{
	struct h7_hook_cfg *cfg = hook_config();

	return cfg ? cfg->access : H7_ACCESS_SYSCALL;
}

/*
 * /proc/<pid>/mem, maps and environ opened by anyone (tracepoint mode; maps
 * in both modes: the access check sees it only as a read-level check).
 *
 * Only paths whose last component is mem, maps or environ go further (one
 * test of the string's tail: every other open costs the copy and that test).
 * The path is then made canonical the way the kernel walks it, lexically:
 * repeated '/' collapse, "." segments go, ".." removes the segment before
 * it (red-team round 3: `//proc//PID///mem`, `/proc/./PID/mem`).  What it
 * names is resolved in the PID namespace of the procfs that the kernel will
 * walk, not the caller's (a container's /proc seen from the host's PID
 * namespace, the host's /proc from inside a container's):
 *   - absolute: the procfs mounted on "proc" directly under the caller's
 *     root (its mount namespace's child mount there), else the caller's;
 *   - relative to a dirfd or the cwd on procfs: that superblock's namespace
 *     (s_fs_info -> proc_fs_info -> pid_ns), the dir being procfs's root
 *     ("PID/mem"), a /proc/PID or /proc/PID/task/TID directory ("mem",
 *     "task/TID/mem", resolved through the dir's proc inode), or a
 *     /proc/PID/task directory ("TID/mem");
 *   - one `PID/root/proc/` hop (another process's root, e.g. a container's
 *     procfs through the agent's own root link): PID names the caller itself
 *     (self, its pid) or a monitored task, whose innermost PID namespace
 *     (map task_pidns) is taken as that root's procfs's.
 */
#define H7_PROC_BUF 64
#define H7_PROC_MASK (H7_PROC_BUF - 1)
#define H7_PATH_DEPTH 8

/* A PID namespace pids are resolved in: host = the initial one (pids are host pids). */
struct h7_procns {
	__u32 inum;
	__u32 host;
};

struct h7_procpath {
	char b[H7_PROC_BUF];
	__u32 r, w, depth, fail, num, digits;
	__s32 fd; /* fd/<n>'s n (H7_ACC_PROC_FD) */
	__u32 seg[H7_PATH_DEPTH];
	__u64 owner; /* pid_tgid of the caller whose path this is */
	/* h7_proc_open's results and the namespace it resolves in: here, not in its frame, which
	 * 6.1 allows 512 bytes with sys_enter's and a bpf_loop callback's (tests/test_bpf_budget.py) */
	struct h7_procns ns;
	__u32 vpid, target;
	char name[8]; /* a relative open's directory name */
	__s64 nr; /* h7_proc_open's arguments and result, for h7_proc_report */
	__u32 flags, how, op;
};

/*
 * The path under work lives in a per-CPU map value, not on the stack: the
 * verifier then knows none of its contents, so the parse is verified once
 * instead of once per digit count and segment length (on the stack it
 * exceeded the 1M-instruction limit).  bpf_loop's context must be on the
 * stack: it holds the pointer.  A preempted sys_enter whose CPU runs another
 * one in between finds its path overwritten: `owner` tells, and the open is
 * dropped (missed, never attributed to the wrong caller) and counted in
 * ring_stats[H7_RING_SCRATCH].
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h7_procpath);
} proc_scratch SEC(".maps");

struct h7_pathctx {
	struct h7_procpath *p;
};

/* One step of the canonicalisation, in place (w <= r always). */
static long path_canon_step(__u32 k, void *ctx)
{
	struct h7_procpath *p = ((struct h7_pathctx *)ctx)->p;
	__u32 r = p->r & H7_PROC_MASK, w = p->w & H7_PROC_MASK, d;
	char c = p->b[r], n1 = p->b[(r + 1) & H7_PROC_MASK], n2 = p->b[(r + 2) & H7_PROC_MASK];
	int at_seg = w == 0 || p->b[(w - 1) & H7_PROC_MASK] == '/';

	if (c == 0 || p->r >= H7_PROC_BUF - 1) {
		p->b[w] = 0;
		return 1;
	}
	if (c == '/' && w && at_seg) { /* repeated slash */
		p->r = r + 1;
		return 0;
	}
	if (at_seg && c == '.' && (n1 == '/' || n1 == 0)) { /* "." */
		p->r = r + (n1 ? 2 : 1);
		return 0;
	}
	if (at_seg && c == '.' && n1 == '.' && (n2 == '/' || n2 == 0)) { /* ".." */
		d = p->depth;
		if (d) {
			d--;
			p->depth = d;
			p->w = p->seg[d & (H7_PATH_DEPTH - 1)];
		} else if (p->b[0] != '/') {
			p->fail = 1; /* above the directory it is relative to */
			return 1;
		} /* at "/": stays there */
		p->r = r + (n2 ? 3 : 2);
		return 0;
	}
	if (at_seg && c != '/') {
		d = p->depth;
		if (d >= H7_PATH_DEPTH) {
			p->fail = 1;
			return 1;
		}
		p->seg[d & (H7_PATH_DEPTH - 1)] = w;
		p->depth = d + 1;
	}
	p->b[w] = c;
	p->w = w + 1;
	p->r = r + 1;
	return 0;
}

/* One digit of a decimal number at p->r (stops at the first non-digit). */
static long path_num_step(__u32 k, void *ctx)
{
	struct h7_procpath *p = ((struct h7_pathctx *)ctx)->p;
	char c = p->b[p->r & H7_PROC_MASK];

	if (c < '0' || c > '9')
		return 1;
	p->num = p->num * 10 + (c - '0');
	p->digits++;
	p->r = (p->r + 1) & H7_PROC_MASK;
	return 0;
}

/* "<decimal>/" at p->r: 1 and the number (p->r past the '/'), else 0. */
static __always_inline int path_num(struct h7_procpath *p, __u32 *out)
{
	struct h7_pathctx c = {.p = p};

	p->num = 0;
	p->digits = 0;
	bpf_loop(10, path_num_step, &c, 0);
	if (!p->digits || p->b[p->r & H7_PROC_MASK] != '/')
		return 0;
	p->r = (p->r + 1) & H7_PROC_MASK;
	*out = p->num;
	return 1;
}

/* Does the canonical path at p->r start with the segment `w` (n chars + '/')? */
static __always_inline int path_seg(struct h7_procpath *p, const char *w, __u32 n)
{
	__u32 r = p->r;

	for (__u32 k = 0; k < 12; k++) {
		if (k >= n)
			break;
		if (p->b[(r + k) & H7_PROC_MASK] != w[k])
			return 0;
	}
	if (p->b[(r + n) & H7_PROC_MASK] != '/')
		return 0;
	p->r = (r + n + 1) & H7_PROC_MASK;
	return 1;
}

/* The decimal number filling b from i to its NUL (at most 8 digits), else -1. */
static __always_inline __s32 proc_digits(const char *b, __u32 i)
{
	__s32 v = 0;

	for (__u32 k = 0; k < 9; k++) {
		char c = b[(i + k) & H7_PROC_MASK];

		if (c == 0)
			return k ? v : -1;
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	return -1;
}

/* What the tail at i names: mem, maps, environ or fd/<n> (p->fd = n), else 0. */
static __always_inline __u32 proc_tail(struct h7_procpath *p, __u32 i)
{
	const char *b = p->b;
	char c0 = b[i & H7_PROC_MASK], c1 = b[(i + 1) & H7_PROC_MASK];
	char c2 = b[(i + 2) & H7_PROC_MASK], c3 = b[(i + 3) & H7_PROC_MASK];
	char c4 = b[(i + 4) & H7_PROC_MASK];

	if (c0 == 'm' && c1 == 'e' && c2 == 'm' && c3 == 0)
		return H7_ACC_PROC_MEM;
	if (c0 == 'm' && c1 == 'a' && c2 == 'p' && c3 == 's' && c4 == 0)
		return H7_ACC_PROC_MAPS;
	if (c0 == 'e' && c1 == 'n' && c2 == 'v' && c3 == 'i' && c4 == 'r' && b[(i + 5) & H7_PROC_MASK] == 'o' &&
	    b[(i + 6) & H7_PROC_MASK] == 'n' && b[(i + 7) & H7_PROC_MASK] == 0)
		return H7_ACC_PROC_ENVIRON; /* judged with its sweep count (procps reads them all) */
	if (c0 == 'f' && c1 == 'd' && c2 == '/') {
		p->fd = proc_digits(b, i + 3);
		if (p->fd >= 0)
			return H7_ACC_PROC_FD; /* the file behind its descriptor, opened anew */
	}
	return 0;
}

/*
 * The raw path's last component is mem, maps or environ, or it ends in
 * fd/<n>, or it is <n> alone (relative to a /proc/<pid>/fd directory; not
 * with O_DIRECTORY: htop-style scans open every /proc/<pid> that way), n =
 * strlen + 1.  Every other open returns here, before any canonicalisation.
 */
#define H7_O_DIRECTORY 0200000

static __always_inline int proc_tail_candidate(const char *b, long n, __u32 flags)
{
	__u32 e = (__u32)n - 1, len, d = 0; /* e: the terminating NUL */
	char c1, c2, c3;

	if (n < 2 || n > H7_PROC_BUF)
		return 0;
	for (__u32 k = 1; k < 9; k++) { /* d: trailing digits */
		char c = b[(e - k) & H7_PROC_MASK];

		if (k > e || c < '0' || c > '9')
			break;
		d = k;
	}
	if (d && ((d == e && !(flags & H7_O_DIRECTORY)) || (d + 3 <= e && b[(e - d - 1) & H7_PROC_MASK] == '/' &&
			      b[(e - d - 2) & H7_PROC_MASK] == 'd' && b[(e - d - 3) & H7_PROC_MASK] == 'f' &&
			      (d + 3 == e || b[(e - d - 4) & H7_PROC_MASK] == '/'))))
		return 1;
	if (n < 4)
		return 0;
	c1 = b[(e - 1) & H7_PROC_MASK];
	c2 = b[(e - 2) & H7_PROC_MASK];
	c3 = b[(e - 3) & H7_PROC_MASK];
	if (c1 == 'm' && c2 == 'e' && c3 == 'm')
		len = 3;
	else if (c1 == 's' && c2 == 'p' && c3 == 'a' && b[(e - 4) & H7_PROC_MASK] == 'm')
		len = 4;
	else if (c1 == 'n' && c2 == 'o' && c3 == 'r' && b[(e - 4) & H7_PROC_MASK] == 'i' &&
		 b[(e - 5) & H7_PROC_MASK] == 'v' && b[(e - 6) & H7_PROC_MASK] == 'n' &&
		 b[(e - 7) & H7_PROC_MASK] == 'e')
		len = 7;
	else
		return 0;
	return e == len || (e > len && b[(e - len - 1) & H7_PROC_MASK] == '/');
}

static __always_inline __u32 proc_dir_pid(struct inode *dir)
{
	struct proc_inode *pi;

	if (!dir || BPF_CORE_READ(dir, i_sb, s_magic) != PROC_SUPER_MAGIC)
		return 0;
	pi = (struct proc_inode *)((char *)dir - bpf_core_field_offset(struct proc_inode, vfs_inode));
	return pid_host_nr(BPF_CORE_READ(pi, pid));
}

static __always_inline int pidns_of(struct pid_namespace *pns, struct h7_procns *ns)
{
	if (!pns)
		return 0;
	ns->host = BPF_CORE_READ(pns, level) == 0;
	ns->inum = BPF_CORE_READ(pns, ns.inum);
	return 1;
}

/* The PID namespace of a procfs superblock (0 if it is not procfs). */
static __always_inline int procfs_ns(struct super_block *sb, struct h7_procns *ns)
{
	struct proc_fs_info *fsi;

	if (!sb || BPF_CORE_READ(sb, s_magic) != PROC_SUPER_MAGIC)
		return 0;
	fsi = (struct proc_fs_info *)BPF_CORE_READ(sb, s_fs_info);
	return fsi ? pidns_of(BPF_CORE_READ(fsi, pid_ns), ns) : 0;
}

/* The caller's own PID namespace (where its syscall pid arguments live). */
static __always_inline void caller_ns(struct h7_procns *ns)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	__u32 level = BPF_CORE_READ(pid, level);

	ns->host = level == 0;
	ns->inum = level > 31 ? 0 : BPF_CORE_READ(upid_at(pid, level), ns, ns.inum);
}

/* Host tid of the task named `vpid` in `ns`; 0 when that is no monitored task. */
static __always_inline __u32 ns_tid(const struct h7_procns *ns, __u32 vpid)
{
	struct h7_nspid_key k = {};
	__u32 *host;

	if (ns->host)
		return vpid;
	k.ns = ns->inum;
	k.pid = vpid;
	host = bpf_map_lookup_elem(&nspid, &k);
	return host ? *host : 0;
}

/*
 * The child mounts of one mount, one per step: the one on "proc" directly
 * under `parent` (the caller's root), or the one stacked on `mp` (a mount's
 * own root: `unshare --mount-proc` mounts the new procfs over the old one).
 */
struct h7_mntwalk {
	struct list_head *pos, *head;
	struct dentry *parent, *mp;
	struct mount *found;
};

static long mnt_walk_step(__u32 k, void *ctx)
{
	struct h7_mntwalk *m = ctx;
	struct list_head *pos = m->pos;
	struct mount *c;
	struct dentry *mp;
	char name[6] = {};

	if (!pos || pos == m->head)
		return 1;
	m->pos = BPF_CORE_READ(pos, next);
	c = (struct mount *)((char *)pos - bpf_core_field_offset(struct mount, mnt_child));
	mp = BPF_CORE_READ(c, mnt_mountpoint);
	if (m->mp) {
		if (mp != m->mp)
			return 0;
	} else {
		if (BPF_CORE_READ(mp, d_parent) != m->parent)
			return 0;
		bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(mp, d_name.name));
		if (name[0] != 'p' || name[1] != 'r' || name[2] != 'o' || name[3] != 'c' || name[4] != 0)
			return 0;
	}
	m->found = c;
	return 1;
}

#define H7_MNT_WALK 128
#define H7_MNT_STACK 4

static __always_inline struct mount *mnt_child_walk(struct mount *of, struct dentry *parent, struct dentry *mp)
{
	struct h7_mntwalk m = {};

	m.head = (struct list_head *)((char *)of + bpf_core_field_offset(struct mount, mnt_mounts));
	m.pos = BPF_CORE_READ(of, mnt_mounts.next);
	m.parent = parent;
	m.mp = mp;
	bpf_loop(H7_MNT_WALK, mnt_walk_step, &m, 0);
	return m.found;
}

/* The namespace of the procfs an absolute "/proc/..." reaches; the caller's when not found. */
static __always_inline void root_proc_ns(struct h7_procns *ns)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct vfsmount *vm = BPF_CORE_READ(t, fs, root.mnt);
	struct mount *c, *top;

	if (vm) {
		c = (struct mount *)((char *)vm - bpf_core_field_offset(struct mount, mnt));
		c = mnt_child_walk(c, BPF_CORE_READ(t, fs, root.dentry), 0);
		for (int i = 0; i < H7_MNT_STACK && c; i++) { /* the topmost of mounts stacked there */
			top = mnt_child_walk(c, 0, BPF_CORE_READ(c, mnt.mnt_root));
			if (!top)
				break;
			c = top;
		}
		if (c && procfs_ns(BPF_CORE_READ(c, mnt.mnt_sb), ns))
			return;
	}
	caller_ns(ns);
}

/*
 * At p->r, in procfs namespace ns: [PID/root/proc/] PID/ [task/TID/] tail.
 * Returns the op (0: not one of ours); *vpid the pid as written, *target the host tid or 0.
 */
static __always_inline __u32 proc_parse(struct h7_procpath *p, struct h7_procns *ns, __u32 *vpid, __u32 *target)
{
	__u32 me = bpf_get_current_pid_tgid() >> 32, x = 0, xh;
	__u32 *inner;

	if (path_seg(p, "self", 4) || path_seg(p, "thread-self", 11)) {
		if (!path_seg(p, "root", 4) || !path_seg(p, "proc", 4))
			return 0; /* the caller's own files */
		/* the caller's root: the same procfs as an absolute path */
	} else {
		if (!path_num(p, &x))
			return 0;
		if (path_seg(p, "root", 4)) {
			if (!path_seg(p, "proc", 4))
				return 0;
			xh = ns_tid(ns, x);
			if (xh && xh != me) {
				if (!scope_of(xh))
					return 0; /* an unmonitored task's root: its procfs is unknown here */
				inner = bpf_map_lookup_elem(&task_pidns, &xh);
				ns->host = !inner;
				ns->inum = inner ? *inner : 0;
			}
			x = 0;
		}
	}
	if (!x && !path_num(p, &x))
		return 0;
	if (path_seg(p, "task", 4) && !path_num(p, &x))
		return 0;
	*vpid = x;
	*target = ns_tid(ns, x);
	return proc_tail(p, p->r);
}

/*
 * Threads whose open sys_enter classified the path (mem, maps, environ, fd/<n> of some task's
 * /proc, any owner): the open's exit (on_open_exit) then adds nothing.  Key tid, value the
 * syscall nr; every open's exit consumes its thread's entry first, so an entry never outlives
 * the syscall that made it (a failed classified open cannot hide the next one).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_PROC_SEEN_ENTRIES);
	__type(key, __u32);
	__type(value, __s64);
} proc_seen SEC(".maps");

/*
 * How many proc_seen entries are outstanding (made at an open's sys_enter, not yet consumed by
 * its exit).  Every open of every process on the host runs an exit program, and nearly none of
 * them was classified at sys_enter: an inlined array load here saves each of them a hash lookup
 * (bench/hook_cost.py, `open` unwatched).  Counted up only when an entry is created, down only
 * when one is deleted; an entry the LRU evicts leaves the count high, which costs the lookup
 * again (as before this gate), never a missed entry.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} proc_seen_live SEC(".maps");

/*
 * A global function (non-static, noinline): the verifier checks it once, on its own, with
 * scalar arguments, instead of once per inlined call with each caller's state.  Its path parse
 * was a third of sys_enter's verification, paid at every attach (session 17).  BPF functions
 * take at most five arguments: `how` is the hook, with H7_PROC_IA32 set for the 32-bit entry.
 * Returns the access op to report (then call h7_proc_report), else 0.
 */
#define H7_PROC_IA32 (1U << 31) /* in h7_proc_open's `how`, beside the hook: an ia32 syscall */

__noinline int h7_proc_open(long nr, int dfd, __u64 upath, __u32 flags, __u32 how)
{
	struct h7_pathctx c = {};
	struct h7_procpath *p;
	__u32 op = 0, zero = 0;
	long n;

	p = bpf_map_lookup_elem(&proc_scratch, &zero);
	if (!p)
		return 0;
	p->owner = bpf_get_current_pid_tgid();
	p->ns.inum = p->ns.host = p->vpid = p->target = 0;
	p->nr = nr;
	p->flags = flags;
	p->how = how;
	p->op = 0;
	if ((how & ~H7_PROC_IA32) != H7_HOOK_SYS_ENTER) /* io_uring: the kernel's copy of the name */
		n = bpf_probe_read_kernel_str(p->b, sizeof(p->b), (const void *)upath);
	else
		n = bpf_probe_read_user_str(p->b, sizeof(p->b), (const void *)upath);
	if (!proc_tail_candidate(p->b, n, flags))
		return 0;
	/* "/proc/self/<tail>", "/proc/thread-self/<tail>": the caller's own file, never reported;
	 * glibc (pthread_getattr_np), JVMs and profilers open their own maps all the time */
	if (p->b[0] == '/' && p->b[1] == 'p' && p->b[2] == 'r' && p->b[3] == 'o' && p->b[4] == 'c' &&
	    p->b[5] == '/' &&
	    ((p->b[6] == 's' && p->b[7] == 'e' && p->b[8] == 'l' && p->b[9] == 'f' && p->b[10] == '/' &&
	      proc_tail(p, 11)) ||
	     (p->b[6] == 't' && p->b[7] == 'h' && p->b[8] == 'r' && p->b[9] == 'e' && p->b[10] == 'a' &&
	      p->b[11] == 'd' && p->b[12] == '-' && p->b[13] == 's' && p->b[14] == 'e' && p->b[15] == 'l' &&
	      p->b[16] == 'f' && p->b[17] == '/' && proc_tail(p, 18))))
		return 0;
	p->r = p->w = p->depth = p->fail = 0;
	c.p = p;
	bpf_loop(H7_PROC_BUF, path_canon_step, &c, 0);
	if (p->fail)
		return 0;
	if (p->b[0] == '/') {
		p->r = 1;
		if (!path_seg(p, "proc", 4))
			return 0;
		root_proc_ns(&p->ns);
		op = proc_parse(p, &p->ns, &p->vpid, &p->target);
	} else {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		struct dentry *dir;
		struct super_block *sb;

		if (dfd == AT_FDCWD) {
			dir = BPF_CORE_READ(t, fs, pwd.dentry);
		} else {
			struct file *f = fd_file(dfd);

			dir = f ? BPF_CORE_READ(f, f_path.dentry) : 0;
		}
		sb = BPF_CORE_READ(dir, d_sb);
		if (!dir || !procfs_ns(sb, &p->ns))
			return 0;
		p->r = 0;
		if (BPF_CORE_READ(sb, s_root) == dir) { /* procfs's root: "PID/..." */
			op = proc_parse(p, &p->ns, &p->vpid, &p->target);
		} else if (path_seg(p, "task", 4)) { /* /proc/PID + "task/TID/mem" */
			if (path_num(p, &p->vpid)) {
				p->target = ns_tid(&p->ns, p->vpid);
				op = proc_tail(p, p->r);
			}
		} else if (p->b[0] >= '0' && p->b[0] <= '9') { /* /proc/PID/task + "TID/mem" */
			__builtin_memset(p->name, 0, sizeof(p->name));
			bpf_probe_read_kernel_str(p->name, 5, BPF_CORE_READ(dir, d_name.name));
			if (p->name[0] == 't' && p->name[1] == 'a' && p->name[2] == 's' && p->name[3] == 'k' && p->name[4] == 0 &&
			    path_num(p, &p->vpid)) {
				p->target = ns_tid(&p->ns, p->vpid);
				op = proc_tail(p, p->r);
			} else if (p->name[0] == 'f' && p->name[1] == 'd' && p->name[2] == 0) { /* /proc/PID/fd + "N" */
				p->fd = proc_digits(p->b, 0);
				if (p->fd >= 0) {
					op = H7_ACC_PROC_FD;
					p->target = proc_dir_pid(BPF_CORE_READ(dir, d_inode));
					p->vpid = p->target;
				}
			}
		} else { /* /proc/PID or /proc/PID/task/TID + "mem": the dir's own task */
			op = proc_tail(p, 0);
			p->target = proc_dir_pid(BPF_CORE_READ(dir, d_inode));
			p->vpid = p->target;
		}
	}
	if (!op)
		return 0;
	if (p->owner != bpf_get_current_pid_tgid()) {
		ring_count(H7_RING_SCRATCH, 0); /* a found open, lost: its path was overwritten */
		return 0;
	}
	p->op = op;
	return op;
}

/*
 * What h7_proc_open parsed (in proc_scratch: its op, pids and arguments), reported.  A global
 * function of its own, called after it: the two frames are not stacked (6.1 allows sys_enter's
 * frame, one of these and a bpf_loop callback 512 bytes together).  Returns 0.
 */
__noinline int h7_proc_report(void)
{
	struct h7_procpath *p;
	__u32 vpid, target, op, hook, amode, zero = 0;
	__s64 nr;
	__u32 flags;
	int ia32;

	p = bpf_map_lookup_elem(&proc_scratch, &zero);
	if (!p)
		return 0;
	if (!p->op || p->owner != bpf_get_current_pid_tgid()) {
		/* called only after h7_proc_open found an op: another call reused the scratch between */
		ring_count(H7_RING_SCRATCH, 0);
		return 0;
	}
	op = p->op;
	vpid = p->vpid;
	target = p->target;
	nr = p->nr;
	flags = p->flags;
	hook = p->how & ~H7_PROC_IA32;
	ia32 = !!(p->how & H7_PROC_IA32);
	/* creat's exit is not hooked; nor is any ia32 syscall's (ftrace's per-syscall events skip
	 * compat syscalls): an entry would wrongly classify the thread's next native open */
	if (hook == H7_HOOK_SYS_ENTER && nr != H7_NR_creat && !ia32) {
		__u32 tid = (__u32)p->owner;
		__s64 snr = nr;

		if (!bpf_map_update_elem(&proc_seen, &tid, &snr, BPF_NOEXIST)) {
			__u64 *live = bpf_map_lookup_elem(&proc_seen_live, &zero);

			if (live)
				__sync_fetch_and_add(live, 1);
		} else {
			bpf_map_update_elem(&proc_seen, &tid, &snr, BPF_ANY);
		}
	}
	amode = access_mode();
	if (op == H7_ACC_PROC_MEM && amode == H7_ACCESS_FENTRY)
		return 0; /* the access check reports it */
	if (op == H7_ACC_PROC_ENVIRON) {
		struct h7_hook_cfg *cfg = hook_config();

		if (cfg && cfg->environ == H7_ACCESS_FENTRY)
			return 0; /* fentry/environ_open counts and reports it */
		/* an unmonitored owner still counts toward the caller's sweep (by the pid as named) */
		environ_open_seen(target ? target : vpid, target, vpid, flags, nr, hook);
		return 0;
	}
	if (op == H7_ACC_PROC_MAPS) { /* counted like environ: perf / profilers open every process's */
		__u32 sweep = proc_run(&maps_runs, target ? target : vpid);

		access_emit_sweep(op, hook, target, vpid, -1, flags, nr, sweep);
		return 0;
	}
	access_emit(op, hook, target, vpid, op == H7_ACC_PROC_FD ? p->fd : -1, flags, nr);
	return 0;
}

/* ------------------------------------------- tampering: the access check */

#if defined(__TARGET_ARCH_x86)
#define H7_SYSCALL_NR(regs) BPF_CORE_READ((regs), orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define H7_SYSCALL_NR(regs) BPF_CORE_READ((regs), syscallno)
#endif

/* ------------------------------------------------------------------- ptrace */

/* A target in an agent, by anyone; an outsider, by an agent's process (tamper_scope). */
static __always_inline void ptrace_emit(long request, __u32 target, __u32 arg_pid, __u32 hook)
{
	struct h7_scope *s = scope_of(target), *by = tamper_scope(s, target);
	__u32 tgid = s ? s->tgid : target, tagent = s ? s->agent : 0;
	struct h7_event *ev;

	if (!by)
		return;
	ev = event_start_sz(H7_EV_PTRACE, by->agent, H7_EV_SIZE(ptrace));
	if (!ev)
		return;
	ev->ptrace.request = request;
	ev->ptrace.target_tid = target;
	ev->ptrace.target_tgid = tgid;
	ev->ptrace.target_agent = tagent;
	ev->ptrace.hook = hook;
	ev->ptrace.arg_pid = arg_pid;
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

/*
 * fentry mode: the one point every attach-level access passes.  Which act it
 * was comes from the syscall the caller is in (io_uring workers: none).
 */
#if defined(__TARGET_ARCH_x86)
static __always_inline long ia32_judged(long id);
#endif

SEC("fentry/security_ptrace_access_check")
int BPF_PROG(h7_fe_ptrace_access, struct task_struct *child, unsigned int mode)
{
	struct task_struct *cur;
	struct pt_regs *regs = 0;
	__u32 target = child->pid;
	long nr = -1, nat;
	bool ia32 = false;
	__u32 op;

	if (!(mode & PTRACE_MODE_ATTACH))
		return 0; /* read-level checks (/proc reads, kcmp...) are not tampering */
	if (!scope_of(target) && !scope_current())
		return 0; /* no agent on either side (an agent's process on an outsider: tamper_scope) */
	cur = bpf_get_current_task_btf();
	if (!(cur->flags & PF_IO_WORKER)) {
		regs = (struct pt_regs *)bpf_task_pt_regs(cur);
		nr = (long)H7_SYSCALL_NR(regs);
	}
	nat = nr;
#if defined(__TARGET_ARCH_x86)
	/* an int $0x80 caller: ia32 number and registers (red-team round 10's g2r10_int80_pidfd_getfd:
	 * the 64-bit registers named fd 0), as sys_enter reads them */
	if (regs) {
		long twin = ia32_judged(nr);

		if (twin >= 0) {
			nat = twin;
			ia32 = true;
		}
	}
#endif
	switch (nat) {
	case H7_NR_ptrace:
		ptrace_emit((long)SARG(regs, ia32, 1), target, (__u32)SARG(regs, ia32, 2), H7_HOOK_FENTRY_PTRACE_ACCESS);
		return 0;
	case H7_NR_process_vm_readv:
		op = H7_ACC_VM_READ;
		break;
	case H7_NR_process_vm_writev:
		op = H7_ACC_VM_WRITE;
		break;
	case H7_NR_pidfd_getfd:
		access_emit(H7_ACC_PIDFD_GETFD, H7_HOOK_FENTRY_PTRACE_ACCESS, target, (__u32)SARG(regs, ia32, 1),
			    (__s32)SARG(regs, ia32, 2), mode, nr);
		return 0;
	case H7_NR_open:
	case H7_NR_openat:
	case H7_NR_openat2:
	case H7_NR_creat:
		op = H7_ACC_PROC_MEM; /* the only attach-level open: /proc/<pid>/mem */
		break;
	default:
		op = H7_ACC_OTHER;
	}
	access_emit(op, H7_HOOK_FENTRY_PTRACE_ACCESS, target, regs ? (__u32)SARG(regs, ia32, 1) : 0, -1, mode, nr);
	return 0;
}

/*
 * fentry mode for /proc/<pid>/environ (and task/<tid>/environ): the file's
 * own open, whatever path, dirfd, procfs mount or io_uring named it.  Every
 * call counts toward the caller's sweep; opens of monitored tasks are
 * reported with it (userspace tells a `ps` sweep from a targeted read).
 */
SEC("fentry/environ_open")
int BPF_PROG(h7_fe_environ_open, struct inode *inode, struct file *file)
{
	struct proc_inode *pi;
	struct task_struct *cur;
	struct pt_regs *regs;
	__u32 target;
	long nr = -1;

	pi = (struct proc_inode *)((char *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode));
	target = pid_host_nr(BPF_CORE_READ(pi, pid));
	cur = bpf_get_current_task_btf();
	if (!(cur->flags & PF_IO_WORKER)) {
		regs = (struct pt_regs *)bpf_task_pt_regs(cur);
		nr = (long)H7_SYSCALL_NR(regs);
	}
	environ_open_seen(target, target, target, BPF_CORE_READ(file, f_flags), nr, H7_HOOK_FENTRY_ENVIRON_OPEN);
	return 0;
}

/*
 * fentry mode (gap "mem_fd_use"): every read or write through a /proc/<pid>/mem
 * file.  The kernel's access check runs once, at the open (proc_mem_open), so
 * a mem fd opened before `h7 attach`, or opened by the agent itself and passed
 * over SCM_RIGHTS, is used later with no check and no syscall that names the
 * agent (red-team round 8's g2r8_preattach_mem_fd; round 6's read-only
 * /proc/self/mem hand-out): here the file's procfs inode names the task.  A
 * process on itself is not reported (access_emit).  One report per open file
 * and direction per H7_MEM_RW_GAP_NS (mem_rw_seen), not one per call: a
 * debugger's reader makes thousands.  Only /proc/<pid>/mem reads and writes
 * run this program; nothing else pays for it.
 */
struct h7_mem_rw_key {
	__u64 file;   /* the struct file's address (no pointer arithmetic: the verifier refuses it) */
	__u32 target; /* whose memory: a struct file freed and reused within the second for
		       * another agent's mem file is a new report (a live test lost one so) */
	__u32 write;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, H7_MEM_RW_SEEN_ENTRIES);
	__type(key, struct h7_mem_rw_key);
	__type(value, __u64);
} mem_rw_seen SEC(".maps");

SEC("fentry/mem_rw")
int BPF_PROG(h7_fe_mem_rw, struct file *file, char *buf, size_t count, loff_t *ppos, int write)
{
	struct proc_inode *pi;
	struct inode *inode;
	struct task_struct *cur;
	struct pt_regs *regs;
	struct h7_mem_rw_key key = {};
	struct h7_scope *s;
	__u64 now, *last;
	__u32 target;
	long nr = -1;

	inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return 0;
	pi = (struct proc_inode *)((char *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode));
	target = pid_host_nr(BPF_CORE_READ(pi, pid));
	s = target ? scope_of(target) : 0;
	if (!s || s->tgid == (__u32)(bpf_get_current_pid_tgid() >> 32))
		return 0; /* a process on its own memory is no report, and must not hide the next user's */
	key.file = (__u64)file;
	key.target = target;
	key.write = write != 0;
	now = bpf_ktime_get_ns();
	last = bpf_map_lookup_elem(&mem_rw_seen, &key);
	if (last && now - *last < H7_MEM_RW_GAP_NS)
		return 0;
	bpf_map_update_elem(&mem_rw_seen, &key, &now, BPF_ANY);
	cur = bpf_get_current_task_btf();
	if (!(cur->flags & PF_IO_WORKER)) {
		regs = (struct pt_regs *)bpf_task_pt_regs(cur);
		nr = (long)H7_SYSCALL_NR(regs);
	}
	access_emit(H7_ACC_PROC_MEM_RW, H7_HOOK_FENTRY_MEM_RW, target, 0, -1, write != 0, nr);
	return 0;
}

/*
 * Tracepoint mode of gap "mem_fd_use" (see held_files): a read or write
 * family call by a registered holder on a file the attach-time scan found.
 * The same record as fentry/mem_rw (op, target from the file's procfs inode,
 * mode = direction, one per file and direction per second through
 * mem_rw_seen), from sys_enter: arg_fd = the fd, nr = the call, held = 1.
 * sys_enter sees the call before it runs, so a failed one is reported too.
 */
static __always_inline void on_held_use(long id, struct pt_regs *regs)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct h7_mem_rw_key key = {};
	struct h7_held_key hk = {};
	struct proc_inode *pi;
	struct inode *inode;
	struct h7_scope *s;
	struct file *f;
	__u64 now, *last;
	__u32 target;
	int fd, write;

	if (!held_live() || !bpf_map_lookup_elem(&held_procs, &tgid))
		return;
	fd = (int)ARG1(regs);
	f = fd_file(fd);
	if (!f)
		return;
	inode = BPF_CORE_READ(f, f_inode);
	if (!inode)
		return;
	hk.ino = BPF_CORE_READ(inode, i_ino);
	hk.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	if (!bpf_map_lookup_elem(&held_files, &hk))
		return;
	pi = (struct proc_inode *)((char *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode));
	target = pid_host_nr(BPF_CORE_READ(pi, pid));
	s = target ? scope_of(target) : 0;
	if (!s || s->tgid == tgid)
		return;
	write = id == H7_NR_write || id == H7_NR_pwrite64 || id == H7_NR_writev || id == H7_NR_pwritev ||
		id == H7_NR_pwritev2;
	key.file = (__u64)f;
	key.target = target;
	key.write = write;
	now = bpf_ktime_get_ns();
	last = bpf_map_lookup_elem(&mem_rw_seen, &key);
	if (last && now - *last < H7_MEM_RW_GAP_NS)
		return;
	bpf_map_update_elem(&mem_rw_seen, &key, &now, BPF_ANY);
	access_emit_full(H7_ACC_PROC_MEM_RW, H7_HOOK_SYS_ENTER, target, 0, fd, write, id, 0, 0, 0, 1);
}

/*
 * The file an open RETURNED, by anyone: a per-process procfs file is judged by
 * the task its inode belongs to (proc_inode.pid, the task the kernel resolved
 * through whatever path, chroot, /dev/fd/../.., bind mount or PID namespace
 * named it) and by its dentry's name, not by the path string.  sys_enter's
 * lexical parse (h7_proc_open) stays first: it sees the act before it happens
 * and failed attempts too; this exit reports only what that parse did not
 * classify (proc_seen).  Both modes, except what a live fentry hook already
 * reports: mem in fentry access mode (its open's attach-level check),
 * syscall/stack there too (the check at their read), environ when
 * fentry/environ_open is live.  Per-syscall tracepoints: other syscalls pay
 * only the kernel's enabled-syscall bit test, not a BPF program.
 */
struct h7_sys_exit_ctx {
	__u64 common; /* common_type, common_flags, common_preempt_count, common_pid */
	__s32 nr;     /* __syscall_nr */
	__s32 _pad;
	__s64 ret;
};

/* Which per-process file a procfs dentry name is (0: none of ours). */
static __always_inline __u32 proc_file_op(const char *n)
{
	if (n[0] == 'm' && n[1] == 'e' && n[2] == 'm' && n[3] == 0)
		return H7_ACC_PROC_MEM;
	if (n[0] == 'm' && n[1] == 'a' && n[2] == 'p' && n[3] == 's' && n[4] == 0)
		return H7_ACC_PROC_MAPS;
	if (n[0] == 'e' && n[1] == 'n' && n[2] == 'v' && n[3] == 'i' && n[4] == 'r' && n[5] == 'o' && n[6] == 'n' &&
	    n[7] == 0)
		return H7_ACC_PROC_ENVIRON;
	if (n[0] == 's' && n[1] == 'y' && n[2] == 's' && n[3] == 'c' && n[4] == 'a' && n[5] == 'l' && n[6] == 'l' &&
	    n[7] == 0)
		return H7_ACC_PROC_SYSCALL;
	if (n[0] == 'a' && n[1] == 'u' && n[2] == 'x' && n[3] == 'v' && n[4] == 0)
		return H7_ACC_PROC_AUXV;
	if (n[0] == 'p' && n[1] == 'a' && n[2] == 'g' && n[3] == 'e' && n[4] == 'm' && n[5] == 'a' && n[6] == 'p' &&
	    n[7] == 0)
		return H7_ACC_PROC_PAGEMAP;
	if (n[0] == 's' && n[1] == 't' && n[2] == 'a' && n[3] == 'c' && n[4] == 'k' && n[5] == 0)
		return H7_ACC_PROC_STACK;
	return 0;
}

/* The pid as the procfs that was walked numbers it (a container's /proc: its own pids). */
static __always_inline __u32 proc_vpid(struct super_block *sb, struct pid *pid, __u32 host)
{
	struct proc_fs_info *fsi = (struct proc_fs_info *)BPF_CORE_READ(sb, s_fs_info);
	__u32 level = fsi ? BPF_CORE_READ(fsi, pid_ns, level) : 0;

	if (level && level <= BPF_CORE_READ(pid, level) && level < 32)
		return BPF_CORE_READ(upid_at(pid, level), nr);
	return host;
}

/*
 * Files a process holds without having opened them (L3, red-team round 8's
 * l3r8_cycle_fd_handback): a helper opens and writes a file, then passes the
 * open fd over a unix socket (SCM_RIGHTS); the receiver reads it with no open
 * of its own, so no path record says what it read.  Two H7_EV_FILE records
 * give L3 the link: the file (dev, inode) a monitored process's writable open
 * returned (its path is the sys_enter open record just before, same thread),
 * and each regular file an SCM_RIGHTS message installed into a monitored
 * process, read at recvmsg/recvmmsg's exit from the caller's msghdr (the
 * kernel wrote the new fd numbers and the used control length back into it)
 * and resolved through its fd table.  Both modes: no fentry point is needed
 * (the fds are in the table when the syscall returns); io_uring's RECVMSG and
 * more than H7_RECV_FDS_MAX fds per call are not seen (docs/detection.md).
 */
static __always_inline void file_emit(__u32 agent, __u32 op, __u32 hook, int fd, struct file *f)
{
	struct h7_file_key k = {};
	struct h7_event *ev;

	if (!reg_file(f))
		return;
	file_key(f, &k);
	ev = event_start_sz(H7_EV_FILE, agent, H7_EV_SIZE(file));
	if (!ev)
		return;
	ev->file.ino = k.ino;
	ev->file.dev = k.dev;
	ev->file.gen = k.gen;
	ev->file.op = op;
	ev->file.fd = fd;
	ev->file.flags = BPF_CORE_READ(f, f_flags);
	ev->file.hook = hook;
	if (bpf_probe_read_kernel_str(ev->file.name, sizeof(ev->file.name),
				      BPF_CORE_READ(f, f_path.dentry, d_name.name)) < 0)
		ev->file.name[0] = 0;
	bpf_ringbuf_submit(ev, fill_wakeup(&event_ring));
}

/* struct user_msghdr / cmsghdr as a 64-bit caller lays them out (compat callers are not read) */
struct h7_umsghdr {
	__u64 name;
	__s32 namelen;
	__s32 _pad;
	__u64 iov;
	__u64 iovlen;
	__u64 control;
	__u64 controllen; /* after the call: the control bytes the kernel filled */
	__u32 flags;
	__u32 _pad2;
};

struct h7_ucmsghdr {
	__u64 len;
	__s32 level;
	__s32 type;
};

#define H7_SOL_SOCKET 1
#define H7_SCM_RIGHTS 1
#define H7_MMSGHDR_SIZE 64 /* struct mmsghdr: user_msghdr (56) + msg_len, padded */

/*
 * A receive exit's work runs as bpf_loop callbacks, not as unrolled loops: the verifier walks a
 * callback's body once per call site, where it walked every unrolled iteration with its own state
 * (4 messages x 3 control messages x 8 fds made sys_exit_recvmmsg 311K processed instructions,
 * 0.65 s of every attach on this host; session 17).  Each fd is reported as it is read.
 */
struct h7_recvctx {
	__u64 umsg, fdp; /* fdp: user address of the SCM_RIGHTS array being read */
	__u32 msgs, n, cnt, agent, hook;
};

/* fd j of the SCM_RIGHTS array at r->fdp (r->cnt of them); at most H7_RECV_FDS_MAX per call. */
static long recv_rights_step(__u32 j, void *ctx)
{
	struct h7_recvctx *r = ctx;
	int fd = -1;

	if (j >= r->cnt || r->n >= H7_RECV_FDS_MAX)
		return 1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (const void *)(r->fdp + j * sizeof(int))))
		return 1;
	r->n++;
	file_emit(r->agent, H7_FILE_RECEIVED, r->hook, fd, fd_file(fd));
	return 0;
}

/* Message i (user address r->umsg + i * H7_MMSGHDR_SIZE): its control messages, rights reported. */
static long recv_msg_step(__u32 i, void *ctx)
{
	struct h7_recvctx *r = ctx;
	struct h7_umsghdr m = {};
	__u64 off = 0;

	if (i >= r->msgs || r->n >= H7_RECV_FDS_MAX)
		return 1;
	if (bpf_probe_read_user(&m, sizeof(m), (const void *)(r->umsg + i * H7_MMSGHDR_SIZE)) || !m.control ||
	    m.controllen < sizeof(struct h7_ucmsghdr))
		return 0;
	for (int k = 0; k < H7_RECV_CMSGS_MAX; k++) {
		struct h7_ucmsghdr c = {};

		if (off + sizeof(c) > m.controllen || off > 4096)
			break;
		if (bpf_probe_read_user(&c, sizeof(c), (const void *)(m.control + off)))
			break;
		if (c.len < sizeof(c) || c.len > m.controllen - off)
			break;
		if (c.level == H7_SOL_SOCKET && c.type == H7_SCM_RIGHTS) {
			r->fdp = m.control + off + sizeof(c);
			r->cnt = (c.len - sizeof(c)) / sizeof(int);
			bpf_loop(H7_RECV_FDS_MAX, recv_rights_step, r, 0);
		}
		off += (c.len + 7) & ~7ULL;
	}
	return 0;
}

static __always_inline int on_recv_exit(struct h7_sys_exit_ctx *ctx, __u32 hook, int mmsg)
{
	struct h7_recvctx r = {.hook = hook, .msgs = 1};
	struct task_struct *cur;
	struct pt_regs *regs;
	struct h7_scope *s;

	if (ctx->ret < 0 || (mmsg && ctx->ret == 0))
		return 0; /* failed, or no message (a 0-byte recvmsg may still carry fds) */
	s = scope_current();
	if (!s)
		return 0;
	r.agent = s->agent;
	cur = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(cur);
	r.umsg = (__u64)ARG2(regs);
	if (mmsg)
		r.msgs = ctx->ret < H7_RECV_MMSGS_MAX ? (__u32)ctx->ret : H7_RECV_MMSGS_MAX;
	bpf_loop(H7_RECV_MMSGS_MAX, recv_msg_step, &r, 0);
	return 0;
}

/*
 * Linux AIO: io_submit(ctx, nr, iocbpp) with an IOCB_CMD_PWRITE(V) control block on a socket
 * writes into it with no send or write syscall and no cgroup hook (red-team round 5's held-out
 * g1r5_passed_socket_aio_write: a socket connected outside the tree, passed in, written by AIO;
 * fentry mode's inet_sendmsg sees it, tracepoint mode saw nothing).  Read at the call's exit, from
 * the caller's registers and control blocks, as the recvmsg exits read theirs: a program of its
 * own (sys_enter has no room left: its jumps must stay within 32K instructions and 6.1's
 * verifier allows it 512 bytes of stack with a callee), on a per-syscall exit tracepoint whose
 * probe the open exits already registered (no cost to any other syscall).  The first
 * H7_AIO_IOCBS blocks the kernel accepted are read; writes to files do not hide a socket's.
 */
#define H7_AIO_IOCBS 16
#define H7_IOCB_CMD_PWRITE 1
#define H7_IOCB_CMD_PWRITEV 8

struct h7_iocb { /* the head of linux/aio_abi.h's struct iocb, little-endian */
	__u64 aio_data;
	__u32 aio_key, aio_rw_flags;
	__u16 aio_lio_opcode;
	__s16 aio_reqprio;
	__u32 aio_fildes;
	__u64 aio_buf, aio_nbytes;
};

struct h7_aioctx {
	const __u64 *iocbpp;
	long nr;
	__u32 agent;
};

/* One control block (a bpf_loop callback: verified once, not once per block). */
static long aio_iocb_step(__u32 i, void *ctx)
{
	struct h7_aioctx *a = ctx;
	struct h7_iocb cb = {};
	struct iovec iov0 = {};
	const void *buf;
	__u64 p = 0, blen;

	if (i >= a->nr || bpf_probe_read_user(&p, sizeof(p), &a->iocbpp[i]) || !p ||
	    bpf_probe_read_user(&cb, sizeof(cb), (const void *)p))
		return 1;
	if (cb.aio_lio_opcode == H7_IOCB_CMD_PWRITE) {
		buf = (const void *)cb.aio_buf;
		blen = cb.aio_nbytes;
	} else if (cb.aio_lio_opcode == H7_IOCB_CMD_PWRITEV) {
		if (cb.aio_nbytes)
			bpf_probe_read_user(&iov0, sizeof(iov0), (const void *)cb.aio_buf);
		buf = iov0.iov_base;
		blen = iov0.iov_len;
	} else {
		return 0;
	}
	on_socket_write(a->agent, stats_of(a->agent), (int)cb.aio_fildes, blen, 0, H7_NET_WRITE, buf, blen,
			H7_HOOK_TP_EXIT_IO_SUBMIT, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_io_submit")
int h7_tp_exit_io_submit(struct h7_sys_exit_ctx *ctx)
{
	struct h7_aioctx a = {.nr = ctx->ret};
	struct task_struct *cur;
	struct pt_regs *regs;
	struct h7_scope *s;

	if (a.nr <= 0)
		return 0; /* nothing submitted */
	s = scope_current();
	if (!s)
		return 0;
	a.agent = s->agent;
	cur = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(cur);
	a.iocbpp = (const __u64 *)ARG3(regs);
	bpf_loop(H7_AIO_IOCBS, aio_iocb_step, &a, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int h7_tp_exit_recvmsg(struct h7_sys_exit_ctx *ctx)
{
	return on_recv_exit(ctx, H7_HOOK_TP_EXIT_RECVMSG, 0);
}

SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int h7_tp_exit_recvmmsg(struct h7_sys_exit_ctx *ctx)
{
	return on_recv_exit(ctx, H7_HOOK_TP_EXIT_RECVMMSG, 1);
}

/*
 * The other ways a monitored process comes to hold a file it never opened by
 * path: open_by_handle_at(2) (a file named by its handle: red-team round 9's
 * l3r9_cycle_open_by_handle read the child's answer so) and pidfd_getfd(2)
 * (a helper's fd pulled into the agent rather than sent to it).  Both return
 * the new fd: its file's identity, as for a received fd; L3 takes it as an open
 * of the path that inode was written through.  Both modes (per-syscall exits).
 */
static __always_inline int on_held_exit(struct h7_sys_exit_ctx *ctx, __u32 op, __u32 hook)
{
	struct h7_scope *s;

	if (ctx->ret < 0 || !(s = scope_current()))
		return 0;
	file_emit(s->agent, op, hook, (int)ctx->ret, fd_file((int)ctx->ret));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open_by_handle_at")
int h7_tp_exit_open_by_handle(struct h7_sys_exit_ctx *ctx)
{
	return on_held_exit(ctx, H7_FILE_BY_HANDLE, H7_HOOK_TP_EXIT_OPEN_BY_HANDLE);
}

/*
 * pidfd_getfd's return to an agent also marks a pipe/FIFO end it got writable (red-team round
 * 10, g5r10_pidfd_getfd_runner_pipe: the write end of an outsider runner's stdin pipe taken from
 * the runner's supervisor, with no open to mark it): judged as an open of it would be, whoever
 * reads the pipe is a receiver.  The ia32 entry's exit does not fire (ftrace skips compat
 * syscalls), nor does a socket taken this way get a connect's mark (docs/detection.md).
 */
SEC("tracepoint/syscalls/sys_exit_pidfd_getfd")
int h7_tp_exit_pidfd_getfd(struct h7_sys_exit_ctx *ctx)
{
	struct h7_scope *s;
	struct inode *inode;
	struct file *f;

	if (ctx->ret < 0 || !(s = scope_current()))
		return 0;
	f = fd_file((int)ctx->ret);
	inode = f ? BPF_CORE_READ(f, f_inode) : NULL;
	if (inode && (BPF_CORE_READ(inode, i_mode) & S_IFMT) == S_IFIFO && (BPF_CORE_READ(f, f_mode) & FMODE_WRITE))
		recv_mark((__u64)inode, BPF_CORE_READ(inode, i_ino), H7_RECV_FIFO, s->agent, s->tgid, 0, 0);
	file_emit(s->agent, H7_FILE_TAKEN, H7_HOOK_TP_EXIT_PIDFD_GETFD, (int)ctx->ret, f);
	return 0;
}

/*
 * SysV shared memory (L3, red-team round 8's l3r8_cycle_sysv_shm): a child
 * attaches a segment by key and writes its result there, the agent reads its
 * own attachment, made before, with plain loads (no syscall).  The calls of
 * monitored processes that name a segment are reported at their exit, when
 * they succeeded: shmget (key -> id), shmat (id, flags -> address), shmdt
 * (address).  L3 makes the segment a node and an attachment without
 * SHM_RDONLY a write that flows into every process holding it attached.
 * Per-syscall tracepoints, both modes; other syscalls pay nothing more.
 */
static __always_inline int on_shm_exit(struct h7_sys_exit_ctx *ctx, __u32 op, __u32 hook)
{
	struct task_struct *cur;
	struct pt_regs *regs;
	struct h7_scope *s;
	struct h7_event *ev;

	if (ctx->ret < 0 || !(s = scope_current()))
		return 0;
	cur = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(cur);
	ev = event_start_sz(H7_EV_SHM, s->agent, H7_EV_SIZE(shm));
	if (!ev)
		return 0;
	ev->shm.op = op;
	ev->shm.hook = hook;
	ev->shm.ipc_ns = BPF_CORE_READ(cur, nsproxy, ipc_ns, ns.inum);
	ev->shm.key = 0;
	ev->shm.addr = 0;
	ev->shm.shmid = -1;
	ev->shm.flags = 0;
	if (op == H7_SHM_GET) { /* shmget(key, size, shmflg) = id */
		ev->shm.key = (__s32)ARG1(regs);
		ev->shm.shmid = (__s32)ctx->ret;
		ev->shm.flags = (__u32)ARG3(regs);
	} else if (op == H7_SHM_AT) { /* shmat(shmid, shmaddr, shmflg) = address */
		ev->shm.shmid = (__s32)ARG1(regs);
		ev->shm.flags = (__u32)ARG3(regs);
		ev->shm.addr = (__u64)ctx->ret;
	} else { /* shmdt(shmaddr) = 0 */
		ev->shm.addr = (__u64)ARG1(regs);
	}
	bpf_ringbuf_submit(ev, fill_wakeup(&event_ring));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_shmget")
int h7_tp_exit_shmget(struct h7_sys_exit_ctx *ctx)
{
	return on_shm_exit(ctx, H7_SHM_GET, H7_HOOK_TP_EXIT_SHMGET);
}

SEC("tracepoint/syscalls/sys_exit_shmat")
int h7_tp_exit_shmat(struct h7_sys_exit_ctx *ctx)
{
	return on_shm_exit(ctx, H7_SHM_AT, H7_HOOK_TP_EXIT_SHMAT);
}

SEC("tracepoint/syscalls/sys_exit_shmdt")
int h7_tp_exit_shmdt(struct h7_sys_exit_ctx *ctx)
{
	return on_shm_exit(ctx, H7_SHM_DT, H7_HOOK_TP_EXIT_SHMDT);
}

/*
 * What an open's exit must do for a file that is not on procfs: a FIFO an agent opened for
 * writing marks a receiver channel, any other file an agent opened for writing is an L3 file
 * record (file_emit: regular files), and a regular file it opened for reading is one too when a
 * process of the same agent wrote it (written_files: L3 then knows the file by its inode, not by
 * the path this open spelled); a regular file a young process outside every agent opens
 * for reading may be one an agent wrote (recv_file_open).  Cheapest tests first, since nearly
 * every open on a host is an old process's ordinary file: whether the caller is an agent's
 * (bitmap loads), whether receivers are on (an array load), whether it is young (two typed
 * loads), and only then the inode's and file's mode, with a probe read each.
 */
static __always_inline void open_exit_other(struct file *f, struct inode *inode, __u32 hook, int fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 kw = H7_RECV_WINDOW;
	__u64 *window = bpf_map_lookup_elem(&recv_state, &kw);
	struct h7_scope *s;
	__u32 mode;
	__u64 now;

	s = scope_current();
	if (s) {
		if (!(BPF_CORE_READ(f, f_mode) & FMODE_WRITE)) {
			struct h7_file_key k = {};
			struct h7_written *w;

			if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFREG)
				return;
			file_key(f, &k);
			w = bpf_map_lookup_elem(&written_files, &k);
			if (w && w->agent == s->agent)
				file_emit(s->agent, H7_FILE_READ_WRITTEN, hook, fd, f);
			return;
		}
		if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) == S_IFIFO) {
			/* a FIFO (or a pipe reopened through /proc/PID/fd) opened for writing by an agent:
			 * whoever reads it is a receiver */
			recv_mark((__u64)inode, BPF_CORE_READ(inode, i_ino), H7_RECV_FIFO, s->agent, s->tgid, 0, 0);
			return;
		}
		file_emit(s->agent, H7_FILE_OPENED, hook, fd, f); /* L3: the file a writable open returned */
		return;
	}
	if (!window || !*window)
		return; /* receivers off: recv_written would do nothing */
	now = bpf_ktime_get_ns();
	if (now - t->group_leader->start_time > H7_RECV_YOUNG_NS) {
		/* a long-running outsider: a copier, if it writes a same-size copy; a writable open is
		 * judged by its mode, not the bloom bit: the bit of a freed agent-written file's struct
		 * inode stays set when the slab gives that address to the copier's new output */
		if (slot_armed(H7_RECV_COPIER_UNTIL) && (BPF_CORE_READ(f, f_mode) & FMODE_WRITE))
			copier_base(now); /* a copier's output, maybe: what it reads next may go into it */
		else if (bloom_maybe(inode))
			copier_open(f, now);
		return;
	}
	mode = BPF_CORE_READ(inode, i_mode) & S_IFMT;
	if (mode == S_IFREG)
		recv_file_open(f, now);
}

static __always_inline int on_open_exit(struct h7_sys_exit_ctx *ctx, __u32 hook)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), target, vpid, op, zero = 0;
	__u64 *live = bpf_map_lookup_elem(&proc_seen_live, &zero);
	struct h7_hook_cfg *cfg;
	struct proc_inode *pi;
	struct super_block *sb;
	struct inode *inode;
	struct file *f;
	struct pid *pid;
	__s64 *seen;
	bool classified = false;
	char name[16] = {};

	if (live && *live) { /* some open's sys_enter classified it: this one's? */
		seen = bpf_map_lookup_elem(&proc_seen, &tid);
		if (seen) {
			__s64 snr = *seen;

			if (!bpf_map_delete_elem(&proc_seen, &tid))
				__sync_fetch_and_add(live, -1);
			classified = snr == ctx->nr; /* sys_enter's parse classified (and reported) this open */
		}
	}
	if (ctx->ret < 0)
		return 0;
	f = task_fd_file((int)ctx->ret);
	if (!f)
		return 0;
	inode = BPF_CORE_READ(f, f_inode);
	if (!inode)
		return 0;
	sb = BPF_CORE_READ(inode, i_sb);
	if (classified) {
		/* sys_enter's parse classified (and reported) what the path names (mem, maps, environ,
		 * fd/N of some task's /proc), any owner.  A /proc/PID/fd/N open returns the file behind
		 * that descriptor, which no path names, so for a monitored caller this exit says what it got:
		 * - a pipe reopened for writing is a FIFO channel (open_exit_other's rule, which this
		 *   return skips; red-team round 10's g5r10_procfd_pipe_into_runner_stdin);
		 * - a regular file is reported by its identity, either access mode (L3; round 10's
		 *   l3r10_cycle_otmpfile_procfd: the agent read its child's unnamed O_TMPFILE result
		 *   through /proc/CHILD/fd/N).
		 * One block: two returning blocks (k10's mark, l3r10's record) each hid the other. */
		struct h7_scope *s = scope_current();

		if (!s)
			return 0;
		if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) == S_IFIFO) {
			if (BPF_CORE_READ(f, f_mode) & FMODE_WRITE)
				recv_mark((__u64)inode, BPF_CORE_READ(inode, i_ino), H7_RECV_FIFO, s->agent, s->tgid, 0, 0);
		} else if (BPF_CORE_READ(sb, s_magic) != PROC_SUPER_MAGIC) {
			file_emit(s->agent, H7_FILE_REOPENED, hook, (int)ctx->ret, f);
		}
		return 0;
	}
	if (BPF_CORE_READ(sb, s_magic) != PROC_SUPER_MAGIC) {
		open_exit_other(f, inode, hook, (int)ctx->ret);
		return 0;
	}
	pi = (struct proc_inode *)((char *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode));
	pid = BPF_CORE_READ(pi, pid);
	if (!pid)
		return 0; /* no task's file (/proc/meminfo, sysctl, /proc/net/...) */
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	op = proc_file_op(name);
	if (!op) {
		/* Any other file of its /proc/<pid> opened for writing (red-team round 8: oom_score_adj,
		 * timerslack_ns): the agent's kernel settings retuned by name, gated by credentials or a
		 * capability, never by the ptrace access check; only callers outside its agent. */
		if (!(BPF_CORE_READ(f, f_mode) & FMODE_WRITE))
			return 0;
		target = pid_host_nr(pid);
		access_emit_full(H7_ACC_PROC_WRITE, hook, target, proc_vpid(sb, pid, target),
				 -1, BPF_CORE_READ(f, f_flags), ctx->nr, 0, 1, name, 0);
		return 0;
	}
	cfg = hook_config();
	if (cfg && cfg->access == H7_ACCESS_FENTRY &&
	    (op == H7_ACC_PROC_MEM || op == H7_ACC_PROC_SYSCALL || op == H7_ACC_PROC_STACK))
		return 0; /* the attach-level access check reported it (at the open, or at the read) */
	target = pid_host_nr(pid);
	vpid = proc_vpid(sb, pid, target);
	if (op == H7_ACC_PROC_ENVIRON) {
		if (cfg && cfg->environ == H7_ACCESS_FENTRY)
			return 0; /* fentry/environ_open counts and reports it */
		environ_open_seen(target, scope_of(target) ? target : 0, vpid, BPF_CORE_READ(f, f_flags), ctx->nr,
				  hook);
		return 0;
	}
	if (op == H7_ACC_PROC_MAPS) {
		__u32 sweep = proc_run(&maps_runs, target);

		access_emit_sweep(op, hook, target, vpid, -1, BPF_CORE_READ(f, f_flags), ctx->nr, sweep);
		return 0;
	}
	access_emit(op, hook, target, vpid, -1, BPF_CORE_READ(f, f_flags), ctx->nr);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int h7_tp_exit_openat(struct h7_sys_exit_ctx *ctx)
{
	return on_open_exit(ctx, H7_HOOK_TP_EXIT_OPENAT);
}

SEC("tracepoint/syscalls/sys_exit_open")
int h7_tp_exit_open(struct h7_sys_exit_ctx *ctx)
{
	return on_open_exit(ctx, H7_HOOK_TP_EXIT_OPEN);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int h7_tp_exit_openat2(struct h7_sys_exit_ctx *ctx)
{
	return on_open_exit(ctx, H7_HOOK_TP_EXIT_OPENAT2);
}

/*
 * Whoever the caller is: the TARGET decides, named in the caller's own PID
 * namespace.  Reported with a forced wakeup so userspace sees it within one
 * poll.  In fentry access mode only TRACEME comes from here (attach and
 * seize pass the access check, which names the target task exactly).
 */
static __always_inline void on_ptrace(long request, __u32 arg)
{
	__u32 target;

	if (request == PTRACE_TRACEME)
		target = (__u32)bpf_get_current_pid_tgid();
	else if (request != PTRACE_ATTACH && request != PTRACE_SEIZE)
		return;
	else if (access_mode() == H7_ACCESS_FENTRY)
		return;
	else
		target = host_tid(arg);
	if (target)
		ptrace_emit(request, target, arg, H7_HOOK_SYS_ENTER);
}

/*
 * perf_event_open(2) on one task (red-team round 8, g2r8_perf_stack_sample):
 * a sampling event with PERF_SAMPLE_STACK_USER copies the target's user stack
 * (and REGS_USER its registers) into the caller's ring buffer at every sample:
 * its memory read with no ptrace, /proc or process_vm_*.  The kernel gates it
 * with a READ-level access check (perf_check_permission), which fentry's
 * attach-level hook does not report: sys_enter, both modes, the pid resolved
 * through the caller's PID namespace.  pid -1 (a CPU-wide event: perf -a, a
 * continuous profiler) and a cgroup fd (PERF_FLAG_PID_CGROUP) name no task.
 */
#define H7_PERF_FLAG_PID_CGROUP 0x4
#define H7_PERF_ATTR_SAMPLE_TYPE 24 /* offsetof(struct perf_event_attr, sample_type): a stable UAPI */

static __always_inline void on_perf_open(const void *uattr, __s32 pid, __s32 cpu, __u64 flags, long nr)
{
	__u64 st = 0;
	__u32 target;

	if (pid <= 0 || (flags & H7_PERF_FLAG_PID_CGROUP))
		return;
	target = host_tid((__u32)pid);
	if (!target || !scope_of(target))
		return;
	bpf_probe_read_user(&st, sizeof(st), (const char *)uattr + H7_PERF_ATTR_SAMPLE_TYPE);
	access_emit_full(H7_ACC_PERF_EVENT, H7_HOOK_SYS_ENTER, target, (__u32)pid, cpu, (__u32)st, nr, 0, 1, 0, 0);
}

/*
 * Red-team round 9 (g2r9_sched_starve_agent, g2r9_memory_oracle_syscalls and their
 * namespace variants g3r9_setpriority_ioprio_ns, g3r9_memory_oracle_ns): calls that
 * name another task by pid and pass no attach-level access check, so fentry's hook
 * never sees them and sys_enter reads them in both modes, the pid resolved through
 * the caller's PID namespace (as prlimit):
 *  - starvation/throttling (credentials or CAP_SYS_NICE only): sched_setscheduler
 *    (mode = policy), sched_setparam, sched_setattr (mode = attr.sched_policy),
 *    sched_setaffinity (mode = CPUs 0-31 of the mask, arg_fd = the mask's length),
 *    setpriority(PRIO_PROCESS) (mode = the nice value), ioprio_set(IOPRIO_WHO_PROCESS)
 *    (mode = the ioprio), migrate_pages (its memory moved to other nodes);
 *  - memory oracles (READ-level ptrace checks): get_robust_list (a TLS address),
 *    move_pages (mode 1 = pages moved, 0 = a residency query; arg_fd = the count),
 *    kcmp (mode = the type; the target is pid1, else pid2).
 * pid 0 (the caller itself), process groups and users are not read.  Not filtered by
 * agent: who the caller is to the target is L5's (userspace) verdict.  One call site
 * of access_emit, so sys_enter's size grows by one emit, not ten.
 */
#define H7_PRIO_PROCESS 0
#define H7_IOPRIO_WHO_PROCESS 1

/*
 * A subprogram, not inlined: the ia32 entry's argument reads (SARG) double its body, and
 * sys_enter's jump offsets must stay within 32K instructions.  It calls no bpf_loop
 * callback, so sys_enter -> on_sched_oracle stays within 6.1's 512-byte combined stack
 * (on_tamper_syscall as a subprogram did not: sys_enter + it + path_num_step = 544 bytes).
 */
static __noinline void on_sched_oracle(long id, long nr, struct pt_regs *regs, bool ia32)
{
	__u32 op, mode = 0, vpid = (__u32)SARG(regs, ia32, 1), target;
	__s32 arg = -1;

	switch (id) {
	case H7_NR_sched_setscheduler:
		op = H7_ACC_SCHED_SETSCHEDULER;
		mode = (__u32)SARG(regs, ia32, 2);
		break;
	case H7_NR_sched_setparam:
		op = H7_ACC_SCHED_SETPARAM;
		break;
	case H7_NR_sched_setattr: /* struct sched_attr { u32 size; u32 sched_policy; ... } */
		op = H7_ACC_SCHED_SETATTR;
		bpf_probe_read_user(&mode, sizeof(mode), (const char *)SARG(regs, ia32, 2) + 4);
		break;
	case H7_NR_sched_setaffinity: /* (pid, len, mask) */
		op = H7_ACC_SCHED_SETAFFINITY;
		arg = (__s32)SARG(regs, ia32, 2);
		bpf_probe_read_user(&mode, sizeof(mode), (const void *)SARG(regs, ia32, 3));
		break;
	case H7_NR_setpriority: /* (which, who, prio) */
		if ((int)SARG(regs, ia32, 1) != H7_PRIO_PROCESS)
			return;
		op = H7_ACC_SETPRIORITY;
		vpid = (__u32)SARG(regs, ia32, 2);
		mode = (__u32)SARG(regs, ia32, 3);
		break;
	case H7_NR_ioprio_set: /* (which, who, ioprio) */
		if ((int)SARG(regs, ia32, 1) != H7_IOPRIO_WHO_PROCESS)
			return;
		op = H7_ACC_IOPRIO_SET;
		vpid = (__u32)SARG(regs, ia32, 2);
		mode = (__u32)SARG(regs, ia32, 3);
		break;
	case H7_NR_migrate_pages:
		op = H7_ACC_MIGRATE_PAGES;
		break;
	case H7_NR_get_robust_list:
		op = H7_ACC_GET_ROBUST_LIST;
		break;
	case H7_NR_move_pages: /* (pid, count, pages, nodes, status, flags): nodes NULL = a query */
		op = H7_ACC_MOVE_PAGES;
		arg = (__s32)SARG(regs, ia32, 2);
		mode = SARG(regs, ia32, 4) ? 1 : 0;
		break;
	case H7_NR_kcmp: /* (pid1, pid2, type, idx1, idx2) */
		op = H7_ACC_KCMP;
		mode = (__u32)SARG(regs, ia32, 3);
		break;
	default:
		return;
	}
	if (!vpid)
		return;
	target = host_tid(vpid);
	if (id == H7_NR_kcmp) { /* pid1 is usually the caller itself: then the target is pid2 */
		struct h7_scope *ks = target ? scope_of(target) : 0;

		if (!ks || ks->tgid == (__u32)(bpf_get_current_pid_tgid() >> 32)) {
			vpid = (__u32)SARG(regs, ia32, 2);
			target = vpid ? host_tid(vpid) : 0;
		}
	}
	access_emit(op, H7_HOOK_SYS_ENTER, target, vpid, arg, mode, nr);
}

/*
 * Cgroup moves (red-team round 9: g2r9_cgroup_cpu_throttle wrote the agent's pid
 * into a cgroup capped by cpu.max, g3r9_cgroup_freeze_ns by namespace pid into a
 * freezer): a write to cgroup.procs names the task in no syscall argument, so the
 * migration's own tracepoint reports it, in the writer's context, with the task the
 * kernel moved (any namespace, v1 or v2).  Runs only when a task changes cgroup.
 * A process moving itself is not reported (access_emit_full); who the writer is to
 * the agent is L5's verdict.  Gap "cgroup_moves" (no fentry mode: the same hook).
 */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(h7_tp_cgroup_attach, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	__u32 tid = (__u32)BPF_CORE_READ(task, pid);
	char name[16] = {};

	if (!scope_of(tid))
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(dst, kn, name));
	access_emit_full(H7_ACC_CGROUP_MOVE, H7_HOOK_TP_CGROUP_ATTACH, tid, tid, -1, threadgroup ? 1 : 0, 0, 0,
			 0, name, 0);
	return 0;
}

/*
 * Signals (red-team round 10: g2r10_sigstop_freeze_agent froze the agent with SIGSTOP
 * through a pidfd, g3r10_procdir_signal_freeze_ns through a /proc dirfd inside its PID
 * namespace): no syscall hook sees every way to name the target (kill, tkill, tgkill,
 * rt_(tg)sigqueueinfo, pidfd_send_signal, process groups), so the kernel's own
 * generation point reports it: tp_btf/signal_generate, with the target task, the signal,
 * and the sender as current.  It fires for every signal on the host, so the checks run
 * cheapest first: the signal in the tampering set (stop, kill, forged faults: signals the
 * agent cannot catch, or whose default action kills it with a core; not TERM/INT/HUP,
 * which it can handle), then the target in scope.  Not reported: what the kernel sends
 * (info SEND_SIG_PRIV, si_code > 0: faults, OOM kills, the tty's job control,
 * SIGCHLD), kernel-sourced codes (SI_TIMER, SI_SIGIO, SI_ASYNCIO: delivered from interrupt
 * or another task's context, current is not the sender), a signal the target ignores,
 * a process signalling itself, kernel threads.  The sender's place in the target's parent
 * chain (its supervisor, shell, init) goes in the record: L5 decides (relation rule).
 */
#define H7_SIG_TAMPER ((1U << 4) | (1U << 5) | (1U << 6) | (1U << 7) | (1U << 8) | (1U << 9) | \
		       (1U << 11) | (1U << 19) | (1U << 20) | (1U << 21) | (1U << 22) | (1U << 24) | \
		       (1U << 25) | (1U << 31)) /* ILL TRAP ABRT BUS FPE KILL SEGV STOP TSTP TTIN TTOU XCPU XFSZ SYS */
#define H7_SEND_SIG_PRIV 1UL /* include/linux/sched/signal.h: ((struct kernel_siginfo *) 1) */
#define H7_SI_TIMER (-2)
#define H7_SI_ASYNCIO (-4)
#define H7_SI_SIGIO (-5)
#define H7_PF_KTHREAD 0x00200000
#define H7_SIG_ANCESTORS 8

SEC("tp_btf/signal_generate")
int BPF_PROG(h7_tp_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
	     int result)
{
	struct task_struct *cur, *p;
	__u32 tid, me, depth = 0;
	int code, i;

	if (sig <= 0 || sig >= 32 || !((1U << sig) & H7_SIG_TAMPER))
		return 0;
	tid = BPF_CORE_READ(task, pid);
	if (!scope_of(tid) || result == 1 /* TRACE_SIGNAL_IGNORED */)
		return 0;
	if ((unsigned long)info == H7_SEND_SIG_PRIV)
		return 0; /* SI_KERNEL: ptrace's attach stop, the tty's job control, the kernel's kills */
	/* SEND_SIG_NOINFO is SI_USER (the tracepoint's own reading of it): 7.3.4's kill(2)
	 * passes it where 6.1 and 6.18 build a siginfo; the kernel's rare NOINFO sends (a
	 * parent's pdeath_signal) come from above the target: L5's supervisor rule. */
	code = info ? BPF_CORE_READ(info, si_code) : 0 /* SI_USER */;
	if (code > 0 || code == H7_SI_TIMER || code == H7_SI_ASYNCIO || code == H7_SI_SIGIO)
		return 0;
	cur = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(cur, flags) & H7_PF_KTHREAD)
		return 0;
	me = bpf_get_current_pid_tgid() >> 32;
	p = BPF_CORE_READ(task, group_leader);
	for (i = 1; i <= H7_SIG_ANCESTORS; i++) {
		p = BPF_CORE_READ(p, real_parent);
		if (!p)
			break;
		if ((__u32)BPF_CORE_READ(p, tgid) == me) {
			depth = i;
			break;
		}
		if (BPF_CORE_READ(p, pid) <= 1)
			break;
	}
	access_emit_full(H7_ACC_SIGNAL, H7_HOOK_TP_SIGNAL_GENERATE, tid, tid, code, (__u32)sig, -1, depth, 0, 0,
			 group ? 1 : 0);
	return 0;
}

/* Tampering syscalls by anyone, tracepoint mode (see "tampering" above). */
static __always_inline void on_tamper_syscall(long id, long nr, struct pt_regs *regs, bool ia32)
{
	/* The four opens share one call of h7_proc_open (one copy in the program: four inlined
	 * copies made sys_enter 33.5K instructions, near the 32K reach of its jumps; session 17). */
	int dfd = AT_FDCWD, path_arg = 1;
	__u32 arg, flags = 0;

	switch (id) {
	case H7_NR_ptrace:
		on_ptrace((long)SARG(regs, ia32, 1), (__u32)SARG(regs, ia32, 2));
		return;
	case H7_NR_openat:
		flags = (__u32)SARG(regs, ia32, 3);
		/* fallthrough */
	case H7_NR_openat2:
		dfd = (int)SARG(regs, ia32, 1);
		path_arg = 2;
		goto open;
	case H7_NR_open:
		flags = (__u32)SARG(regs, ia32, 2);
		goto open;
	case H7_NR_creat:
		flags = H7_O_CREAT | H7_O_WRONLY | H7_O_TRUNC;
		goto open;
	/* Gated by a read-level access check (process_madvise) or by credentials alone (prlimit):
	 * the fentry hook never sees them, so sys_enter reports them in both modes. */
	case H7_NR_process_madvise: /* (pidfd, iovec, vlen, advice, flags) */
		access_emit(H7_ACC_PROCESS_MADVISE, H7_HOOK_SYS_ENTER, pidfd_target((int)SARG(regs, ia32, 1)),
			    (__u32)SARG(regs, ia32, 1), -1, (__u32)SARG(regs, ia32, 4), nr);
		return;
	case H7_NR_prlimit64: /* (pid, resource, new, old): a set only; a get reads what /proc/<pid>/limits shows */
		if (SARG(regs, ia32, 3))
			access_emit(H7_ACC_PRLIMIT, H7_HOOK_SYS_ENTER, host_tid((__u32)SARG(regs, ia32, 1)), (__u32)SARG(regs, ia32, 1),
				    (__s32)SARG(regs, ia32, 2), 0, nr);
		return;
	case H7_NR_perf_event_open: /* (attr, pid, cpu, group_fd, flags) */
		on_perf_open((const void *)SARG(regs, ia32, 1), (__s32)SARG(regs, ia32, 2), (__s32)SARG(regs, ia32, 3), (__u64)SARG(regs, ia32, 5), nr);
		return;
	}
	if (access_mode() == H7_ACCESS_FENTRY)
		return;
	arg = (__u32)SARG(regs, ia32, 1);
	switch (id) {
	case H7_NR_process_vm_readv:
		access_emit(H7_ACC_VM_READ, H7_HOOK_SYS_ENTER, host_tid(arg), arg, -1, 0, nr);
		break;
	case H7_NR_process_vm_writev:
		access_emit(H7_ACC_VM_WRITE, H7_HOOK_SYS_ENTER, host_tid(arg), arg, -1, 0, nr);
		break;
	case H7_NR_pidfd_getfd:
		access_emit(H7_ACC_PIDFD_GETFD, H7_HOOK_SYS_ENTER, pidfd_target((int)arg), arg,
			    (__s32)SARG(regs, ia32, 2), 0, nr);
		break;
	}
	return;
open:
	if (h7_proc_open(nr, dfd, (__u64)(path_arg == 1 ? SARG(regs, ia32, 1) : SARG(regs, ia32, 2)), flags,
			 H7_HOOK_SYS_ENTER | (ia32 ? H7_PROC_IA32 : 0)))
		h7_proc_report();
}

/*
 * The same acts through the 32-bit entry (int $0x80 / sysenter) of a 64-bit
 * process (red-team rounds 3 and 10: g2r3_ptrace_int80, g2r10_int80_pidfd_getfd,
 * g3r10_int80_setpriority_ioprio_ns): sys_enter's id is then the ia32 number and
 * the arguments are in bx, cx, dx, si, di (SARG).  Every syscall sys_enter judges
 * has its ia32 number here (from the kernel's syscall_32.tbl; tests/test_syscall_table.py
 * checks each against asm/unistd_32.h), mapped to the x86_64 number of the same
 * syscall, so one case each serves both entries.  Several ia32 numbers are other
 * x86_64 syscalls (26 msync, 5 fstat, 8 lseek, 97 getrlimit, 312 kcmp...) and
 * openat2/pidfd_getfd/process_madvise share their number, so the task's TS_COMPAT
 * decides, read only for these ids (one load from current).  The record's nr is the
 * ia32 number as called.
 */
#if defined(__TARGET_ARCH_x86)
#define H7_IA32_open 5
#define H7_IA32_close 6
#define H7_IA32_dup2 63
#define H7_IA32_dup3 330
#define H7_IA32_creat 8
#define H7_IA32_ptrace 26
#define H7_IA32_setpriority 97
#define H7_IA32_sched_setparam 154
#define H7_IA32_sched_setscheduler 156
#define H7_IA32_sched_setaffinity 241
#define H7_IA32_ioprio_set 289
#define H7_IA32_migrate_pages 294
#define H7_IA32_openat 295
#define H7_IA32_get_robust_list 312
#define H7_IA32_move_pages 317
#define H7_IA32_perf_event_open 336
#define H7_IA32_prlimit64 340
#define H7_IA32_process_vm_readv 347
#define H7_IA32_process_vm_writev 348
#define H7_IA32_kcmp 349
#define H7_IA32_sched_setattr 351
#define H7_IA32_openat2 437
#define H7_IA32_pidfd_getfd 438
#define H7_IA32_process_madvise 440
#define H7_TS_COMPAT 0x0002

/* The x86_64 number of the syscall an ia32 number names (for the ids sys_enter judges), else -1. */
static __always_inline long ia32_native_nr(long id)
{
	switch (id) {
	case H7_IA32_open: return H7_NR_open;
	case H7_IA32_close: return H7_NR_close;
	case H7_IA32_dup2: return H7_NR_dup2;
	case H7_IA32_dup3: return H7_NR_dup3;
	case H7_IA32_creat: return H7_NR_creat;
	case H7_IA32_ptrace: return H7_NR_ptrace;
	case H7_IA32_setpriority: return H7_NR_setpriority;
	case H7_IA32_sched_setparam: return H7_NR_sched_setparam;
	case H7_IA32_sched_setscheduler: return H7_NR_sched_setscheduler;
	case H7_IA32_sched_setaffinity: return H7_NR_sched_setaffinity;
	case H7_IA32_ioprio_set: return H7_NR_ioprio_set;
	case H7_IA32_migrate_pages: return H7_NR_migrate_pages;
	case H7_IA32_openat: return H7_NR_openat;
	case H7_IA32_get_robust_list: return H7_NR_get_robust_list;
	case H7_IA32_move_pages: return H7_NR_move_pages;
	case H7_IA32_perf_event_open: return H7_NR_perf_event_open;
	case H7_IA32_prlimit64: return H7_NR_prlimit64;
	case H7_IA32_process_vm_readv: return H7_NR_process_vm_readv;
	case H7_IA32_process_vm_writev: return H7_NR_process_vm_writev;
	case H7_IA32_kcmp: return H7_NR_kcmp;
	case H7_IA32_sched_setattr: return H7_NR_sched_setattr;
	case H7_IA32_openat2: return H7_NR_openat2;
	case H7_IA32_pidfd_getfd: return H7_NR_pidfd_getfd;
	case H7_IA32_process_madvise: return H7_NR_process_madvise;
	}
	return -1;
}

/* The x86_64 number of this syscall if it came through the 32-bit entry as one sys_enter judges. */
static __always_inline long ia32_judged(long id)
{
	long nat = ia32_native_nr(id);
	struct task_struct *t;

	if (nat < 0)
		return -1;
	t = bpf_get_current_task_btf();
	if (!(t->thread_info.status & H7_TS_COMPAT))
		return -1; /* a native syscall with that number (msync, fstat, lseek, kcmp...) */
	return nat;
}

/*
 * A monitored process's write into a connected inet socket through the ia32 entry (int $0x80 of a
 * 64-bit process): tracepoint mode's sys_enter cases read x86_64 numbers and registers, and no
 * cgroup hook runs for a connected socket's send, so a socket passed in and written by an ia32
 * write, send or socketcall went unseen (fentry mode's inet_sendmsg sees every one).  The i386
 * numbers (tests/test_syscall_table.py checks them against asm/unistd_32.h); several are other
 * x86_64 syscalls (4 stat, 146 sched_get_priority_max, 187 readahead, 239 get_mempolicy, 313
 * finit_module, 316 renameat2, 102 getuid), so TS_COMPAT decides before the call.  Addressed
 * datagrams are the cgroup hooks' (on_socket_write reports connected sockets only).  A
 * subprogram with a small stack that names the socket; sys_enter makes the on_socket_write call.
 * Not read: an ia32 io_submit (its control-block pointers are 32-bit), the byte counts.
 */
#define H7_I386_write 4
#define H7_I386_socketcall 102
#define H7_I386_writev 146
#define H7_I386_sendfile 187
#define H7_I386_sendfile64 239
#define H7_I386_splice 313
#define H7_I386_vmsplice 316
#define H7_I386_sendmmsg 345
#define H7_I386_sendto 369
#define H7_I386_sendmsg 370
#define H7_I386_pwritev2 379
/* socketcall(2)'s calls that send (linux/net.h SYS_*) */
#define H7_SYS_SEND 9
#define H7_SYS_SENDTO 11
#define H7_SYS_SENDMSG 16
#define H7_SYS_SENDMMSG 20

static __always_inline int i386_socket_write_nr(long id)
{
	switch (id) {
	case H7_I386_write:
	case H7_I386_socketcall:
	case H7_I386_writev:
	case H7_I386_sendfile:
	case H7_I386_sendfile64:
	case H7_I386_splice:
	case H7_I386_vmsplice:
	case H7_I386_sendmmsg:
	case H7_I386_sendto:
	case H7_I386_sendmsg:
	case H7_I386_pwritev2:
		return 1;
	}
	return 0;
}

/* 1 in a syscall made through the ia32 entry (TS_COMPAT): one load from current */
static __always_inline int in_ia32_syscall(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return !!(t->thread_info.status & H7_TS_COMPAT);
}

/* (paged << 32) | fd of the socket an ia32 write or send call names, else -1 */
static __noinline long ia32_socket_fd(long id, struct pt_regs *regs)
{
	__u32 a0 = 0;
	long fd = (__u32)IA32_ARG1(regs);

	switch (id) {
	case H7_I386_pwritev2: /* (fd, vec, vlen, pos_low, pos_high, flags): -1 writes a socket */
		if ((__u32)IA32_ARG4(regs) != 0xffffffff || (__u32)IA32_ARG5(regs) != 0xffffffff)
			return -1;
		return fd;
	case H7_I386_sendfile:
	case H7_I386_sendfile64:
		return (1L << 32) | fd;
	case H7_I386_splice: /* (fd_in, off_in, fd_out, off_out, len, flags) */
		return (1L << 32) | (__u32)IA32_ARG3(regs);
	case H7_I386_socketcall: { /* (call, args): args is a u32 array, the socket first */
		__u32 call = (__u32)IA32_ARG1(regs);

		if (call != H7_SYS_SEND && call != H7_SYS_SENDTO && call != H7_SYS_SENDMSG && call != H7_SYS_SENDMMSG)
			return -1;
		if (bpf_probe_read_user(&a0, sizeof(a0), (const void *)(__u64)(__u32)IA32_ARG2(regs)))
			return -1;
		return a0;
	}
	}
	return fd;
}
#endif

/* ------------------------------------------------ io_uring submissions */

/*
 * Tracepoint mode's view of io_uring, whose requests pass no syscall that
 * sys_enter could read (red-team round 4): io_uring's submit tracepoint
 * fires in the submitter (or its SQPOLL thread, which shares its file table
 * and fs) after the request's prep ran, so the command area holds what the
 * request will act on.  Costs only io_uring submissions, one byte read for
 * opcodes it does not judge.
 *  - OPENAT/OPENAT2, by anyone: the /proc/<pid>/mem|maps|environ path check
 *    of sys_enter's opens, on the kernel's copy of the filename;
 *  - CLOSE by a monitored process: a writable regular file joins
 *    written_files, as at close(2) (fentry mode: filp_close sees it too);
 *  - sends and writes by a monitored process on a socket fd: an AF_PACKET
 *    socket is link egress (unless packet_sendmsg's fentry is live); a
 *    connected inet socket is a send at the socket layer (unless the inet
 *    fentry hooks are live), e.g. a socket passed in over SCM_RIGHTS and
 *    written only through io_uring.  Unconnected inet datagrams carry an
 *    address: cgroup/sendmsg4|6 report those.
 * Fixed files (IOSQE_FIXED_FILE: sqe->fd indexes the ring's own table) are
 * not resolved.
 */

/* io_open's filename: a struct filename pointer up to 6.18, wrapped in
 * struct delayed_filename in 7.x (same 8 bytes; two CO-RE flavours). */
struct delayed_filename___h7 {
	struct filename *__incomplete_filename;
} __attribute__((preserve_access_index));

struct io_open___dl {
	struct delayed_filename___h7 filename;
} __attribute__((preserve_access_index));

/* io_kiocb.flags grew from 32 to 64 bits; bit 0 (REQ_F_FIXED_FILE) is in the first byte either way */
static __always_inline int uring_fixed_file(struct io_kiocb *req)
{
	__u8 fl = 0;

	bpf_probe_read_kernel(&fl, 1, (char *)req + bpf_core_field_offset(struct io_kiocb, flags));
	return fl & 1;
}

static __always_inline void uring_open(struct io_kiocb *req, __u8 op)
{
	struct io_open *o = (void *)req + bpf_core_field_offset(struct io_kiocb, cmd);
	struct filename *fn = 0;
	struct h7_scope *s;
	const char *name;

	if (bpf_core_field_exists(((struct io_open___dl *)o)->filename))
		fn = BPF_CORE_READ((struct io_open___dl *)o, filename.__incomplete_filename);
	else if (bpf_core_field_exists(o->filename))
		fn = BPF_CORE_READ(o, filename);
	if (!fn)
		return;
	name = BPF_CORE_READ(fn, name);
	if (!name)
		return;
	if (h7_proc_open(-1, BPF_CORE_READ(o, dfd), (__u64)name, (__u32)BPF_CORE_READ(o, how.flags),
			 H7_HOOK_TP_URING_SUBMIT))
		h7_proc_report();
	s = scope_current();
	if (s) /* the agent's own open: the record sys_enter makes for openat/openat2 */
		on_open_from(s->agent, stats_of(s->agent), op == IORING_OP_OPENAT2 ? H7_OPEN_OPENAT2 : H7_OPEN_OPENAT,
			     BPF_CORE_READ(o, dfd), name, (__u32)BPF_CORE_READ(o, how.flags),
			     (__u32)BPF_CORE_READ(o, how.mode), 1);
}

static __always_inline void uring_send(struct h7_scope *s, int fd)
{
	struct h7_net n = {};
	struct h7_stats *st;
	struct sock *sk = fd_sock(fd);
	__u16 family;

	if (!sk)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_PACKET) {
		if (packet_fentry_live())
			return;
		packet_dest(sk, 0, 0, &n);
	} else if (family == AF_INET || family == AF_INET6) {
		if (egress_mode() == H7_EGRESS_FENTRY)
			return;
		if (sock_hdrincl(sk)) {
			iphdr_dest(0, 0, family, &n); /* the SQE's buffer is not read: unspecified */
		} else {
			read_sock_peer(sk, &n, s->agent);
			if (!n.port && (BPF_CORE_READ(sk, sk_type) != SOCK_RAW || !addr_set(&n)))
				return; /* unconnected: an addressed datagram, cgroup/sendmsg4|6's */
		}
	} else {
		return;
	}
	st = stats_of(s->agent);
	if (st && !n.inbound)
		st->sends++;
	sock_proto(sk, &n);
	n.op = H7_NET_SEND;
	n.fd = fd;
	n.count = 1;
	n.hook = H7_HOOK_TP_URING_SUBMIT;
	net_emit(s->agent, s->tgid, &n, 1);
}

/*
 * An io_uring CONNECT of a unix socket by a monitored thread (red-team round 3's
 * g5r3_uring_unix_socat: a command handed to socat's EXEC service with no connect(2)):
 * the request is not issued yet, so the fd is noted in the thread's scope, as sys_enter
 * notes a connect(2), and its peer is read at the thread's next syscall (report_unix_peer:
 * the hand-off record, the receiver mark, following).  Inet connects are the cgroup
 * hooks'; in fentry mode fexit/unix_stream_connect sees this one.  Not seen: a CONNECT
 * submitted by an SQPOLL thread (it makes no syscall), on a fixed file.
 */
static __always_inline void uring_unix_connect(struct io_kiocb *req)
{
	struct h7_scope *s = scope_of((__u32)bpf_get_current_pid_tgid()); /* sys_enter's key */
	struct sock *sk;
	int fd;

	if (!s || handoff_fentry_live() || uring_fixed_file(req))
		return;
	fd = BPF_CORE_READ(req, cqe.fd);
	sk = fd_sock(fd);
	if (sk && BPF_CORE_READ(sk, __sk_common.skc_family) == AF_UNIX)
		s->unix_fd = -(fd + 1);
}

static __always_inline void uring_submit(struct io_kiocb *req)
{
	__u8 op = BPF_CORE_READ(req, opcode);
	struct h7_scope *s;

	switch (op) {
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2:
		uring_open(req, op); /* anyone's: an agent is the target */
		return;
	case IORING_OP_CONNECT:
	case IORING_OP_CLOSE:
	case IORING_OP_SEND:
	case IORING_OP_SENDMSG:
	case IORING_OP_SEND_ZC:
	case IORING_OP_SENDMSG_ZC:
	case IORING_OP_WRITE:
	case IORING_OP_WRITEV:
	case IORING_OP_WRITE_FIXED:
	case IORING_OP_SPLICE:
	case IORING_OP_TEE:
		break;
	default:
		return;
	}
	if (op == IORING_OP_CONNECT) {
		uring_unix_connect(req);
		return;
	}
	s = scope_current();
	if (!s)
		return;
	if (op == IORING_OP_CLOSE) {
		struct io_close *c = (void *)req + bpf_core_field_offset(struct io_kiocb, cmd);
		struct h7_hook_cfg *cfg = hook_config();

		if (cfg && cfg->written == H7_WRITTEN_FENTRY)
			return; /* fentry/filp_close sees it */
		if (!BPF_CORE_READ(c, file_slot))
			on_close(s->agent, BPF_CORE_READ(c, fd));
		return;
	}
	if (!uring_fixed_file(req))
		uring_send(s, BPF_CORE_READ(req, cqe.fd));
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(h7_tp_uring_submit, struct io_kiocb *req)
{
	uring_submit(req);
	return 0;
}

/* 6.1's name and prototype of the same tracepoint */
SEC("tp_btf/io_uring_submit_sqe")
int BPF_PROG(h7_tp_uring_submit_sqe, struct io_kiocb *req, bool force_nonblock)
{
	uring_submit(req);
	return 0;
}

/* ---------------------------------------------------------------- sys_enter */

/* Tracepoint mode, sys_enter: mmap(addr, len, prot, flags, fd, off) with PROT_EXEC of an fd. */
static __always_inline void on_mmap_exec(__u32 agent, struct pt_regs *regs)
{
	__u32 prot = (__u32)ARG3(regs), flags = (__u32)ARG4(regs);

	if (!(prot & H7_PROT_EXEC) || (flags & H7_MAP_ANONYMOUS) || exec_map_fentry_live())
		return;
	exec_map_emit(agent, fd_file((int)ARG5(regs)), H7_MAP_MMAP, (__u64)ARG1(regs), (__u64)ARG2(regs), prot,
		      flags, (int)ARG5(regs), H7_HOOK_SYS_ENTER);
}

/* Tracepoint mode, sys_enter: mprotect(addr, len, prot) adding PROT_EXEC; the file of the mapping
 * at addr (bpf_find_vma), if any (an anonymous region has none: not this gap's). */
static __always_inline void on_mprotect_exec(__u32 agent, struct pt_regs *regs)
{
	struct vma_file_ctx c = {};
	__u32 prot = (__u32)ARG3(regs);
	__u64 addr = (__u64)ARG1(regs);

	if (!(prot & H7_PROT_EXEC) || exec_map_fentry_live())
		return;
	if (bpf_find_vma(bpf_get_current_task_btf(), addr, vma_file_cb, &c, 0) || !c.file)
		return;
	exec_map_emit(agent, c.file, H7_MAP_MPROTECT, addr, (__u64)ARG2(regs), prot, 0, -1, H7_HOOK_SYS_ENTER);
}


SEC("tp_btf/sys_enter")
int BPF_PROG(h7_sys_enter, struct pt_regs *regs, long id)
{
	__u64 pt = bpf_get_current_pid_tgid();
	struct h7_scope *s;
	struct h7_stats *st;
	struct h7_sys_rec *r;
	long nat = id; /* the syscall as x86_64 numbers it (an ia32 call: its native twin) */
	bool ia32 = false;
	long ia32w = -1; /* an ia32 write or send into a socket: (paged << 32) | fd */
	long sel = id;   /* the case sys_enter's switch takes */
	__u32 agent;
	__u64 w;

#if defined(__TARGET_ARCH_x86)
	nat = ia32_judged(id);
	ia32 = nat >= 0;
	if (!ia32)
		nat = id;
#endif
	switch (nat) { /* anyone's: an agent is the target, not the caller */
	case H7_NR_ptrace:
	case H7_NR_open:
	case H7_NR_openat:
	case H7_NR_openat2:
	case H7_NR_creat:
	case H7_NR_process_vm_readv:
	case H7_NR_process_vm_writev:
	case H7_NR_pidfd_getfd:
	case H7_NR_process_madvise:
	case H7_NR_prlimit64:
	case H7_NR_perf_event_open:
		on_tamper_syscall(nat, id, regs, ia32);
		break;
	/* a holder of an agent's mem file found open at attach (tracepoint mode; held_on gates it) */
	case H7_NR_read:
	case H7_NR_write:
	case H7_NR_pread64:
	case H7_NR_pwrite64:
	case H7_NR_readv:
	case H7_NR_writev:
	case H7_NR_preadv:
	case H7_NR_pwritev:
	case H7_NR_preadv2:
	case H7_NR_pwritev2:
		if (!ia32) /* ia32 read/write are other numbers, not judged (docs/detection.md) */
			on_held_use(id, regs);
		if (relay_armed() && (nat == H7_NR_read || nat == H7_NR_readv || nat == H7_NR_write ||
				      nat == H7_NR_writev))
			relay_pipe((int)ARG1(regs), nat == H7_NR_write || nat == H7_NR_writev);
		break;
	case H7_NR_sched_setscheduler:
	case H7_NR_sched_setparam:
	case H7_NR_sched_setattr:
	case H7_NR_sched_setaffinity:
	case H7_NR_setpriority:
	case H7_NR_ioprio_set:
	case H7_NR_migrate_pages:
	case H7_NR_get_robust_list:
	case H7_NR_move_pages:
	case H7_NR_kcmp:
		on_sched_oracle(nat, id, regs, ia32);
		break;
	case H7_NR_close: /* a relay holder's or copier's write (an agent's own: on_close, below, overrides) */
		if (closer_armed())
			relay_close((int)SARG(regs, ia32, 1));
		break;
	case H7_NR_dup2:
	case H7_NR_dup3:
		if (closer_armed() && (int)SARG(regs, ia32, 1) != (int)SARG(regs, ia32, 2))
			relay_close((int)SARG(regs, ia32, 2));
		break;
	}
	s = scope_of((__u32)pt);
	if (!s)
		return 0;
	agent = s->agent;
	if (s->unix_fd) { /* > 0: connect(2)'s; < 0: an io_uring CONNECT's (uring_submit) */
		int ufd = s->unix_fd > 0 ? s->unix_fd - 1 : -s->unix_fd - 1;
		__u32 hook = s->unix_fd > 0 ? H7_HOOK_SYS_ENTER : H7_HOOK_TP_URING_SUBMIT;

		s->unix_fd = 0;
		on_unix_connected(agent, ufd, hook);
	}
	w = ((s->window << H7_TOKEN_BITS) | seq_token(id)) & H7_WINDOW_MASK;
	s->window = w;
	st = stats_of(agent);
	if (st)
		st->syscalls++;
	if (seq_known(w, agent)) {
		if (st)
			st->seq_filtered++;
	} else {
		r = bpf_ringbuf_reserve(&sys_ring, sizeof(*r), 0);
		if (r) {
			ring_count(H7_RING_SYS, 1);
			r->ts_ns = bpf_ktime_get_ns();
			r->window = w;
			r->tgid = pt >> 32;
			r->tid = (__u32)pt;
			r->agent = agent;
			r->nr = (__s32)id;
			/* Drained at batch boundaries and whenever an event wakes userspace. */
			bpf_ringbuf_submit(r, fill_wakeup(&sys_ring));
		} else {
			ring_count(H7_RING_SYS, 0);
			if (st)
				st->sys_dropped++;
		}
	}
#if defined(__TARGET_ARCH_x86)
	/* the ia32 entry's writes and sends into a socket take the vmsplice case's call (no new copy
	 * of on_socket_write: sys_enter's jumps must stay within 32K instructions) */
	if (in_ia32_syscall() && i386_socket_write_nr(id)) {
		ia32w = ia32_socket_fd(id, regs);
		sel = ia32w >= 0 ? H7_NR_vmsplice : -1;
	}
#endif
	switch (sel) {
	case H7_NR_openat:
		on_open(agent, st, H7_OPEN_OPENAT, (int)ARG1(regs), (const char *)ARG2(regs),
			(__u32)ARG3(regs), (__u32)ARG4(regs));
		break;
	case H7_NR_openat2: {
		struct open_how how = {};

		bpf_probe_read_user(&how, sizeof(how), (void *)ARG3(regs));
		on_open(agent, st, H7_OPEN_OPENAT2, (int)ARG1(regs), (const char *)ARG2(regs),
			(__u32)how.flags, (__u32)how.mode);
		break;
	}
	case H7_NR_open:
		on_open(agent, st, H7_OPEN_OPEN, -100 /* AT_FDCWD */, (const char *)ARG1(regs),
			(__u32)ARG2(regs), (__u32)ARG3(regs));
		break;
	case H7_NR_creat: /* creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode) */
		on_open(agent, st, H7_OPEN_CREAT, -100 /* AT_FDCWD */, (const char *)ARG1(regs),
			H7_O_CREAT | H7_O_WRONLY | H7_O_TRUNC, (__u32)ARG2(regs));
		break;
	case H7_NR_link: /* the new name: an O_TMPFILE file put in place, or another name for a file */
		on_open(agent, 0, H7_OPEN_LINK, -100 /* AT_FDCWD */, (const char *)ARG2(regs),
			H7_O_CREAT | H7_O_WRONLY, 0);
		break;
	case H7_NR_linkat: /* linkat(olddfd, old, newdfd, new, flags) */
		on_open(agent, 0, H7_OPEN_LINK, (int)ARG3(regs), (const char *)ARG4(regs),
			H7_O_CREAT | H7_O_WRONLY, 0);
		break;
	case H7_NR_rename:
		on_rename(agent, -100 /* AT_FDCWD */, (const char *)ARG1(regs), -100, (const char *)ARG2(regs));
		break;
	case H7_NR_renameat:
	case H7_NR_renameat2:
		on_rename(agent, (int)ARG1(regs), (const char *)ARG2(regs), (int)ARG3(regs),
			  (const char *)ARG4(regs));
		break;
	case H7_NR_chdir: /* L3 resolves relative paths against the cwd: not counted as an open */
		on_open(agent, 0, H7_OPEN_CHDIR, -100 /* AT_FDCWD */, (const char *)ARG1(regs), 0, 0);
		break;
	case H7_NR_fchdir: /* a directory fd: no path here (dfd = the fd, path empty) */
		on_open(agent, 0, H7_OPEN_CHDIR, (int)ARG1(regs), (const char *)0, 0, 0);
		break;
	/* Extended attributes carry data into and out of a file with no open of it (red-team
	 * round 6's l3r6_cycle_xattr_channel: a tool stores its result in a user. xattr, the
	 * agent reads it back with getxattr). Read at sys_enter like rename: a set is a write
	 * of the file for L3, a get a read. Not counted as opens. Only the namespaces that hold
	 * a program's own data (user., trusted.): ls -l, cp and tar read security./system.
	 * attributes (labels, ACLs, capabilities) of every file they list or copy. */
	case H7_NR_setxattr:
	case H7_NR_lsetxattr:
		if (xattr_is_data((const char *)ARG2(regs)))
			on_open(agent, 0, H7_OPEN_XATTR_SET, -100 /* AT_FDCWD */, (const char *)ARG1(regs),
				H7_O_WRONLY, 0);
		break;
	case H7_NR_getxattr:
	case H7_NR_lgetxattr:
		if (xattr_is_data((const char *)ARG2(regs)))
			on_open(agent, 0, H7_OPEN_XATTR_GET, -100 /* AT_FDCWD */, (const char *)ARG1(regs), 0, 0);
		break;
	case H7_NR_fsetxattr: /* an open fd: no path here (dfd = the fd, path empty) */
		if (xattr_is_data((const char *)ARG2(regs)))
			on_open(agent, 0, H7_OPEN_XATTR_SET, (int)ARG1(regs), (const char *)0, H7_O_WRONLY, 0);
		break;
	case H7_NR_fgetxattr:
		if (xattr_is_data((const char *)ARG2(regs)))
			on_open(agent, 0, H7_OPEN_XATTR_GET, (int)ARG1(regs), (const char *)0, 0, 0);
		break;
	case H7_NR_setxattrat: /* setxattrat(dfd, path, at_flags, name, args, size) */
		if (xattr_is_data((const char *)ARG4(regs)))
			on_open(agent, 0, H7_OPEN_XATTR_SET, (int)ARG1(regs), (const char *)ARG2(regs),
				H7_O_WRONLY, 0);
		break;
	case H7_NR_getxattrat:
		if (xattr_is_data((const char *)ARG4(regs)))
			on_open(agent, 0, H7_OPEN_XATTR_GET, (int)ARG1(regs), (const char *)ARG2(regs), 0, 0);
		break;
	case H7_NR_connect: {
		__u16 fam = 0;

		sv_forget((int)ARG1(regs));
		on_net(agent, st, H7_NET_CONNECT, (int)ARG1(regs), (const void *)ARG2(regs), 0, 1, 0, 0);
		/* unix: who accepted is known once connect returns (next syscall) */
		if (!bpf_probe_read_user(&fam, sizeof(fam), (const void *)ARG2(regs)) && fam == AF_UNIX &&
		    !handoff_fentry_live())
			s->unix_fd = (int)ARG1(regs) + 1;
		break;
	}
	case H7_NR_close:
		on_close(agent, (int)ARG1(regs));
		break;
	case H7_NR_mmap:
		on_mmap_exec(agent, regs);
		break;
	case H7_NR_mprotect:
		on_mprotect_exec(agent, regs);
		break;
	case H7_NR_ioctl:
		if ((__u32)ARG2(regs) == H7_TIOCSTI)
			on_tiocsti(agent, (int)ARG1(regs));
		break;
	case H7_NR_dup2: /* dup2/dup3 onto an open fd release its file without close(2) */
	case H7_NR_dup3:
		if ((int)ARG1(regs) != (int)ARG2(regs))
			on_close(agent, (int)ARG2(regs));
		break;
	case H7_NR_execve:
		if (!exec_fentry_live())
			on_execve(agent, (const char *)ARG1(regs));
		break;
	case H7_NR_execveat:
		if (!exec_fentry_live())
			on_execveat(agent, (int)ARG1(regs), (const char *)ARG2(regs), (__u32)ARG5(regs));
		break;
	case H7_NR_sendto:
		if (!ARG5(regs) && sv_send_hit(st, (int)ARG1(regs), (__u64)ARG3(regs)))
			break;
		on_net(agent, st, H7_NET_SENDTO, (int)ARG1(regs), (const void *)ARG5(regs),
		       (__u64)ARG3(regs), 1, (const void *)ARG2(regs), (__u64)ARG3(regs));
		on_unix_dgram(agent, (int)ARG1(regs), (const void *)ARG5(regs), (__u32)ARG6(regs));
		on_filter_send(agent, (int)ARG1(regs), (__u64)ARG2(regs), (__u64)ARG3(regs), 0);
		break;
	case H7_NR_sendmsg:
		on_sendmsg(agent, st, (int)ARG1(regs), (const void *)ARG2(regs));
		on_filter_send(agent, (int)ARG1(regs), 0, 0, (__u64)ARG2(regs));
		break;
	case H7_NR_setsockopt:
		on_filter_setsockopt(agent, (int)ARG1(regs), (int)ARG2(regs), (int)ARG3(regs));
		break;
	case H7_NR_sendmmsg:
		on_sendmmsg(agent, st, (int)ARG1(regs), (const void *)ARG2(regs), (__u32)ARG3(regs));
		break;
	case H7_NR_write:
		on_socket_write(agent, st, (int)ARG1(regs), (__u64)ARG3(regs), 0, H7_NET_WRITE,
				(const void *)ARG2(regs), (__u64)ARG3(regs), H7_HOOK_SYS_ENTER, 1);
		break;
	case H7_NR_pwritev2: /* pwritev2(fd, iov, cnt, pos_l, pos_h, flags): at pos -1 it writes a socket */
		if ((long)ARG4(regs) != -1)
			break;
		/* fall through: a writev */
	case H7_NR_writev: {
		struct iovec iov0 = {};

		if (ARG3(regs) > 0)
			bpf_probe_read_user(&iov0, sizeof(iov0), (const void *)ARG2(regs));
		on_socket_write(agent, st, (int)ARG1(regs), 0, 0, H7_NET_WRITE, iov0.iov_base, iov0.iov_len,
				H7_HOOK_SYS_ENTER, 1);
		break;
	}
	case H7_NR_vmsplice: /* and the ia32 entry's writes and sends into a socket (ia32w) */
		on_socket_write(agent, st, ia32w >= 0 ? (int)(__u32)ia32w : (int)ARG1(regs), 0, ia32w > 0xffffffffL,
				H7_NET_WRITE, 0, 0, H7_HOOK_SYS_ENTER, 0);
		break;
	case H7_NR_sendfile: /* sendfile(out_fd, in_fd, offset, count) */
		on_socket_write(agent, st, (int)ARG1(regs), (__u64)ARG4(regs), 1, H7_NET_WRITE, 0, 0, H7_HOOK_SYS_ENTER, 0);
		break;
	case H7_NR_splice: /* splice(fd_in, off_in, fd_out, off_out, len, flags) */
		on_socket_write(agent, st, (int)ARG3(regs), (__u64)ARG5(regs), 1, H7_NET_WRITE, 0, 0, H7_HOOK_SYS_ENTER, 0);
		break;
	}
	return 0;
}
