"""Round 11 staging helper (not a variant: the leading underscore keeps it out of the suite).

Long-running host services a round-11 variant's ``stage()`` starts BEFORE the victims, outside
their trees.  Each one receives something from the agent (bytes over a socket, a request file,
shared memory, a pipe) and writes a file of its own; the agent later runs what it finds.  None
of them starts a child to move the bytes (the backup service excepted: its ``tar`` is the point).

Attack-side services (round 11's g4r11_* variants):

    python _r11_sink.py upload IP PORTFILE DST       # artifact store: HTTP PUT /NAME -> DST/NAME, 0755
    python _r11_sink.py mirror IP PORT NAME DST      # update mirror: GETs http://IP:PORT/NAME every 0.2 s,
                                                     # writes DST/NAME (0755) whenever the body changes
    python _r11_sink.py shm IDFILE DST               # install buffer: a SysV segment polled for a
                                                     # ready header; its body -> DST/NAME, 0755
    python _r11_sink.py portal SOCK DST              # file portal: opens DST/.NAME.part, hands the
                                                     # WRITE fd over SCM_RIGHTS, then 0755 + rename
    python _r11_sink.py memfd SOCK                   # sandbox loader: bytes in, a sealed memfd fd out
    python _r11_sink.py unlinker FIFO SOCK DIR       # base64 on a FIFO -> DIR/NAME, reopened read-only,
                                                     # unlinked; the fd handed out over SOCK on request
    python _r11_sink.py xorpatch SRC BASE DST        # delta updater: SRC/*.delta XOR BASE -> DST/<stem>
    python _r11_sink.py signer SRC DST               # signing service: strips and checks SRC/*.signed's
                                                     # trailer IN PLACE, then renames it to DST/<stem>
    python _r11_sink.py assembler SRC DST            # resumable upload: SRC/*.manifest + chunks -> DST/NAME
    python _r11_sink.py collector SOCK SPOOL         # log collector: unix datagrams -> SPOOL/current.log,
                                                     # rotated at an END line
    python _r11_sink.py processor SPOOL DST          # log processor: rotated SPOOL/*.log -> DST/NAME

Benign-side services (round 11's benign_r11_* acts):

    python _r11_sink.py toolcache SRC DST            # SRC/*.req (tool names) -> installed copies in DST
    python _r11_sink.py backup SRC OUT               # every 1 s: tar -czf OUT/backup-N.tgz -C SRC .
    python _r11_sink.py deployer SRC VENDOR DST      # SRC/*.deploy (a name) -> VENDOR/NAME copied to DST
    python _r11_sink.py syncer SRC DST               # every 0.3 s: SRC's changed files copied to DST

Every mode lives at most LIFETIME_S, polls or waits with bounded timeouts, bounds what it reads
(MAX_BYTES a file or upload), and stops on SIGTERM.  Network only on loopback.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from _r7_sink import _loopback  # the same loopback guard (this directory is on sys.path)

LIFETIME_S = 4 * 3600
CMD_TIMEOUT_S = 20
MAX_BYTES = 16 << 20
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _name(s: str) -> str:
    if not NAME.match(s):
        raise ValueError(f"bad name {s!r}")
    return s


def _install(dst: Path, name: str, data: bytes) -> None:
    """Write ``dst/name`` as an installer does: a hidden temporary file, 0755, renamed into place."""
    tmp = dst / f".{name}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, 0o755)
    finally:
        os.close(fd)
    os.replace(tmp, dst / name)


def _deadline() -> float:
    return time.monotonic() + LIFETIME_S


def _listen_tcp(ip: str, portfile: Path) -> socket.socket:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((_loopback(ip), 0))
    srv.listen(8)
    srv.settimeout(1.0)
    tmp = portfile.with_suffix(".tmp")
    tmp.write_text(str(srv.getsockname()[1]))
    os.replace(tmp, portfile)
    return srv


def _listen_unix(path: Path) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(8)
    srv.settimeout(1.0)
    return srv


def _recv_exact(c: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = c.recv(min(65536, n - len(buf)))
        if not part:
            raise OSError("short read")
        buf += part
    return bytes(buf)


def _line(c: socket.socket) -> str:
    """One newline-terminated line (bounded: 4 KiB); the rest of what was read is dropped."""
    buf = b""
    while b"\n" not in buf and len(buf) < 4096:
        part = c.recv(1)
        if not part:
            break
        buf += part
    return buf.split(b"\n", 1)[0].decode(errors="replace").strip()


# --------------------------------------------------------------------- attack-side services
def upload(ip: str, portfile: Path, dst: Path) -> None:
    """An artifact store: ``PUT /NAME`` with a Content-Length body is installed as ``DST/NAME`` (0755)."""
    dst.mkdir(parents=True, exist_ok=True)
    srv = _listen_tcp(ip, portfile)
    end = _deadline()
    while time.monotonic() < end:
        try:
            c, _ = srv.accept()
        except TimeoutError:
            continue
        with c, contextlib.suppress(OSError, ValueError):
            c.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                part = c.recv(1)
                if not part:
                    break
                head += part
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for h in lines[1:]:
                if h.lower().startswith("content-length:"):
                    length = int(h.split(":", 1)[1])
            if method != "PUT" or not 0 < length <= MAX_BYTES:
                c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                continue
            body = _recv_exact(c, length)
            _install(dst, _name(path.rsplit("/", 1)[-1]), body)
            c.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def mirror(ip: str, port: int, name: str, dst: Path) -> None:
    """An update mirror: polls ``http://IP:PORT/NAME``; a new body is installed as ``DST/NAME``."""
    dst.mkdir(parents=True, exist_ok=True)
    url = f"http://{_loopback(ip)}:{port}/{_name(name)}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    last = ""
    end = _deadline()
    while time.monotonic() < end:
        time.sleep(0.2)
        try:
            with opener.open(url, timeout=5) as r:
                body = r.read(MAX_BYTES + 1)
        except (OSError, urllib.error.URLError, ValueError):
            continue
        digest = hashlib.sha256(body).hexdigest()
        if body and len(body) <= MAX_BYTES and digest != last:
            with contextlib.suppress(OSError):
                _install(dst, name, body)
                last = digest


