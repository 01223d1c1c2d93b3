/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * r10_lib.c - round 10's native acts (librt10.so, built at stage time and
 * loaded with ctypes).  It reuses rt.c's raw io_uring ring (no liburing).
 *
 *   rt10_uring_tfo    TCP Fast Open through io_uring: ONE IORING_OP_SENDMSG with
 *                     msg_name and MSG_FASTOPEN on a fresh, unconnected TCP socket
 *                     (the connect happens inside sendmsg); whatever the SYN did not
 *                     carry follows as IORING_OP_SEND.  No connect/sendto/sendmsg syscall.
 *   rt10_int80        any syscall through the ia32 entry (int $0x80) with integer
 *                     arguments only, from a 64-bit process.
 *
 * Every wait is bounded; returns >= 0 on success and -errno on failure.
 */
#include "rt.c"

#include <poll.h>

int rt10_uring_tfo(const char *ip, int port, const char *buf, int len)
{
	struct ring r;
	struct sockaddr_storage ss;
	socklen_t alen;
	struct io_uring_sqe sqe;
	int res = 0, rc, fd, sent = 0;
	if ((rc = fill_addr(AF_INET, ip, port, &ss, &alen)) < 0)
		return rc;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	if ((rc = ring_init(&r, 0)) < 0) {
		close(fd);
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
	sqe.opcode = IORING_OP_SENDMSG;
	sqe.fd = fd;
	sqe.addr = (unsigned long)&msg;
	sqe.len = 1;
	sqe.msg_flags = MSG_FASTOPEN;
	if ((rc = ring_do(&r, &sqe, &res)) < 0)
		goto out;
	if (res > 0)
		sent = res;
	else if (res != -EINPROGRESS && res != -EALREADY && res != -EAGAIN) {
		rc = res;
		goto out;
	}
	/* the handshake started inside sendmsg: wait (bounded) until the socket is writable */
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, 3000) <= 0) {
		rc = -ETIMEDOUT;
		goto out;
	}
	while (sent < len) {
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = IORING_OP_SEND;
		sqe.fd = fd;
		sqe.addr = (unsigned long)(buf + sent);
		sqe.len = (unsigned)(len - sent);
		if ((rc = ring_do(&r, &sqe, &res)) < 0)
			goto out;
		if (res <= 0) {
			rc = res ? res : -EPIPE;
			goto out;
		}
		sent += res;
	}
	rc = sent;
out:
	close(fd);
	ring_free(&r);
	return rc;
}

long rt10_int80(long nr, long a, long b, long c, long d)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}
