#!/bin/sh
# Make sure bubblewrap (bwrap) is installed: `soma sandbox` builds each run's jail with it.
# Idempotent and quiet: does nothing when bwrap is on PATH; installs Debian's package as root (or
# with sudo) where apt-get exists; otherwise says what to do and exits 1.
set -eu

if command -v bwrap >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi
if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; }; then
    echo "install-bubblewrap: bwrap is missing; install bubblewrap with your system's package manager" \
         "(Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)," \
         "then run make again. Without it the agent cannot run code." >&2
    exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! $SUDO env DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends bubblewrap' >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-bubblewrap: apt-get could not install bubblewrap" >&2
    exit 1
fi
command -v bwrap >/dev/null 2>&1 || { cat "$log" >&2; echo "install-bubblewrap: bubblewrap installed but bwrap is not on PATH" >&2; exit 1; }
