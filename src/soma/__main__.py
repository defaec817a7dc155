"""`python -m soma` runs the `soma` command."""

from soma import cli

cli.main()
