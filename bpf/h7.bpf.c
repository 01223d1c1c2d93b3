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
#define PTRACE_TRACEME 0
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206
#define H7_MAX_AGENTS 1024
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
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
	__uint(max_entries, H7_RING_COUNT);
	__type(key, __u32);
	__type(value, struct h7_ring_stats);
} ring_stats SEC(".maps");

/* Sizes are defaults; userspace resizes them before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} sys_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 2 << 20);
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
	__uint(max_entries, 16384);
	__type(key, struct h7_egress_key);
	__type(value, __u64);
} egress_seen SEC(".maps");

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

static __always_inline struct h7_stats *stats_of(__u32 agent)
{
	return bpf_map_lookup_elem(&agent_stats, &agent);
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

#pragma unroll
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

/* Reserve an event and fill the header from the current task. */
static __always_inline struct h7_event *event_start(__u32 type, __u32 agent)
{
	struct h7_event *ev = bpf_ringbuf_reserve(&event_ring, sizeof(*ev), 0);
	struct task_struct *t;
	__u64 id;

	/* NULL-check the reservation before anything else touches it: older
	 * verifiers (6.1) lose track of the reference through `ev != 0`. */
	if (!ev) {
		ring_count(H7_RING_EVENTS, 0);
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
	__uint(max_entries, 16384);
	__type(key, struct h7_file_key);
	__type(value, struct h7_written);
} written_files SEC(".maps");

/* Daemon comms (16 bytes, NUL-padded) whose children an agent's hand-off
 * puts in scope -> how long (ns).  Written by userspace from L2's config. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[H7_COMM_LEN]);
	__type(value, __u64);
} follow_comms SEC(".maps");

/* Daemons an agent just handed something to: tgid -> agent, until when. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
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

/*
 * What the kernel knows about an executed file, filled in while it still
 * exists: inode identity, link count, whether it has a path at all (memfd,
 * internal mount, unhashed dentry), times, and whether a process of the
 * same agent wrote it (written_files).
 */
static __always_inline void file_identity(struct file *f, __u32 agent, struct h7_exec *x)
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
	if (w && w->agent == agent) {
		fl |= H7_EXF_WRITTEN;
		x->written_ns = w->ts_ns;
	}
	x->id_flags = fl;
}

/* close(fd) by a monitored process: remember regular files it had open
 * for writing.  (A file cannot be executed while open for writing, so a
 * writer that execs it has closed it first.) */
static __always_inline void on_close(__u32 agent, int fd)
{
	struct file *f = fd_file(fd);
	struct h7_file_key k = {};
	struct h7_written w = {};

	if (!f || !(BPF_CORE_READ(f, f_mode) & FMODE_WRITE))
		return;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFREG)
		return;
	file_key(f, &k);
	w.ts_ns = bpf_ktime_get_ns();
	w.agent = agent;
	bpf_map_update_elem(&written_files, &k, &w, BPF_ANY);
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
#pragma unroll
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
static __always_inline void on_exec_by_fd(__u32 agent, int fd, const char *path)
{
	struct h7_event *ev;
	struct file *f = fd_file(fd);

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFREG)
		return;
	ev = event_start(H7_EV_EXEC_FD, agent);
	if (!ev)
		return;
	ev->exec.filename[0] = ev->exec.interp[0] = 0;
	if (path)
		bpf_probe_read_user_str(ev->exec.filename, sizeof(ev->exec.filename), path);
	ev->exec.args_len = ev->exec.args_truncated = 0;
	ev->exec.written_ns = 0;
