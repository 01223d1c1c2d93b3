"""Wire protocol between the sensor's SinkClient and the sinkhole.

Every message is one frame: a 4-byte big-endian length, then a msgpack map.
A length prefix (rather than a stream of self-delimiting msgpack objects)
lets the reader refuse an oversized frame *before* allocating for it, and
keeps a peer that sends garbage from desynchronising us silently.

Messages (key ``t`` names the type, ``v`` the protocol version)::

    client -> sinkhole   {"t": "hello", "v": 1, "pid": int}
    sinkhole -> client   {"t": "hello", "v": 1, "pid": int}
    client -> sinkhole   {"t": "alert", "id": str, "summary": map,
                          "cal_path": str, "cal": bin, "spooled_ns": int}
    sinkhole -> client   {"t": "ack", "id": str, "dup": bool}
                       | {"t": "nack", "id": str, "error": str, "retry_after": float}
    client -> sinkhole   {"t": "ping"}
    sinkhole -> client   {"t": "pong", "pid": int, "outputs": [str], "stats": map}
    either direction     {"t": "error", "error": str}   (then the sender closes)

The client sends one alert and waits for its ack before the next one, which
is what keeps delivery in order across a nack or a dropped connection.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import msgpack

from h7.errors import DeliveryError

PROTOCOL_VERSION = 1
# A .cal certificate is kilobytes; 16 MiB leaves room for long syscall traces
# while bounding what a misbehaving peer can make us allocate.
MAX_FRAME = 16 * 1024 * 1024
_LEN = struct.Struct(">I")


class ProtocolError(DeliveryError):
    """The peer sent something that is not a valid frame; the connection is dropped."""


def alert_id(summary: dict[str, Any], cal_bytes: bytes) -> str:
    """The stable id receivers de-duplicate on.

    The certificate's own hash when there is one: the same detection retried
    through any number of restarts hashes the same.  Without certificate bytes
    the canonical JSON of the summary stands in.
    """
    if cal_bytes:
        return hashlib.sha256(cal_bytes).hexdigest()
    canon = json.dumps(summary, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode()).hexdigest()


def pack(msg: dict[str, Any]) -> bytes:
    body: bytes = msgpack.packb(msg, use_bin_type=True)
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME}-byte limit")
    return _LEN.pack(len(body)) + body


def unpack(body: bytes) -> dict[str, Any]:
    try:
        msg = msgpack.unpackb(body, raw=False)
    except Exception as e:  # msgpack raises several unrelated types on bad input
        raise ProtocolError(f"undecodable frame: {e}") from e
    if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
        raise ProtocolError("frame is not a map with a string 't'")
    return msg


class FrameReader:
    """Reads whole frames from a socket whose timeout is a short poll interval.

    The buffer lives here rather than on the stack so a poll timeout in the
    middle of a frame loses nothing, and the caller can check ``should_stop``
    between polls instead of blocking for the full deadline.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def read(
        self, deadline: float | None = None, should_stop: Callable[[], bool] | None = None
    ) -> dict[str, Any] | None:
        """The next frame, or None on a clean EOF between frames.

        Raises TimeoutError past ``deadline`` (monotonic seconds) and
        ProtocolError on a torn or oversized frame.
        """
        while True:
            if len(self.buf) >= _LEN.size:
                (n,) = _LEN.unpack_from(self.buf)
                if n > MAX_FRAME:
                    raise ProtocolError(f"peer announced a {n}-byte frame (limit {MAX_FRAME})")
                if len(self.buf) >= _LEN.size + n:
                    body = bytes(self.buf[_LEN.size : _LEN.size + n])
                    del self.buf[: _LEN.size + n]
                    return unpack(body)
            if should_stop is not None and should_stop():
                raise TimeoutError("reader stopped")
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("timed out waiting for a frame")
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                if self.buf:
                    raise ProtocolError("connection closed in the middle of a frame")
                return None
            self.buf += chunk
