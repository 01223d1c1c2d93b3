/*
 * bench/hook_cost.py's workload: per command line "OP N [PID]" on stdin, N
 * operations of one kind; on stdout the mean wall-clock ns per operation and
 * the mean CPU ns per operation (this process's threads, and the children it
 * reaped during the request: a spawned /bin/true).  The CPU figure is what the
 * operation and the hooks running in its context cost, whatever else ran on
 * the machine meanwhile; the wall clock also holds the waits for a CPU.
 *   getppid    getppid(2): a syscall no hook of H7 looks at (sys_enter's scope check only)
 *   read       read(2) of one byte from /dev/zero: the same, through a file
 *   pread      pread(2) of one byte of FILE (kept open): a positioned read of an ordinary file
 *   open       open(FILE) + close, FILE = argv[1] (an ordinary path: sys_enter's /proc tail test)
 *   openmaps   open("/proc/self/maps") + close (the tail matches: the whole /proc path walk)
 *   udp        sendto() of 16 bytes to a loopback UDP socket (cgroup sendmsg4 / inet_sendmsg)
 *   sendmsg    sendmsg() of one addressed 16-byte datagram
 *   sendmmsg   sendmmsg() of 8 addressed 16-byte datagrams (per call, not per message)
 *   connect    socket + connect to a loopback TCP listener + close (+ accept/close)
 *   exec       posix_spawn(/bin/true) + waitpid (fork, exec, exit)
 *   pvm PID    process_vm_readv(PID, 8 bytes at an unmapped address): the access check runs,
 *              the copy fails (EFAULT); nothing is read
 *   pingpong   one byte there and back over two pipes between two threads on one CPU:
 *              two context switches (sched_switch, sched_wakeup) and four syscalls
 *   packet     sendto() of 16 bytes on an AF_PACKET SOCK_DGRAM socket to "lo", ethertype 0x88b5
 *              (IEEE local experimental: looped back and dropped, no protocol takes it)
 *   uring      one io_uring NOP submitted and reaped (io_uring_enter; io_uring's submit tracepoint)
 *   uringopen  one io_uring OPENAT of FILE, reaped, then close(2) of the new fd
 * Session 7's hooks (issue 13 round 5, L4's own listeners, L3's working directory):
 *   listen     socket + bind to 127.0.0.1:0 + listen + close: two TCP state changes
 *              (tp_btf/inet_sock_set_state: the listen and unlisten records)
 *   creat      creat(FILE.PID.new) + close (creat(2) is path-checked like open)
 *   link       link(FILE, FILE.PID.lnk) + unlink of the new name (link/linkat records)
 *   chdir      chdir() to FILE's directory, which is already the working directory (chdir records)
 *   openfd     open("/proc/self/fd/N") of FILE's fd + close (the fd/<n> tail: the /proc walk)
 *   unixdgram  sendto() of 16 bytes on an AF_UNIX SOCK_DGRAM socket to a path-bound receiver of
 *              this process (sys_enter's sun_path check; fentry/security_unix_may_send)
 * Session 9's hooks (open exits judging /proc files, prlimit/process_madvise, accepted-connection
 * matching, IP_HDRINCL):
 *   openat2    openat2(FILE) + close (sys_enter's path test and the sys_exit_openat2 tracepoint)
 *   openpid PID  open("/proc/PID/stat") + close: another process's procfs file, as ps and top read
 *              them (the exit's procfs inode and dentry-name test; stat is none of the judged files)
 *   tcpsend    send() of 16 bytes on a connected loopback TCP socket (an egress send: sys_enter)
 *   tcpreply   send() of 16 bytes on the ACCEPTED end of that connection (a reply: the `accepted`
 *              map lookup that keeps it out of egress)
 *   rawhdr     sendto() of a 36-byte IPv4/UDP packet on an IPPROTO_RAW socket (IP_HDRINCL: the
 *              packet's own header is the destination) to 127.0.0.1, delivered to the UDP sink
 *   prlimit    prlimit64(0, RLIMIT_NOFILE, its current value, NULL): a set (sets are checked)
 *   pmadvise PID  process_madvise(pidfd of PID, 8 bytes at an unmapped address, MADV_COLD): the
 *              access check runs, nothing is advised (ENOMEM)
 *   getfd PID  pidfd_getfd(pidfd of PID, its fd 0) + close of the copy
 * Session 11's hooks (L3: files handed back without an open, SysV shared memory):
 *   recvfd     sendmsg() of FILE's fd (SCM_RIGHTS) on a unix socketpair, recvmsg() of it, close of
 *              the received fd (sys_exit_recvmsg: the cmsg walk and one file record, if watched)
 *   recv       the same pair of calls with no control message (what every other recvmsg pays)
 *   openw      open(FILE.PID.w, O_WRONLY|O_CREAT) + close (the open exit's writable-file record)
 *   openrw     open(FILE.PID.x, O_RDONLY) + close of a file the loop wrote and closed just before the
 *              timing (session 27: for a watched loop, the open exit's written_files lookup and a
 *              read_written record per open, the worst case; `open` is the lookup's miss)
 *   shmat      shmat() + shmdt() of a private SysV segment (sys_exit_shmat and sys_exit_shmdt)
 * Session 10's hooks (round 8's sys_enter case and open-exit test, the receivers' fork/exec walk):
 *   perfopen PID  perf_event_open(a disabled software counter on PID, any CPU) + close: sys_enter's
 *              perf_event_open case (reported when PID is a watched task, by a caller outside it)
 *   knob PID   open("/proc/PID/oom_score_adj", O_WRONLY) + close (nothing written): the open exits'
 *              test of a writable open of another process's /proc/PID setting
 *   exec900    exec, with 900 more descriptors (of /dev/null) open in the loop meanwhile: what an
 *              fd-table walk at fork/exec would have to read (opened before, closed after the timing)
 *   execmark, execmark900  exec and exec900, under another name: the benchmark makes a receiver
 *              mark live first (bench/hook_cost.py), so the fork and exec hooks walk the fd table
 *   fifo       open(FILE.PID.fifo, O_RDWR) + close: a FIFO opened for writing (by a watched loop: a
 *              receiver mark)
 * Session 11's (red-team round 9) sched/priority/oracle cases of sys_enter:
 *   setprio PID  getpriority(PRIO_PROCESS, PID) + setpriority(PRIO_PROCESS, PID, that value): the
 *              other loop's nice set to what it is (a record when PID is the watched loop)
 * Session 12's executable mappings (issue 13 gap 4, red-team round 9's gconv module):
 *   mmap       mmap(FILE, 4 KiB, PROT_READ) + munmap: a file mapping no hook of H7 looks at
 *   mmapx      the same with PROT_READ|PROT_EXEC: sys_enter's mmap case (the fd's file looked up in
 *              written_files), or fentry/security_mmap_file; FILE was not written by the loop
 *   mmapw      mmapx of FILE.PID.x, a file the loop wrote and closed just before the timing: for a
 *              watched loop, a record per mapping (the worst case: an agent mapping its own file)
						rc = -1;
 * Session 12's (red-team round 10) signal hook (tp_btf/signal_generate, every signal on the host):
 *   kill PID   kill(PID, SIGCONT): the other loop continued while it runs (no effect; a signal outside
 *              the tampering set: the hook's bit test only)
 * Session 29's copy and relay marks (issue 13 gap 4, exec identity of copies):
 *   pipe       write(2) of one byte into a pipe + read(2) of it back: the relay gate of both
 *              (relay_pipe: one array load while no `file` mark is live)
 *   sendfile   sendfile(2) of one byte of FILE (not written by the loop) into FILE.PID.w (kept open
 *              for writing): sys_enter_sendfile64's copy_mark, its source lookup missing
 *   sendfilew  the same from FILE.PID.x, a file the loop wrote and closed just before the timing
 *              (for a watched loop: the source is marked, the destination's mark is written each call)
 * Session 30's long-running copiers (issue 13 gap 4):
 *   opencopier PID  open(FILE.PID.x, O_RDONLY) + close: the OTHER loop's x file (the benchmark has
 *              both loops write theirs first, bench/hook_cost.py PRE_OPS): for the unwatched loop a
 *              file the watched one wrote (marked): the open exit's bloom hit, lookup and copiers
 *              record, and the close's copier test; for the watched loop an unmarked file
 *   openarmed  open: while the benchmark's own process is a live copier of the watched loop's file,
 *              so each close of the loop pays the copier test of a process that is none
 *   openwarmed openw: likewise (session 31): the writable open's copier_base test (the loop is
 *              no copier) and the close's copier test
 * C, not Python, so the figure is the kernel path and its hooks.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/if_packet.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/shm.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uring_ring.h"

#define MMSG 8
#define EXTRA_FDS 900
#define ETH_P_H7BENCH 0x88b5
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif

/* struct open_how (linux/openat2.h; not in every libc's headers) */
struct h7_open_how {
	unsigned long long flags, mode, resolve;
};

