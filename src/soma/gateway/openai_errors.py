"""OpenAI's error shape on the OpenAI-compatible routes: which paths, and the body gateway/error_shape.py sends there.

Errors on these routes come from many layers (authentication, the lockdown gate, the body limit,
validation, the route itself). OpenAI clients read {"error": {"message", "type", "param", "code"}}
where the rest of the API has {"error": {"code", "message"}}: errors.respond() writes this shape
for PATHS, whichever layer refused.
"""

from __future__ import annotations

import json

from soma.openai_compat import shapes

PATHS = frozenset({"/v1/models", "/v1/chat/completions"})


def content(status: int, code: str, message: str) -> bytes:
    """The error body in OpenAI's shape, with its type and the code OpenAI's clients know."""
    return json.dumps(shapes.error(status, code, message)).encode()
