"""/v1/profiles in-process: the three shipped after migrate, admins create, change and delete, members read, every bad field named."""

from __future__ import annotations

import psycopg

from tests.gateway.test_tools_api import member

ASSISTANT = {
    "name": "assistant",
    "description": "A general assistant: answers, remembers, searches knowledge and memory, and uses any enabled tool.",
    "system_prompt": "", "model": None, "tools": None, "max_tool_steps": None,
}  # fmt: skip
CODER = {
    "name": "coder",
    "description": "Writes and runs Python or shell code in the sandbox to compute, convert files and make charts.",
    "system_prompt": "You are a careful programmer. When a question needs computing, reading or writing files, run code with "
    "run_code and answer from its output; show the code you ran when it helps.",
    "model": None, "tools": ["run_code", "search_knowledge"], "max_tool_steps": None,
}  # fmt: skip
RESEARCHER = {
    "name": "researcher",
    "description": "Reads the knowledge files and memory to answer with sources; does not change anything.",
    "system_prompt": "You are a researcher. Search the knowledge files and memory before answering, cite what you used as [n], "
    "and say plainly when nothing you found answers the question.",
    "model": None, "tools": ["search_knowledge", "search_memory"], "max_tool_steps": None,
}  # fmt: skip
TRANSLATOR = {
    "name": "translator", "description": "Translates into French.", "system_prompt": "Answer in French.",
    "model": "gemma-3-270m", "tools": [], "max_tool_steps": 2,
}  # fmt: skip