/* A pidfd for pid, opened once per pid (the per-op cost is the call that uses it). */
static int pidfd_of(long pid)
{
	static int fd = -1;
	static long of;

	if (fd >= 0 && of == pid)
		return fd;
	if (fd >= 0)
		close(fd);
	of = pid;
	fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	return fd;
}

/* One-checksum IPv4 header + UDP header + payload to 127.0.0.1:port (host order). */
static size_t raw_packet(unsigned char *p, unsigned short port, const char *payload, size_t n)
{
	unsigned long sum = 0;
	size_t len = 20 + 8 + n;

	memset(p, 0, 28);
	p[0] = 0x45;
	p[2] = (unsigned char)(len >> 8);
	p[3] = (unsigned char)len;
	p[8] = 64;
	p[9] = IPPROTO_UDP;
	p[12] = p[16] = 127;
	p[15] = p[19] = 1;
	for (int i = 0; i < 20; i += 2)
		sum += (unsigned long)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	p[10] = (unsigned char)(~sum >> 8);
	p[11] = (unsigned char)~sum;
	p[20] = 0x30; /* source port 12345 */
	p[21] = 0x39;
	p[22] = (unsigned char)(port >> 8);
	p[23] = (unsigned char)port;
	p[24] = (unsigned char)((8 + n) >> 8);
	p[25] = (unsigned char)(8 + n); /* UDP checksum 0: none (IPv4) */
	memcpy(p + 28, payload, n);
	return len;
}

