/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * r9_probe.c - round 9's dropped program: a small native tool no identity
 * table knows (not a shell, not a known tool).  It creates the marker file
 * named by argv[1] with the uid and the process's environment size in it,
 * the footprint of a dropper's first stage, and exits 0.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	char line[128];
	int n = 0, fd, len;

	if (argc < 2)
		return 2;
	for (char **e = environ; *e; e++)
		n++;
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 1;
	len = snprintf(line, sizeof(line), "probe uid=%d env=%d\n", (int)getuid(), n);
	if (write(fd, line, (size_t)len) != len) {
		close(fd);
		return 1;
	}
	return close(fd) == 0 ? 0 : 1;
}
