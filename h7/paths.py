"""Where H7 keeps things by default: every default path, written once.

A leaf module (it imports nothing of H7), so the configuration, the sink
and the certificate code can all take their defaults from here without
importing each other.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_CONFIG = Path("/etc/h7/h7.toml")
DEFAULT_STATE_DIR = Path("/var/lib/h7")
DEFAULT_KEY_DIR = DEFAULT_STATE_DIR / "keys"
DEFAULT_KEY_PATH = DEFAULT_KEY_DIR / "h7.key"
DEFAULT_PUB_PATH = DEFAULT_KEY_DIR / "h7.pub"
DEFAULT_CAL_DIR = DEFAULT_STATE_DIR / "cal"
DEFAULT_SPOOL_DIR = DEFAULT_STATE_DIR / "spool"
DEFAULT_MAX_SPOOL_BYTES = 256 * 1024 * 1024
DEFAULT_SOCKET = Path("/run/h7/alerts.sock")
DEFAULT_STATUS_PATH = Path("/run/h7/status.json")
