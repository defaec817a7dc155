"""llama.cpp's own OpenAI-compatible server (PyPI `xllamacpp`), set up for the packaged Gemma 3 270M.

The packaged GGUF is the pretrained (base) model with no chat template: Gemma's turn markers
make it echo the prompt, while a plain transcript ("User: … / Soma: …") gets short, on-topic
answers. So the server gets a Jinja template that writes that transcript, and stop strings
that end the answer where the model would start writing the user's next line.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from soma import errors

MODEL_ALIAS = "gemma-3-270m"
CONTEXT_TOKENS = 4096
# The system text, then the conversation as a transcript that ends where Soma speaks next.
# Content parts (OpenAI's list form) arrive here already joined into text by llama.cpp.
TRANSCRIPT_TEMPLATE = """\
{%- for m in messages if m['role'] == 'system' -%}
{{ m['content'] }}

{% endfor -%}
{%- for m in messages if m['role'] != 'system' -%}
{{ 'Soma' if m['role'] == 'assistant' else 'User' }}: {{ (m['content'] or '') | trim }}
{% endfor -%}
Soma:"""
STOP = ["\nUser:", "\n\n"]  # server-wide stop strings: the base model would go on to invent the next turn
# Answers start with a visible character and hold no blank line: unconstrained, about 1 answer in
# 60 began with a blank line, which the stop strings turned into an empty answer.
ANSWER_GRAMMAR = r'root ::= " "* [^ \t\r\n] ([^\n] | "\n" [^\n])*'


def params(model: Path, host: str, port: int, key: str):  # -> xllamacpp.CommonParams
    """The server's settings: one model, one key every request must carry, the transcript format."""
    import xllamacpp  # only the local-slm extra installs it

    p = xllamacpp.CommonParams()
    p.model.path = str(model)
    p.model_alias = {MODEL_ALIAS}  # a set in llama.cpp; a plain str would become a set of characters
    p.hostnames = [host]
    p.port = port
    p.api_keys = [key]  # llama.cpp answers 401 to any request without it, /health aside
    p.n_ctx = CONTEXT_TOKENS
    p.use_jinja = True
    p.chat_template = TRANSCRIPT_TEMPLATE
    p.antiprompt = STOP
    grammar = xllamacpp.CommonGrammar()
    grammar.type = xllamacpp.common_grammar_type.COMMON_GRAMMAR_TYPE_USER
    grammar.grammar = ANSWER_GRAMMAR
    p.sampling.grammar = grammar  # the default; a request that brings its own grammar replaces it
    return p


def run(model: Path, host: str, port: int, key: str, on_ready=None) -> None:
    """Serve until SIGTERM or SIGINT. The model is loaded (and warmed up) before `on_ready` is called."""
    import xllamacpp

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = xllamacpp.Server(params(model, host, port, key))  # returns once it listens with the model loaded
    except RuntimeError as exc:  # llama.cpp logs the cause (a port in use, a bad model file) just before
        raise errors.LocalSLMFailed(f"llama.cpp could not serve {model.name} on {host}:{port}; its lines above say why.") from exc
    if on_ready is not None:
        on_ready(server.listening_address)
    stop.wait()
    del server
