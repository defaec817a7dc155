"""The root of the catalogue: SomaError, whose docstring is its message, and the generic NotFound."""

from __future__ import annotations


class SomaError(Exception):
    """Soma failed."""

    status_code = 500
    code = "internal"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The docstring, with the detail that names the offending value in front."""
        doc = (self.__doc__ or "").strip()
        return f"{self.detail} {doc}" if self.detail else doc


class NotFound(SomaError):
    """Nothing exists at this id."""

    status_code = 404
    code = "not_found"
