"""``h7 keygen``, ``h7 verify``, ``h7 show``, ``h7 contain``, ``h7 release``, ``h7 accept``.

Verification commands exit 0 only when everything checked is valid, and
otherwise print one line per problem before the one-line error, so a script
can both gate on the exit code and show an auditor what failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from h7.batch import parse_agent_id
from h7.cal.chain import verify_chain
from h7.cal.format import CONTAINED_BY_OPERATOR, RELEASED_BY_OPERATOR, describe, verify_file
from h7.cal.keys import key_id, keygen, load_public_key, public_b64
from h7.cal.writer import CalWriter
from h7.detect.channels.l4_egress import parse_allow
from h7.errors import StorageError, UsageError, VerificationError
from h7.paths import DEFAULT_CAL_DIR, DEFAULT_KEY_DIR, DEFAULT_KEY_PATH, DEFAULT_PUB_PATH
from h7.sensor import contain as _contain

_pubkey_opt = click.option(
    "--pubkey",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_PUB_PATH,
    show_default=True,
    help="Public key: PEM, DER, raw 32 bytes, or base64.",
)
_key_opt = click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_KEY_PATH,
    show_default=True,
    help="Private signing key (mode 0600).",
)
_caldir_opt = click.option(
    "--cal-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CAL_DIR,
    show_default=True,
    help="Directory of the certificate chain.",
)


@click.command("keygen")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_KEY_DIR,
    show_default=True,
    help="Directory for h7.key (0600), h7.pub (PEM) and h7.pub.b64.",
)
def keygen_cmd(out: Path) -> None:
    """Create the host's Ed25519 signing key (never overwrites one)."""
    priv, pem = keygen(out)
    pub = load_public_key(pem)
    click.echo(f"private key  {priv}  (mode 0600; never share it)")
    click.echo(f"public key   {pem}")
    click.echo(f"public key   {out / 'h7.pub.b64'}  (raw, base64: {public_b64(pub)})")
    click.echo(f"key id       {key_id(pub)}")


def _verify_one_file(path: Path, pub: Any) -> list[str]:
    try:
        cert = verify_file(path, pub)
    except VerificationError as e:
        return [f"{path}: {e}"]
    click.echo(f"{path}: OK seq {cert.seq} {cert.action} agent {cert.agent_id} sha256 {cert.hash.hex()}")
    return []


@click.command("verify")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_pubkey_opt
@click.option(
    "--expect-head",
    metavar="SEQ:SHA256",
    default=None,
    help="Head recorded elsewhere; proves the newest certificates were not deleted.",
)
def verify_cmd(paths: tuple[Path, ...], pubkey: Path, expect_head: str | None) -> None:
    """Verify certificate FILEs or a chain DIRectory against the host's public key."""
    pub = load_public_key(pubkey)
    bad: list[str] = []
    for path in paths:
        if path.is_dir():
            report = verify_chain(path, pub, expect_head)
            bad += report.lines()
            if report.ok:
                click.echo(f"{path}: OK chain of {report.count} certificate(s), head {report.head}")
            for line in report.lifecycle_lines():
                click.echo(f"{path}: {line}")
            mode = path.stat().st_mode
            if mode & 0o022:
                click.echo(
                    f"{path}: warning: the directory is group- or world-writable (mode {mode & 0o7777:04o}): "
                    "others could have deleted the newest certificates with HEAD; use --expect-head"
                )
            if report.expect_head_checked and report.ok:
                click.echo("expected head present: no certificate up to it was deleted")
            elif not report.expect_head_checked:
                click.echo(f"note: {report.note}")
        elif path.exists():
            if expect_head is not None:
                raise UsageError("--expect-head applies to a directory (a chain), not a single file")
            bad += _verify_one_file(path, pub)
        else:
            bad.append(f"{path}: no such file or directory")
    if bad:
        for line in bad:
            click.echo(line)
        raise VerificationError(f"{len(bad)} problem(s); first: {bad[0]}")


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


@click.command("show")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_pubkey_opt
@click.option("--json", "as_json", is_flag=True, help="Print the verified body as JSON (bytes as hex).")
def show_cmd(path: Path, pubkey: Path, as_json: bool) -> None:
    """Verify one certificate, then print every field."""
    cert = verify_file(path, load_public_key(pubkey))
    if as_json:
        body = _jsonable(cert.body)
        body["sha256"] = cert.hash.hex()
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    for line in describe(cert):
        click.echo(line)


