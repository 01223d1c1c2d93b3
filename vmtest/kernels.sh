#!/bin/bash
# Fetch the matrix's kernels from Debian's archive into a cache (never into /boot):
#   apt-get download + dpkg-deb -x  ->  $CACHE/<name>/root/{usr/,}lib/modules/<kver>/{vmlinuz,...}
# then prune drivers the TCG guest never uses (halves udev time at boot) and re-run depmod.
#
# usage: vmtest/kernels.sh [NAME...]      NAME in: 6.1 6.12 newest   (default: all)
# prints one line per kernel: "<name> <kver> <path-to-vmlinuz>"
#
# Kernels are picked by pattern, newest first, so a security update that retires a version in
# the archive does not break the matrix; once a kernel is in the cache it is reused as is
# (delete build/vmtest/kernels/<name> to refresh).
#
# The newest kernel comes from trixie-backports.  That suite is NOT added to the host's apt
# configuration: a private, throw-away apt state under $CACHE/apt (its own sources.list, lists and
# archive cache, same mirror and Signed-By keyring as the configured bookworm source) is used and
# nothing under /etc/apt is touched.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=${H7_VMTEST_CACHE:-$ROOT/build/vmtest/kernels}
MIRROR=${H7_DEBIAN_MIRROR:-}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$CACHE"

log() { echo "kernels: $*" >&2; }
die() { echo "kernels: error: $*" >&2; exit 1; }

# The mirror the host already uses for Debian (first deb.debian.org-style URI in its sources).
debian_mirror() {
    if [ -n "$MIRROR" ]; then echo "$MIRROR"; return; fi
    local m
    m=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ')
    echo "${m:-http://deb.debian.org/debian}"
}

# Private apt for trixie-backports.
TB_DIR=$CACHE/apt-trixie-backports
tb_apt_opts() {
    echo "-o Dir::Etc::SourceList=$TB_DIR/sources.list -o Dir::Etc::SourceParts=/dev/null" \
         "-o Dir::State::Lists=$TB_DIR/lists -o Dir::Cache=$TB_DIR/cache -o Debug::NoLocking=1" \
         "-o APT::Get::List-Cleanup=0"
}
tb_setup() {
    mkdir -p "$TB_DIR/lists/partial" "$TB_DIR/cache/archives/partial"
    echo "deb [signed-by=$KEYRING] $(debian_mirror) trixie-backports main" > "$TB_DIR/sources.list"
    # shellcheck disable=SC2046
    apt-get $(tb_apt_opts) -qq update >&2 || die "apt-get update of trixie-backports failed"
}

newest_pkg() {  # newest_pkg <apt-opts> <egrep pattern on package names>
    # shellcheck disable=SC2086
    apt-cache $1 search --names-only "$2" | awk '{print $1}' | grep -E "$2" | sort -V | tail -n1
}

extract() {  # extract <name> <apt-opts> pkg...
    local name=$1 opts=$2; shift 2
    local dir=$CACHE/$name
    rm -rf "$dir.tmp"; mkdir -p "$dir.tmp/debs" "$dir.tmp/root"
    log "$name: downloading $*"
    # shellcheck disable=SC2086
    (cd "$dir.tmp/debs" && apt-get $opts -qq download "$@" >&2) || die "$name: apt-get download $* failed"
    for d in "$dir.tmp"/debs/*.deb; do dpkg-deb -x "$d" "$dir.tmp/root"; done
    # keep the .debs' names for the record, not the .debs (67-116 MB each): the tree is the cache
    ls "$dir.tmp/debs" > "$dir.tmp/packages.txt"; rm -rf "$dir.tmp/debs"
    prepare "$dir.tmp/root"
    rm -rf "$dir"; mv "$dir.tmp" "$dir"
}

# Put vmlinuz beside the modules (where vng looks for them), prune drivers, depmod.
prepare() {
    local r=$1 moddir kver img
    moddir=$( (ls -d "$r"/lib/modules/* "$r"/usr/lib/modules/* 2>/dev/null || true) | head -n1)
    [ -n "$moddir" ] || die "no modules directory in $r"
    kver=$(basename "$moddir")
    if [ -f "$moddir/vmlinuz.unsigned" ]; then img=$moddir/vmlinuz.unsigned
    elif [ -f "$r/boot/vmlinuz-$kver" ]; then img=$r/boot/vmlinuz-$kver
    else die "no vmlinuz for $kver in $r"; fi
    [ "$img" = "$moddir/vmlinuz" ] || cp "$img" "$moddir/vmlinuz"
    # depmod -b wants <base>/lib/modules; merged-/usr kernels ship usr/lib/modules only
    if [ ! -e "$r/lib" ]; then ln -s usr/lib "$r/lib"; fi
    local kd=$moddir/kernel/drivers
    if [ -d "$kd" ]; then
        for sub in "$kd"/*; do
            case $(basename "$sub") in virtio|net|char|block) ;; *) rm -rf "$sub" ;; esac
        done
    fi
    depmod -b "$r" "$kver" || die "depmod failed for $kver"
    echo "$kver" > "$r/../kver"
}

fetch() {
    local name=$1 pkg kver
    if [ -f "$CACHE/$name/kver" ]; then
        kver=$(cat "$CACHE/$name/kver")
    else
        case $name in
        6.1)
            pkg=$(newest_pkg "" '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$')
            [ -n "$pkg" ] || die "6.1: no linux-image-6.1.0-*-amd64-unsigned in the configured sources (bookworm-security)"
            extract "$name" "" "$pkg" ;;
        6.12)
            pkg=$(newest_pkg "" '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$')
            [ -n "$pkg" ] || die "6.12: no linux-image-6.12.*+deb12-amd64-unsigned in the configured sources"
            extract "$name" "" "$pkg" ;;
        newest)
            tb_setup
            pkg=$(newest_pkg "$(tb_apt_opts)" '^linux-binary-unsigned-[0-9.]+\+deb13-amd64$')
            [ -n "$pkg" ] || die "newest: no linux-binary-unsigned-*+deb13-amd64 in trixie-backports"
            local abi=${pkg#linux-binary-unsigned-}
            extract "$name" "$(tb_apt_opts)" "$pkg" "linux-modules-$abi" "linux-base-$abi" ;;
        *) die "unknown kernel name '$name' (known: 6.1 6.12 newest)" ;;
        esac
        kver=$(cat "$CACHE/$name/kver")
    fi
    local img
    img=$(ls "$CACHE/$name"/root/lib/modules/"$kver"/vmlinuz)
    echo "$name $kver $img"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(6.1 6.12 newest)
for n in "${names[@]}"; do fetch "$n"; done
