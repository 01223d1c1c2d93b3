"""A thin, typed Python face for the handful of libbpf calls H7 uses.

The extension ``h7._libbpf`` is built by cffi in API mode from
``_build/build_libbpf.py``; everything here is ownership and error
translation, nothing clever:

* every libbpf failure becomes :class:`h7.errors.BPFError` carrying the
  positive errno, libbpf's message and, when known, the program name;
* libbpf's own diagnostics (including the verifier log on a failed load) go
  to the ``h7.libbpf`` logger and are also kept in a short ring so an error
  message can quote the verifier's last words;
* objects, links and ring mappings are released exactly once, in the right
  order, by :meth:`BpfObject.close` (also on ``with``).
"""

from __future__ import annotations

import collections
import contextlib
import errno as errno_mod
import logging
import os
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from h7.errors import BPFError, PermissionDenied

try:
    from h7._libbpf import ffi, lib
except ImportError as e:  # pragma: no cover - only without a build
    raise ImportError("h7._libbpf is not built: run `make build`") from e

log = logging.getLogger("h7.libbpf")

LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG = 0, 1, 2
_LEVELS = {LIBBPF_WARN: logging.WARNING, LIBBPF_INFO: logging.INFO, LIBBPF_DEBUG: logging.DEBUG}

#: The last libbpf messages, newest last; read by error paths.
recent_messages: collections.deque[str] = collections.deque(maxlen=200)


@ffi.def_extern()
def h7_py_log(level: int, msg: Any) -> None:
    text = ffi.string(msg).decode("utf-8", "replace")
    recent_messages.append(text)
    log.log(_LEVELS.get(level, logging.DEBUG), "%s", text)


lib.h7_capture_libbpf_log(1)


def strerror(err: int) -> str:
    buf = ffi.new("char[]", 256)
    lib.libbpf_strerror(err, buf, 256)
    return str(ffi.string(buf).decode("utf-8", "replace"))


def _fail(what: str, err: int, program: str | None = None) -> BPFError:
    err = abs(err) or ffi.errno or errno_mod.EINVAL
    msg = f"{what}: {strerror(err)} (errno {err})"
    if err in (errno_mod.EPERM, errno_mod.EACCES) and os.geteuid() != 0:
        return PermissionDenied(f"{what}: BPF needs root (or CAP_BPF+CAP_PERFMON)")  # type: ignore[return-value]
    return BPFError(msg, errno=err, program=program)


def _embedded() -> tuple[Any, int]:
    """Where the extension holds the CO-RE object it was built with (static data), and its size."""
    size = ffi.new("size_t *")
    ptr = lib.h7_elf_bytes(size)
    return ptr, size[0]


def embedded_object() -> bytes:
    """The CO-RE object the extension was built with (from the bpftool skeleton), copied."""
    return bytes(ffi.buffer(*_embedded()))


class Link:
    """An attached program; destroy() detaches it (idempotent)."""

    def __init__(self, ptr: Any, program: str) -> None:
        self._ptr = ptr
        self.program = program

    def destroy(self) -> None:
        if self._ptr is not None:
            lib.bpf_link__destroy(self._ptr)
            self._ptr = None


class Program:
    def __init__(self, ptr: Any) -> None:
        self._ptr = ptr
        self.name: str = ffi.string(lib.bpf_program__name(ptr)).decode()
        self.section: str = ffi.string(lib.bpf_program__section_name(ptr)).decode()

    def fdinfo(self) -> dict[str, int]:
        """The kernel's fdinfo of the loaded program: prog_id, and run_time_ns/run_cnt
        while kernel.bpf_stats_enabled is 1.  Empty when not loaded."""
        fd = int(lib.bpf_program__fd(self._ptr))
        out: dict[str, int] = {}
        if fd < 0:
            return out
        try:
            with open(f"/proc/self/fdinfo/{fd}") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if v.strip().isdigit():
                        out[k.strip()] = int(v)
        except OSError:
            return {}
        return out

    @property
    def prog_id(self) -> int | None:
        """The kernel's id of the loaded program (bpftool's), None when not loaded."""
        return self.fdinfo().get("prog_id")

    @property
    def autoload(self) -> bool:
        return bool(lib.bpf_program__autoload(self._ptr))

    @autoload.setter
    def autoload(self, value: bool) -> None:
        err = lib.bpf_program__set_autoload(self._ptr, bool(value))
        if err:
            raise _fail(f"set autoload of {self.name}", err, self.name)

    def attach(self) -> Link:
        ptr = lib.bpf_program__attach(self._ptr)
        if ptr == ffi.NULL:
            raise _fail(f"attach {self.name} ({self.section})", ffi.errno, self.name)
        return Link(ptr, self.name)

    def attach_cgroup(self, cgroup_fd: int) -> Link:
        """Attach a cgroup program through a bpf_link.

        A link-based cgroup attachment always has multi-attach semantics (it
        displaces no other program on that cgroup) and is detached when the
        link is destroyed or its last fd closes, i.e. when the sensor exits,
        however it exits.
        """
        ptr = lib.bpf_program__attach_cgroup(self._ptr, cgroup_fd)
        if ptr == ffi.NULL:
            raise _fail(f"attach {self.name} ({self.section}) to a cgroup", ffi.errno, self.name)
        return Link(ptr, self.name)