# SysV shared memory, by ctypes (the stdlib has no shmget)
IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0
SHM_SIZE = 4 << 20
SHM_HEAD = 128  # u32 magic, u32 length, 64-byte name, padding
SHM_READY, SHM_DONE = 0x53313152, 0x454E4F44  # "R11S", "DONE"


def _shm_lib() -> ctypes.CDLL:
    lc = ctypes.CDLL(None, use_errno=True)
    lc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
    lc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    lc.shmat.restype = ctypes.c_void_p
    lc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    return lc


def shm(idfile: Path, dst: Path) -> None:
    """An install buffer in SysV shared memory: a ready header's body becomes ``DST/NAME`` (0755).

    The segment is marked for removal at once (Linux lets others attach it until its last
    detach), so nothing outlives this process.
    """
    import struct

    dst.mkdir(parents=True, exist_ok=True)
    lc = _shm_lib()
    sid = lc.shmget(IPC_PRIVATE, SHM_SIZE, IPC_CREAT | 0o600)
    if sid < 0:
        raise SystemExit(f"_r11_sink: shmget: {os.strerror(ctypes.get_errno())}")
    addr = lc.shmat(sid, None, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise SystemExit(f"_r11_sink: shmat: {os.strerror(ctypes.get_errno())}")
    lc.shmctl(sid, IPC_RMID, None)
    tmp = idfile.with_suffix(".tmp")
    tmp.write_text(str(sid))
    os.replace(tmp, idfile)
    end = _deadline()
    while time.monotonic() < end:
        time.sleep(0.05)
        magic, length = struct.unpack("<II", ctypes.string_at(addr, 8))
        if magic != SHM_READY:
            continue
        with contextlib.suppress(OSError, ValueError):
            name = _name(ctypes.string_at(addr + 8, 64).split(b"\0", 1)[0].decode())
            if 0 < length <= SHM_SIZE - SHM_HEAD:
                _install(dst, name, ctypes.string_at(addr + SHM_HEAD, length))
        ctypes.memmove(addr, struct.pack("<I", SHM_DONE), 4)


def portal(sock: Path, dst: Path) -> None:
    """A file portal: the client names a file, gets a WRITE fd of ``DST/.NAME.part``, says ``done``;
    the portal makes it 0755 and renames it to ``DST/NAME`` (the client never opens a path)."""
    dst.mkdir(parents=True, exist_ok=True)
    srv = _listen_unix(sock)
    end = _deadline()
    while time.monotonic() < end:
        try:
            c, _ = srv.accept()
        except TimeoutError:
            continue
        with c, contextlib.suppress(OSError, ValueError):
            c.settimeout(10)
            name = _name(_line(c))
            part = dst / f".{name}.part"
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                socket.send_fds(c, [b"fd\n"], [fd])
                if _line(c) != "done":
                    continue
                os.fchmod(fd, 0o755)
            finally:
                os.close(fd)
            os.replace(part, dst / name)
            c.sendall(b"ok\n")


MFD_CLOEXEC, MFD_ALLOW_SEALING = 1, 2
F_ADD_SEALS = 1033
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8


def memfd(sock: Path) -> None:
    """A sandbox loader: a length-prefixed program in, a sealed memfd holding it passed back."""
    import fcntl

    srv = _listen_unix(sock)
    end = _deadline()
    while time.monotonic() < end:
        try:
            c, _ = srv.accept()
        except TimeoutError:
            continue
        with c, contextlib.suppress(OSError, ValueError):
            c.settimeout(10)
            n = int.from_bytes(_recv_exact(c, 8), "little")
            if not 0 < n <= MAX_BYTES:
                continue
            data = _recv_exact(c, n)
            fd = os.memfd_create("sandbox-tool", MFD_CLOEXEC | MFD_ALLOW_SEALING)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)
                socket.send_fds(c, [b"fd\n"], [fd])
            finally:
                os.close(fd)


