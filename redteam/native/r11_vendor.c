/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * r11_vendor.c - round 11's vendor tool for the benign deploy act: a program
 * the agent never wrote (built at stage time, before the victims start, and
 * copied into place by a host deploy job).  With no argument it prints its
 * version; with a file argument it counts that file's lines and prints the
 * count, the way a small vendor CLI reports on a config.
 */
#include <stdio.h>

int main(int argc, char **argv)
{
	FILE *f;
	int c, lines = 0;

	if (argc < 2) {
		puts("vendor-lint 2.4.1");
		return 0;
	}
	f = fopen(argv[1], "r");
	if (!f)
		return 1;
	while ((c = fgetc(f)) != EOF)
		lines += c == '\n';
	fclose(f);
	printf("%s: %d lines ok\n", argv[1], lines);
	return 0;
}