class Map:
    def __init__(self, ptr: Any) -> None:
        self._ptr = ptr
        self.name: str = ffi.string(lib.bpf_map__name(ptr)).decode()

    @property
    def fd(self) -> int:
        return int(lib.bpf_map__fd(self._ptr))

    @property
    def max_entries(self) -> int:
        return int(lib.bpf_map__max_entries(self._ptr))

    def set_max_entries(self, n: int) -> None:
        err = lib.bpf_map__set_max_entries(self._ptr, n)
        if err:
            raise _fail(f"resize map {self.name}", err)

    @property
    def key_size(self) -> int:
        return int(lib.bpf_map__key_size(self._ptr))

    @property
    def value_size(self) -> int:
        return int(lib.bpf_map__value_size(self._ptr))

    def lookup(self, key: bytes, value_size: int | None = None) -> bytes | None:
        """Value bytes, or None when the key is absent.

        ``value_size`` must be given for per-CPU maps (ncpus * round8(size)).
        """
        size = value_size if value_size is not None else self.value_size
        out = ffi.new("char[]", size)
        if lib.bpf_map_lookup_elem(self.fd, key, out) != 0:
            if ffi.errno == errno_mod.ENOENT:
                return None
            raise _fail(f"lookup in {self.name}", ffi.errno)
        return bytes(ffi.buffer(out, size))

    def lookup_percpu(self, key: bytes, dtype: np.dtype) -> np.ndarray:
        """All CPUs' copies of a per-CPU value as an array of ``dtype`` (one row per CPU)."""
        ncpu = possible_cpus()
        stride = (dtype.itemsize + 7) & ~7
        raw = self.lookup(key, ncpu * stride)
        if raw is None:
            return np.zeros(0, dtype)
        arr = np.frombuffer(raw, dtype=np.uint8).reshape(ncpu, stride)[:, : dtype.itemsize]
        return np.ascontiguousarray(arr).view(dtype).reshape(ncpu)

    def update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        if lib.bpf_map_update_elem(self.fd, key, value, flags) != 0:
            raise _fail(f"update of {self.name}", ffi.errno)

    def delete(self, key: bytes) -> bool:
        if lib.bpf_map_delete_elem(self.fd, key) != 0:
            if ffi.errno == errno_mod.ENOENT:
                return False
            raise _fail(f"delete in {self.name}", ffi.errno)
        return True

    def iter_keys(self) -> Iterator[bytes]:
        ks = self.key_size
        cur = ffi.new("char[]", ks)
        nxt = ffi.new("char[]", ks)
        first = True
        for _ in range(1 << 22):  # bounded: far above any map we create
            rc = lib.bpf_map_get_next_key(self.fd, ffi.NULL if first else cur, nxt)
            if rc != 0:
                return
            first = False
            yield bytes(ffi.buffer(nxt, ks))
            ffi.memmove(cur, nxt, ks)


def probe_btf_type(lsm: bool = False) -> int:
    """errno of loading a trivial fentry (``lsm``: LSM) program whose target is BTF type 1.

    EINVAL where the kernel accepts the program type (type 1 is not a
    function), EPERM/EACCES where it refuses the type outright (as on hosts
    where fentry is locked down).  Costs one BPF_PROG_LOAD, where learning
    the same from the object costs a whole failed object load.
    """
    return int(lib.h7_probe_btf_prog(1 if lsm else 0))