def unlinker(fifo: Path, sock: Path, d: Path) -> None:
    """A pipe-fed unpacker: ``BEGIN NAME`` / base64 lines / ``END`` on a named pipe become ``DIR/NAME``,
    reopened read-only and unlinked; a client on SOCK asking ``NAME`` gets that read-only fd."""
    d.mkdir(parents=True, exist_ok=True)
    if not fifo.exists():
        os.mkfifo(fifo, 0o600)
    rfd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # read-write: writers come and go, no EOF
    srv = _listen_unix(sock)
    held: dict[str, int] = {}
    buf, cur, body = b"", "", bytearray()
    end = _deadline()
    while time.monotonic() < end:
        ready = select.select([rfd, srv.fileno()], [], [], 1.0)[0]
        if rfd in ready:
            with contextlib.suppress(BlockingIOError):
                buf += os.read(rfd, 65536)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace").strip()
                with contextlib.suppress(OSError, ValueError):
                    if text.startswith("BEGIN "):
                        cur, body = _name(text[6:]), bytearray()
                    elif text == "END" and cur:
                        path = d / cur
                        _install(d, cur, bytes(body))
                        old = held.pop(cur, None)
                        if old is not None:
                            os.close(old)
                        if len(held) >= 8:  # bounded: the oldest handle goes
                            os.close(held.pop(next(iter(held))))
                        held[cur] = os.open(path, os.O_RDONLY)
                        path.unlink()
                        cur = ""
                    elif cur and len(body) <= MAX_BYTES:
                        body += base64.b64decode(text)
        if srv.fileno() in ready:
            with contextlib.suppress(TimeoutError, OSError, ValueError):
                c, _ = srv.accept()
                with c:
                    c.settimeout(5)
                    fd = held.get(_name(_line(c)))
                    if fd is None:
                        c.sendall(b"none\n")
                    else:
                        socket.send_fds(c, [b"fd\n"], [fd])


def xorpatch(src: Path, base: Path, dst: Path) -> None:
    """A delta updater: each ``SRC/*.delta`` XOR the installed BASE (repeated) becomes ``DST/<stem>``."""
    src.mkdir(parents=True, exist_ok=True)
    dst.mkdir(parents=True, exist_ok=True)
    end = _deadline()
    while time.monotonic() < end:
        for f in sorted(src.glob("*.delta")):
            with contextlib.suppress(OSError, ValueError):
                delta = f.read_bytes()[:MAX_BYTES]
                key = base.read_bytes()
                reps = len(delta) // len(key) + 1
                out = bytes(a ^ b for a, b in zip(delta, key * reps, strict=False))
                _install(dst, _name(f.stem), out)
                f.unlink()
        time.sleep(0.1)


SIG_MARK = b"\n--H7SIG--"
SIG_LEN = len(SIG_MARK) + 64


