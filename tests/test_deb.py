"""Install the built .deb into a clean Debian 12 chroot, use it, remove and purge it.

Skipped unless dist/h7_<version>_amd64.deb (``make deb``) exists or H7_TEST_DEB=1 (then a
missing .deb is a failure).  Needs root and debootstrap.  Run with ``make deb-test``.

The clean environment is a ``debootstrap --variant=minbase bookworm`` chroot from the Debian
mirror the host is configured with, cached as a tarball under build/deb-chroot/ (first run: a few
minutes; later runs unpack it in seconds).  Each run unpacks a fresh copy, so nothing from an
earlier run can leak in.

What is checked, in order:
  dpkg -i (fails on missing dependencies) + apt-get -f install  -> h7 configured
  modes: /var/lib/h7 and keys/ 0700, h7.key 0600; postinst printed where the public key is
  h7 --version, h7 --help, man page, h7 doctor (in a chroot BPF may not load: a clean
    one-line error and exit 3 are accepted, a traceback is not)
  h7 verify on the known-answer chain of tests/vectors and on a certificate signed with the
    key postinst generated
  h7 sinkhole --check accepts the shipped /etc/h7/h7.toml
  upgrade (re-install): the key and an edited conffile are kept
  remove, purge, autoremove: every file that appeared since before the install is gone
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "deb-chroot"
TARBALL = CACHE / "bookworm-minbase.tar"
APT_ARCHIVES = CACHE / "apt-archives"
SUITE = "bookworm"
REQUIRED = os.environ.get("H7_TEST_DEB") == "1"


def _version() -> str:
    out = subprocess.run(
        ["dpkg-parsechangelog", "-l", str(ROOT / "debian" / "changelog"), "-S", "Version"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "0.1.0"


def _deb_path() -> Path:
    return ROOT / "dist" / f"h7_{_version()}_amd64.deb"


def _skip_or_fail(msg: str) -> None:
    if REQUIRED:
        pytest.fail(msg)
    pytest.skip(msg)


def debian_mirror() -> str:
    """The Debian mirror the host's apt uses (the same archive the package's deps come from)."""
    if os.environ.get("H7_DEBIAN_MIRROR"):
        return os.environ["H7_DEBIAN_MIRROR"]
    srcs = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for p in srcs:
        try:
            text = p.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("#") or not (line.startswith("URIs:") or line.startswith("deb ")):
                continue
            m = re.search(r"(https?://\S+/debian)/?(\s|$)", line)
            if m:
                return m.group(1)
    return "http://deb.debian.org/debian"


def _run(cmd: list[str], timeout: float = 600, check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if check and p.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} -> rc {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        )
    return p


def ensure_base_tarball() -> Path:
    """debootstrap bookworm (minbase) once, apt lists included, and keep it as a tarball."""
    if TARBALL.exists():
        return TARBALL
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / "base.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    mirror = debian_mirror()
    t0 = time.monotonic()
    _run(["debootstrap", "--variant=minbase", SUITE, str(tmp), mirror], timeout=1500)
    (tmp / "etc/apt/sources.list").write_text(
        f"deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\n"
        f"deb {mirror.rsplit('/debian', 1)[0]}/debian-security {SUITE}-security main\n"
    )
    _run(["chroot", str(tmp), "apt-get", "update", "-qq"], timeout=600)
    _run(["chroot", str(tmp), "apt-get", "clean"])
    _run(["tar", "-C", str(tmp), "-cf", str(TARBALL) + ".tmp", "."], timeout=600)
    os.replace(str(TARBALL) + ".tmp", TARBALL)
    shutil.rmtree(tmp)
    print(f"debootstrap {SUITE} from {mirror}: {time.monotonic() - t0:.0f} s")
    return TARBALL


class Chroot:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounts: list[Path] = []

    def mount(self) -> None:
        # the downloaded dependency .debs are kept between runs (they are the slow part)
        APT_ARCHIVES.mkdir(parents=True, exist_ok=True)
        for src, dst, args in (
            (str(APT_ARCHIVES), "var/cache/apt/archives", ["--bind"]),
            ("proc", "proc", ["-t", "proc"]),
            ("/sys", "sys", ["--rbind"]),
            ("/dev", "dev", ["--rbind"]),
        ):
            target = self.path / dst
            target.mkdir(exist_ok=True)
            _run(["mount", *args, src, str(target)])
            if src == "/sys" or src == "/dev":
                subprocess.run(["mount", "--make-rslave", str(target)], check=False)
            self.mounts.append(target)

    def umount_archives(self) -> None:
        """Unmount the shared .deb cache before the leftover check (its contents are not ours)."""
        target = self.path / "var/cache/apt/archives"
        if target in self.mounts:
            subprocess.run(["umount", str(target)], check=False)
            self.mounts.remove(target)

    def umount(self) -> None:
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-R", "-l", str(m)], check=False)
        self.mounts.clear()

    def sh(self, script: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "DEBIAN_FRONTEND": "noninteractive",
            "LANG": "C.UTF-8",
            "HOME": "/root",
        }
        return _run(
            ["chroot", str(self.path), "/bin/sh", "-ec", script], timeout=timeout, check=check, env=env
        )

    def snapshot(self) -> dict[str, str]:
        """path -> 'mode uid gid' of everything outside the package manager's own bookkeeping."""
        skip = (
            "proc", "sys", "dev", "run", "tmp",
            "var/lib/dpkg", "var/lib/apt", "var/cache", "var/log",
        )  # fmt: skip
        out: dict[str, str] = {}
        base = str(self.path)
        for dirpath, dirnames, filenames in os.walk(base):
            rel = os.path.relpath(dirpath, base)
            if rel != "." and (
                rel.split(os.sep)[0] in skip or any(rel.startswith(s + "/") or rel == s for s in skip)
            ):
                dirnames[:] = []
                continue
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                r = os.path.relpath(p, base)
                if r in skip:
                    continue
                st = os.lstat(p)
                out["/" + r] = f"{st.st_mode:o} {st.st_uid} {st.st_gid}"
        return out