#pragma unroll
	for (int i = 0; i < H7_HEAD_LEN / 8; i++)
		((__u64 *)ev->exec.head)[i] = 0;
	file_identity(f, agent, &ev->exec);
	if (!(ev->exec.id_flags & (H7_EXF_DELETED | H7_EXF_ANON | H7_EXF_UNHASHED | H7_EXF_WRITTEN))) {
		bpf_ringbuf_discard(ev, 0);
		return;
	}
	ev->exec.old_tid = (__u32)bpf_get_current_pid_tgid();
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
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
static __always_inline void on_unix_connected(__u32 agent, int fd)
{
	struct file *f = fd_file(fd);
	struct socket *sock;
	struct sock *sk, *peer;
	struct unix_address *ua;
	struct pid *pp;
	struct hlist_node *first;
	struct task_struct *pt;
	struct h7_event *ev;
	__u64 *window;
	int len;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, __sk_common.skc_family) != AF_UNIX)
		return;
	pp = BPF_CORE_READ(sk, sk_peer_pid);
	if (!pp)
		return; /* refused, or nobody listening */
	ev = event_start(H7_EV_HANDOFF, agent);
	if (!ev)
		return;
	__builtin_memset(&ev->handoff, 0, sizeof(ev->handoff));
	ev->handoff.fd = fd;
	ev->handoff.peer_tgid = BPF_CORE_READ(pp, numbers[0].nr);
	{
		struct h7_scope *ps = scope_of(ev->handoff.peer_tgid);

		ev->handoff.peer_agent = ps ? ps->agent : 0;
	}
	first = BPF_CORE_READ(pp, tasks[PIDTYPE_TGID].first);
	if (first) {
		pt = (void *)first - bpf_core_field_offset(struct task_struct, pid_links) -
		     PIDTYPE_TGID * sizeof(struct hlist_node);
		bpf_probe_read_kernel_str(ev->handoff.peer_comm, sizeof(ev->handoff.peer_comm),
					  &pt->comm);
	}
	peer = BPF_CORE_READ((struct unix_sock *)sk, peer);
	ua = peer ? BPF_CORE_READ((struct unix_sock *)peer, addr) : 0;
	if (ua) {
		len = BPF_CORE_READ(ua, len) - 2; /* minus sun_family */
		if (len > H7_SUN_LEN)
			len = H7_SUN_LEN;
		if (len > 0) {
			bpf_probe_read_kernel(ev->handoff.path, len & 127, &ua->name[0].sun_path);
			ev->handoff.path_len = len;
		}
	}
	window = bpf_map_lookup_elem(&follow_comms, ev->handoff.peer_comm);
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