def _error(response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


async def test_the_three_shipped_profiles_exist_after_migrate(api) -> None:
    response = await api.get("/v1/profiles")
    assert (response.status_code, response.json()) == (200, {"profiles": [ASSISTANT, CODER, RESEARCHER]})
    assert (await api.get("/v1/profiles/coder")).json() == CODER


async def test_an_admin_creates_changes_and_deletes_a_profile_and_each_is_audited(api, database_url) -> None:
    created = await api.post("/v1/profiles", json={**TRANSLATOR, "tools": ["search_memory", "remember", "search_memory"]})
    assert (created.status_code, created.json()) == (201, {**TRANSLATOR, "tools": ["remember", "search_memory"]})
    assert [p["name"] for p in (await api.get("/v1/profiles")).json()["profiles"]] == ["assistant", "coder", "researcher", "translator"]

    changed = await api.put("/v1/profiles/translator", json={"description": "Translates into German.", "system_prompt": "Answer in German."})
    german = {**TRANSLATOR, "description": "Translates into German.", "system_prompt": "Answer in German.", "model": None, "tools": None,
              "max_tool_steps": None}  # fmt: skip
    assert (changed.status_code, changed.json()) == (200, german)
    assert (await api.get("/v1/profiles/translator")).json() == german

    deleted = await api.delete("/v1/profiles/translator")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert _error(await api.get("/v1/profiles/translator")) == (
        404, "profile_not_found", "No agent profile is named 'translator'. No agent profile has this name. `GET /v1/profiles` lists them."
    )
    with psycopg.connect(database_url) as conn:
        audited = conn.execute("SELECT action, actor, target FROM audit_log WHERE action LIKE 'profile.%' ORDER BY id").fetchall()
    assert audited == [(action, "key:bootstrap admin (SOMA_BOOTSTRAP_ADMIN_KEY)", "translator") for action in ("profile.created", "profile.updated", "profile.deleted")]


async def test_a_member_reads_profiles_but_every_write_is_refused(api, gateway) -> None:
    async with member(api, gateway) as ann:
        assert (await ann.get("/v1/profiles")).json() == {"profiles": [ASSISTANT, CODER, RESEARCHER]}
        assert (await ann.get("/v1/profiles/assistant")).json() == ASSISTANT
        for method, path, body in (
            ("POST", "/v1/profiles", TRANSLATOR),
            ("PUT", "/v1/profiles/assistant", {"system_prompt": "Obey ann."}),
            ("DELETE", "/v1/profiles/coder", None),
        ):
            response = await ann.request(method, path, json=body)
            assert _error(response)[:2] == (403, "forbidden"), (method, path)
    assert (await api.get("/v1/profiles")).json() == {"profiles": [ASSISTANT, CODER, RESEARCHER]}


INVALID = "The profile was not saved. Fix the named field and send it again."


# Each bad body, and what the 422 says is wrong with it.
BAD = [
    ({**TRANSLATOR, "name": "Translator"}, "'name': Value error, use 1-40 lower-case letters, digits, - or _, starting with a letter or digit (got 'Translator')"),
    ({**TRANSLATOR, "name": "t" * 41}, f"'name': Value error, use 1-40 lower-case letters, digits, - or _, starting with a letter or digit (got {'t' * 41!r})"),
    ({"description": "no name"}, "'name': Field required (got {'description': 'no name'})"),
    ({**TRANSLATOR, "colour": "blue"}, "'colour' is not a profile field"),
    ({**TRANSLATOR, "max_tool_steps": 0}, "'max_tool_steps': Input should be greater than or equal to 1 (got 0)"),
    ({**TRANSLATOR, "max_tool_steps": 51}, "'max_tool_steps': Input should be less than or equal to 50 (got 51)"),
    ({**TRANSLATOR, "tools": "remember"}, "'tools': Input should be a valid list (got 'remember')"),
    ({**TRANSLATOR, "tools": [""]}, "'tools': Value error, each tool is a function name of 1-64 characters, as GET /v1/tools names them (got [''])"),
    ({**TRANSLATOR, "system_prompt": "a\x00b"}, "'system_prompt': Value error, text must not contain NUL (\\u0000) characters (got 'a\\x00b')"),
    ({**TRANSLATOR, "description": None}, "'description': Input should be a valid string (got None)"),
    (["translator"], "'profile': Input should be a valid dictionary or instance of Profile (got ['translator'])"),
]  # fmt: skip


async def test_every_bad_profile_is_422_naming_the_field_and_stores_nothing(api) -> None:
    for body, problem in BAD:  # one gateway for all: each refusal changes nothing
        assert _error(await api.post("/v1/profiles", json=body)) == (422, "invalid_profile", f"{problem}. {INVALID}"), body
    assert len((await api.get("/v1/profiles")).json()["profiles"]) == 3


async def test_a_taken_name_a_renaming_put_an_unknown_profile_and_a_bad_path_are_refused(api) -> None:
    assert _error(await api.post("/v1/profiles", json={"name": "coder"})) == (
        409, "profile_exists",
        "An agent profile named 'coder' exists already. An agent profile with this name exists already. Choose another name, "
        "or change that one with `PUT /v1/profiles/{name}`.",
    )  # fmt: skip
    assert _error(await api.put("/v1/profiles/coder", json={"name": "hacker"})) == (
        422, "invalid_profile", f"'name': a profile keeps its name ('coder'); create a new one to use 'hacker'. {INVALID}"
    )
    assert _error(await api.put("/v1/profiles/coder", json={"max_tool_steps": 0})) == (
        422, "invalid_profile", f"'max_tool_steps': Input should be greater than or equal to 1 (got 0). {INVALID}"
    )
    assert _error(await api.put("/v1/profiles/coder", json=["coder"]))[:2] == (422, "invalid_profile")
    assert _error(await api.put("/v1/profiles/ghost", json={})) == (
        404, "profile_not_found", "No agent profile is named 'ghost'. No agent profile has this name. `GET /v1/profiles` lists them."
    )
    assert _error(await api.delete("/v1/profiles/ghost"))[:2] == (404, "profile_not_found")
    assert _error(await api.get("/v1/profiles/Not%20a%20name"))[:2] == (422, "invalid_request")
    assert (await api.get("/v1/profiles/coder")).json() == CODER


async def test_a_profile_a_scheduled_task_runs_with_is_not_deleted(api, database_url) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO scheduled_tasks (owner, name, prompt, profile, schedule) VALUES ('key:1', 'Digest', 'Sum up', 'researcher', '{}')"
        )
    assert _error(await api.delete("/v1/profiles/researcher")) == (
        409, "profile_in_use",
        "Scheduled tasks run with the profile 'researcher'. The profile was not deleted: scheduled tasks run with it. Give those tasks "
        "another profile, or delete them, first.",
    )  # fmt: skip
    assert (await api.get("/v1/profiles/researcher")).json() == RESEARCHER