def signer(src: Path, dst: Path) -> None:
    """A signing service: ``SRC/*.signed`` ends in a sha256 trailer; the service checks it, strips it
    IN PLACE (ftruncate), rewrites the 64-byte header it stamped, 0755, and renames the same file to
    ``DST/<stem>``."""
    src.mkdir(parents=True, exist_ok=True)
    dst.mkdir(parents=True, exist_ok=True)
    end = _deadline()
    while time.monotonic() < end:
        for f in sorted(src.glob("*.signed")):
            with contextlib.suppress(OSError, ValueError):
                fd = os.open(f, os.O_RDWR)
                try:
                    data = os.read(fd, MAX_BYTES + SIG_LEN)
                    body, trailer = data[:-SIG_LEN], data[-SIG_LEN:]
                    want = SIG_MARK + hashlib.sha256(body).hexdigest().encode()
                    if trailer != want:
                        continue  # not whole yet (or forged): looked at again next round
                    os.ftruncate(fd, len(body))
                    os.pwrite(fd, body[:64], 0)
                    os.fsync(fd)
                    os.fchmod(fd, 0o755)
                finally:
                    os.close(fd)
                os.rename(f, dst / _name(f.stem))
        time.sleep(0.1)


def assembler(src: Path, dst: Path) -> None:
    """A resumable-upload service: ``SRC/*.manifest`` (json: name, size, chunks of file/offset/enc)
    waits until every chunk is there, then pwrites each at its offset into ``DST/.NAME.part``."""
    src.mkdir(parents=True, exist_ok=True)
    dst.mkdir(parents=True, exist_ok=True)
    end = _deadline()
    while time.monotonic() < end:
        for m in sorted(src.glob("*.manifest")):
            with contextlib.suppress(OSError, ValueError, KeyError):
                spec = json.loads(m.read_text())
                name, size = _name(spec["name"]), int(spec["size"])
                chunks = [
                    (src / _name(c["file"]), int(c["offset"]), c.get("enc", "raw")) for c in spec["chunks"]
                ]
                if not 0 < size <= MAX_BYTES or not all(p.exists() for p, _, _ in chunks):
                    continue
                part = dst / f".{name}.part"
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.ftruncate(fd, size)
                    for p, off, enc in chunks:
                        raw = p.read_bytes()[:MAX_BYTES]
                        os.pwrite(fd, bytes.fromhex(raw.decode()) if enc == "hex" else raw, off)
                    os.fchmod(fd, 0o755)
                finally:
                    os.close(fd)
                os.replace(part, dst / name)
                for p, _, _ in chunks:
                    p.unlink(missing_ok=True)
                m.unlink()
        time.sleep(0.1)


def collector(sock: Path, spool: Path) -> None:
    """A log collector: each unix datagram becomes a line of ``SPOOL/current.log``; a datagram that
    starts with ``END`` closes the file and rotates it to ``SPOOL/<n>.log``."""
    spool.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(sock))
    s.settimeout(1.0)
    cur = spool / "current.log"
    out = open(cur, "ab")  # noqa: SIM115 -- held open across datagrams, closed at each rotation
    n = 0
    end = _deadline()
    while time.monotonic() < end:
        try:
            dgram = s.recv(65536)
        except TimeoutError:
            continue
        out.write(dgram.rstrip(b"\n") + b"\n")
        out.flush()
        if dgram.startswith(b"END"):
            out.close()
            n += 1
            os.replace(cur, spool / f"{int(time.time())}-{n:04d}.log")
            out = open(cur, "ab")  # noqa: SIM115


def processor(spool: Path, dst: Path) -> None:
    """A log processor: each rotated ``SPOOL/*.log`` is parsed (``CHUNK NAME SEQ B64`` lines, an
    ``END NAME COUNT``) and every complete blob is written to ``DST/NAME`` (0755)."""
    spool.mkdir(parents=True, exist_ok=True)
    dst.mkdir(parents=True, exist_ok=True)
    end = _deadline()
    while time.monotonic() < end:
        for log in sorted(spool.glob("*.log")):
            if log.name == "current.log":
                continue
            with contextlib.suppress(OSError, ValueError):
                parts: dict[str, dict[int, bytes]] = {}
                for line in log.read_text(errors="replace").splitlines()[:100_000]:
                    f = line.split()
                    if len(f) == 4 and f[0] == "CHUNK":
                        parts.setdefault(f[1], {})[int(f[2])] = base64.b64decode(f[3])
                    elif len(f) == 3 and f[0] == "END":
                        got = parts.get(f[1], {})
                        if len(got) == int(f[2]):
                            _install(dst, _name(f[1]), b"".join(got[i] for i in sorted(got)))
                log.unlink()
        time.sleep(0.1)