@pytest.fixture(scope="module")
def deb() -> Path:
    path = _deb_path()
    if not path.exists():
        _skip_or_fail(f"{path.name} not built (make deb)")
    if os.geteuid() != 0:
        _skip_or_fail("needs root (chroot, mount)")
    if not shutil.which("debootstrap"):
        _skip_or_fail("debootstrap not installed (apt-get install debootstrap)")
    return path


@pytest.fixture(scope="module")
def chroot(deb: Path) -> Iterator[Chroot]:
    tar = ensure_base_tarball()
    run_dir = CACHE / "run"
    if run_dir.exists():
        subprocess.run(["umount", "-R", "-l", *(str(run_dir / d) for d in ("proc", "sys", "dev"))], check=False,  # noqa: E501
                       capture_output=True)  # fmt: skip
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    _run(["tar", "-C", str(run_dir), "-xf", str(tar)], timeout=600)
    c = Chroot(run_dir)
    # no daemon starts inside the chroot (invoke-rc.d / deb-systemd-invoke honour this)
    prc = run_dir / "usr/sbin/policy-rc.d"
    prc.write_text("#!/bin/sh\nexit 101\n")
    prc.chmod(0o755)
    shutil.copy(deb, run_dir / "tmp" / deb.name)
    shutil.copytree(ROOT / "tests" / "vectors", run_dir / "tmp" / "vectors")
    (run_dir / "etc/apt/apt.conf.d/99h7-keep-debs").write_text(
        'Binary::apt::APT::Keep-Downloaded-Packages "true";\n'
    )
    c.mount()
    try:
        yield c
    finally:
        c.umount()
        if os.environ.get("H7_TEST_DEB_KEEP") != "1":
            shutil.rmtree(run_dir, ignore_errors=True)


