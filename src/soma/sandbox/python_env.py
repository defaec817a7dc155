"""The sandbox's own Python environment (numpy, pandas, matplotlib), apart from Soma's: where it is and how the jail sees it.

SOMA_SANDBOX_PYTHON names its interpreter: the checkout's `.venv-sandbox/bin/python` (built by
`make sandbox`), the image's `/opt/soma-sandbox/bin/python`, or a system Python under /usr. An
environment outside /usr is bound read-only at JAIL_PREFIX, whatever its path on the host, so the
jail learns nothing of the host's layout and a checkout under /root is no harder to reach than one
under /opt: the service opens it and hands bwrap the open directory.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

JAIL_PREFIX = "/opt/soma-sandbox"
SYSTEM = Path("/usr")  # bound into every jail as it is


@dataclass(frozen=True)
class PythonEnv:
    """An interpreter as the jail runs it: `root` is bound at JAIL_PREFIX (None: it lives under /usr)."""

    root: Path | None
    python: str  # its path inside the jail

    @property
    def bin_dir(self) -> str | None:
        """The environment's bin directory inside the jail, for PATH; None for a system Python."""
        return f"{JAIL_PREFIX}/bin" if self.root else None


def locate(python: Path) -> PythonEnv | str:
    """The environment `python` belongs to, or a one-line reason the jail cannot run it."""
    if not python.is_absolute():
        return f"SOMA_SANDBOX_PYTHON={python} is not an absolute path; give the interpreter's full path."
    if not python.exists():
        return (
            f"The sandbox's Python {python} does not exist: run `make sandbox` in the checkout (it builds .venv-sandbox),"
            " or set SOMA_SANDBOX_PYTHON to an interpreter with numpy, pandas and matplotlib."
        )
    root = python.parent.parent
    venv = root / "pyvenv.cfg"
    if venv.exists():
        home = _venv_home(venv)
        if home is None or not home.is_relative_to(SYSTEM):
            return (
                f"The sandbox's Python {python} is a venv of {home}, outside /usr, which the jail does not see;"
                " build it from a system Python (`make sandbox` uses /usr/bin/python3)."
            )
        return PythonEnv(root, f"{JAIL_PREFIX}/bin/{python.name}")
    if python.is_relative_to(SYSTEM):
        return PythonEnv(None, str(python))
    return PythonEnv(root, f"{JAIL_PREFIX}/bin/{python.name}")  # a prefix install (bin/, lib/) that can move


def _venv_home(config: Path) -> Path | None:
    """The directory of the interpreter a venv was made from (`home` in pyvenv.cfg)."""
    parser = configparser.ConfigParser()
    try:
        parser.read_string("[venv]\n" + config.read_text())
        home = parser.get("venv", "home", fallback=None)
    except (OSError, configparser.Error):
        return None
    return Path(home.strip()) if home else None
