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
#include <sys/un.h>
#include <unistd.h>

#include "uring_ring.h" /* ring_init, ring_run */

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
 * One io_uring CONNECT of a new unix stream socket to `path`, then one SEND of
 * `len` bytes on it: no connect(2), no send/write syscall.  Returns bytes sent
 * or -errno (-1000-step for the step that failed).
 */
int h7_uring_unix_send(const char *path, const char *buf, int len)
{
	struct ring r;
	struct io_uring_sqe sqe;
	struct sockaddr_un sun;
	int fd, rc;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	memset(&r, 0, sizeof(r));
	rc = ring_init(&r);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_CONNECT;
	sqe.fd = fd;
	sqe.addr = (unsigned long)&sun;
	sqe.off = sizeof(sun);
	rc = ring_run(&r, &sqe);
	close(r.fd);
	if (rc < 0)
		rc -= 1000;
	else if ((rc = h7_uring_send_fd(fd, buf, len, 0)) < 0)
		rc -= 2000;
	close(fd);
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
