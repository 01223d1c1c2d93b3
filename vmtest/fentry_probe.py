"""vmtest: load build/vmtest/fentry_probe.bpf.o, attach it, open /dev/null, read the hit count.

Uses only the project's libbpf extension (h7._libbpf, the same libbpf the sensor uses) and
prints one JSON object: {"fentry": "available"|"unavailable", "stage": ..., "detail": ...}.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

OBJ = Path(__file__).resolve().parent.parent / "build" / "vmtest" / "fentry_probe.bpf.o"


def probe() -> dict[str, object]:
    try:
        from h7._libbpf import ffi, lib
    except ImportError as e:
        return {"fentry": "unavailable", "stage": "import", "detail": str(e)}
    if not OBJ.exists():
        return {"fentry": "unavailable", "stage": "object", "detail": f"{OBJ} not built"}

    def err(rc: int) -> str:
        buf = ffi.new("char[]", 256)
        lib.libbpf_strerror(abs(rc) or ffi.errno, buf, 256)
        return ffi.string(buf).decode()

    data = OBJ.read_bytes()
    buf = ffi.from_buffer(data)
    obj = lib.bpf_object__open_mem(buf, len(data), ffi.NULL)
    if obj == ffi.NULL:
        return {"fentry": "unavailable", "stage": "open", "detail": err(ffi.errno)}
    try:
        rc = lib.bpf_object__load(obj)
        if rc:
            return {"fentry": "unavailable", "stage": "load", "detail": err(rc)}
        prog = lib.bpf_object__find_program_by_name(obj, b"probe_open")
        link = lib.bpf_program__attach(prog)
        if link == ffi.NULL:
            return {"fentry": "unavailable", "stage": "attach", "detail": err(ffi.errno)}
        try:
            for _ in range(10):
                os.close(os.open("/dev/null", os.O_RDONLY))
            fd = lib.bpf_map__fd(lib.bpf_object__find_map_by_name(obj, b"hits"))
            key = ffi.new("uint32_t *", 0)
            val = ffi.new("uint64_t *")
            lib.bpf_map_lookup_elem(fd, key, val)
            n = int(val[0])
        finally:
            lib.bpf_link__destroy(link)
        if n < 10:
            return {"fentry": "unavailable", "stage": "fire", "detail": f"{n} hits for 10 opens"}
        return {"fentry": "available", "stage": "fire", "detail": f"{n} hits"}
    finally:
        lib.bpf_object__close(obj)


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
    sys.stdout.write("\n")
