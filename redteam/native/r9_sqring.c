/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * r9_sqring.c - round 9's "ring host": a process OUTSIDE the agent's tree
 * that owns an io_uring with a kernel submission thread (IORING_SETUP_SQPOLL),
 * a sparse table of 4 fixed files and a 4-KiB shared buffer (a memfd mapped
 * here), the way a storage or network service keeps one.  Whoever connects
 * to its unix socket gets the memfd over SCM_RIGHTS and one text line: the
 * ring's layout, the buffer's address IN THIS PROCESS, this pid and the
 * ring's fd number.  (The kernel refuses io_uring fds in SCM_RIGHTS; a root
 * client takes the ring itself with pidfd_getfd.)  A client that maps the
 * ring can then queue requests that this process's submission thread runs
 * with this process's memory and files.
 *
 *     r9_sqring SOCKPATH     (lives at most 4 hours; stops on SIGTERM)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LIFETIME_S (4 * 3600)

int main(int argc, char **argv)
{
	struct io_uring_params p;
	struct sockaddr_un sa;
	int files[4] = {-1, -1, -1, -1};
	char line[512];

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path))
		return 2;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQPOLL;
	p.sq_thread_idle = 1000;
	int ring = (int)syscall(__NR_io_uring_setup, 8, &p);
	if (ring < 0) {
		perror("io_uring_setup");
		return 1;
	}
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_FILES, files, 4) < 0) {
		perror("io_uring_register files");
		return 1;
	}
	int mfd = memfd_create("r9-ring-buf", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, 4096) < 0) {
		perror("memfd");
		return 1;
	}
	void *buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	int n = snprintf(line, sizeof(line),
			 "%u %u %u %u %u %u %u %u %u %u %u %u %lu %d %d\n", p.sq_entries, p.cq_entries, p.features,
			 p.sq_off.head, p.sq_off.tail, p.sq_off.ring_mask, p.sq_off.flags, p.sq_off.array,
			 p.cq_off.head, p.cq_off.tail, p.cq_off.ring_mask, p.cq_off.cqes, (unsigned long)buf,
			 (int)getpid(), ring);
	int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	if (srv < 0 || bind(srv, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(srv, 4) < 0) {
		perror("listen");
		return 1;
	}
	time_t end = time(NULL) + LIFETIME_S;
	while (time(NULL) < end) {
		struct pollfd pfd = {.fd = srv, .events = POLLIN};
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		int c = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		int fds[1] = {mfd};
		char ctl[CMSG_SPACE(sizeof(fds))];
		struct iovec iov = {.iov_base = line, .iov_len = (size_t)n};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
				   .msg_controllen = sizeof(ctl)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(cm), fds, sizeof(fds));
		if (sendmsg(c, &m, 0) < 0)
			perror("sendmsg");
		close(c);
	}
	return 0;
}
