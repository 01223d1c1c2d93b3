#!/bin/sh
# Verify the signature of one H7 .cal certificate with stock OpenSSL 3 and
# coreutils only (head, tail, od, tr, wc, mktemp, rm) -- no H7 code involved.
# usage: cal-verify-openssl.sh CERT.cal PUBKEY.pem     (exit 0 = authentic)
set -eu
cert=$1
pub=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

size=$(wc -c < "$cert")
[ "$size" -ge 77 ] || fail "too short for a certificate"

# 1. magic: "H7CAL", NUL, container version 0x0001
magic=$(head -c 8 "$cert" | od -An -v -tx1 | tr -d ' \n')
[ "$magic" = "483743414c000001" ] || fail "bad magic"

# 2. body length: unsigned 32-bit big-endian at offset 8; must match the file size
set -- $(od -An -v -tu1 -j 8 -N 4 "$cert")
blen=$(( ($1 << 24) + ($2 << 16) + ($3 << 8) + $4 ))
[ "$size" -eq $(( 12 + blen + 64 )) ] || fail "length field does not match the file size"

# 3. signature: the last 64 bytes
tail -c 64 "$cert" > "$work/sig"

# 4. signed message: DSSE v1 PAE = "DSSEv1 <len(type)> <type> <len(body)> <body>"
type=application/vnd.h7.cal.v1+msgpack
{
    printf 'DSSEv1 %s %s %s ' "${#type}" "$type" "$blen"
    tail -c +13 "$cert" | head -c "$blen"
} > "$work/msg"

# 5. Ed25519 verification over the exact stored bytes
openssl pkeyutl -verify -pubin -inkey "$pub" -rawin -in "$work/msg" -sigfile "$work/sig"
