"""Syscall load generator for the benchmarks: getppid() at a paced rate.

Usage: python bench/load.py RATE_PER_S SECONDS [open]   (RATE 0 = as fast as possible)
With ``open`` the call is an open+close of /dev/null instead: every open of a
watched process is an event record (the event ring), not only a syscall record.
Waits for a line on stdin before starting so the sensor can attach first;
prints the number of syscalls issued and the achieved rate.
"""

import os
import sys
import time

rate = float(sys.argv[1])
seconds = float(sys.argv[2])
sys.stdin.readline()


def open_close() -> None:
    os.close(os.open("/dev/null", os.O_RDONLY))


call = open_close if sys.argv[3:] == ["open"] else os.getppid
n = 0
start = time.perf_counter()
end = start + seconds
if rate <= 0:
    while time.perf_counter() < end:
        for _ in range(1000):
            call()
        n += 1000
else:
    chunk = max(1, int(rate / 1000))  # issue in 1 ms slices
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        due = int((now - start) * rate)
        todo = min(due - n, chunk * 20)
        for _ in range(todo):
            call()
        n += max(0, todo)
        if n >= due:
            time.sleep(0.0005)
elapsed = time.perf_counter() - start
print(f"{n} {n / elapsed:.0f}", flush=True)
