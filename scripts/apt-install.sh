#!/bin/sh
# Install one Debian package a make target needs, when its program is missing:
#     scripts/apt-install.sh PACKAGE PROGRAM
# PROGRAM is a name on PATH or an absolute path. Idempotent and quiet: does nothing when PROGRAM is
# there; runs apt-get as root, or with sudo, printing its output only when it fails; where neither
# apt-get nor root (or sudo) is at hand, says what to install and exits 1.
set -eu

package=$1
program=$2
if command -v "$program" >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi
if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; }; then
    echo "apt-install: $program is missing: install the $package package with your system's package manager" \
         "(Debian and Ubuntu: apt-get install $package, as root), then run make again" >&2
    exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! $SUDO env DEBIAN_FRONTEND=noninteractive sh -c \
    "apt-get update -qq && apt-get install -y -qq --no-install-recommends $package" >"$log" 2>&1; then
    cat "$log" >&2
    echo "apt-install: apt-get could not install $package" >&2
    exit 1
fi
if ! command -v "$program" >/dev/null 2>&1; then
    cat "$log" >&2
    echo "apt-install: apt-get installed $package but $program is missing" >&2
    exit 1
fi
