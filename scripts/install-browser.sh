#!/bin/sh
# Install Debian's chromium for the web UI's browser tests (tests/acceptance/test_web_ui.py).
exec "$(dirname "$0")/apt-install.sh" chromium /usr/bin/chromium
