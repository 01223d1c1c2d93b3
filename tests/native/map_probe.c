/* A short-lived program that maps a file for execution and exits at once, before anyone
 * could read its /proc/PID/maps (red-team round 9's g4r9_gconv_module_in_iconv: iconv
 * dlopen'ed an agent-written gconv module and was gone in milliseconds).
 *
 *   h7mapprobe dlopen PATH     dlopen(PATH): ld.so maps its code PROT_READ|PROT_EXEC (mmap)
 *   h7mapprobe mprotect PATH   mmap PATH PROT_READ, then mprotect it PROT_READ|PROT_EXEC
 *   h7mapprobe read PATH       mmap PATH PROT_READ only: never executable (must not be reported)
 *
 * Exit 0 when the mapping was made; 2 on bad usage, 1 when the call failed (message on stderr). */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	void *p;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: h7mapprobe dlopen|mprotect|read PATH\n");
		return 2;
	}
	if (!strcmp(argv[1], "dlopen")) {
		if (!dlopen(argv[2], RTLD_NOW | RTLD_LOCAL)) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 1;
		}
		_exit(0); /* no destructors, no unmapping: gone as fast as the kernel lets it */
	}
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	p = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (!strcmp(argv[1], "mprotect") && mprotect(p, 4096, PROT_READ | PROT_EXEC)) {
		perror("mprotect");
		return 1;
	}
	if (strcmp(argv[1], "mprotect") && strcmp(argv[1], "read")) {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	_exit(0);
}
