// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The cheapest possible syscall hook: a tp_btf/sys_enter program that does
 * nothing.  bench/syscall_cost.py attaches it to measure what attaching ANY
 * program to sys_enter costs every syscall on this machine (the tracepoint
 * slow path and the BPF trampoline), so H7's own share can be told apart.
 *
 * And the cheapest per-syscall exit tracepoint: an empty program on
 * syscalls/sys_exit_openat, as H7's open exits are (since session 9).  Such
 * a tracepoint is served by one callback on the raw sys_exit tracepoint that
 * tests the syscall's bit, so enabling it for openat puts EVERY syscall's
 * exit through that callback; syscall_cost's ``exit_floor`` set-up (both
 * programs) against ``floor`` (sys_enter alone) measures what that costs a
 * getppid.
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

SEC("tracepoint/syscalls/sys_exit_openat")
int bench_null_sys_exit_openat(void *ctx)
{
	return 0;
}
