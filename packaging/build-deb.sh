#!/bin/bash
# make deb: build h7_<version>_amd64.deb with dpkg-buildpackage in a fresh copy of the tree
# (build/deb/h7-<version>/), so the package build never touches the shared checkout's build/ or
# in-place extension.  The copy is the working tree as git sees it: tracked files plus untracked,
# not-ignored ones (what `make test` tests).  Output: build/deb/h7_<version>_amd64.deb (+ lintian
# report build/deb/lintian.txt) and a copy in dist/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Debian's python3 and tools only: a pyenv/venv python earlier on PATH must not leak into the build.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH VIRTUAL_ENV PYTHONHOME
cd "$ROOT"
OUT=$ROOT/build/deb

# Build-Depends straight from debian/control (one list to keep complete), plus the tools this script runs
# (build-essential: dpkg-buildpackage requires it implicitly; a fresh machine lacks it).
BUILD_DEPS="$(sed -n '/^Build-Depends:/,/^[A-Z][A-Za-z-]*:/p' debian/control | grep -v '^#' | grep -v '^Standards-Version' \
    | sed 's/^Build-Depends://; s/([^)]*)//g; s/,/ /g; s/debhelper-compat/debhelper/' | tr -s ' \n' ' ') build-essential dpkg-dev fakeroot lintian"
missing=$(for p in $BUILD_DEPS; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || { echo "deb: need root to install build deps: $missing" >&2; exit 2; }
    echo "deb: apt-get install" $missing
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# dpkg-parsechangelog is dpkg-dev's: only usable once the build deps are in (a fresh machine lacks it)
VERSION=$(dpkg-parsechangelog -S Version)
SRC=$OUT/h7-$VERSION
rm -rf "$SRC"; mkdir -p "$SRC"
git ls-files -co --exclude-standard -z | grep -zv '^build/' | \
    xargs -0 -I{} cp --parents -P {} "$SRC"/ 2>/dev/null || true
# files git lists but that were deleted in the work tree are skipped by cp; check the essentials
for f in debian/rules setup.py pyproject.toml bpf/h7.bpf.c _build/build_libbpf.py Makefile; do
    [ -e "$SRC/$f" ] || { echo "deb: $f missing from the copy" >&2; exit 1; }
done
chmod +x "$SRC/debian/rules"

t0=$(date +%s)
(cd "$SRC" && dpkg-buildpackage -b -us -uc -j"$(nproc)") > "$OUT/build.log" 2>&1 || {
    tail -n 40 "$OUT/build.log" >&2; echo "deb: dpkg-buildpackage failed, full log $OUT/build.log" >&2; exit 1; }
DEB=$OUT/h7_${VERSION}_amd64.deb
[ -f "$DEB" ] || { echo "deb: $DEB was not produced" >&2; exit 1; }
echo "deb: built $DEB in $(( $(date +%s) - t0 )) s"

# lintian: errors fail the build, warnings are listed
lintian --no-tag-display-limit "$DEB" > "$OUT/lintian.txt" 2>&1 || true
if grep -q '^E:' "$OUT/lintian.txt"; then
    cat "$OUT/lintian.txt" >&2; echo "deb: lintian reported errors" >&2; exit 1
fi
echo "deb: lintian: $(grep -c '^E:' "$OUT/lintian.txt") errors, $(grep -c '^W:' "$OUT/lintian.txt") warnings, $(grep -c '^I:' "$OUT/lintian.txt") info"
grep -E '^(W|E):' "$OUT/lintian.txt" || true
mkdir -p "$ROOT/dist" && cp "$DEB" "$ROOT/dist/"
echo "deb: $ROOT/dist/$(basename "$DEB")"
