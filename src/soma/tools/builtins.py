"""The built-in tools: what they are (their specs); the turn's loop runs them against the memory and knowledge stores."""

from __future__ import annotations

from soma.tools.registry import BUILTIN_SERVER, ToolSpec

_QUERY = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "What to look for, in a few words or a question."}},
    "required": ["query"],
}

REMEMBER = ToolSpec(
    BUILTIN_SERVER,
    "remember",
    "Save a fact to long-term memory, to recall in later conversations. "
    "Use it when the user asks you to remember something or shares a lasting fact about themselves.",
    {
        "type": "object",
        "properties": {"content": {"type": "string", "description": "The fact, as one self-contained sentence."}},
        "required": ["content"],
    },
    repeatable=True,  # a second run of the same fact merges into the first (memory.store.MERGE_SIMILARITY)
)
FORGET = ToolSpec(
    BUILTIN_SERVER,
    "forget",
    "Remove a fact from long-term memory, when the user asks you to forget it or it is no longer true.",
    {
        "type": "object",
        "properties": {
            "content": {"type": "string", "description": "The fact to forget, worded as it was remembered."},
            "id": {"type": "integer", "description": "The memory's id, when known."},
        },
    },
)
SEARCH_MEMORY = ToolSpec(
    BUILTIN_SERVER,
    "search_memory",
    "Search long-term memory for facts about the user or earlier conversations.",
    _QUERY,
    repeatable=True,
)
SEARCH_KNOWLEDGE = ToolSpec(
    BUILTIN_SERVER,
    "search_knowledge",
    "Search the uploaded knowledge files; each result names its file.",
    _QUERY,
    repeatable=True,
)

RUN_CODE = ToolSpec(
    BUILTIN_SERVER,
    "run_code",
    "Run Python or shell code in a sandbox, to compute, analyse data or make files instead of guessing. "
    "The working directory holds this chat's files (the user's attachments and what earlier runs wrote); "
    "files you write there are kept. Python has numpy, pandas and matplotlib. No state but files survives between runs. "
    "Print what you need to see.",
    {
        "type": "object",
        "properties": {
            "language": {"type": "string", "enum": ["python", "shell"], "description": "python, or shell (POSIX sh)."},
            "code": {"type": "string", "description": "The whole program to run."},
        },
        "required": ["language", "code"],
    },
    # Not repeatable: a run that was going when the worker died may have written the workspace back.
)

DELEGATE = ToolSpec(
    BUILTIN_SERVER,
    "delegate",
    "Hand a self-contained sub-task to a subordinate agent with another profile; it works in a chat of its own "
    "with the tools of its profile and returns its final answer. Give it everything it needs in `task`: it does not "
    "see this conversation.",  # the turn's copy lists the profiles after this (tools.delegate)
    {
        "type": "object",
        "properties": {
            "profile": {"type": "string", "description": "The name of the profile that should do the task."},
            "task": {"type": "string", "description": "The task, worded so it can be done without this conversation."},
        },
        "required": ["profile", "task"],
    },
    # Repeatable: a run after its worker died finds the subordinate chat it made (by the call's id),
    # and reads its stored answer or resumes its turn; it never starts a second one.
    repeatable=True,
)

SPECS = (REMEMBER, FORGET, SEARCH_MEMORY, SEARCH_KNOWLEDGE, RUN_CODE, DELEGATE)
