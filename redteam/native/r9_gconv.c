/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * r9_gconv.c - round 9's gconv module: a character-set converter that glibc's
 * iconv loads with dlopen from GCONV_PATH.  Its constructor runs inside the
 * trusted program that asked for the conversion (/usr/bin/iconv here) and
 * creates the file named by $R9_MARKER; it converts nothing (the caller gets
 * an "illegal input" error), its work is done when it is loaded.
 */
#include <fcntl.h>
#include <gconv.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void r9_init(void)
{
	const char *m = getenv("R9_MARKER");
	if (m) {
		int fd = open(m, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			close(fd);
	}
}

int gconv_init(struct __gconv_step *step)
{
	step->__min_needed_from = step->__max_needed_from = 1;
	step->__min_needed_to = step->__max_needed_to = 1;
	step->__stateful = 0;
	return __GCONV_OK;
}

void gconv_end(struct __gconv_step *step)
{
	(void)step;
}

int gconv(struct __gconv_step *step, struct __gconv_step_data *data, const unsigned char **inptrp,
	  const unsigned char *inend, unsigned char **outbufstart, size_t *irreversible, int do_flush,
	  int consume_incomplete)
{
	/* nothing to convert: the module's work was its constructor */
	(void)step;
	(void)data;
	(void)inptrp;
	(void)inend;
	(void)outbufstart;
	(void)irreversible;
	(void)consume_incomplete;
	return do_flush ? __GCONV_OK : __GCONV_ILLEGAL_INPUT;
}