/* ---------------------------------------------------------------- lifecycle */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(h7_fork, struct task_struct *parent, struct task_struct *child)
{
	struct h7_scope *ps = scope_of(parent->pid);
	struct h7_scope cs = {};
	struct h7_event *ev;
	struct h7_stats *st;
	__u32 ctid = child->pid;

	if (ps)
		cs.agent = ps->agent;
	else if (!(cs.agent = follow_agent(parent, child)))
		return 0;
	cs.tgid = child->tgid;
	bpf_map_update_elem(&scope, &ctid, &cs, BPF_ANY);
	fork_bit(ctid, 1);
	if (child->pid != child->tgid)
		return 0; /* a new thread: followed, not reported */
	st = stats_of(cs.agent);
	if (st)
		st->forks++;
	ev = event_start(H7_EV_FORK, cs.agent);
	if (!ev)
		return 0;
	ev->fork.child_tgid = child->tgid;
	ev->fork.child_tid = child->pid;
	bpf_ringbuf_submit(ev, fill_wakeup(&event_ring));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(h7_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct h7_scope *s = scope_of(p->pid);
	struct h7_event *ev;
	struct h7_stats *st;
	struct file *f;
	struct mm_struct *mm;
	unsigned long as, ae, len;

	if (!s) {
		__u32 old = old_pid;
		s = scope_of(old);
		if (!s)
			return 0;
	}
	st = stats_of(s->agent);
	if (st)
		st->execs++;
	ev = event_start(H7_EV_EXEC, s->agent);
	if (!ev)
		return 0;
	f = BPF_CORE_READ(bprm, file);
	ev->exec.old_tid = old_pid;
	ev->exec.written_ns = 0;
	file_identity(f, s->agent, &ev->exec);
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
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP); /* L2 judges execs at once */
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(h7_exit, struct task_struct *p)
{
	__u32 tid = p->pid;
	struct h7_scope *s = scope_of(tid);
	struct h7_event *ev;
	__u32 agent;

	if (!s)
		return 0;
	agent = s->agent;
	bpf_map_delete_elem(&scope, &tid);
	fork_bit(tid, 0);
	if (p->pid != p->tgid)
		return 0;
	ev = event_start(H7_EV_EXIT, agent);
	if (!ev)
		return 0;
	ev->exit.code = p->exit_code;
	ev->exit.is_group_leader = 1;
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
	if (ps) {
		now = bpf_ktime_get_ns();
		st = stats_of(ps->agent);
		if (st) {
			if (preempt)
				st->switches_involuntary++;
			else
				st->switches_voluntary++;
			if (ps->on_ns)
				st->oncpu_hist[log2_slot(now - ps->on_ns) & (H7_HIST_SLOTS - 1)]++;
		}
		ps->off_ns = now;
	}
	if (ns) {
		if (!now)
			now = bpf_ktime_get_ns();
		st = stats_of(ns->agent);
		if (st && ns->off_ns)
			st->offcpu_hist[log2_slot(now - ns->off_ns) & (H7_HIST_SLOTS - 1)]++;
		ns->on_ns = now;
	}
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(h7_sched_wakeup, struct task_struct *p)
{
	struct h7_stats *st = task_stats(p);

	if (st)
		st->wakeups++;
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(h7_sched_wakeup_new, struct task_struct *p)
{
	struct h7_stats *st = task_stats(p);

	if (st)
		st->wakeups_new++;
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
#define H7_NR_openat2 437
#define H7_NR_close 3
#define H7_NR_execve 59
#define H7_NR_execveat 322
#elif defined(__TARGET_ARCH_arm64)
#define H7_NR_open -1000 /* arm64 has no open(2) */
#define H7_NR_openat 56
#define H7_NR_ptrace 117
#define H7_NR_connect 203
#define H7_NR_sendto 206
#define H7_NR_sendmsg 211
#define H7_NR_sendmmsg 269
#define H7_NR_openat2 437
#define H7_NR_close 57
#define H7_NR_execve 221
#define H7_NR_execveat 281
#else
#error "define the H7_NR_* syscall numbers for this architecture"
#endif

#define ARG1(regs) PT_REGS_PARM1_CORE_SYSCALL(regs)
#define ARG2(regs) PT_REGS_PARM2_CORE_SYSCALL(regs)
#define ARG3(regs) PT_REGS_PARM3_CORE_SYSCALL(regs)
#define ARG4(regs) PT_REGS_PARM4_CORE_SYSCALL(regs)
#define ARG5(regs) PT_REGS_PARM5_CORE_SYSCALL(regs)

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

static __always_inline void on_open(__u32 agent, struct h7_stats *st, __u32 op, int dfd,
				    const char *path, __u32 flags, __u32 mode)
{
	struct h7_event *ev;

	if (st)
		st->opens++;
	ev = event_start(H7_EV_OPEN, agent);
	if (!ev)
		return;
	ev->open.op = op;
	ev->open.dfd = dfd;
	ev->open.flags = flags;
	ev->open.mode = mode;
	if (bpf_probe_read_user_str(ev->open.path, sizeof(ev->open.path), path) < 0)
		ev->open.path[0] = 0;
	bpf_ringbuf_submit(ev, fill_wakeup(&event_ring));
}

/* ------------------------------------------------------------------- egress */

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

/* Peer of a connected socket, for sends that carry no address. */
static __always_inline __u16 read_socket_peer(int fd, struct h7_net *n)
{
	struct file *f = fd_file(fd);
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	n->family = family;
	n->from_socket = 1;
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
 * connect: always reported (it is a causal edge and low-rate).
 * send*: counted for the rate profile; reported only the first time a
 * process uses an (op, destination), so a chatty socket costs a map lookup,
 * not a ring record.  Only inet/inet6 sends count as egress.
 */
static __always_inline void on_net(__u32 agent, struct h7_stats *st, __u32 op, int fd,
				   const void *uaddr, __u64 bytes, __u32 count)
{
	struct h7_net n = {};
	struct h7_event *ev;
	__u16 family;

	family = read_sockaddr(uaddr, &n);
	if (!family && op != H7_NET_CONNECT)
		family = read_socket_peer(fd, &n);
	if (op == H7_NET_CONNECT) {
		if (st)
			st->connects++;
	} else {
		struct h7_egress_key k = {};
		__u64 one = 1;

		if (family != AF_INET && family != AF_INET6)
			return;
		if (st) {
			st->sends += count;
			st->send_bytes += bytes;
		}
		k.tgid = bpf_get_current_pid_tgid() >> 32;
		k.op = op;
		k.family = family;
		k.port = n.port;
		__builtin_memcpy(k.addr, n.addr, 16);
		if (bpf_map_update_elem(&egress_seen, &k, &one, BPF_NOEXIST))
			return; /* seen before */
	}
	ev = event_start(H7_EV_NET, agent);
	if (!ev)
		return;
	n.op = op;
	n.fd = fd;
	n.bytes = bytes;
	n.count = count;
	__builtin_memcpy(&ev->net, &n, sizeof(n));
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

static __always_inline void on_sendmsg(__u32 agent, struct h7_stats *st, int fd, const void *umsg)
{
	struct user_msghdr m = {};
	__u64 bytes = 0;

	bpf_probe_read_user(&m, sizeof(m), umsg);
#pragma unroll
	for (int i = 0; i < H7_MAX_IOV; i++) {
		struct iovec iov = {};

		if (i >= m.msg_iovlen)
			break;
		bpf_probe_read_user(&iov, sizeof(iov), &m.msg_iov[i]);
		bytes += iov.iov_len;
	}
	on_net(agent, st, H7_NET_SENDMSG, fd, m.msg_name, bytes, 1);
}

static __always_inline void on_sendmmsg(__u32 agent, struct h7_stats *st, int fd, const void *umm,
					__u32 vlen)
{
	struct mmsghdr mm = {};

	bpf_probe_read_user(&mm, sizeof(mm), umm);
	on_net(agent, st, H7_NET_SENDMMSG, fd, mm.msg_hdr.msg_name, 0, vlen);
}

/* ------------------------------------------------------------------- ptrace */

/*
 * Whoever the caller is: the TARGET decides.  Reported with a forced wakeup
 * so userspace sees it within one poll.
 */
static __always_inline void on_ptrace(long request, __u32 target)
{
	struct h7_scope *s;
	struct h7_event *ev;

	if (request == PTRACE_TRACEME)
		target = (__u32)bpf_get_current_pid_tgid();
	else if (request != PTRACE_ATTACH && request != PTRACE_SEIZE)
		return;
	s = scope_of(target);
	if (!s)
		return;
	ev = event_start(H7_EV_PTRACE, s->agent);
	if (!ev)
		return;
	ev->ptrace.request = request;
	ev->ptrace.target_tid = target;
	ev->ptrace.target_tgid = s->tgid;
	ev->ptrace.target_agent = s->agent;
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

/* ---------------------------------------------------------------- sys_enter */

SEC("tp_btf/sys_enter")
int BPF_PROG(h7_sys_enter, struct pt_regs *regs, long id)
{
	__u64 pt = bpf_get_current_pid_tgid();
	struct h7_scope *s;
	struct h7_stats *st;
	struct h7_sys_rec *r;
	__u32 agent;
	__u64 w;

	if (id == H7_NR_ptrace) /* anyone's: an agent is the target, not the caller */
		on_ptrace((long)ARG1(regs), (__u32)ARG2(regs));
	s = scope_of((__u32)pt);
	if (!s)
		return 0;
	agent = s->agent;
	if (s->unix_fd) {
		int ufd = s->unix_fd - 1;

		s->unix_fd = 0;
		on_unix_connected(agent, ufd);
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
		}
	}
	switch (id) {
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
	case H7_NR_connect: {
		__u16 fam = 0;

		on_net(agent, st, H7_NET_CONNECT, (int)ARG1(regs), (const void *)ARG2(regs), 0, 1);
		/* unix: who accepted is known once connect returns (next syscall) */
		if (!bpf_probe_read_user(&fam, sizeof(fam), (const void *)ARG2(regs)) && fam == AF_UNIX)
			s->unix_fd = (int)ARG1(regs) + 1;
		break;
	}
	case H7_NR_close:
		on_close(agent, (int)ARG1(regs));
		break;
	case H7_NR_execve:
		on_execve(agent, (const char *)ARG1(regs));
		break;
	case H7_NR_execveat:
		on_execveat(agent, (int)ARG1(regs), (const char *)ARG2(regs), (__u32)ARG5(regs));
		break;
	case H7_NR_sendto:
		on_net(agent, st, H7_NET_SENDTO, (int)ARG1(regs), (const void *)ARG5(regs),
		       (__u64)ARG3(regs), 1);
		break;
	case H7_NR_sendmsg:
		on_sendmsg(agent, st, (int)ARG1(regs), (const void *)ARG2(regs));
		break;
	case H7_NR_sendmmsg:
		on_sendmmsg(agent, st, (int)ARG1(regs), (const void *)ARG2(regs), (__u32)ARG3(regs));
		break;
	}
	return 0;
}
