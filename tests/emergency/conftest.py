"""The acceptance stack (a real gateway process, workers on demand) for the emergency stop's process test."""

from tests.acceptance.conftest import stack  # noqa: F401  (the fixture)