def test_install_use_upgrade_purge(deb: Path, chroot: Chroot) -> None:
    c = chroot
    before = c.snapshot()
    pkgs_before = set(c.sh("dpkg-query -W -f='${Package}\\n'").stdout.split())
    name = f"/tmp/{deb.name}"

    # -- install: dpkg -i alone cannot satisfy the dependencies; apt-get -f install does
    p = c.sh(f"dpkg -i {name}", check=False)
    assert p.returncode != 0 or "h7" in p.stdout, p.stderr
    p = c.sh("apt-get -f install -y -q -o Dpkg::Use-Pty=0", timeout=900)
    c.sh("dpkg-query -W -f='${Status}' h7 | grep -q 'install ok installed'")
    log = p.stdout + p.stderr
    assert "/var/lib/h7/keys/h7.pub" in log, f"postinst did not say where the public key is:\n{log}"

    # -- safe modes
    def mode(path: str) -> int:
        return os.lstat(str(c.path) + path).st_mode & 0o7777

    assert mode("/var/lib/h7") == 0o700
    assert mode("/var/lib/h7/keys") == 0o700
    assert mode("/var/lib/h7/keys/h7.key") == 0o600
    assert mode("/etc/h7/h7.toml") == 0o644
    h7_files = set(c.sh("dpkg -L h7").stdout.split())
    key_sha = hashlib.sha256((c.path / "var/lib/h7/keys/h7.key").read_bytes()).hexdigest()

    # -- the command
    out = c.sh("h7 --version").stdout
    assert out.strip().endswith(deb.name.split("_")[1]), out
    assert "attach" in c.sh("h7 --help").stdout
    assert (c.path / "usr/share/man/man1/h7.1.gz").exists()
    assert (c.path / "lib/systemd/system/h7.service").exists()
    assert (c.path / "lib/systemd/system/h7-sinkhole.service").exists()
    p = c.sh("h7 doctor", check=False)
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    assert p.returncode in (0, 3), f"h7 doctor rc {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "kernel" in p.stdout, p.stdout
    p = c.sh("h7 doctor --json", check=False)
    assert p.returncode in (0, 3) and p.stdout.lstrip().startswith("{"), p.stdout + p.stderr
    c.sh("h7 sinkhole --config /etc/h7/h7.toml --check")

    # -- verify: the known-answer chain, and a certificate signed by this host's new key
    c.sh("h7 verify /tmp/vectors/cal_v1_chain --pubkey /tmp/vectors/cal_v1_test.pub")
    c.sh(
        'python3 -c "from h7.cal.writer import CalWriter; from h7.cal.format import CONTAINED_BY_OPERATOR; '
        "w = CalWriter('/tmp/cal', '/var/lib/h7/keys/h7.key'); "
        "print(w.record_operator_action(CONTAINED_BY_OPERATOR, 'agent:1:1', 'deb install test', 0, 'root')[0]); w.close()\""  # noqa: E501
    )
    out = c.sh("h7 verify /tmp/cal --pubkey /var/lib/h7/keys/h7.pub").stdout
    assert "OK" in out, out
    p = c.sh("h7 verify /tmp/cal --pubkey /tmp/vectors/cal_v1_test.pub", check=False)
    assert p.returncode != 0, "a certificate verified under the wrong key"
    shutil.rmtree(c.path / "tmp/cal")

    # -- upgrade (re-install of the package): key, edited conffile and chain are kept
    conf = c.path / "etc/h7/h7.toml"
    conf.write_text(conf.read_text() + "\n# local edit\n")
    (c.path / "var/lib/h7/cal/keep.marker").write_text("chain\n")
    c.sh(f"dpkg -i --force-confold {name}")
    assert hashlib.sha256((c.path / "var/lib/h7/keys/h7.key").read_bytes()).hexdigest() == key_sha
    assert conf.read_text().endswith("# local edit\n")
    assert (c.path / "var/lib/h7/cal/keep.marker").exists()
    (c.path / "var/lib/h7/cal/keep.marker").unlink()

    # -- remove keeps config and key; purge removes what the package created
    c.sh("apt-get remove -y -q h7")
    assert (c.path / "etc/h7/h7.toml").exists()
    assert (c.path / "var/lib/h7/keys/h7.key").exists()
    p = c.sh("apt-get purge -y -q h7 </dev/null")
    c.sh("apt-get autoremove --purge -y -q")
    # apt-get -f install marks the dependencies it pulled in as manually installed, so
    # autoremove keeps them: purge whatever was not there before, to compare against a clean
    # system.
    extra = sorted(set(c.sh("dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n'").stdout.splitlines()))
    extra_pkgs = [ln.split()[-1] for ln in extra if ln.split()[-1] not in pkgs_before]
    if extra_pkgs:
        c.sh("apt-get purge -y -q " + " ".join(extra_pkgs), timeout=900)
    c.umount_archives()
    c.sh("! dpkg-query -W h7 2>/dev/null || dpkg-query -W -f='${Status}' h7 | grep -q not-installed")
    after = c.snapshot()
    new = set(after) - set(before)
    # What h7 could have left: its own files, anything named h7, unit enablement symlinks and
    # state.  (Dependencies pulled in by apt-get -f install may leave their own generated files,
    # e.g. netbase's /etc/hosts, after autoremove --purge; those are not the package's to clean.)
    ours = [
        p for p in sorted(new)
        if p in h7_files or "h7" in p or p.startswith(("/etc/systemd/", "/var/lib/systemd/"))
    ]  # fmt: skip
    changed = sorted(
        k for k in h7_files | {"/var/lib/h7", "/etc/h7"} if k in before and after.get(k) != before[k]
    )
    assert not ours, "left behind after purge:\n" + "\n".join(ours[:50])
    assert not changed, "changed after purge:\n" + "\n".join(changed[:50])
    others = sorted(p for p in new if p not in ours)
    if others:
        (CACHE / "leftovers-not-h7.txt").write_text("\n".join(others) + "\n")
        print(f"\nnot h7's: {len(others)} paths left by purged dependencies, e.g. {others[:5]}")


