"""Following the chain: how a running sensor learns of operator decisions.

An operator's decision (``h7 accept``) is a signed record in the same chain
as the alerts, written by another process under the chain's flock.  The
sensor does not need a second channel (a socket, a control file) to hear of
it: the chain is the control channel.  Every batch the sensor looks for
certificates with a sequence number above the last one it has seen (one
``stat`` when nothing is new), verifies each with the host's public key, and
hands the records to the engine.  So only a record signed with the host key
-- by someone who can read the private key -- changes what the sensor
reports, and every change it makes is on the audit trail.

Records written before the sensor started are not replayed: a sensor start is
a fresh slate, and standing decisions belong in the config (``[detect.l4]
allow``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from h7.cal.format import Certificate, file_name, verify_file
from h7.cal.writer import HEAD_MAGIC, HEAD_NAME
from h7.errors import VerificationError

log = logging.getLogger("h7.cal")

#: certificates read per poll at most; the rest wait for the next one
MAX_PER_POLL = 1000


class ChainFollower:
    """Reads, in order, the certificates appended to a chain after ``after_seq``."""

    def __init__(self, cal_dir: Path | str, public_key: Any, after_seq: int) -> None:
        self.cal_dir = Path(cal_dir)
        self.public_key = public_key
        self.seq = int(after_seq)
        self._own: set[int] = set()
        self.rejected: list[str] = []

    def skip(self, seq: int) -> None:
        """A certificate this process wrote itself: no need to read it back."""
        if seq > self.seq:
            self._own.add(seq)

    def _head_seq(self) -> int:
        """The HEAD file's seq (0 if unreadable): lets the follower step over deleted files."""
        try:
            text = (self.cal_dir / HEAD_NAME).read_text()
        except OSError:
            return 0
        parts = text.split()
        if len(parts) == 4 and parts[0] == HEAD_MAGIC and parts[1] == "1" and parts[2].isdigit():
            return int(parts[2])
        return 0

    def poll(self) -> list[Certificate]:
        """Verified certificates appended since the last poll (others' and unknown ones only)."""
        out: list[Certificate] = []
        for _ in range(MAX_PER_POLL):
            nxt = self.seq + 1
            if nxt in self._own:
                self._own.discard(nxt)
                self.seq = nxt
                continue
            path = self.cal_dir / file_name(nxt)
            if not path.exists():
                # A gap (deleted certificates) is stepped over only once HEAD says
                # the chain went on; otherwise nothing new has been written yet.
                if self._head_seq() > nxt:
                    self.seq = nxt
                    continue
                break
            try:
                out.append(verify_file(path, self.public_key))
            except VerificationError as e:
                # Not signed by this host's key (or damaged): never acted on.
                self.rejected.append(f"{path}: {e}")
                log.warning("ignoring %s: %s", path, e)
            self.seq = nxt
        return out
