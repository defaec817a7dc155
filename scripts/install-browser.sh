#!/bin/sh
# Install Debian's chromium for the web UI's browser tests (tests/acceptance/test_web_ui.py).
# Idempotent and quiet: does nothing when /usr/bin/chromium is already there; prints
# apt-get's output only when it fails.
set -eu

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-browser: run as root (or install sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! $SUDO env DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium' >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-browser: apt-get could not install chromium" >&2
    exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
    cat "$log" >&2
    echo "install-browser: apt-get finished but /usr/bin/chromium is missing" >&2
    exit 1
fi