def btf_names_absent(names: set[str], btf_dir: str = "/sys/kernel/btf") -> set[str]:
    """The ``names`` that occur in no string section of the kernel's BTF (vmlinux, then modules).

    libbpf resolves an fentry/fexit/lsm/tp_btf target by a BTF type name
    (``filp_close``, ``btf_trace_io_uring_submit_sqe``); a name that is no
    string of any BTF cannot be a type's name, so loading that program
    fails for certain (ESRCH/ENOENT).  A name that is present may still
    fail (e.g. it names a struct member): the caller's load handles that as
    before.  Only the string sections are read (a few ms).
    """
    missing = set(names)
    files = ["vmlinux"]
    with contextlib.suppress(OSError):
        files += sorted(f for f in os.listdir(btf_dir) if f != "vmlinux")
    for f in files:
        if not missing:
            break
        try:
            strings = _btf_strings(os.path.join(btf_dir, f))
        except OSError:
            continue
        missing = {n for n in missing if strings.find(b"\0" + n.encode() + b"\0") < 0}
    return missing


def _btf_strings(path: str) -> bytes:
    """The string section of one BTF blob (struct btf_header: magic, version, flags, hdr_len, offsets)."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            raise OSError(errno_mod.EINVAL, f"{path}: not BTF")
        magic, _ver, _flags, hdr_len, _toff, _tlen, str_off, str_len = struct.unpack("<HBBIIIII", head)
        if magic != 0xEB9F:
            raise OSError(errno_mod.EINVAL, f"{path}: not little-endian BTF")
        f.seek(hdr_len + str_off)
        # a leading NUL so the section's first string matches b"\0name\0" too
        return b"\0" + f.read(str_len)


_ncpus: int | None = None


def possible_cpus() -> int:
    global _ncpus
    if _ncpus is None:
        n = int(lib.libbpf_num_possible_cpus())
        if n <= 0:
            raise _fail("count possible CPUs", n)
        _ncpus = n
    return _ncpus


class RingBuffer:
    """A BPF ring buffer drained by C into a reusable numpy batch.

    ``drain()`` returns a view of the first n records of the batch buffer;
    the view is only valid until the next drain (copy it to keep it).  A
    record is consumed only after it has been copied, so a full batch buffer
    never loses data: the rest waits in the ring for the next drain.
    """

    def __init__(self, m: Map, record_size: int, batch_records: int, min_record: int | None = None) -> None:
        self.map = m
        self.record_size = record_size
        #: the smallest record accepted (zero-padded to ``record_size``); all of one size if None
        self.min_record = record_size if min_record is None else min_record
        self.capacity = batch_records
        self._buf = np.zeros(batch_records * record_size, dtype=np.uint8)
        self._cbuf = ffi.from_buffer(self._buf)
        self._bad = ffi.new("uint64_t *")
        out = ffi.new("struct h7_rb **")
        rc = lib.h7_ring_open(m.fd, out)
        if rc != 0:
            raise _fail(f"mmap ring buffer {m.name}", rc)
        self._ring = out[0]

    def fileno(self) -> int:
        return self.map.fd

    @property
    def malformed(self) -> int:
        """Records sized outside ``min_record..record_size`` skipped so far (a layout bug if non-zero)."""
        return int(self._bad[0])

    def pending_bytes(self) -> int:
        if self._ring is None:
            return 0
        return int(lib.h7_ring_pending(self._ring))

    def drain(self, max_records: int | None = None) -> tuple[np.ndarray, int]:
        if self._ring is None:
            return self._buf[:0], 0
        cap = self.capacity if max_records is None else min(max_records, self.capacity)
        n = int(lib.h7_ring_drain(self._ring, self._cbuf, self.record_size, self.min_record, cap, self._bad))
        return self._buf[: n * self.record_size], n

    def close(self) -> None:
        if self._ring is not None:
            lib.h7_ring_close(self._ring)
            self._ring = None


class BpfObject:
    """An opened (and later loaded) BPF object with the links made from it."""

    def __init__(self, elf: bytes | None = None) -> None:
        # The embedded object is opened where the extension holds it (static data: no 1.4-MB
        # copy in this process's heap per load round); libbpf reads it until the load.
        if elf is None:
            self._elf, nbytes = _embedded()
        else:
            self._elf = ffi.from_buffer(elf)
            nbytes = len(elf)
        self._elf_keep = elf
        ptr = lib.bpf_object__open_mem(self._elf, nbytes, ffi.NULL)
        if ptr == ffi.NULL:
            raise _fail("open BPF object", ffi.errno)
        self._ptr = ptr
        self.links: list[Link] = []
        self.rings: list[RingBuffer] = []
        self.loaded = False

    def programs(self) -> list[Program]:
        out: list[Program] = []
        p = lib.bpf_object__next_program(self._ptr, ffi.NULL)
        while p != ffi.NULL:
            out.append(Program(p))
            p = lib.bpf_object__next_program(self._ptr, p)
        return out

    def maps(self) -> list[Map]:
        """Every map the object declares (including libbpf's internal .bss/.rodata ones)."""
        out: list[Map] = []
        m = lib.bpf_object__next_map(self._ptr, ffi.NULL)
        while m != ffi.NULL:
            out.append(Map(m))
            m = lib.bpf_object__next_map(self._ptr, m)
        return out

    def program(self, name: str) -> Program:
        p = lib.bpf_object__find_program_by_name(self._ptr, name.encode())
        if p == ffi.NULL:
            raise BPFError(f"no BPF program named {name}", errno=errno_mod.ENOENT, program=name)
        return Program(p)

    def map(self, name: str) -> Map:
        m = lib.bpf_object__find_map_by_name(self._ptr, name.encode())
        if m == ffi.NULL:
            raise BPFError(f"no BPF map named {name}", errno=errno_mod.ENOENT)
        return Map(m)

    def load(self) -> None:
        recent_messages.clear()
        rc = lib.bpf_object__load(self._ptr)
        if rc != 0:
            prog, detail = _failed_program()
            what = f"load BPF program {prog}" if prog else "load BPF object"
            err = _fail(what, rc, prog)
            if isinstance(err, BPFError) and detail:
                err.args = (f"{err.args[0]}: {detail}",)
            if abs(rc) == errno_mod.EPERM and os.geteuid() == 0:
                missing = missing_bpf_caps()
                why = (
                    f"this process lacks {' and '.join(missing)} (and CAP_SYS_ADMIN): "
                    "a container or a reduced capability bounding set"
                    if missing
                    else "lockdown, a seccomp filter or kernel.unprivileged_bpf_disabled/LSM policy"
                )
                raise BPFError(
                    f"{what}: the kernel refused BPF (EPERM): {why}", errno=errno_mod.EPERM, program=prog
                )
            raise err
        self.loaded = True

    def close(self) -> None:
        for link in reversed(self.links):
            link.destroy()
        self.links.clear()
        for r in self.rings:
            r.close()
        self.rings.clear()
        if self._ptr is not None:
            lib.bpf_object__close(self._ptr)
            self._ptr = None

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_CAP_SYS_ADMIN, _CAP_PERFMON, _CAP_BPF = 21, 38, 39


def missing_bpf_caps(status: str = "/proc/self/status") -> list[str]:
    """Capabilities a tracing BPF load needs that this process lacks (none if it has CAP_SYS_ADMIN).

    Root in a container, or under a reduced bounding set, gets EPERM from the
    kernel like a locked-down host does; the operator's fix differs, so the
    error names which it is.
    """
    try:
        with open(status) as f:
            eff = int(next(line.split()[1] for line in f if line.startswith("CapEff:")), 16)
    except (OSError, StopIteration, ValueError, IndexError):
        return []
    if eff >> _CAP_SYS_ADMIN & 1:
        return []
    return [
        name for name, bit in (("CAP_BPF", _CAP_BPF), ("CAP_PERFMON", _CAP_PERFMON)) if not eff >> bit & 1
    ]


def _failed_program() -> tuple[str | None, str]:
    """Name of the program libbpf says failed, and the verifier's last useful line."""
    prog = None
    detail = ""
    for line in recent_messages:
        if line.startswith("libbpf: prog '") and "failed to load" in line:
            prog = line.split("'", 2)[1]
    if prog is None:  # e.g. an fentry target missing from this kernel's BTF
        for line in recent_messages:
            if line.startswith("libbpf: prog '") and ("failed" in line or "error" in line):
                prog = line.split("'", 2)[1]
    msgs = [m for m in recent_messages if m and not m.startswith("libbpf:")]
    for line in reversed(msgs):
        if "processed" in line or line.startswith("--"):
            continue
        detail = line.strip()
        break
    if not detail:  # not a verifier rejection: quote libbpf's own reason (e.g. a map it could not create)
        for line in reversed(recent_messages):
            if line.startswith("libbpf: ") and "failed to" in line and "load object" not in line:
                detail = line[len("libbpf: ") :].strip()
                break
    return prog, detail
