"""``h7 accept``: a signed ACCEPTED_BY_OPERATOR record, and the chain follower that reads it back.

The live counterpart (a running sensor that stops alerting) is in test_live_semantics.py.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from h7.cal import keygen, load_public_key
from h7.cal.follow import ChainFollower
from h7.cal.format import ACCEPTED_BY_OPERATOR, describe, file_name, verify_file
from h7.cal.writer import CalWriter
from h7.cli import main


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.output


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    priv, pub = keygen(tmp_path / "keys")
    return priv, pub


def test_accept_signs_a_record_that_verifies_and_shows(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    priv, pub = keys
    cal = tmp_path / "cal"
    agent = f"python3:{os.getpid()}:1"
    code, out = _run("accept", agent, "10.0.0.5:443", "--reason", "vendor API", "--key", str(priv),
                     "--cal-dir", str(cal))  # fmt: skip
    assert code == 0, out
    assert f"accepted L4 10.0.0.5:443 for {agent}" in out
    cert = verify_file(cal / file_name(1), load_public_key(pub))
    assert cert.action == ACCEPTED_BY_OPERATOR and cert.agent_id == agent
    # the protocol it allows is signed with it: a bare destination is TCP only
    assert cert.body["accept"] == {"channel": "L4", "key": "10.0.0.5:443", "protocol": "tcp"}
    assert cert.body["reason"] == "vendor API" and cert.body["operator"]["uid"] == os.geteuid()
    assert any("accepted      L4 10.0.0.5:443" in line for line in describe(cert))
    code, out = _run("verify", str(cal), "--pubkey", str(pub))
    assert code == 0, out
    # '*' (every agent) and a pid (resolved to the running process's agent_id)
    assert _run("accept", "*", "127.0.0.1:ephemeral", "--reason", "r", "--key", str(priv),
                "--cal-dir", str(cal))[0] == 0  # fmt: skip
    code, out = _run("accept", str(os.getpid()), "[::1]:8080", "--reason", "r", "--key", str(priv),
                     "--cal-dir", str(cal))  # fmt: skip
    assert code == 0, out
    assert f":{os.getpid()}:" in verify_file(cal / file_name(3), load_public_key(pub)).agent_id


def test_an_l2_alert_key_accept_signs_the_exact_key(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    """``--channel L2``: what is signed is the certificate's alert key, parent included, and no protocol."""
    priv, pub = keys
    cal = tmp_path / "cal"
    code, out = _run("accept", "*", "dash<-git", "--channel", "L2", "--reason", "commit hooks",
                     "--key", str(priv), "--cal-dir", str(cal))  # fmt: skip
    assert code == 0 and "accepted L2 dash<-git for *" in out and "protocol" not in out, out
    cert = verify_file(cal / file_name(1), load_public_key(pub))
    assert cert.body["accept"] == {"channel": "L2", "key": "dash<-git"}
    assert any(line.endswith("accepted      L2 dash<-git (an alert key)") for line in describe(cert))
    assert _run("verify", str(cal), "--pubkey", str(pub))[0] == 0
    f = ChainFollower(cal, load_public_key(pub), 0)
    assert [c.body["accept"]["channel"] for c in f.poll()] == ["L2"]
    code, out = _run("accept", "*", "dash\x07", "--channel", "L2", "--reason", "r",
                     "--key", str(priv), "--cal-dir", str(cal))  # fmt: skip
    assert code != 0 and "L2 alert key" in out and out.count("\n") == 1, out
    code, out = _run("accept", "*", "x", "--channel", "L3", "--reason", "r", "--key", str(priv),
                     "--cal-dir", str(cal))  # fmt: skip
    assert code != 0 and "L3" in out, out
    assert len(list(cal.glob("*.cal"))) == 1


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["x:1:2", "not-an-address:99999"], "port out of range"),
        (["x:1:2", "example.com:443"], "not an address"),
        (["nonsense", "10.0.0.1"], "neither '*', a pid nor an agent id"),
        (["x:1:2", "10.0.0.1", "--reason", " "], "--reason must say why"),
        (["x:1:2", "icmp6:10.0.0.1:80"], "unknown protocol 'icmp6'"),
        (["x:1:2", "udp:"], "nothing after the protocol"),
    ],
)
def test_accept_refuses_bad_input_in_one_line(
    tmp_path: Path, keys: tuple[Path, Path], args: list[str], msg: str
) -> None:
    priv, _ = keys
    extra = [] if "--reason" in args else ["--reason", "r"]
    code, out = _run("accept", *args, *extra, "--key", str(priv), "--cal-dir", str(tmp_path / "cal"))
    assert code != 0 and msg in out and out.count("\n") == 1, out
    assert not list((tmp_path / "cal").glob("*.cal")) if (tmp_path / "cal").exists() else True


