#!/usr/bin/env bash
# Build a local base image for machines that reach no container registry.
#
#   container/make-base.sh [NAME]      (default NAME: ra2-base:bookworm)
#
# Debian bookworm "minbase" from the Debian mirror, with python3 and python3-venv (the
# Dockerfile makes its virtual environment with them) and ca-certificates.  The host's CA
# bundle is added to the image's trust store, so pip inside a build works behind a
# TLS-intercepting proxy too.  Skips the work when the image already exists
# (RA2_BASE_REBUILD=1 forces it).  Needs root (debootstrap) and a running engine.
set -euo pipefail

NAME=${1:-ra2-base:bookworm}
MIRROR=${RA2_DEBIAN_MIRROR:-http://deb.debian.org/debian}
HOST_CA=${RA2_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}

say() { echo "make-base.sh: $*" >&2; }

if [ "${RA2_BASE_REBUILD:-0}" != 1 ] && docker image inspect "$NAME" >/dev/null 2>&1; then
    say "$NAME already exists"; exit 0
fi
[ "$(id -u)" = 0 ] || { say "must run as root (debootstrap)"; exit 1; }
command -v debootstrap >/dev/null || { say "debootstrap not installed: run container/engine.sh install"; exit 1; }

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/ra2-base.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT

say "debootstrap bookworm into $ROOT"
debootstrap --variant=minbase --include=ca-certificates,python3,python3-venv \
    bookworm "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || { tail -n 20 "$ROOT.log" >&2; rm -f "$ROOT.log"; exit 1; }
rm -f "$ROOT.log"

if [ -s "$HOST_CA" ]; then
    # kept by update-ca-certificates, should a later step run it
    install -m 644 "$HOST_CA" "$ROOT/usr/local/share/ca-certificates/ra2-host-bundle.crt"
    cp "$HOST_CA" "$ROOT/etc/ssl/certs/ca-certificates.crt"
fi
# an image needs no package lists or apt caches
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb

say "importing as $NAME"
tar -C "$ROOT" -c . | docker import --change 'CMD ["/bin/bash"]' - "$NAME" >/dev/null
say "$NAME: $(docker image inspect --format '{{.Size}}' "$NAME" | awk '{printf "%.0f MB", $1/1e6}')"
