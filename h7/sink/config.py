"""The TOML configuration (``/etc/h7/h7.toml``) for the sinkhole and the spool.

Validation is strict — unknown keys and wrong types are errors — because a
typo in an alerting config otherwise fails silently at the worst moment.
Every error is one line naming the file, the table and the key, raised as
``UsageError`` so ``h7`` exits 2.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from h7.errors import UsageError
from h7.sink.client import DEFAULT_MAX_SPOOL_BYTES, DEFAULT_SOCKET, DEFAULT_SPOOL_DIR
from h7.sink.formats import FORMATS, SEVERITY_IDS, TEMPLATE_ROOTS
from h7.sink.outputs import FACILITIES
from h7.sink.template import placeholders

DEFAULT_CONFIG = Path("/etc/h7/h7.toml")

_NUM = (int, float)
_COMMON: dict[str, tuple[type | tuple[type, ...], str]] = {
    "type": (str, "a string"),
    "name": (str, "a string"),
    "format": (str, "a string"),
    "include_cal": (bool, "true or false"),
    "enabled": (bool, "true or false"),
}
_KEYS: dict[str, dict[str, tuple[type | tuple[type, ...], str]]] = {
    "stdout": {},
    "jsonl": {
        "path": (str, "a path"),
        "max_bytes": (int, "an integer"),
        "backups": (int, "an integer"),
        "fsync": (bool, "true or false"),
    },
    "syslog": {
        "transport": (str, "a string"),
        "address": (str, "a string"),
        "port": (int, "an integer"),
        "facility": (str, "a string"),
        "app_name": (str, "a string"),
        "sd_id": (str, "a string"),
        "framing": (str, "a string"),
        "max_message_bytes": (int, "an integer"),
        "timeout": (_NUM, "a number"),
    },
    "webhook": {
        "url": (str, "a URL"),
        "method": (str, "a string"),
        "headers": (dict, "a table of strings"),
        "body": ((str, dict, list), "a JSON string or a table"),
        "timeout": (_NUM, "a number"),
        "retries": (int, "an integer"),
        "backoff": (_NUM, "a number"),
        "backoff_max": (_NUM, "a number"),
    },
    "exec": {
        "command": ((list, str), "a list of strings"),
        "timeout": (_NUM, "a number"),
        "env": (dict, "a table of strings"),
    },
}
_SINKHOLE_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "socket": (str, "a path"),
    "group": ((str, int), "a group name or gid"),
    "dedup_window": (int, "an integer"),
    "dead_letter": (str, "a path"),
    "host": (str, "a string"),
    "device_type_id": (int, "an integer"),
}
_SPOOL_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "dir": (str, "a path"),
    "max_bytes": (int, "an integer"),
}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class SinkConfig:
    """Everything ``h7 sinkhole`` and the sensor's SinkClient read from the file."""

    source: Path | None = None
    socket: Path = DEFAULT_SOCKET
    group: str | int | None = None
    dedup_window: int = 10000
    dead_letter: Path | None = None
    host: str | None = None
    device_type_id: int = 0
    spool_dir: Path = DEFAULT_SPOOL_DIR
    spool_max_bytes: int = DEFAULT_MAX_SPOOL_BYTES
    severity: dict[str, str] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)


class _Err:
    def __init__(self, source: str) -> None:
        self.source = source

    def __call__(self, where: str, msg: str) -> UsageError:
        return UsageError(f"{self.source}: {where}: {msg}")


def _check_keys(
    table: dict[str, Any], allowed: dict[str, tuple[type | tuple[type, ...], str]], where: str, err: _Err
) -> None:
    for k, v in table.items():
        if k not in allowed:
            raise err(where, f"unknown key {k!r} (allowed: {', '.join(sorted(allowed))})")
        typ, desc = allowed[k]
        # bool is an int in Python; "port = true" is still a mistake.
        if not isinstance(v, typ) or (isinstance(v, bool) and typ is not bool and bool not in _tuple(typ)):
            raise err(where, f"{k!r} must be {desc}, not {type(v).__name__} {v!r}")


