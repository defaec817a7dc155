"""The `soma` command; the only place errors become exit codes. One module per command group."""

from soma import startup

startup.begin()  # before the imports below: soma/startup.py says why

from soma.cli import access, backup, emergency, run, secrets, slm, smoke  # noqa: F401  (each registers its commands)
from soma.cli import sandbox, tasks, tools, tunnel  # noqa: F401
from soma.cli.common import app


def main() -> None:
    """Entry point of the `soma` console script."""
    app()
