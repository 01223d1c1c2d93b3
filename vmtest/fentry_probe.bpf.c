// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vmtest's fentry probe: does this kernel load, attach and fire an fentry program?
 * Counts file opens through fentry on security_file_open (in every kernel's BTF). */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("fentry/security_file_open")
int probe_open(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&hits, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