def _tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def _expand_env(value: Any, where: str, err: _Err) -> Any:
    """``${NAME}`` from the sinkhole's environment, so secrets can stay out of the file."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise err(where, f"environment variable {name} (referenced as ${{{name}}}) is not set")
            return os.environ[name]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, where, err) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, where, err) for v in value]
    return value


def _positive(spec: dict[str, Any], key: str, where: str, err: _Err, allow_zero: bool = False) -> None:
    if key in spec and (spec[key] < 0 or (spec[key] == 0 and not allow_zero)):
        raise err(where, f"{key!r} must be {'>= 0' if allow_zero else '> 0'}")


def _validate_output(i: int, raw: Any, err: _Err) -> dict[str, Any] | None:
    where = f"[[output]] #{i + 1}"
    if not isinstance(raw, dict):
        raise err(where, "must be a table")
    kind = raw.get("type")
    if kind not in _KEYS:
        raise err(where, f"'type' must be one of {', '.join(_KEYS)}, not {kind!r}")
    where = f"[[output]] #{i + 1} ({kind})"
    _check_keys(raw, {**_COMMON, **_KEYS[kind]}, where, err)
    spec = dict(raw)
    if not spec.get("enabled", True):
        return None
    spec.setdefault("name", f"{kind}{i + 1}")
    fmt = spec.setdefault("format", "h7")
    if fmt not in FORMATS:
        raise err(where, f"'format' must be one of {', '.join(FORMATS)}, not {fmt!r}")
    for key in ("timeout", "max_bytes", "max_message_bytes", "backoff", "backoff_max"):
        _positive(spec, key, where, err)
    for key in ("retries", "backups"):
        _positive(spec, key, where, err, allow_zero=True)
    if kind == "jsonl":
        if "path" not in spec:
            raise err(where, "'path' is required")
        if not os.path.isabs(spec["path"]):
            raise err(where, f"'path' must be absolute, not {spec['path']!r}")
    elif kind == "syslog":
        if spec.get("transport", "unix") not in ("unix", "udp", "tcp"):
            raise err(where, f"'transport' must be unix, udp or tcp, not {spec['transport']!r}")
        if spec.get("facility", "auth") not in FACILITIES:
            raise err(where, f"'facility' must be one of {', '.join(FACILITIES)}, not {spec['facility']!r}")
        if spec.get("framing", "octet-counting") not in ("octet-counting", "lf"):
            raise err(where, f"'framing' must be octet-counting or lf, not {spec['framing']!r}")
        if not 0 < spec.get("port", 514) < 65536:
            raise err(where, f"'port' must be 1..65535, not {spec['port']}")
        sd_id = spec.get("sd_id", "h7@32473")
        if not re.fullmatch(r"[!#-<>-\\^-~]{1,32}", sd_id) or "@" not in sd_id:
            raise err(where, "'sd_id' must be an RFC 5424 SD-ID like name@<private enterprise number>")
    elif kind == "webhook":
        spec = _expand_env(spec, where, err)
        if "url" not in spec:
            raise err(where, "'url' is required")
        u = urllib.parse.urlsplit(spec["url"])
        if u.scheme not in ("http", "https") or not u.hostname:
            raise err(where, "'url' must be an http:// or https:// URL with a host")
        if not all(isinstance(v, str) for v in spec.get("headers", {}).values()):
            raise err(where, "'headers' values must be strings")
        body = spec.get("body")
        if isinstance(body, str):
            try:
                spec["body"] = body = json.loads(body)
            except ValueError as e:
                raise err(where, f"'body' is not valid JSON: {e}") from e
        for ref in placeholders(body):
            if ref.split(".")[0] not in TEMPLATE_ROOTS:
                raise err(where, f"'body' refers to unknown field {{{{ {ref} }}}}")
    elif kind == "exec":
        cmd = spec.get("command")
        if cmd is None:
            raise err(where, "'command' is required")
        if isinstance(cmd, str):
            cmd = shlex.split(cmd)
        if not cmd or not all(isinstance(c, str) for c in cmd):
            raise err(where, "'command' must be a non-empty list of strings")
        spec["command"] = cmd
        env = _expand_env(spec.get("env", {}), where, err)
        if not all(isinstance(v, str) for v in env.values()):
            raise err(where, "'env' values must be strings")
        spec["env"] = env
    return spec


def parse_config(data: dict[str, Any], source: str = "<config>") -> SinkConfig:
    err = _Err(source)
    # The file is shared with the sensor ([sensor], [detect], ...): tables that
    # are not ours are theirs to validate.  A misspelt [[output]] still fails
    # below with "no [[output]] configured".
    cfg = SinkConfig(source=Path(source) if source != "<config>" else None)
    sh = data.get("sinkhole", {})
    if not isinstance(sh, dict):
        raise err("[sinkhole]", "must be a table")
    _check_keys(sh, _SINKHOLE_KEYS, "[sinkhole]", err)
    if "socket" in sh:
        cfg.socket = Path(sh["socket"])
    cfg.group = sh.get("group")
    if sh.get("dedup_window", 1) < 1:
        raise err("[sinkhole]", "'dedup_window' must be >= 1")
    cfg.dedup_window = sh.get("dedup_window", cfg.dedup_window)
    if "dead_letter" in sh:
        cfg.dead_letter = Path(sh["dead_letter"])
    cfg.host = sh.get("host")
    cfg.device_type_id = sh.get("device_type_id", 0)
    sp = data.get("spool", {})
    if not isinstance(sp, dict):
        raise err("[spool]", "must be a table")
    _check_keys(sp, _SPOOL_KEYS, "[spool]", err)
    if "dir" in sp:
        cfg.spool_dir = Path(sp["dir"])
    if sp.get("max_bytes", 1) <= 0:
        raise err("[spool]", "'max_bytes' must be > 0")
    cfg.spool_max_bytes = sp.get("max_bytes", cfg.spool_max_bytes)
    sev = data.get("severity", {})
    if not isinstance(sev, dict):
        raise err("[severity]", 'must be a table of CODE = "level"')
    for code, level in sev.items():
        if not isinstance(level, str) or level.lower() not in SEVERITY_IDS:
            raise err("[severity]", f"{code} must be one of {', '.join(SEVERITY_IDS)}, not {level!r}")
        cfg.severity[code] = level.lower()
    outs = data.get("output", [])
    if not isinstance(outs, list):
        raise err("output", "use [[output]] (an array of tables)")
    names: set[str] = set()
    for i, raw in enumerate(outs):
        spec = _validate_output(i, raw, err)
        if spec is None:
            continue
        if spec["name"] in names:
            raise err(f"[[output]] #{i + 1}", f"duplicate output name {spec['name']!r}")
        names.add(spec["name"])
        cfg.outputs.append(spec)
    return cfg


def load_config(path: Path | None = None, require_outputs: bool = True) -> SinkConfig:
    """Read and validate the config.

    With no explicit path a missing default file is fine (stdout output
    only); an explicit ``--config`` that does not exist is an error.
    """
    explicit = path is not None
    p = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = p.read_bytes()
    except FileNotFoundError as e:
        if explicit:
            raise UsageError(f"{p}: config file not found") from e
        return SinkConfig(outputs=[{"type": "stdout", "name": "stdout", "format": "h7"}])
    except OSError as e:
        raise UsageError(f"{p}: cannot read config: {e.strerror}") from e
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise UsageError(f"{p}: config is not UTF-8") from e
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{p}: invalid TOML: {e}") from e
    cfg = parse_config(data, str(p))
    cfg.source = p
    if require_outputs and not cfg.outputs:
        raise UsageError(f"{p}: no [[output]] configured; alerts would go nowhere")
    return cfg
