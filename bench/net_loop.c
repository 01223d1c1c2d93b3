/*
 * bench/net_cost.py's workload: per command line on stdin, N operations and
 * the mean wall-clock ns per operation on stdout.
 *   udp N      sendto() of 16 bytes to a loopback UDP socket (an addressed datagram)
 *   connect N  socket + connect to a loopback TCP listener + close (+ accept/close)
 *   open N     open("/proc/self/stat") + close (every open passes the /proc check)
 * C, not Python, so the figure is the kernel path and its hooks.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(void)
{
	struct sockaddr_in usink = {0}, tsink = {0};
	socklen_t len = sizeof(usink);
	char line[64], payload[16] = "h7-bench-payload";
	int udp_rx = socket(AF_INET, SOCK_DGRAM, 0), udp_tx = socket(AF_INET, SOCK_DGRAM, 0);
	int lst = socket(AF_INET, SOCK_STREAM, 0), big = 1 << 22;

	usink.sin_family = tsink.sin_family = AF_INET;
	usink.sin_addr.s_addr = tsink.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(udp_rx, (struct sockaddr *)&usink, sizeof(usink)) || bind(lst, (struct sockaddr *)&tsink, sizeof(tsink)) ||
	    listen(lst, 4096))
		return 1;
	setsockopt(udp_rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	getsockname(udp_rx, (struct sockaddr *)&usink, &len);
	len = sizeof(tsink);
	getsockname(lst, (struct sockaddr *)&tsink, &len);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		char op[16] = "";
		long n = 0;
		double a, b;

		if (sscanf(line, "%15s %ld", op, &n) != 2 || n <= 0)
			break;
		a = now_ns();
		for (long i = 0; i < n; i++) {
			if (!strcmp(op, "udp")) {
				sendto(udp_tx, payload, sizeof(payload), MSG_DONTWAIT, (struct sockaddr *)&usink,
				       sizeof(usink));
				if ((i & 63) == 63) /* keep the sink from filling */
					while (recv(udp_rx, line, sizeof(line), MSG_DONTWAIT) > 0)
						;
			} else if (!strcmp(op, "connect")) {
				int s = socket(AF_INET, SOCK_STREAM, 0), c;

				connect(s, (struct sockaddr *)&tsink, sizeof(tsink));
				c = accept(lst, NULL, NULL);
				close(s);
				close(c);
			} else {
				close(open("/proc/self/stat", O_RDONLY));
			}
		}
		b = now_ns();
		while (recv(udp_rx, line, sizeof(line), MSG_DONTWAIT) > 0)
			;
		printf("%.3f\n", (b - a) / n);
	}
	return 0;
}
