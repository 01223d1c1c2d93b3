// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The cheapest possible syscall hook: a tp_btf/sys_enter program that does
 * nothing.  bench/syscall_cost.py attaches it to measure what attaching ANY
 * program to sys_enter costs every syscall on this machine (the tracepoint
 * slow path and the BPF trampoline), so H7's own share can be told apart.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(bench_null_sys_enter, struct pt_regs *regs, long id)
{
	return 0;
}