def test_follower_reads_only_new_verified_records(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    priv, pub = keys
    cal = tmp_path / "cal"
    with CalWriter(cal, priv) as w:
        w.record_accept("a:1:2", "L4", "10.0.0.1", "before the sensor", 0, "root")
        f = ChainFollower(cal, load_public_key(pub), w.head[0])
        assert f.poll() == []
        w.record_accept("a:1:2", "L4", "10.0.0.2", "mine", 0, "root")
        f.skip(2)
        w.record_accept("a:1:2", "L4", "10.0.0.3", "theirs", 0, "root")
    got = f.poll()
    assert [c.body["accept"]["key"] for c in got] == ["10.0.0.3"]
    assert f.poll() == []
    # A record signed by another key is never acted on, and is reported.
    other, _ = keygen(tmp_path / "other")
    other_dir = tmp_path / "other-cal"
    with CalWriter(other_dir, other) as w2:
        for _ in range(4):
            w2.record_accept("a:1:2", "L4", "6.6.6.6", "forged", 0, "mallory")
    os.link(other_dir / file_name(4), cal / file_name(4))
    assert f.poll() == [] and len(f.rejected) == 1 and f.seq == 4


def test_an_accept_names_its_protocol_and_an_old_record_still_verifies(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    """Session 13: accepts carry ``protocol``.  A record signed before (exactly ``{channel,
    key}``) still verifies and shows, and the sensor applies it protocol-blind, as it was
    applied when it was signed; a new record allows what its protocol says."""
    from h7.config import EngineConfig
    from h7.detect.channels.l4_egress import EgressChannel
    from h7.detect.engine import Engine

    priv, pub = keys
    cal = tmp_path / "cal"
    code, out = _run("accept", "*", "udp:127.0.0.53:53", "--reason", "resolver", "--key", str(priv),
                     "--cal-dir", str(cal))  # fmt: skip
    assert code == 0 and "(protocol: udp)" in out, out
    with CalWriter(cal, priv) as w:  # the two-field form every record before session 13 had
        w.record_accept("*", "L4", "10.0.0.9:8080", "old record", 0, "root")
    new, old = (verify_file(cal / file_name(i), load_public_key(pub)) for i in (1, 2))
    assert new.body["accept"] == {"channel": "L4", "key": "udp:127.0.0.53:53", "protocol": "udp"}
    assert old.body["accept"] == {"channel": "L4", "key": "10.0.0.9:8080"}
    assert any("any protocol" in line for line in describe(old))
    assert _run("verify", str(cal), "--pubkey", str(pub))[0] == 0
    sys.path.insert(0, str(Path(__file__).parent / "journals"))
    import make_synthetic as ms

    engine = Engine(EngineConfig(read_proc=False), [ms.AGENT_INFO])
    assert engine.accept("*", "L4", old.body["accept"]["key"], old.body["accept"].get("protocol", "any")) == 1
    assert engine.accept("*", "L4", new.body["accept"]["key"], new.body["accept"]["protocol"]) == 1
    (ch,) = [c for c in engine.agents[1].channels if isinstance(c, EgressChannel)]
    ip9, ip53 = ipaddress.ip_address("10.0.0.9"), ipaddress.ip_address("127.0.0.53")
    assert ch.allowed(ip9, 8080, proto="tcp") and ch.allowed(ip9, 8080, proto="udp")  # old: blind
    assert ch.allowed(ip53, 53, proto="udp") and ch.allowed(ip53, 53, proto="tcp") is None
