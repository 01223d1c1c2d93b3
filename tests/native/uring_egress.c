/*
 * io_uring egress without liburing (raw syscalls), for tests/test_sensor_gaps.py.
 *
 * h7_uring_egress(ip, tcp_port, udp_port, async): one io_uring CONNECT to
 * ip:tcp_port, one SEND on it, and one SENDMSG of a datagram addressed to
 * ip:udp_port.  With async != 0 every SQE carries IOSQE_ASYNC, so the kernel
 * runs it in an io-wq worker thread (created without the fork tracepoint).
 * Returns 0 when all three completed successfully, else -errno / -1000-step.
 *
 * Built both as a shared object (loaded in-process with ctypes: egress from
 * native code without exec) and as an executable (egress from a child).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

struct ring {
	int fd;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_init(struct ring *r)
{
	struct io_uring_params p;
	void *sq, *cq;
	size_t sq_sz, cq_sz;

	memset(&p, 0, sizeof(p));
	r->fd = (int)syscall(__NR_io_uring_setup, 8, &p);
	if (r->fd < 0)
		return -errno;
	sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	sq = mmap(0, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	cq = mmap(0, cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return -errno;
	r->sq_head = (unsigned *)((char *)sq + p.sq_off.head);
	r->sq_tail = (unsigned *)((char *)sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)((char *)sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)((char *)sq + p.sq_off.array);
	r->cq_head = (unsigned *)((char *)cq + p.cq_off.head);
	r->cq_tail = (unsigned *)((char *)cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)((char *)cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)((char *)cq + p.cq_off.cqes);
	return 0;
}

/* Submit one SQE and wait for its completion; returns cqe->res. */
static int ring_run(struct ring *r, const struct io_uring_sqe *sqe)
{
	unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask, head;
	int res;

	r->sqes[idx] = *sqe;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	head = __atomic_load_n(r->cq_head, __ATOMIC_ACQUIRE);
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

int h7_uring_egress(const char *ip, int tcp_port, int udp_port, int async)
{
	struct ring r;
	struct io_uring_sqe sqe;
	struct sockaddr_in tcp_addr, udp_addr;
	struct msghdr msg;
	struct iovec iov;
	char payload[] = "h7-uring";
	int tcp, udp, rc;

	memset(&r, 0, sizeof(r));
	rc = ring_init(&r);
	if (rc)
		return rc;
	memset(&tcp_addr, 0, sizeof(tcp_addr));
	tcp_addr.sin_family = AF_INET;
	tcp_addr.sin_port = htons(tcp_port);
	inet_pton(AF_INET, ip, &tcp_addr.sin_addr);
	udp_addr = tcp_addr;
	udp_addr.sin_port = htons(udp_port);
	tcp = socket(AF_INET, SOCK_STREAM, 0);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	if (tcp < 0 || udp < 0)
		return -errno;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_CONNECT;
	sqe.fd = tcp;
	sqe.addr = (unsigned long)&tcp_addr;
	sqe.off = sizeof(tcp_addr);
	sqe.flags = async ? IOSQE_ASYNC : 0;
	rc = ring_run(&r, &sqe);
	if (rc < 0)
		return rc - 1000;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_SEND;
	sqe.fd = tcp;
	sqe.addr = (unsigned long)payload;
	sqe.len = sizeof(payload);
	sqe.flags = async ? IOSQE_ASYNC : 0;
	rc = ring_run(&r, &sqe);
	if (rc < 0)
		return rc - 2000;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = payload;
	iov.iov_len = sizeof(payload);
	msg.msg_name = &udp_addr;
	msg.msg_namelen = sizeof(udp_addr);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_SENDMSG;
	sqe.fd = udp;
	sqe.addr = (unsigned long)&msg;
	sqe.len = 1;
	sqe.flags = async ? IOSQE_ASYNC : 0;
	rc = ring_run(&r, &sqe);
	if (rc < 0)
		return rc - 3000;
	close(tcp);
	close(udp);
	close(r.fd);
	return 0;
}

/*
 * One IORING_OP_SEND of `len` bytes on an existing socket `fd` (an AF_PACKET
 * socket, a socket received over SCM_RIGHTS): no send/write syscall at all.
 * Returns bytes sent or -errno.
 */
int h7_uring_send_fd(int fd, const char *buf, int len, int async)
{
	struct ring r;
	struct io_uring_sqe sqe;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = ring_init(&r);
	if (rc)
		return rc;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_SEND;
	sqe.fd = fd;
	sqe.addr = (unsigned long)buf;
	sqe.len = (unsigned)len;
	sqe.flags = async ? IOSQE_ASYNC : 0;
	rc = ring_run(&r, &sqe);
	close(r.fd);
	return rc;
}

/*
 * io_uring OPENAT of `path` (relative to the cwd) with `flags`: no open
 * syscall.  Returns the new fd or -errno.
 */
int h7_uring_open(const char *path, int flags)
{
	struct ring r;
	struct io_uring_sqe sqe;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = ring_init(&r);
	if (rc)
		return rc;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_OPENAT;
	sqe.fd = AT_FDCWD;
	sqe.addr = (unsigned long)path;
	sqe.open_flags = (unsigned)flags;
	rc = ring_run(&r, &sqe);
	close(r.fd);
	return rc;
}

/*
 * Create `path` (mode 0755) holding `len` bytes of `data`, all through
 * io_uring: OPENAT, WRITE, CLOSE (no open/write/close syscall on it).
 * Returns bytes written or -errno (-1000-step for the step that failed).
 */
long h7_uring_write_file(const char *path, const char *data, long len)
{
	struct ring r;
	struct io_uring_sqe sqe;
	int fd, rc;

	memset(&r, 0, sizeof(r));
	rc = ring_init(&r);
	if (rc)
		return rc;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_OPENAT;
	sqe.fd = AT_FDCWD;
	sqe.addr = (unsigned long)path;
	sqe.open_flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
	sqe.len = 0755;
	fd = ring_run(&r, &sqe);
	if (fd < 0) {
		close(r.fd);
		return fd - 1000;
	}
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_WRITE;
	sqe.fd = fd;
	sqe.addr = (unsigned long)data;
	sqe.len = (unsigned)len;
	rc = ring_run(&r, &sqe);
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_CLOSE;
	sqe.fd = fd;
	if (ring_run(&r, &sqe) < 0 && rc >= 0)
		rc = -3000;
	close(r.fd);
	return rc < 0 ? rc - (rc > -1000 ? 2000 : 0) : rc;
}

#ifdef H7_URING_MAIN
int main(int argc, char **argv)
{
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: %s IP TCP_PORT UDP_PORT ASYNC\n", argv[0]);
		return 2;
	}
	rc = h7_uring_egress(argv[1], atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	if (rc)
		fprintf(stderr, "h7_uring_egress: %d\n", rc);
	return rc ? 1 : 0;
}
#endif
