#!/bin/sh
# Install Debian's bubblewrap: `soma sandbox` builds each run's jail with bwrap (docs/runbooks/sandbox-cannot-start.md).
exec "$(dirname "$0")/apt-install.sh" bubblewrap bwrap
