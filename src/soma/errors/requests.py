"""Requests as they arrive at the gateway, before any route reads them."""

from __future__ import annotations

from soma.errors.base import SomaError


class RequestTooLarge(SomaError):
    """Send a shorter message, or raise SOMA_MAX_MESSAGE_CHARS."""

    status_code = 413
    code = "request_too_large"
