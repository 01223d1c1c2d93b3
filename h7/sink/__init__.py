"""Alert delivery: the sensor's durable client, the local sinkhole and its outputs.

The sensor calls ``SinkClient.submit`` for every alert; the sinkhole
(``h7 sinkhole``) fans alerts out to stdout, JSON Lines, syslog, webhooks
and commands, in H7's native JSON or OCSF.  See docs/operations.md.
"""

from __future__ import annotations

from h7.sink.client import SinkClient
from h7.sink.framing import alert_id
from h7.sink.spool import SpoolFull

__all__ = ["SinkClient", "SpoolFull", "alert_id"]