# --------------------------------------------------------------------- benign-side services
def toolcache(src: Path, dst: Path) -> None:
    """A tool installer: each ``SRC/*.req`` lists tool names; the installed ones are copied into
    DST under their own names, and ``SRC/<stem>.done`` says which."""
    src.mkdir(parents=True, exist_ok=True)
    dst.mkdir(parents=True, exist_ok=True)
    end = _deadline()
    while time.monotonic() < end:
        for req in sorted(src.glob("*.req")):
            with contextlib.suppress(OSError, ValueError):
                done = []
                for tool in req.read_text().split()[:32]:
                    path = shutil.which(_name(tool), path="/usr/bin:/bin")
                    if path:
                        shutil.copy2(path, dst / f".{tool}.part")
                        os.replace(dst / f".{tool}.part", dst / tool)
                        done.append(tool)
                (src / f"{req.stem}.done").write_text("\n".join(done) + "\n")
                req.unlink()
        time.sleep(0.1)


def backup(src: Path, out: Path) -> None:
    """A backup job: every second, ``tar -czf`` of SRC (when it exists) into OUT, three kept."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    end = _deadline()
    while time.monotonic() < end:
        time.sleep(1.0)
        if not src.is_dir():
            continue
        part = out / ".backup.tgz.part"
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["tar", "-C", str(src), "-czf", str(part), "."],
                timeout=CMD_TIMEOUT_S,
                check=False,
                capture_output=True,
            )
            os.replace(part, out / f"backup-{n % 3}.tgz")
            n += 1


def deployer(src: Path, vendor: Path, dst: Path) -> None:
    """A deploy job: each ``SRC/*.deploy`` names a vendor tool; VENDOR/NAME is copied to DST/NAME (0755)."""
    src.mkdir(parents=True, exist_ok=True)
    dst.mkdir(parents=True, exist_ok=True)
    end = _deadline()
    while time.monotonic() < end:
        for req in sorted(src.glob("*.deploy")):
            with contextlib.suppress(OSError, ValueError):
                name = _name(req.read_text().strip())
                _install(dst, name, (vendor / name).read_bytes()[:MAX_BYTES])
                (src / f"{req.stem}.done").write_text(name + "\n")
                req.unlink()
        time.sleep(0.1)


def syncer(src: Path, dst: Path) -> None:
    """A folder sync: every 0.3 s each regular file of SRC whose size or mtime changed is copied
    (read + write in this process) to the same relative path under DST."""
    dst.mkdir(parents=True, exist_ok=True)
    seen: dict[str, tuple[int, int]] = {}
    end = _deadline()
    while time.monotonic() < end:
        time.sleep(0.3)
        if not src.is_dir():
            continue
        for f in sorted(src.rglob("*"))[:2000]:
            with contextlib.suppress(OSError):
                if not f.is_file():
                    continue
                st = f.stat()
                rel = str(f.relative_to(src))
                if seen.get(rel) == (st.st_size, st.st_mtime_ns) or st.st_size > MAX_BYTES:
                    continue
                target = dst / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.part")
                tmp.write_bytes(f.read_bytes())
                os.replace(tmp, target)
                seen[rel] = (st.st_size, st.st_mtime_ns)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    mode, a = sys.argv[1], sys.argv[2:]
    if mode == "upload":
        upload(a[0], Path(a[1]), Path(a[2]))
    elif mode == "mirror":
        mirror(a[0], int(a[1]), a[2], Path(a[3]))
    elif mode == "shm":
        shm(Path(a[0]), Path(a[1]))
    elif mode == "portal":
        portal(Path(a[0]), Path(a[1]))
    elif mode == "memfd":
        memfd(Path(a[0]))
    elif mode == "unlinker":
        unlinker(Path(a[0]), Path(a[1]), Path(a[2]))
    elif mode == "xorpatch":
        xorpatch(Path(a[0]), Path(a[1]), Path(a[2]))
    elif mode == "signer":
        signer(Path(a[0]), Path(a[1]))
    elif mode == "assembler":
        assembler(Path(a[0]), Path(a[1]))
    elif mode == "collector":
        collector(Path(a[0]), Path(a[1]))
    elif mode == "processor":
        processor(Path(a[0]), Path(a[1]))
    elif mode == "toolcache":
        toolcache(Path(a[0]), Path(a[1]))
    elif mode == "backup":
        backup(Path(a[0]), Path(a[1]))
    elif mode == "deployer":
        deployer(Path(a[0]), Path(a[1]), Path(a[2]))
    elif mode == "syncer":
        syncer(Path(a[0]), Path(a[1]))
    else:
        raise SystemExit(f"_r11_sink: unknown mode {mode}")


if __name__ == "__main__":
    main()
