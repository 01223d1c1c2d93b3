"""Signed, chained .cal certificates: H7's only output and its evidence.

docs/cal-format.md specifies the format; this package writes it
(:class:`CalWriter`), verifies it (:func:`verify_file`, :func:`verify_chain`),
manages the key (:func:`keygen`) and signs operator containment into the
same chain.
"""

from __future__ import annotations

from h7.cal.chain import ChainBreak, ChainReport, parse_head_spec, verify_chain
from h7.cal.format import (
    ACTIONS,
    ALERT_EMITTED,
    CONTAINED_BY_OPERATOR,
    FORMAT_VERSION,
    MAGIC,
    PAYLOAD_TYPE,
    RELEASED_BY_OPERATOR,
    Certificate,
    cert_hash,
    describe,
    pae,
    sign_body,
    verify_bytes,
    verify_file,
)
from h7.cal.keys import (
    key_id,
    keygen,
    load_private_key,
    load_public_key,
    parse_public_key,
    public_b64,
    public_pem,
)
from h7.cal.writer import CalWriter, ChainPosition, build_alert_body, build_operator_body
from h7.paths import DEFAULT_CAL_DIR, DEFAULT_KEY_DIR, DEFAULT_KEY_PATH, DEFAULT_PUB_PATH

__all__ = [
    "ACTIONS",
    "ALERT_EMITTED",
    "CONTAINED_BY_OPERATOR",
    "DEFAULT_CAL_DIR",
    "DEFAULT_KEY_DIR",
    "DEFAULT_KEY_PATH",
    "DEFAULT_PUB_PATH",
    "FORMAT_VERSION",
    "MAGIC",
    "PAYLOAD_TYPE",
    "RELEASED_BY_OPERATOR",
    "CalWriter",
    "Certificate",
    "ChainBreak",
    "ChainPosition",
    "ChainReport",
    "build_alert_body",
    "build_operator_body",
    "cert_hash",
    "describe",
    "key_id",
    "keygen",
    "load_private_key",
    "load_public_key",
    "pae",
    "parse_head_spec",
    "parse_public_key",
    "public_b64",
    "public_pem",
    "sign_body",
    "verify_bytes",
    "verify_chain",
    "verify_file",
]