@pytest.fixture(scope="module")
def build_chroot() -> Iterator[Chroot]:
    """A fresh bookworm minbase chroot with only what a clean clone implies (git, make)."""
    if not REQUIRED:
        pytest.skip("a full package build: run by make deb-test (H7_TEST_DEB=1)")
    if os.geteuid() != 0:
        _skip_or_fail("needs root (chroot, mount)")
    if not shutil.which("debootstrap"):
        _skip_or_fail("debootstrap not installed (apt-get install debootstrap)")
    tar = ensure_base_tarball()
    run_dir = CACHE / "build-run"
    if run_dir.exists():
        subprocess.run(["umount", "-R", "-l", *(str(run_dir / d) for d in ("proc", "sys", "dev", "var/cache/apt/archives"))],  # noqa: E501
                       check=False, capture_output=True)  # fmt: skip
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    _run(["tar", "-C", str(run_dir), "-xf", str(tar)], timeout=600)
    (run_dir / "etc/apt/apt.conf.d/99h7-keep-debs").write_text(
        'Binary::apt::APT::Keep-Downloaded-Packages "true";\n'
    )
    c = Chroot(run_dir)
    c.mount()
    try:
        yield c
    finally:
        c.umount()
        if os.environ.get("H7_TEST_DEB_KEEP") != "1":
            shutil.rmtree(run_dir, ignore_errors=True)


def test_make_deb_builds_in_a_clean_chroot(build_chroot: Chroot) -> None:
    """`make deb` on a fresh Debian 12 installs every Build-Depends it needs and builds the package.

    The chroot starts with only git and make (what cloning and typing `make deb` imply); the
    man page step runs `h7 --help`, so a Build-Depends list missing a runtime import fails here.
    """
    c = build_chroot
    c.sh("apt-get install -y -q --no-install-recommends git make ca-certificates", timeout=900)
    src = c.path / "src" / "h7"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for f in files:
        name = f.decode()
        if not name or name.startswith(("build/", "dist/")) or not (ROOT / name).exists():
            continue
        dst = src / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dst, follow_symlinks=False)
    c.sh("cd /src/h7 && git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -q -m clean")
    t0 = time.monotonic()
    p = c.sh("cd /src/h7 && make deb", timeout=3000, check=False)
    took = time.monotonic() - t0
    assert p.returncode == 0, (
        f"make deb in a clean chroot failed ({took:.0f} s):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    )
    debs = list((src / "dist").glob("h7_*_amd64.deb"))
    assert debs, p.stdout[-2000:]
    print(f"\nmake deb in a clean bookworm chroot: {took:.0f} s, {debs[0].name}")