extern char **environ;

static double now_ns(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static double children_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static int ping[2], pong[2];

static void *echo(void *arg)
{
	char c;

	while (read(ping[0], &c, 1) == 1 && c)
		if (write(pong[1], &c, 1) != 1)
			break;
	return arg;
}

/* n round trips with an echo thread on the caller's CPU (so each hand-off is a switch, not an IPI) */
static int pingpong(long n)
{
	cpu_set_t old, one;
	pthread_t t;
	char c = 1;
	int rc = 0;

	sched_getaffinity(0, sizeof(old), &old);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);
	if (pthread_create(&t, NULL, echo, NULL)) {
		sched_setaffinity(0, sizeof(old), &old);
		return -1;
	}
	for (long i = 0; i < n && !rc; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			rc = -1;
	c = 0;
	if (write(ping[1], &c, 1) != 1)
		rc = -1;
	pthread_join(t, NULL);
	sched_setaffinity(0, sizeof(old), &old);
	return rc;
}

int main(int argc, char **argv)
{
	struct sockaddr_in usink = {0}, tsink = {0};
	socklen_t len = sizeof(usink);
	char line[64], payload[16] = "h7-bench-payload", buf[8];
	char *true_argv[] = {"/bin/true", NULL};
	int udp_rx = socket(AF_INET, SOCK_DGRAM, 0), udp_tx = socket(AF_INET, SOCK_DGRAM, 0);
	int lst = socket(AF_INET, SOCK_STREAM, 0), big = 1 << 22, zero = open("/dev/zero", O_RDONLY);
	struct iovec iov = {payload, sizeof(payload)}, mine = {buf, sizeof(buf)}, theirs = {(void *)16, sizeof(buf)};
	struct msghdr msg = {.msg_name = &usink, .msg_namelen = sizeof(usink), .msg_iov = &iov, .msg_iovlen = 1};
	struct mmsghdr mm[MMSG];
	struct sockaddr_ll lo = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_H7BENCH), .sll_halen = 6};
	int pkt = socket(AF_PACKET, SOCK_DGRAM, 0);
	struct io_uring_sqe nop = {.opcode = IORING_OP_NOP}, uopen = {.opcode = IORING_OP_OPENAT};
	struct ring ring = {0};

	int file = argc == 2 ? open(argv[1], O_RDONLY) : -1;
	int raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW), tcp_c = socket(AF_INET, SOCK_STREAM, 0), tcp_a = -1;
	struct h7_open_how how = {.flags = O_RDONLY};
	unsigned char packet[64];
	size_t packet_len = 0;
	struct rlimit nofile;
	int unix_rx = socket(AF_UNIX, SOCK_DGRAM, 0), unix_tx = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un usock = {.sun_family = AF_UNIX};
	char created[4096], linked[4096], fdpath[64], dir[4096], wfile[4096], fifo[4096], xfile[4096];
	char cfile[4096] = "";
	int xfd = -1, sfd = -1, relay[2] = {-1, -1};
	int extra[EXTRA_FDS];
	struct perf_event_attr pattr = {.type = PERF_TYPE_SOFTWARE, .size = sizeof(pattr),
					.config = PERF_COUNT_SW_DUMMY, .disabled = 1};
	int pair[2] = {-1, -1}, shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	void *shm_keep = shmid < 0 ? (void *)-1 : shmat(shmid, NULL, 0);
	char cbuf[CMSG_SPACE(sizeof(int))];

	/* attached once, then marked for removal: Linux lets it be attached again until the last detach */
	if (shmid >= 0)
		shmctl(shmid, IPC_RMID, NULL);
	if (shm_keep == (void *)-1 || socketpair(AF_UNIX, SOCK_STREAM, 0, pair) || pipe(relay))
		return 2;
	if (file < 0 || zero < 0 || pkt < 0 || unix_rx < 0 || unix_tx < 0 || raw < 0 || tcp_c < 0 || pipe(ping) ||
	    pipe(pong) || ring_init(&ring) || getrlimit(RLIMIT_NOFILE, &nofile))
		return 2;
	snprintf(created, sizeof(created), "%s.%d.new", argv[1], (int)getpid());
	snprintf(linked, sizeof(linked), "%s.%d.lnk", argv[1], (int)getpid());
	snprintf(wfile, sizeof(wfile), "%s.%d.w", argv[1], (int)getpid());
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", file);
	snprintf(fifo, sizeof(fifo), "%s.%d.fifo", argv[1], (int)getpid());
	snprintf(xfile, sizeof(xfile), "%s.%d.x", argv[1], (int)getpid());
	unlink(fifo);
	if (mkfifo(fifo, 0600))
		return 2;
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = 0;
	if ((size_t)snprintf(usock.sun_path, sizeof(usock.sun_path), "%s.%d.sock", argv[1], (int)getpid()) >=
		    sizeof(usock.sun_path) ||
	    !dir[0] || chdir(dir))
		return 2;
	unlink(usock.sun_path);
	if (bind(unix_rx, (struct sockaddr *)&usock, sizeof(usock)))
		return 1;
	setsockopt(unix_rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	lo.sll_ifindex = (int)if_nametoindex("lo");
	uopen.fd = AT_FDCWD;
	uopen.addr = (unsigned long)argv[1];
	uopen.open_flags = O_RDONLY;
	usink.sin_family = tsink.sin_family = AF_INET;
	usink.sin_addr.s_addr = tsink.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(udp_rx, (struct sockaddr *)&usink, sizeof(usink)) || bind(lst, (struct sockaddr *)&tsink, sizeof(tsink)) ||
	    listen(lst, 4096))
		return 1;
	setsockopt(udp_rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	getsockname(udp_rx, (struct sockaddr *)&usink, &len);
	len = sizeof(tsink);
	getsockname(lst, (struct sockaddr *)&tsink, &len);
	for (int i = 0; i < MMSG; i++)
		mm[i] = (struct mmsghdr){.msg_hdr = msg};
	/* one long-lived loopback TCP connection: its client end sends (egress), its accepted end replies */
	if (connect(tcp_c, (struct sockaddr *)&tsink, sizeof(tsink)) || (tcp_a = accept(lst, NULL, NULL)) < 0)
		return 1;
	setsockopt(tcp_c, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(tcp_a, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	packet_len = raw_packet(packet, ntohs(usink.sin_port), payload, sizeof(payload));
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		char op[16] = "";
		long n = 0, pid = 0;
		double a, b, ca, cb;
		int rc = 0;

		int nextra = 0;

		if (sscanf(line, "%15s %ld %ld", op, &n, &pid) < 2 || n <= 0)
			break;
		if (!strcmp(op, "exec900") || !strcmp(op, "execmark900")) /* before the timing */
			for (; nextra < EXTRA_FDS; nextra++)
				if ((extra[nextra] = dup(zero)) < 0)
					return 2;
		if (!strncmp(op, "sendfile", 8) && (sfd = open(wfile, O_WRONLY | O_CREAT, 0600)) < 0)
			return 2;
		if (!strcmp(op, "opencopier") &&
		    (size_t)snprintf(cfile, sizeof(cfile), "%s.%ld.x", argv[1], pid) >= sizeof(cfile))
			return 2;
		if (!strcmp(op, "mmapw") || !strcmp(op, "openrw") ||
		    !strcmp(op, "sendfilew")) { /* written and closed now (watched: into written_files) */
			int w = open(xfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			if (w < 0 || write(w, created, sizeof(created)) != (ssize_t)sizeof(created) || close(w))
				return 2;
			if (xfd >= 0)
				close(xfd);
			if ((xfd = open(xfile, O_RDONLY)) < 0)
				return 2;
		}
		ca = now_ns(CLOCK_PROCESS_CPUTIME_ID) + children_cpu_ns();
		a = now_ns(CLOCK_MONOTONIC);
		if (!strcmp(op, "pingpong")) {
			rc = pingpong(n);
		} else {
			for (long i = 0; i < n; i++) {
				if (!strcmp(op, "getppid")) {
					syscall(SYS_getppid);
				} else if (!strcmp(op, "read")) {
					if (read(zero, buf, 1) != 1)
						rc = -1;
				} else if (!strcmp(op, "pread")) {
					if (pread(file, buf, 1, 0) != 1)
						rc = -1;
				} else if (!strcmp(op, "open") || !strcmp(op, "openarmed")) {
					close(open(argv[1], O_RDONLY));
				} else if (!strcmp(op, "openmaps")) {
					close(open("/proc/self/maps", O_RDONLY));
				} else if (!strcmp(op, "udp") || !strcmp(op, "sendmsg") || !strcmp(op, "sendmmsg")) {
					if (op[0] == 'u')
						sendto(udp_tx, payload, sizeof(payload), MSG_DONTWAIT,
						       (struct sockaddr *)&usink, sizeof(usink));
					else if (op[4] == 'm')
						sendmsg(udp_tx, &msg, MSG_DONTWAIT);
					else
						sendmmsg(udp_tx, mm, MMSG, MSG_DONTWAIT);
					if ((i & 7) == 7) /* keep the sink from filling */
						while (recv(udp_rx, line, sizeof(line), MSG_DONTWAIT) > 0)
							;
				} else if (!strcmp(op, "connect")) {
					int s = socket(AF_INET, SOCK_STREAM, 0), c;

					connect(s, (struct sockaddr *)&tsink, sizeof(tsink));
					c = accept(lst, NULL, NULL);
					close(s);
					close(c);
				} else if (!strncmp(op, "exec", 4)) { /* exec, exec900, execmark, execmark900 */
					pid_t child;

					if (posix_spawn(&child, true_argv[0], NULL, NULL, true_argv, environ) ||
					    waitpid(child, NULL, 0) != child)
						rc = -1;
				} else if (!strcmp(op, "pvm")) {
					syscall(SYS_process_vm_readv, (pid_t)pid, &mine, 1, &theirs, 1, 0);
				} else if (!strcmp(op, "packet")) {
					if (sendto(pkt, payload, sizeof(payload), 0, (struct sockaddr *)&lo, sizeof(lo)) < 0)
						rc = -1;
				} else if (!strcmp(op, "uring")) {
					if (ring_run(&ring, &nop) < 0)
						rc = -1;
				} else if (!strcmp(op, "listen")) {
					struct sockaddr_in any = {.sin_family = AF_INET};
					int l = socket(AF_INET, SOCK_STREAM, 0);

					any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
					if (l < 0 || bind(l, (struct sockaddr *)&any, sizeof(any)) || listen(l, 1))
						rc = -1;
					close(l);
				} else if (!strcmp(op, "creat")) {
					int fd = creat(created, 0600);

					if (fd < 0)
						rc = -1;
					close(fd);
				} else if (!strcmp(op, "link")) {
					if (link(argv[1], linked) || unlink(linked))
						rc = -1;
				} else if (!strcmp(op, "chdir")) {
					if (chdir(dir))
						rc = -1;
				} else if (!strcmp(op, "openfd")) {
					int fd = open(fdpath, O_RDONLY);

					if (fd < 0)
						rc = -1;
					close(fd);
				} else if (!strcmp(op, "unixdgram")) {
					if (sendto(unix_tx, payload, sizeof(payload), MSG_DONTWAIT, (struct sockaddr *)&usock,
						   sizeof(usock)) != sizeof(payload))
						rc = -1;
					if ((i & 7) == 7) /* keep the receiver from filling */
						while (recv(unix_rx, line, sizeof(line), MSG_DONTWAIT) > 0)
							;
				} else if (!strcmp(op, "openat2")) {
					int fd = (int)syscall(SYS_openat2, AT_FDCWD, argv[1], &how, sizeof(how));

					if (fd < 0)
						rc = -1;
					close(fd);
				} else if (!strcmp(op, "openpid")) {
					char path[64];
					int fd;

					snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
					fd = open(path, O_RDONLY);
					if (fd < 0)
						rc = -1;
					close(fd);
				} else if (!strcmp(op, "tcpsend") || !strcmp(op, "tcpreply")) {
					int tx = op[3] == 's' ? tcp_c : tcp_a, rx = tx == tcp_c ? tcp_a : tcp_c;

					if (send(tx, payload, sizeof(payload), MSG_DONTWAIT) != sizeof(payload))
						rc = -1;
					if ((i & 7) == 7) /* keep the receiver from filling */
						while (recv(rx, line, sizeof(line), MSG_DONTWAIT) > 0)
							;
				} else if (!strcmp(op, "rawhdr")) {
					struct sockaddr_in to = {.sin_family = AF_INET};

					to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
					if (sendto(raw, packet, packet_len, 0, (struct sockaddr *)&to, sizeof(to)) !=
					    (ssize_t)packet_len)
						rc = -1;
					if ((i & 7) == 7)
						while (recv(udp_rx, line, sizeof(line), MSG_DONTWAIT) > 0)
							;
				} else if (!strcmp(op, "prlimit")) {
					if (prlimit(0, RLIMIT_NOFILE, &nofile, NULL))
						rc = -1;
				} else if (!strcmp(op, "pmadvise")) {
					int fd = pidfd_of(pid);

					if (fd < 0)
						rc = -1;
					else
						syscall(SYS_process_madvise, fd, &theirs, 1, MADV_COLD, 0);
				} else if (!strcmp(op, "getfd")) {
					int fd = pidfd_of(pid), got = fd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, fd, 0, 0);

					if (got < 0)
						rc = -1;
					close(got);
				} else if (!strcmp(op, "recvfd") || !strcmp(op, "recv")) {
					struct iovec one = {buf, 1};
					struct msghdr m = {.msg_iov = &one, .msg_iovlen = 1};
					struct cmsghdr *c;
					int got = -1;

					if (!strcmp(op, "recvfd")) {
						m.msg_control = cbuf;
						m.msg_controllen = sizeof(cbuf);
						c = CMSG_FIRSTHDR(&m);
						c->cmsg_level = SOL_SOCKET;
						c->cmsg_type = SCM_RIGHTS;
						c->cmsg_len = CMSG_LEN(sizeof(int));
						memcpy(CMSG_DATA(c), &file, sizeof(int));
					}
					if (sendmsg(pair[0], &m, 0) != 1) {
						rc = -1;
					} else {
						m.msg_controllen = m.msg_control ? sizeof(cbuf) : 0;
						if (recvmsg(pair[1], &m, 0) != 1)
							rc = -1;
						else if (m.msg_control && (c = CMSG_FIRSTHDR(&m)) && c->cmsg_type == SCM_RIGHTS)
							memcpy(&got, CMSG_DATA(c), sizeof(int));
						if (m.msg_control && got < 0)
							rc = -1;
						if (got >= 0)
							close(got);
					}
				} else if (!strcmp(op, "openrw")) {
					int fd = open(xfile, O_RDONLY);

					if (fd < 0)
						rc = -1;
					close(fd);
				} else if (!strcmp(op, "opencopier")) {
					int fd = open(cfile, O_RDONLY);

					if (fd < 0)
						rc = -1;
					close(fd);
				} else if (!strcmp(op, "openw") || !strcmp(op, "openwarmed")) {
					int fd = open(wfile, O_WRONLY | O_CREAT, 0600);

					if (fd < 0)
						rc = -1;
					close(fd);
				} else if (!strcmp(op, "shmat")) {
					void *a = shmat(shmid, NULL, 0);

					if (a == (void *)-1)
						rc = -1;
					else
						shmdt(a);
				} else if (!strcmp(op, "perfopen")) {
					int fd = (int)syscall(SYS_perf_event_open, &pattr, (pid_t)pid, -1, -1, 0);

					if (fd < 0)
						rc = -1;
					close(fd);
				} else if (!strcmp(op, "knob")) {
					char knob[64];
					int fd;

					snprintf(knob, sizeof(knob), "/proc/%ld/oom_score_adj", pid);
					fd = open(knob, O_WRONLY);
					if (fd < 0)
						rc = -1;
					close(fd);
				} else if (!strcmp(op, "fifo")) {
					int fd = open(fifo, O_RDWR);

					if (fd < 0)
						rc = -1;
					close(fd);
				} else if (!strcmp(op, "mmap") || !strcmp(op, "mmapx") || !strcmp(op, "mmapw")) {
					int prot = strcmp(op, "mmap") ? PROT_READ | PROT_EXEC : PROT_READ;
					void *m = mmap(NULL, 4096, prot, MAP_PRIVATE, strcmp(op, "mmapw") ? file : xfd, 0);

					if (m == MAP_FAILED || munmap(m, 4096))
						rc = -1;
				} else if (!strcmp(op, "pipe")) {
					if (write(relay[1], buf, 1) != 1 || read(relay[0], buf, 1) != 1)
						rc = -1;
				} else if (!strcmp(op, "sendfile") || !strcmp(op, "sendfilew")) {
					off_t off = 0;

					if (sendfile(sfd, strcmp(op, "sendfile") ? xfd : file, &off, 1) != 1)
						rc = -1;
				} else if (!strcmp(op, "kill")) {
					if (kill((pid_t)pid, SIGCONT))
						rc = -1;
				} else if (!strcmp(op, "setprio")) {
					errno = 0;
					int nice = getpriority(PRIO_PROCESS, (id_t)pid);

					if ((nice == -1 && errno) || setpriority(PRIO_PROCESS, (id_t)pid, nice))
						rc = -1;
				} else if (!strcmp(op, "uringopen")) {
					int fd = ring_run(&ring, &uopen);

					if (fd < 0)
						rc = -1;
					else
						close(fd);
				} else {
					rc = -1;
				}
				if (rc)
					break;
			}
		}
		b = now_ns(CLOCK_MONOTONIC);
		cb = now_ns(CLOCK_PROCESS_CPUTIME_ID) + children_cpu_ns();
		while (nextra > 0)
			close(extra[--nextra]);
		if (sfd >= 0) {
			close(sfd);
			sfd = -1;
		}
		while (recv(udp_rx, line, sizeof(line), MSG_DONTWAIT) > 0)
			;
		while (recv(unix_rx, line, sizeof(line), MSG_DONTWAIT) > 0)
			;
		while (recv(tcp_a, line, sizeof(line), MSG_DONTWAIT) > 0)
			;
		while (recv(tcp_c, line, sizeof(line), MSG_DONTWAIT) > 0)
			;
		if (rc)
			return 3;
		printf("%.3f %.3f\n", (b - a) / n, (cb - ca) / n);
	}
	unlink(created);
	unlink(wfile);
	unlink(usock.sun_path);
	unlink(fifo);
	unlink(xfile);
	return 0;
}
