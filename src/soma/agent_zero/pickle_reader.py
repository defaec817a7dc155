"""Reading Agent Zero's memory index (LangChain FAISS index.pkl) as plain data, without running any code from it."""

from __future__ import annotations

import io
import pickle
from typing import Any

from soma import errors

# The classes a LangChain FAISS index.pkl names, by the module paths LangChain has used since 0.1.
_DOCSTORES = {
    ("langchain_community.docstore.in_memory", "InMemoryDocstore"),
    ("langchain.docstore.in_memory", "InMemoryDocstore"),
}
_DOCUMENTS = {
    ("langchain_core.documents.base", "Document"),
    ("langchain_core.documents", "Document"),
    ("langchain.schema.document", "Document"),
    ("langchain.docstore.document", "Document"),
}
# Builtins a pickle may name for containers under protocols 0–3; they build data, never run code.
_BUILTINS = {(m, n): c for m in ("builtins", "__builtin__") for n, c in (("set", set), ("frozenset", frozenset))}  # __builtin__: protocol 2


class _Stored:
    """A stand-in that only keeps the state the pickle gives it; nothing of LangChain is imported or run."""

    state: Any = None  # set by __setstate__, or by __init__ when the pickle calls the class

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = kwargs or (args[0] if args else None)

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Docstore(_Stored):
    pass


class _Document(_Stored):
    pass


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _DOCSTORES:
            return _Docstore
        if (module, name) in _DOCUMENTS:
            return _Document
        found = _BUILTINS.get((module, name))
        if found is not None:
            return found
        raise errors.AgentZeroPickleRefused(f"index.pkl names {module}.{name}, which is not part of a memory index.")


def read_index(data: bytes) -> list[dict[str, Any]]:
    """The memories of an index.pkl as [{"id", "text", "metadata"}]; AgentZeroPickleRefused when it is not one."""
    try:
        loaded = _Unpickler(io.BytesIO(data)).load()
    except errors.SomaError:
        raise
    except Exception as exc:  # noqa: BLE001  (any damage in the bytes is one error for the operator)
        raise errors.AgentZeroArchiveBroken(f"index.pkl cannot be read ({type(exc).__name__}: {exc}).") from None
    docstore = loaded[0] if isinstance(loaded, tuple) and loaded else None
    if not isinstance(docstore, _Docstore):
        raise errors.AgentZeroArchiveBroken("index.pkl does not hold a LangChain docstore.")
    return [_memory(key, doc) for key, doc in _docs(docstore).items()]


def _docs(docstore: _Docstore) -> dict[Any, Any]:
    """The docstore's {id: Document}; pickled as {"_dict": …} in its instance state."""
    state = docstore.state
    if isinstance(state, tuple):  # (dict, slots) when a class defines __slots__
        state = state[0]
    docs = state.get("_dict") if isinstance(state, dict) else None
    if not isinstance(docs, dict):
        raise errors.AgentZeroArchiveBroken("index.pkl's docstore holds no documents map.")
    return docs


def _memory(key: Any, doc: Any) -> dict[str, Any]:
    if not isinstance(doc, _Document):
        raise errors.AgentZeroArchiveBroken(f"index.pkl's memory {key!r} is not a Document.")
    state = doc.state
    if isinstance(state, tuple):
        state = state[0]
    if isinstance(state, dict) and isinstance(state.get("__dict__"), dict):  # pydantic v2 keeps fields under __dict__
        state = state["__dict__"]
    if not isinstance(state, dict) or not isinstance(state.get("page_content"), str):
        raise errors.AgentZeroArchiveBroken(f"index.pkl's memory {key!r} has no text.")
    metadata = state.get("metadata") if isinstance(state.get("metadata"), dict) else {}
    return {"id": str(key), "text": state["page_content"], "metadata": metadata}
