/*
 * h7_shim.c - the C half of h7._libbpf (compiled into the cffi extension).
 *
 * Two jobs only, both about not paying Python per record:
 *  1. a ring-buffer consumer that copies fixed-size records into a
 *     caller-owned batch buffer and stops *before* a record that does not
 *     fit, so nothing is ever consumed without being delivered (libbpf's own
 *     callback API consumes a record even when the callback refuses it);
 *  2. libbpf's print callback, formatted here and handed to Python logging.
 *
 * The BPF object itself is embedded through the bpftool skeleton, so the
 * extension needs nothing from disk at run time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "h7.h"
#include "h7.skel.h"

struct h7_rb {
	int map_fd;
	size_t page_size;
	size_t size; /* data area, a power of two */
	unsigned long *consumer_pos;
	unsigned long *producer_pos;
	uint8_t *data;
};

#define H7_RB_BUSY (1U << 31)
#define H7_RB_DISCARD (1U << 30)
#define H7_RB_HDR_SZ 8

static const void *h7_elf_bytes(size_t *sz)
{
	return h7_bpf__elf_bytes(sz);
}

static int h7_ring_open(int map_fd, struct h7_rb **out)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	struct h7_rb *r;
	void *tmp;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
		return -errno;
	if (info.type != BPF_MAP_TYPE_RINGBUF)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->map_fd = map_fd;
	r->page_size = sysconf(_SC_PAGESIZE);
	r->size = info.max_entries;
	tmp = mmap(NULL, r->page_size, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (tmp == MAP_FAILED) {
		int err = -errno;
		free(r);
		return err;
	}
	r->consumer_pos = tmp;
	/* producer page + data mapped twice back to back, so a record that wraps
	 * around the end is still contiguous in our address space */
	tmp = mmap(NULL, r->page_size + 2 * r->size, PROT_READ, MAP_SHARED, map_fd, r->page_size);
	if (tmp == MAP_FAILED) {
		int err = -errno;
		munmap(r->consumer_pos, r->page_size);
		free(r);
		return err;
	}
	r->producer_pos = tmp;
	r->data = (uint8_t *)tmp + r->page_size;
	*out = r;
	return 0;
}

static void h7_ring_close(struct h7_rb *r)
{
	if (!r)
		return;
	munmap(r->producer_pos, r->page_size + 2 * r->size);
	munmap(r->consumer_pos, r->page_size);
	free(r);
}

/* Bytes the producer has committed or reserved that we have not consumed. */
static uint64_t h7_ring_pending(struct h7_rb *r)
{
	unsigned long cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	unsigned long prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
	return prod - cons;
}

/*
 * Copy up to max records into out, one per `stride` bytes.  A record of
 * `min` to `stride` bytes is zero-padded to `stride`: the event ring holds
 * each record at its union member's size (bpf/h7.bpf.c H7_EV_SIZE), the
 * decoder reads fixed slots.  Records of any other size are skipped and
 * counted in *bad (they cannot come from our programs; counting them keeps a
 * layout bug visible instead of silent).  Returns the number of records copied.
 */
static size_t h7_ring_drain(struct h7_rb *r, void *out, size_t stride, size_t min, size_t max,
			    uint64_t *bad)
{
	unsigned long cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	size_t n = 0;
	uint8_t *dst = out;

	while (n < max) {
		unsigned long prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
		uint32_t *hdr, len;
		size_t total;

		if (cons >= prod)
			break;
		hdr = (uint32_t *)(r->data + (cons & (r->size - 1)));
		len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
		if (len & H7_RB_BUSY)
			break; /* reserved, not yet submitted: stop, keep order */
		total = ((len & ~(H7_RB_BUSY | H7_RB_DISCARD)) + H7_RB_HDR_SZ + 7) & ~7UL;
		if (!(len & H7_RB_DISCARD)) {
			size_t sz = len & ~(H7_RB_BUSY | H7_RB_DISCARD);
			if (sz >= min && sz <= stride) {
				memcpy(dst + n * stride, (uint8_t *)hdr + H7_RB_HDR_SZ, sz);
				memset(dst + n * stride + sz, 0, stride - sz);
				n++;
			} else if (bad) {
				(*bad)++;
			}
		}
		cons += total;
		__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
	}
	return n;
}

/*
 * Does this kernel accept BPF programs of a BTF-attached type (lsm 0: fentry/fexit, TRACING;
 * lsm 1: LSM) at all?  Loads a two-instruction program that names BTF type 1 (never a
 * function) as its target, as libbpf's own type probe does: a kernel that accepts the
 * type rejects it for the target (EINVAL), one that refuses the type says EPERM/EACCES
 * before looking at it.  Answers that errno (0 if it loaded, which it should not), so
 * the sensor can switch a refused kind off before its first object load instead of
 * paying a whole failed load (BTF parse, maps, relocations) to learn it.
 */
static int h7_probe_btf_prog(int lsm)
{
	struct bpf_insn insns[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = lsm ? BPF_LSM_MAC : BPF_TRACE_FENTRY,
		    .attach_btf_id = 1);
	int fd = bpf_prog_load(lsm ? BPF_PROG_TYPE_LSM : BPF_PROG_TYPE_TRACING, NULL, "GPL", insns, 2, &opts);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno;
}

/* libbpf diagnostics -> Python logging */
static void h7_py_log(int level, const char *msg); /* defined by cffi (extern "Python") */

static int h7_print_cb(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* The verifier log arrives as one message of up to megabytes: size it. */
	char small[1024], *buf = small;
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n >= (int)sizeof(small)) {
		buf = malloc((size_t)n + 1);
		if (buf)
			vsnprintf(buf, (size_t)n + 1, fmt, cp);
		else
			buf = small;
	}
	va_end(cp);
	if (n > 0) {
		size_t l = strlen(buf);
		while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == ' '))
			buf[--l] = 0;
		h7_py_log((int)level, buf);
	}
	if (buf != small)
		free(buf);
	return n;
}

static void h7_capture_libbpf_log(int enable)
{
	libbpf_set_print(enable ? h7_print_cb : NULL);
}