def _operator_action(target_spec: str, reason: str, key_path: Path, cal_dir: Path, contain: bool) -> None:
    if not reason.strip():
        raise UsageError("--reason must say why (it is signed into the audit trail)")
    # Open the writer first: no signing key, no action, so nothing happens unrecorded.
    writer = CalWriter(cal_dir, key_path)
    try:
        target = _contain.resolve_target(target_spec)
        info = _contain.freeze(target) if contain else _contain.thaw(target)
        uid, login = _contain.operator_identity()
        action = CONTAINED_BY_OPERATOR if contain else RELEASED_BY_OPERATOR
        try:
            path, _ = writer.record_operator_action(
                action, target.agent_id, reason, uid, login, containment=info
            )
        except StorageError as e:
            state = "frozen" if contain else "released"
            raise StorageError(
                f"agent {target.agent_id} is {state} but the signed record failed: {e}"
            ) from None
    finally:
        writer.close()
    verb = "contained" if contain else "released"
    pending = info.get("not_stopped") or []
    click.echo(
        f"{verb} {target.agent_id} ({info['method']}, {len(info.get('pids', []))} process(es))"
        + (f"; not yet stopped: {pending}" if pending else "")
    )
    click.echo(f"signed record {path} by {login} (uid {uid})")


@click.command("contain")
@click.argument("target")
@click.option("--reason", required=True, help="Why; signed into the audit trail.")
@_key_opt
@_caldir_opt
def contain_cmd(target: str, reason: str, key_path: Path, cal_dir: Path) -> None:
    """Freeze an agent's whole process tree (TARGET: agent_id or pid) and sign the act."""
    _operator_action(target, reason, key_path, cal_dir, contain=True)


@click.command("release")
@click.argument("target")
@click.option("--reason", required=True, help="Why; signed into the audit trail.")
@_key_opt
@_caldir_opt
def release_cmd(target: str, reason: str, key_path: Path, cal_dir: Path) -> None:
    """Thaw an agent contained with 'h7 contain' and sign the act."""
    _operator_action(target, reason, key_path, cal_dir, contain=False)


def _accept_target(spec: str) -> str:
    """``*`` (every agent), an agent_id (it need not be running), or the pid of a running agent."""
    spec = spec.strip()
    if spec == "*":
        return spec
    if spec.isdigit():
        return _contain.resolve_target(spec).agent_id
    try:
        parse_agent_id(spec)
    except ValueError:
        raise UsageError(f"{spec!r} is neither '*', a pid nor an agent id (comm:pid:start_ticks)") from None
    return spec


#: the longest L2 alert key an accept signs (a key names a program, its parent and at most a path)
MAX_ACCEPT_KEY = 4096


@click.command("accept")
@click.argument("target")
@click.argument("what", metavar="WHAT")
@click.option("--reason", required=True, help="Why; signed into the audit trail.")
@click.option(
    "--channel",
    type=click.Choice(["L4", "L2"]),
    default="L4",
    show_default=True,
    help="L4: WHAT is a destination; L2: WHAT is an alert key, as a certificate's alert_key shows it.",
)
@_key_opt
@_caldir_opt
def accept_cmd(target: str, what: str, reason: str, channel: str, key_path: Path, cal_dir: Path) -> None:
    """Accept WHAT for an agent (TARGET: agent_id, pid or '*') and sign the decision.

    \b
    L4 (default), WHAT is a destination: 10.0.0.5:443, 10.0.0.0/8, [::1]:8080,
    127.0.0.1:ephemeral, udp:*:53, any:10.0.0.0/8 (addresses, not host names:
    what is signed is exactly what is allowed; without a protocol prefix, TCP only).
    L2 (--channel L2), WHAT is an alert key: 'dash<-git' (git's hook shell, not
    the agent's own 'dash<-agent'), 'node<-npm', 'strace'; `h7 show` prints it.
    A running `h7 attach` writing to the same --cal-dir reads the signed record
    from the chain within one batch interval and stops certifying it.
    """
    if not reason.strip():
        raise UsageError("--reason must say why (it is signed into the audit trail)")
    what = what.strip()
    protocol: str | None = None
    if channel == "L4":
        # one clear line for a malformed destination; the protocol it allows is signed with it
        protocol = parse_allow([what], resolve=False)[0].proto
    elif not what or not what.isprintable() or len(what) > MAX_ACCEPT_KEY:
        raise UsageError(f"L2 alert key {what[:80]!r}: 1-{MAX_ACCEPT_KEY} printable characters")
    agent_id = _accept_target(target)
    uid, login = _contain.operator_identity()
    with CalWriter(cal_dir, key_path) as writer:
        path, _ = writer.record_accept(agent_id, channel, what, reason, uid, login, protocol)
    click.echo(f"accepted {channel} {what} for {agent_id}" + (f" (protocol: {protocol})" if protocol else ""))
    click.echo(f"signed record {path} by {login} (uid {uid})")


COMMANDS: list[click.Command] = [keygen_cmd, verify_cmd, show_cmd, contain_cmd, release_cmd, accept_cmd]
