/*
 * bench/syscall_cost.py's workload: on each "go N" line from stdin, issue N
 * getppid(2) calls and print the mean wall-clock ns per call and the mean
 * CPU ns per call (this thread's: the syscall and every hook that ran in its
 * context, without the time a loaded host kept it waiting for a CPU).  C,
 * not Python, so the figure is the syscall and its hooks, not an interpreter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	char line[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		long n = atol(line + 3);
		struct timespec a, b, ca, cb;

		if (n <= 0)
			break;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		clock_gettime(CLOCK_MONOTONIC, &b);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
		printf("%.3f %.3f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n,
		       ((cb.tv_sec - ca.tv_sec) * 1e9 + (cb.tv_nsec - ca.tv_nsec)) / n);
	}
	return 0;
}
